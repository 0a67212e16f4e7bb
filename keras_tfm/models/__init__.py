"""Transformer models built from `keras_tfm.layers` (backend-agnostic)."""

from keras_tfm.models.presets import TRANSFORMER_PRESETS
from keras_tfm.models.transformer import Transformer
from keras_tfm.models.transformer_decoder import TransformerDecoder
from keras_tfm.models.transformer_encoder import TransformerEncoder
