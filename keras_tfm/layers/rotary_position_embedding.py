"""Rotary position embedding (RoPE), applied to queries and keys.

Shape legend: B batch, T sequence length, N heads, H head size (even).
"""

import math

import keras
from keras import ops



@keras.saving.register_keras_serializable(package="keras_tfm")
class RotaryPositionEmbedding(keras.layers.Layer):
    """Rotates each pair of features `(x_i, x_{i+H/2})` by `t * C^(-2i/H)`.

    Dot products of rotated queries and keys then depend only on the relative
    offset of their positions. The layer has no weights and returns a tensor
    of the input's shape.

    Args:
        max_wavelength: the base C.
        scaling_factor: positions are divided by it (longer contexts).
        sequence_axis: the axis that indexes positions.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: e.g. `(B, T, N, H)` with `sequence_axis=1` or `(B, N, T, H)`
            with `sequence_axis=2`; the last axis is rotated.
        start_index: position of the first element (for cached decoding).

    Returns:
        The rotated inputs, same shape and dtype.

    References:
        Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding", 2021, section 3.4.
    """

    def __init__(self, max_wavelength=10000, scaling_factor=1.0, sequence_axis=1, **kwargs):
        super().__init__(**kwargs)
        if not max_wavelength > 1:
            raise ValueError(
                f"`max_wavelength` must be greater than 1. Received: max_wavelength={max_wavelength}"
            )
        if not scaling_factor > 0:
            raise ValueError(
                f"`scaling_factor` must be positive. Received: scaling_factor={scaling_factor}"
            )
        self.max_wavelength = float(max_wavelength)
        self.scaling_factor = float(scaling_factor)
        self.sequence_axis = int(sequence_axis)

    def call(self, inputs, start_index=0):
        rank = len(inputs.shape)
        axis = self.sequence_axis % rank
        width = inputs.shape[-1]
        if width is None or width % 2:
            raise ValueError(f"The last axis must be even. Received: inputs.shape={inputs.shape}")
        length = ops.shape(inputs)[axis]
        pos = ops.arange(length, dtype="int32") + ops.cast(start_index, "int32")
        pos = ops.cast(pos, "float32") / self.scaling_factor
        exponent = ops.arange(0, width, 2, dtype="float32") / width
        frequencies = ops.exp(-math.log(self.max_wavelength) * exponent)  # (H/2,)
        angles = ops.expand_dims(pos, 1) * frequencies  # (T, H/2)
        angles = ops.concatenate([angles, angles], axis=-1)  # (T, H)
        shape = [1] * rank
        shape[axis], shape[-1] = -1, width
        cos = ops.cast(ops.reshape(ops.cos(angles), shape), inputs.dtype)
        sin = ops.cast(ops.reshape(ops.sin(angles), shape), inputs.dtype)
        first, second = ops.split(inputs, 2, axis=-1)
        rotated = ops.concatenate([-second, first], axis=-1)
        return inputs * cos + rotated * sin

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            max_wavelength=self.max_wavelength,
            scaling_factor=self.scaling_factor,
            sequence_axis=self.sequence_axis,
        )
        return config
