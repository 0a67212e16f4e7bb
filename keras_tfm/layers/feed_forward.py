"""The position-wise feed-forward network.

Shape legend: B batch, T length, D model width, F intermediate width.
"""

import keras

from keras_tfm.layers.validation import check_positive_int, check_rate, clone_initializer


@keras.saving.register_keras_serializable(package="keras_tfm")
class FeedForward(keras.layers.Layer):
    """`Dense(F, activation) -> Dropout -> Dense(D)`, applied to every position alike.

    Args:
        intermediate_dim: F (2048 in the base Transformer).
        output_dim: output width. Defaults to the input width D.
        activation: activation of the first layer.
        dropout: dropout rate after the activation.
        kernel_initializer, bias_initializer: initializers of both layers.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, D)`.
        training: enables dropout.

    Returns:
        `(B, T, output_dim or D)`.

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.3.
    """

    def __init__(
        self,
        intermediate_dim,
        output_dim=None,
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.output_dim = None if output_dim is None else check_positive_int("output_dim", output_dim)
        self.activation = keras.activations.get(activation)
        self.dropout = check_rate("dropout", dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        def common():
            return dict(
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer=clone_initializer(self.bias_initializer),
                dtype=self.dtype_policy,
            )

        self.intermediate = keras.layers.Dense(
            self.intermediate_dim, activation=self.activation, name="intermediate", **common()
        )
        self.intermediate.build(inputs_shape)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.projection = keras.layers.Dense(
            self.output_dim or inputs_shape[-1], name="projection", **common()
        )
        self.projection.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self.built = True

    def call(self, inputs, training=None):
        x = self.intermediate(inputs)  # (B, T, F)
        x = self.dropout_layer(x, training=training)
        return self.projection(x)  # (B, T, D)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.output_dim or inputs_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            intermediate_dim=self.intermediate_dim,
            output_dim=self.output_dim,
            activation=keras.activations.serialize(self.activation),
            dropout=self.dropout,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
