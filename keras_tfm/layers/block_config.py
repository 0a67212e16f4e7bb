"""Arguments shared by the encoder and decoder blocks, validated in one place."""

import keras

from keras_tfm.layers.validation import check_positive_int, check_rate


class BlockArgs:
    """Mixin that stores and validates the common block arguments."""

    def _set_block_args(
        self, num_heads, intermediate_dim, dropout, attention_dropout, activation,
        normalize_first, layer_norm_epsilon, key_dim, drop_path_rate,
        kernel_initializer, bias_initializer,
    ):
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.dropout = check_rate("dropout", dropout)
        self.attention_dropout = check_rate(
            "attention_dropout", dropout if attention_dropout is None else attention_dropout
        )
        self.activation = keras.activations.get(activation)
        self.normalize_first = bool(normalize_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.key_dim = None if key_dim is None else check_positive_int("key_dim", key_dim)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _head_size(self, hidden_dim):
        if self.key_dim is not None:
            return self.key_dim
        if hidden_dim % self.num_heads:
            raise ValueError(
                "The model width must be divisible by `num_heads`. "
                f"Received: width={hidden_dim}, num_heads={self.num_heads}"
            )
        return hidden_dim // self.num_heads

    def _residual(self, name):
        from keras_tfm.layers.residual import Residual

        return Residual(
            dropout=self.dropout,
            drop_path_rate=self.drop_path_rate,
            normalize_first=self.normalize_first,
            layer_norm_epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name=name,
        )

    def _block_config(self):
        return dict(
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            activation=keras.activations.serialize(self.activation),
            normalize_first=self.normalize_first,
            layer_norm_epsilon=self.layer_norm_epsilon,
            key_dim=self.key_dim,
            drop_path_rate=self.drop_path_rate,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
