"""A learned table of position vectors.

Shape legend: B batch, T sequence length, M maximum length, P width.
"""

import keras
from keras import ops

from keras_tfm.layers import position_utils
from keras_tfm.layers.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_tfm")
class LearnedPositionEmbedding(keras.layers.Layer):
    """One trained vector per position up to `max_length`.

    Unlike the fixed encodings it cannot extrapolate: an input of static
    length beyond `max_length` raises a `ValueError`.

    Args:
        max_length: M, the number of positions.
        output_dim: P. Defaults to the last axis of `(B, T, D)` inputs.
        initializer: initializer of the `(M, P)` table.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, ...)`.
        start_index: position of the first element (for cached decoding).

    Returns:
        `(B, T, P)`.

    References:
        Gehring et al., "Convolutional Sequence to Sequence Learning", 2017, section 3.1.
    """

    def __init__(self, max_length, output_dim=None, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.max_length = check_positive_int("max_length", max_length)
        self.output_dim = None if output_dim is None else check_positive_int("output_dim", output_dim)
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape):
        width = position_utils.resolve_width(type(self).__name__, self.output_dim, inputs_shape)
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.max_length, width), initializer=self.initializer
        )
        self.built = True

    def call(self, inputs, start_index=0):
        length = inputs.shape[1]
        if isinstance(length, int) and isinstance(start_index, int):
            if start_index + length > self.max_length:
                raise ValueError(
                    f"The sequence is longer than `max_length={self.max_length}`. "
                    f"Received: sequence length {length} starting at {start_index}"
                )
        width = self.embeddings.shape[-1]
        table = ops.slice(
            ops.convert_to_tensor(self.embeddings),
            (ops.cast(start_index, "int32"), 0),
            (ops.shape(inputs)[1], width),
        )  # (T, P)
        return position_utils.broadcast_to_batch(table, inputs)

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], inputs_shape[1], self.output_dim or inputs_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            max_length=self.max_length,
            output_dim=self.output_dim,
            initializer=keras.initializers.serialize(self.initializer),
        )
        return config
