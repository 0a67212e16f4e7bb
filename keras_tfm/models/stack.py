"""Shared machinery of the encoder and decoder stacks: embedding, blocks, final norm.

Shape legend: B batch, T length, D model width.
"""

import keras

from keras_tfm.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_tfm.layers.validation import check_positive_int, check_rate


class TransformerStack(keras.layers.Layer):
    """Base of `TransformerEncoder` and `TransformerDecoder`; not used directly.

    With `merge="concat"` the token vectors are `hidden_dim - position_dim`
    wide and the position code fills the rest, so the blocks always see
    `hidden_dim` features.
    """

    block_class = None

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        hidden_dim,
        num_heads,
        intermediate_dim,
        dropout=0.1,
        attention_dropout=None,
        activation="relu",
        normalize_first=False,
        layer_norm_epsilon=1e-6,
        position_encoding="sinusoidal",
        merge="add",
        position_dim=None,
        max_length=None,
        scale_embeddings=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if hidden_dim % num_heads:
            raise ValueError(
                "`hidden_dim` must be divisible by `num_heads`. "
                f"Received: hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.dropout = check_rate("dropout", dropout)
        self.attention_dropout = attention_dropout
        self.activation = activation
        self.normalize_first = bool(normalize_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.position_encoding = position_encoding
        self.merge = merge
        self.max_length = max_length
        self.scale_embeddings = bool(scale_embeddings)
        if merge == "concat" and position_encoding != "none":
            if position_dim is None or not 0 < position_dim < hidden_dim:
                raise ValueError(
                    "`position_dim` must be set between 0 and `hidden_dim` when `merge='concat'`. "
                    f"Received: position_dim={position_dim}, hidden_dim={hidden_dim}"
                )
            embedding_dim = hidden_dim - position_dim
        else:
            embedding_dim = hidden_dim
        self.position_dim = position_dim
        self.embedding = TokenAndPositionEmbedding(
            vocabulary_size,
            embedding_dim,
            position_encoding=position_encoding,
            merge=merge,
            position_dim=position_dim,
            max_length=max_length,
            scale_embeddings=scale_embeddings,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=embedding_dim**-0.5),
            dtype=self.dtype_policy,
            name="embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.blocks = [
            self.block_class(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                attention_dropout=attention_dropout,
                activation=activation,
                normalize_first=normalize_first,
                layer_norm_epsilon=layer_norm_epsilon,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        self.final_norm = None
        if self.normalize_first:
            self.final_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="final_norm"
            )

    def _check_length(self, token_ids):
        length = token_ids.shape[1]
        if self.max_length is not None and isinstance(length, int) and length > self.max_length:
            raise ValueError(
                f"The sequence is longer than `max_length={self.max_length}`. "
                f"Received: token_ids.shape={tuple(token_ids.shape)}"
            )

    def _embed(self, token_ids, start_index=0, training=None):
        x = self.embedding(token_ids, start_index=start_index)  # (B, T, D)
        return self.embedding_dropout(x, training=training)

    def _finish(self, x):
        return self.final_norm(x) if self.final_norm is not None else x

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            num_layers=self.num_layers,
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            activation=self.activation,
            normalize_first=self.normalize_first,
            layer_norm_epsilon=self.layer_norm_epsilon,
            position_encoding=self.position_encoding,
            merge=self.merge,
            position_dim=self.position_dim,
            max_length=self.max_length,
            scale_embeddings=self.scale_embeddings,
        )
        return config
