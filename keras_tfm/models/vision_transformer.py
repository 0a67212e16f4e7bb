"""The Vision Transformer (ViT): image patches as tokens of a pre-norm Transformer encoder.

Shape legend: B batch, Hi, Wi image height and width, C channels, P patch
size, Gh, Gw the patch grid, T = Gh * Gw patches, Np prefix tokens (1 with a
class token), D model width, F MLP width, K classes, R pre-logits width.
"""

import math

import keras
from keras import ops

from keras_tfm.layers.class_token import ClassToken
from keras_tfm.layers.patch_embedding import PatchEmbedding
from keras_tfm.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_tfm.layers.validation import check_choice, check_divisible, check_positive_int, check_rate
from keras_tfm.layers.vit_position_embedding import ViTPositionEmbedding
from keras_tfm.models.presets import VIT_PRESETS, preset_kwargs

POOLINGS = ("token", "gap")


@keras.saving.register_keras_serializable(package="keras_tfm")
class VisionTransformer(keras.Model):
    """Classifies an image from its P x P patches, embedded and encoded by a Transformer.

    The image is cut into patches and each is projected to D features
    (`PatchEmbedding`); a learned [class] token x0 is prepended
    (`ClassToken`), position embeddings are added (`ViTPositionEmbedding`),
    and `num_layers` pre-norm encoder blocks (LayerNorm epsilon 1e-6, GELU
    MLP) and a final LayerNorm give e_0..e_T. The head reads e0
    (`pooling="token"`) or the mean of the patch outputs (`pooling="gap"`),
    through an optional tanh pre-logits layer, into `num_classes` logits.
    The head kernel starts at zero (as in big_vision and the paper's
    fine-tuning). GELU is the exact (erf) form, as in timm; the Flax
    originals use the tanh approximation.

    Images are channels-last and already normalised (the ViT checkpoints
    expect pixels in [-1, 1]). Any image size that is a multiple of
    `patch_size` works when `dynamic_image_size=True`; otherwise the
    images must be `image_size`. To fine-tune at a new resolution, see
    `keras_tfm.models.fine_tuning_model`.

    Args:
        image_size: training image size, an int or `(Hi, Wi)`; sets the grid
            of the learned position embeddings.
        patch_size: P, a divisor of the image height and width.
        num_channels: C (1 for grayscale).
        num_layers: encoder blocks.
        hidden_dim: D.
        num_heads: attention heads; must divide D.
        intermediate_dim: F, the MLP width.
        num_classes: K. Ignored (may be `None`) when `include_top=False`.
        include_top: classify (`True`) or return the encoded tokens.
        pooling: `"token"` (e0) or `"gap"` (mean of the patch tokens).
        class_token: prepend x0. Defaults to `pooling == "token"`.
        representation_size: R, width of a tanh pre-logits layer; `None` for none.
        dropout: dropout after the position embeddings and in every block.
        attention_dropout: dropout on the attention weights.
        drop_path_rate: stochastic depth of the last block; block i gets
            `drop_path_rate * i / (num_layers - 1)`.
        position_embedding: `"learned"` or `"sincos"` (fixed 2-D).
        interpolation: `"bicubic"` or `"bilinear"` resampling of learned
            position embeddings.
        dynamic_image_size: accept any image size, resampling the position
            embeddings at call time.
        layer_norm_epsilon: epsilon of every LayerNorm.
        head_initializer: initializer of the head kernel.
        **kwargs: base model arguments (`name`, `dtype`).

    Call arguments:
        images: `(B, Hi, Wi, C)` float.
        training: enables dropout and stochastic depth.

    Returns:
        Logits `(B, K)`, or with `include_top=False` the encoded tokens
        `(B, Np + T, D)` (e0 first when there is a class token).

    Example:
    >>> model = VisionTransformer.from_preset("vit-b16", num_classes=10)
    >>> model(keras.random.normal((1, 224, 224, 3))).shape
    (1, 10)

    References:
        Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words: Transformers
        for Image Recognition at Scale", section 3.1 (eq. 1-4), 3.2, Table 1;
        Touvron et al. 2021, "Training data-efficient image transformers"
        (DeiT), Table 1 (Ti, S); Huang et al. 2016 (stochastic depth).
    """

    def __init__(
        self,
        image_size=224,
        patch_size=16,
        num_channels=3,
        num_layers=12,
        hidden_dim=768,
        num_heads=12,
        intermediate_dim=3072,
        num_classes=1000,
        include_top=True,
        pooling="token",
        class_token=None,
        representation_size=None,
        dropout=0.0,
        attention_dropout=0.0,
        drop_path_rate=0.0,
        position_embedding="learned",
        interpolation="bicubic",
        dynamic_image_size=False,
        layer_norm_epsilon=1e-6,
        head_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
            raise ValueError(
                f"`image_size` must be an int or a pair of ints. Received: image_size={image_size!r}"
            )
        self.image_size = tuple(check_positive_int("image_size", s) for s in image_size)
        self.patch_size = check_positive_int("patch_size", patch_size)
        for size in self.image_size:
            check_divisible("image_size", size, "patch_size", self.patch_size)
        self.num_channels = check_positive_int("num_channels", num_channels)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        check_divisible("hidden_dim", hidden_dim, "num_heads", num_heads)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.include_top = bool(include_top)
        if self.include_top or num_classes is not None:
            num_classes = check_positive_int("num_classes", num_classes)
        self.num_classes = num_classes
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        self.class_token = pooling == "token" if class_token is None else bool(class_token)
        if self.pooling == "token" and not self.class_token:
            raise ValueError(
                "`pooling='token'` reads the class token, so `class_token` must be True. "
                f"Received: class_token={class_token!r}"
            )
        self.representation_size = (
            None if representation_size is None
            else check_positive_int("representation_size", representation_size)
        )
        self.dropout = check_rate("dropout", dropout)
        self.attention_dropout = check_rate("attention_dropout", attention_dropout)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.position_embedding_type = check_choice(
            "position_embedding", position_embedding, ("learned", "sincos")
        )
        self.interpolation = interpolation
        self.dynamic_image_size = bool(dynamic_image_size)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.head_initializer = keras.initializers.get(head_initializer)

        grid = tuple(s // self.patch_size for s in self.image_size)
        self.patch_embedding = PatchEmbedding(
            self.patch_size, hidden_dim, num_channels=num_channels,
            dtype=self.dtype_policy, name="patch_embedding",
        )
        self.class_token_layer = (
            ClassToken(dtype=self.dtype_policy, name="class_token") if self.class_token else None
        )
        self.position_embedding = ViTPositionEmbedding(
            grid,
            num_prefix_tokens=int(self.class_token),
            embedding_type=position_embedding,
            interpolation=interpolation,
            dynamic_image_size=dynamic_image_size,
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.blocks = [
            TransformerEncoderBlock(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                attention_dropout=attention_dropout,
                activation="gelu",
                normalize_first=True,
                layer_norm_epsilon=layer_norm_epsilon,
                drop_path_rate=self.drop_path_rate * i / max(num_layers - 1, 1),
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="final_norm"
        )
        self.pre_logits = self.head = None
        if self.include_top and self.representation_size:
            self.pre_logits = keras.layers.Dense(
                self.representation_size, activation="tanh", dtype=self.dtype_policy, name="pre_logits"
            )
        if self.include_top:
            self.head = keras.layers.Dense(
                num_classes, kernel_initializer=self.head_initializer,
                dtype=self.dtype_policy, name="head",
            )

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A model of a named size (see `presets.VIT_PRESETS`); `kwargs` override it."""
        config = preset_kwargs(VIT_PRESETS, preset)
        config.update(kwargs)
        return cls(**config)

    @property
    def num_prefix_tokens(self):
        return int(self.class_token)

    @property
    def grid_size(self):
        return self.position_embedding.grid_size

    @property
    def backbone_layers(self):
        """Every layer but the pre-logits and the head (what fine-tuning may freeze)."""
        layers = [self.patch_embedding, self.class_token_layer, self.position_embedding]
        layers += self.blocks + [self.final_norm]
        return [layer for layer in layers if layer is not None]

    def build(self, images_shape):
        height, width = self.image_size
        images_shape = (images_shape[0], height, width, self.num_channels)
        self.patch_embedding.build(images_shape)
        tokens = (images_shape[0], self.num_prefix_tokens + math.prod(self.grid_size), self.hidden_dim)
        if self.class_token_layer is not None:
            self.class_token_layer.build(tokens[:1] + (tokens[1] - 1,) + tokens[2:])
        self.position_embedding.build(tokens)
        for block in self.blocks:
            block.build(tokens)
        self.final_norm.build(tokens)
        features = self.hidden_dim
        if self.pre_logits is not None:
            self.pre_logits.build((images_shape[0], features))
            features = self.representation_size
        if self.head is not None:
            self.head.build((images_shape[0], features))
        self.built = True

    def _check_images(self, images):
        shape = tuple(images.shape)
        grid = self.patch_embedding.grid_shape(shape)  # Checks rank, channels, divisibility.
        if not self.dynamic_image_size and None not in shape[1:3] and shape[1:3] != self.image_size:
            raise ValueError(
                f"`images` must be {self.image_size[0]}x{self.image_size[1]} (`image_size`) unless "
                f"`dynamic_image_size=True`. Received: images.shape={shape}"
            )
        if None in grid:
            if not self.dynamic_image_size:
                return self.grid_size
            dynamic = ops.shape(images)
            return (dynamic[1] // self.patch_size, dynamic[2] // self.patch_size)
        return grid

    def encode(self, images, training=None, return_attention_scores=False):
        """Images `(B, Hi, Wi, C)` -> encoded tokens `(B, Np + T, D)`, after the final norm.

        With `return_attention_scores`, also a list of each block's attention
        weights `(B, N, Np + T, Np + T)` (for attention rollout).
        """
        grid = self._check_images(images)
        x = self.patch_embedding(images)  # (B, T, D)
        if self.class_token_layer is not None:
            x = self.class_token_layer(x)  # (B, 1 + T, D)
        x = self.position_embedding(x, grid_shape=grid)
        x = self.embedding_dropout(x, training=training)
        scores = []
        for block in self.blocks:
            x = block(x, training=training, return_attention_scores=return_attention_scores)
            if return_attention_scores:
                x, block_scores = x
                scores.append(block_scores)
        x = self.final_norm(x)
        return (x, scores) if return_attention_scores else x

    def pool(self, tokens):
        """Encoded tokens `(B, Np + T, D)` -> the image representation `(B, D)`."""
        if self.pooling == "token":
            return tokens[:, 0]  # e0
        return ops.mean(tokens[:, self.num_prefix_tokens :], axis=1)

    def call(self, images, training=None):
        x = self.encode(images, training=training)  # (B, Np + T, D)
        if not self.include_top:
            return x
        x = self.pool(x)  # (B, D)
        if self.pre_logits is not None:
            x = self.pre_logits(x)  # (B, R)
        return self.head(x)  # (B, K)

    def compute_output_shape(self, images_shape):
        if self.include_top:
            return (images_shape[0], self.num_classes)
        grid = self.patch_embedding.grid_shape(images_shape)
        tokens = None if None in grid else self.num_prefix_tokens + grid[0] * grid[1]
        return (images_shape[0], tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            patch_size=self.patch_size,
            num_channels=self.num_channels,
            num_layers=self.num_layers,
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            num_classes=self.num_classes,
            include_top=self.include_top,
            pooling=self.pooling,
            class_token=self.class_token,
            representation_size=self.representation_size,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            drop_path_rate=self.drop_path_rate,
            position_embedding=self.position_embedding_type,
            interpolation=self.interpolation,
            dynamic_image_size=self.dynamic_image_size,
            layer_norm_epsilon=self.layer_norm_epsilon,
            head_initializer=keras.initializers.serialize(self.head_initializer),
        )
        return config


def count_params(preset=None, **config):
    """Parameters of `VisionTransformer(**config)` (or of a preset), counted from
    the weight shapes without allocating the weights.

    The model is built inside a `keras.StatelessScope`, where Keras defers
    every variable's initialisation, so ViT-H/14 (632M parameters) is counted
    in well under a second and no memory. The deferred variables are then
    dropped from Keras' pending list.
    """
    from keras.src.backend.common import global_state  # Pending deferred variables.

    if preset is not None:
        config = dict(preset_kwargs(VIT_PRESETS, preset), **config)
    with keras.StatelessScope(initialize_variables=False):
        model = VisionTransformer(**config)
        model.build((None,) + model.image_size + (model.num_channels,))
        total = sum(math.prod(w.shape) for w in model.weights)
    ours = {id(v) for v in model.variables}
    pending = global_state.get_global_attribute("uninitialized_variables", [])
    global_state.set_global_attribute(
        "uninitialized_variables", [v for v in pending if id(v) not in ours]
    )
    return total
