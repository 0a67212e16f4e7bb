"""The binary position code of the seed.

Shape legend: B batch, T sequence length, P number of bits.
"""

import keras
from keras import ops

from keras_tfm.layers import position_utils
from keras_tfm.layers.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_tfm")
class BinaryPositionEncoding(keras.layers.Layer):
    """Encodes position t as its `num_bits`-bit binary vector, most significant bit left.

    With `num_bits=3` the 8 positions are `000, 001, 010, ..., 111`: the
    right-most column toggles fastest. Positions at or beyond `2**num_bits`
    cannot be told apart; a longer input of static length raises. The code is
    a fixed basis (powers of two) with 0/1 coefficients; the sinusoidal
    encoding is its smooth, real-valued relative.

    Args:
        num_bits: P, the code width.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: any tensor `(B, T, ...)`; only its batch and length are used.
        start_index: position of the first element (for cached decoding).

    Returns:
        `(B, T, P)` of zeros and ones in the compute dtype.

    Example:
    >>> BinaryPositionEncoding(3)(keras.ops.zeros((1, 4, 1)))[0]  # 000 001 010 011

    References:
        Murphy, "Probabilistic Machine Learning: An Introduction", 2022, section 15.5 (positional encoding).
    """

    def __init__(self, num_bits, **kwargs):
        super().__init__(**kwargs)
        self.num_bits = check_positive_int("num_bits", num_bits)

    def call(self, inputs, start_index=0):
        length = inputs.shape[1]
        if isinstance(length, int) and isinstance(start_index, int):
            if start_index + length > 2**self.num_bits:
                raise ValueError(
                    f"A {self.num_bits}-bit code holds {2**self.num_bits} positions. "
                    f"Received: sequence length {length} starting at {start_index}"
                )
        pos = ops.expand_dims(position_utils.positions(inputs, start_index, "int32"), 1)
        powers = 2 ** ops.arange(self.num_bits - 1, -1, -1, dtype="int32")  # (P,) MSB first
        bits = ops.mod(ops.floor_divide(pos, powers), 2)  # (T, P)
        return position_utils.broadcast_to_batch(ops.cast(bits, self.compute_dtype), inputs)

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], inputs_shape[1], self.num_bits)

    def get_config(self):
        config = super().get_config()
        config.update(num_bits=self.num_bits)
        return config
