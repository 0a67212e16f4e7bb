"""Cuts an image into P x P patches and projects each one to D features.

Shape legend: B batch, Hi, Wi image height and width, C channels, P patch
size, Gh = Hi / P and Gw = Wi / P the patch grid, T = Gh * Gw patches, D
model width.
"""

import keras
from keras import ops

from keras_tfm.layers.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_tfm")
class PatchEmbedding(keras.layers.Layer):
    """Splits `(B, Hi, Wi, C)` images into non-overlapping P x P patches and
    maps each flattened patch linearly to D features, in row-major order.

    The projection is a convolution with kernel P and stride P: the same
    linear map as flattening each patch (rows, then columns, then channels)
    and multiplying by the `(P * P * C, D)` kernel, but it converts to a
    single TFLite `CONV_2D` and measured as fast as the reshape/transpose/
    matmul form on CPU. The kernel is stored `(P, P, C, D)`, the layout of
    the original ViT checkpoints.

    Args:
        patch_size: P; image height and width must be multiples of it.
        hidden_dim: D.
        num_channels: C. Defaults to the last axis of the first input; once
            set, images with another channel count raise a `ValueError`.
        use_bias: whether the projection has a bias.
        kernel_initializer, bias_initializer: initializers of the projection.
        **kwargs: base layer arguments.

    Call arguments:
        images: `(B, Hi, Wi, C)`, channels last.

    Returns:
        `(B, T, D)`: patch (i, j) of the grid is token `i * Gw + j`.

    Example:
    >>> layer = PatchEmbedding(patch_size=16, hidden_dim=768)
    >>> layer(keras.random.normal((2, 224, 224, 3))).shape
    (2, 196, 768)

    References:
        Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", section 3.1, eq. 1.
    """

    def __init__(
        self,
        patch_size,
        hidden_dim,
        num_channels=None,
        use_bias=True,
        kernel_initializer="lecun_normal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_channels = (
            None if num_channels is None else check_positive_int("num_channels", num_channels)
        )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def grid_shape(self, images_shape):
        """`(Gh, Gw)` of images of shape `(B, Hi, Wi, C)`; checks rank,
        channels and divisibility. Unknown (dynamic) sizes give `None`."""
        if len(images_shape) != 4:
            raise ValueError(
                "`images` must have shape (B, height, width, channels). "
                f"Received: images.shape={tuple(images_shape)}"
            )
        channels = images_shape[-1]
        expected = self.num_channels or getattr(self, "_built_channels", None)
        if expected is not None and channels is not None and channels != expected:
            raise ValueError(
                f"`images` must have num_channels={expected} channels on the last axis. "
                f"Received: images.shape={tuple(images_shape)}"
            )
        grid = []
        for size in images_shape[1:3]:
            if size is not None and size % self.patch_size:
                raise ValueError(
                    "`images` height and width must be divisible by `patch_size`. "
                    f"Received: images.shape={tuple(images_shape)}, patch_size={self.patch_size}"
                )
            grid.append(None if size is None else size // self.patch_size)
        return tuple(grid)

    def build(self, images_shape):
        self.grid_shape(images_shape)
        if images_shape[-1] is None and self.num_channels is None:
            raise ValueError(
                "`num_channels` must be set when the channel axis of `images` is unknown. "
                f"Received: images.shape={tuple(images_shape)}"
            )
        self._built_channels = self.num_channels or images_shape[-1]
        self.projection = keras.layers.Conv2D(
            self.hidden_dim,
            self.patch_size,
            strides=self.patch_size,
            padding="valid",
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build((None, None, None, self._built_channels))
        self.built = True

    def call(self, images):
        grid_h, grid_w = self.grid_shape(images.shape)
        x = self.projection(images)  # (B, Gh, Gw, D)
        if grid_h is None or grid_w is None:
            shape = ops.shape(x)
            return ops.reshape(x, (shape[0], shape[1] * shape[2], self.hidden_dim))
        return ops.reshape(x, (-1, grid_h * grid_w, self.hidden_dim))  # (B, T, D)

    def compute_output_shape(self, images_shape):
        grid_h, grid_w = self.grid_shape(images_shape)
        tokens = None if grid_h is None or grid_w is None else grid_h * grid_w
        return (images_shape[0], tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            patch_size=self.patch_size,
            hidden_dim=self.hidden_dim,
            num_channels=self.num_channels,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
