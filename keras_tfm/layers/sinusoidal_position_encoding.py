"""The sinusoidal position encoding of Vaswani et al. 2017, section 3.5.

Shape legend: B batch, T sequence length, P encoding width (even).
"""

import math

import keras
from keras import ops

from keras_tfm.layers import position_utils
from keras_tfm.layers.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_tfm")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """`PE[t, 2i] = sin(t / C^(2i/P))`, `PE[t, 2i+1] = cos(t / C^(2i/P))`.

    The left-most columns have the highest frequency. Each position gets a
    real-valued fingerprint; it is defined for any length (no weights), and
    for each offset k a fixed matrix M_k (a rotation per sin/cos pair) gives
    `PE[t + k] = PE[t] M_k` for every t.

    Args:
        output_dim: P. Defaults to the last axis of `(B, T, D)` inputs.
        max_wavelength: the base C. 10000 in the paper.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, ...)`; only batch, length (and D, if P is unset) are used.
        start_index: position of the first element (for cached decoding).

    Returns:
        `(B, T, P)` in the compute dtype.

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.5.
    """

    def __init__(self, output_dim=None, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = None if output_dim is None else check_positive_int("output_dim", output_dim)
        if self.output_dim is not None and self.output_dim % 2:
            raise ValueError(f"`output_dim` must be even. Received: output_dim={output_dim}")
        if not max_wavelength > 1:
            raise ValueError(
                f"`max_wavelength` must be greater than 1. Received: max_wavelength={max_wavelength}"
            )
        self.max_wavelength = float(max_wavelength)

    def call(self, inputs, start_index=0):
        width = position_utils.resolve_width(type(self).__name__, self.output_dim, inputs.shape)
        if width % 2:
            raise ValueError(f"The encoding width must be even. Received: width={width}")
        pos = ops.expand_dims(position_utils.positions(inputs, start_index), 1)  # (T, 1)
        exponent = ops.arange(0, width, 2, dtype="float32") / width  # (P/2,)
        frequencies = ops.exp(-math.log(self.max_wavelength) * exponent)
        angles = pos * frequencies  # (T, P/2)
        # Interleave so column 2i is sin and 2i+1 is cos of the same frequency.
        encoding = ops.reshape(
            ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (-1, width)
        )  # (T, P)
        return position_utils.broadcast_to_batch(ops.cast(encoding, self.compute_dtype), inputs)

    def compute_output_shape(self, inputs_shape):
        width = self.output_dim or inputs_shape[-1]
        return (inputs_shape[0], inputs_shape[1], width)

    def get_config(self):
        config = super().get_config()
        config.update(output_dim=self.output_dim, max_wavelength=self.max_wavelength)
        return config
