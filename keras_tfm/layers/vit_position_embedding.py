"""Position embeddings of the Vision Transformer: learned over the patch grid, or fixed 2-D sine-cosine.

Shape legend: B batch, Np prefix tokens (1 with a class token, else 0),
Gh, Gw the patch grid, T = Gh * Gw patches (row-major), D model width.
"""

import keras
import numpy as np
from keras import ops

from keras_tfm.layers import vit_grids
from keras_tfm.layers.validation import check_choice, check_positive_int, check_rank


@keras.saving.register_keras_serializable(package="keras_tfm")
class ViTPositionEmbedding(keras.layers.Layer):
    """Adds a position vector to every token of a ViT sequence `[x0, patches]`.

    `"learned"` keeps a trained table of `Np + Gh * Gw` vectors for the grid
    `grid_size`; the prefix (class-token) entries are never resampled. For
    another image size the grid is resampled, either once at weight-load
    time (`keras_tfm.layers.vit_grids.resample_position_embeddings`, used by
    `keras_tfm.models.fine_tuning_model`) or, with `dynamic_image_size=True`,
    on every call: one constant matmul that converts to TFLite builtins.
    `"sincos"` computes fixed 2-D sine-cosine codes for whatever grid it is
    given and has no weights; the prefix entries are zeros.

    Args:
        grid_size: `(Gh, Gw)` of the training images, or an int for a square grid.
        num_prefix_tokens: Np, tokens before the patches (1 for the class token).
        embedding_type: `"learned"` or `"sincos"`.
        interpolation: `"bicubic"` or `"bilinear"`, for resampling.
        antialias: widen the resampling kernel when shrinking the grid.
        dynamic_image_size: resample a learned table at call time when the
            grid differs from `grid_size`; otherwise that is a `ValueError`.
        temperature: the largest wavelength of the sine-cosine codes.
        initializer: initializer of the learned table.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, Np + T, D)`.
        grid_shape: `(Gh, Gw)` of these tokens. Defaults to `grid_size` when
            T matches it, else to the square grid of T.

    Returns:
        `(B, Np + T, D)`: `inputs` plus the position embeddings.

    Example:
    >>> layer = ViTPositionEmbedding(grid_size=14, dynamic_image_size=True)
    >>> layer(keras.random.normal((2, 1 + 24 * 24, 768)), grid_shape=(24, 24)).shape
    (2, 577, 768)

    References:
        Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", sections 3.1
        (learned 1-D embeddings) and 3.2 (2-D interpolation for fine-tuning);
        Chen et al. 2021, "An Empirical Study of Training Self-Supervised ViTs"
        (MoCo v3), section 4 (2-D sine-cosine).
    """

    def __init__(
        self,
        grid_size,
        num_prefix_tokens=1,
        embedding_type="learned",
        interpolation="bicubic",
        antialias=False,
        dynamic_image_size=False,
        temperature=10000.0,
        initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(grid_size, int):
            grid_size = (grid_size, grid_size)
        if not isinstance(grid_size, (tuple, list)) or len(grid_size) != 2:
            raise ValueError(
                f"`grid_size` must be an int or a pair of ints. Received: grid_size={grid_size!r}"
            )
        self.grid_size = tuple(check_positive_int("grid_size", g) for g in grid_size)
        if isinstance(num_prefix_tokens, bool) or num_prefix_tokens not in (0, 1):
            raise ValueError(
                f"`num_prefix_tokens` must be 0 or 1. Received: num_prefix_tokens={num_prefix_tokens!r}"
            )
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.embedding_type = check_choice("embedding_type", embedding_type, ("learned", "sincos"))
        self.interpolation = check_choice("interpolation", interpolation, vit_grids.INTERPOLATIONS)
        self.antialias = bool(antialias)
        self.dynamic_image_size = bool(dynamic_image_size)
        self.temperature = float(temperature)
        if initializer is None:
            initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.initializer = keras.initializers.get(initializer)

    @property
    def num_patches(self):
        return self.grid_size[0] * self.grid_size[1]

    def build(self, inputs_shape):
        check_rank("inputs", inputs_shape, 3)
        width = inputs_shape[-1]
        if width is None:
            raise ValueError(
                f"The last axis of `inputs` must be known. Received: inputs.shape={tuple(inputs_shape)}"
            )
        if self.embedding_type == "sincos":
            vit_grids.sincos_2d((1, 1), width)  # Validates the width.
        else:
            self.embeddings = self.add_weight(
                name="embeddings",
                shape=(self.num_prefix_tokens + self.num_patches, width),
                initializer=self.initializer,
            )
        self._width = width
        self.built = True

    def _resolve_grid(self, inputs, grid_shape):
        if grid_shape is not None:
            return tuple(grid_shape)
        length = inputs.shape[1]
        if length is None:
            return self.grid_size
        patches = length - self.num_prefix_tokens
        if patches == self.num_patches:
            return self.grid_size
        return vit_grids.infer_grid(patches, "number of patch tokens")

    def position_table(self, grid_shape):
        """The `(Np + Gh * Gw, D)` embeddings for a grid (float32)."""
        static = all(isinstance(g, int) for g in grid_shape)
        if self.embedding_type == "sincos":
            return self._sincos(grid_shape, static)
        table = ops.convert_to_tensor(self.embeddings)
        if static and tuple(grid_shape) == self.grid_size:
            return table
        if not self.dynamic_image_size:
            raise ValueError(
                f"The patch grid {tuple(grid_shape)} differs from `grid_size={self.grid_size}`. "
                "Set `dynamic_image_size=True` to resample the position embeddings at call "
                "time, or resample the weights once with `resample_position_embeddings`."
            )
        prefix, patches = table[: self.num_prefix_tokens], table[self.num_prefix_tokens :]
        if static:
            matrix = vit_grids.grid_resampling_matrix(
                self.grid_size, grid_shape, self.interpolation, self.antialias
            )
            patches = ops.matmul(ops.convert_to_tensor(matrix, "float32"), patches)  # (T, D)
        else:
            # The grid is known only when running (TensorFlow graphs with open image
            # sizes). With `antialias=True`, TensorFlow resizes with the kernel of
            # `vit_grids`: the same result when enlarging, and when shrinking with
            # `antialias`; shrinking without it, the kernel is wider here.
            grid = ops.reshape(patches, (1,) + self.grid_size + (self._width,))  # (1, Gh0, Gw0, D)
            grid = ops.image.resize(
                grid, grid_shape, interpolation=self.interpolation,
                antialias=True, data_format="channels_last",
            )
            patches = ops.reshape(grid, (-1, self._width))  # (T, D)
        return ops.concatenate([prefix, patches], axis=0)

    def _sincos(self, grid_shape, static):
        prefix = np.zeros((self.num_prefix_tokens, self._width), "float32")
        if static:
            codes = vit_grids.sincos_2d(grid_shape, self._width, self.temperature)
            return ops.convert_to_tensor(np.concatenate([prefix, codes]).astype("float32"))
        quarter = self._width // 4
        omega = 1.0 / self.temperature ** (np.arange(quarter) / (quarter - 1))
        omega = ops.convert_to_tensor(omega.astype("float32"))
        rows = ops.arange(grid_shape[0], dtype="float32")
        cols = ops.arange(grid_shape[1], dtype="float32")
        y = ops.reshape(ops.repeat(rows, grid_shape[1]), (-1, 1)) * omega  # (T, D/4)
        x = ops.reshape(ops.tile(cols, [grid_shape[0]]), (-1, 1)) * omega  # (T, D/4)
        codes = ops.concatenate([ops.sin(x), ops.cos(x), ops.sin(y), ops.cos(y)], axis=1)
        return ops.concatenate([ops.convert_to_tensor(prefix), codes], axis=0)

    def call(self, inputs, grid_shape=None):
        table = self.position_table(self._resolve_grid(inputs, grid_shape))  # (Np + T, D)
        return inputs + ops.expand_dims(ops.cast(table, inputs.dtype), 0)  # (B, Np + T, D)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            grid_size=self.grid_size,
            num_prefix_tokens=self.num_prefix_tokens,
            embedding_type=self.embedding_type,
            interpolation=self.interpolation,
            antialias=self.antialias,
            dynamic_image_size=self.dynamic_image_size,
            temperature=self.temperature,
            initializer=keras.initializers.serialize(self.initializer),
        )
        return config
