"""The learned [class] token x0 of the Vision Transformer.

Shape legend: B batch, T sequence length, D model width.
"""

import keras
from keras import ops

from keras_tfm.layers.validation import check_rank


@keras.saving.register_keras_serializable(package="keras_tfm")
class ClassToken(keras.layers.Layer):
    """Prepends one learned D-vector to every sequence of the batch.

    Its state at the output of the encoder (e0) serves as the image
    representation that the classification head reads.

    Args:
        initializer: initializer of the `(D,)` token (zeros, as in big_vision).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, D)`.

    Returns:
        `(B, 1 + T, D)`: the token first, then `inputs`.

    Example:
    >>> ClassToken()(keras.random.normal((2, 196, 768))).shape
    (2, 197, 768)

    References:
        Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", section 3.1
        (x_class, following BERT's [class] token).
    """

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape):
        check_rank("inputs", inputs_shape, 3)
        if inputs_shape[-1] is None:
            raise ValueError(
                f"The last axis of `inputs` must be known. Received: inputs.shape={tuple(inputs_shape)}"
            )
        self.token = self.add_weight(
            name="token", shape=(inputs_shape[-1],), initializer=self.initializer
        )
        self.built = True

    def call(self, inputs):
        width = self.token.shape[0]
        token = ops.reshape(ops.cast(self.token, inputs.dtype), (1, 1, width))  # (1, 1, D)
        token = ops.broadcast_to(token, (ops.shape(inputs)[0], 1, width))  # (B, 1, D)
        return ops.concatenate([token, inputs], axis=1)  # (B, 1 + T, D)

    def compute_output_shape(self, inputs_shape):
        length = None if inputs_shape[1] is None else inputs_shape[1] + 1
        return (inputs_shape[0], length, inputs_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(initializer=keras.initializers.serialize(self.initializer))
        return config
