"""Transformer models built from `keras_tfm.layers` (backend-agnostic)."""

from keras_tfm.models.presets import TRANSFORMER_PRESETS
from keras_tfm.models.transformer import Transformer
from keras_tfm.models.transformer_decoder import TransformerDecoder
from keras_tfm.models.transformer_encoder import TransformerEncoder
from keras_tfm.models.presets import VIT_PRESETS
from keras_tfm.models.vision_transformer import VisionTransformer
from keras_tfm.models.vit_transfer import fine_tuning_model
from keras_tfm.models.vit_weights import export_weights, load_weights, save_weights
