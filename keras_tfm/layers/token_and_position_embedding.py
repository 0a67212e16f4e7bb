"""Token embedding merged with a position encoding, by adding or concatenating.

Shape legend: B batch, T sequence length, E token embedding width, P position
width, D output width (E when adding, E + P when concatenating).
"""

import math

import keras
from keras import ops

from keras_tfm.layers.binary_position_encoding import BinaryPositionEncoding
from keras_tfm.layers.learned_position_embedding import LearnedPositionEmbedding
from keras_tfm.layers.sinusoidal_position_encoding import SinusoidalPositionEncoding
from keras_tfm.layers.validation import check_choice, check_positive_int

POSITION_ENCODINGS = ("sinusoidal", "learned", "binary", "none")
MERGE_MODES = ("add", "concat")


@keras.saving.register_keras_serializable(package="keras_tfm")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Embeds token ids and merges in where each token stands.

    The seed notes that attention is permutation invariant, so the model must
    be told the order: either add a position vector of the same width to each
    token vector (Vaswani et al.) or concatenate one (the seed's wording),
    which keeps the two kinds of information in separate features.

    Args:
        vocabulary_size: number of token ids.
        embedding_dim: E, the token vector width.
        position_encoding: one of `"sinusoidal"`, `"learned"`, `"binary"`, `"none"`.
        merge: `"add"` (needs P == E) or `"concat"` (output width E + P).
        position_dim: P. Defaults to E for `"add"`; for `"concat"`, to E
            (sinusoidal, learned) or to the bits needed for `max_length` (binary).
        max_length: longest sequence; required by `"learned"` and the
            `"binary"` default width.
        scale_embeddings: multiply token vectors by sqrt(E) (Vaswani et al. 3.4).
        mask_zero: id 0 is padding and produces a Keras implicit mask.
        embeddings_initializer: initializer of the token table.
        **kwargs: base layer arguments.

    Call arguments:
        token_ids: int `(B, T)`.
        start_index: position of the first token (for cached decoding).

    Returns:
        `(B, T, D)`.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        position_encoding="sinusoidal",
        merge="add",
        position_dim=None,
        max_length=None,
        scale_embeddings=False,
        mask_zero=True,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.position_encoding = check_choice("position_encoding", position_encoding, POSITION_ENCODINGS)
        self.merge = check_choice("merge", merge, MERGE_MODES)
        self.max_length = None if max_length is None else check_positive_int("max_length", max_length)
        self.scale_embeddings = bool(scale_embeddings)
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        if position_encoding == "learned" and self.max_length is None:
            raise ValueError(
                "`max_length` must be set for learned position embeddings. Received: max_length=None"
            )
        if position_dim is None:
            if merge == "concat" and position_encoding == "binary":
                if self.max_length is None:
                    raise ValueError(
                        "Set `position_dim` or `max_length` for a concatenated binary code. "
                        "Received: position_dim=None, max_length=None"
                    )
                position_dim = max(1, math.ceil(math.log2(self.max_length)))
            else:
                position_dim = embedding_dim
        self.position_dim = check_positive_int("position_dim", position_dim)
        if merge == "add" and position_encoding != "none" and self.position_dim != embedding_dim:
            raise ValueError(
                "`position_dim` must equal `embedding_dim` when `merge='add'`. "
                f"Received: position_dim={position_dim}, embedding_dim={embedding_dim}"
            )
        self.supports_masking = self.mask_zero

    @property
    def output_dim(self):
        if self.merge == "concat" and self.position_encoding != "none":
            return self.embedding_dim + self.position_dim
        return self.embedding_dim

    def share_token_embedding(self, other):
        """Reuse the token table of `other` (a `TokenAndPositionEmbedding`).

        Call before this layer is built; the owner of both (e.g. `Transformer`
        with `share_embeddings=True`) calls it again after deserialization.
        """
        if self.built:
            raise ValueError("`share_token_embedding` must be called before the layer is built.")
        if (other.vocabulary_size, other.embedding_dim) != (self.vocabulary_size, self.embedding_dim):
            raise ValueError(
                "Shared token embeddings need the same vocabulary size and width. Received: "
                f"({other.vocabulary_size}, {other.embedding_dim}) and "
                f"({self.vocabulary_size}, {self.embedding_dim})"
            )
        self._shared_from = other

    def build(self, token_ids_shape):
        shared = getattr(self, "_shared_from", None)
        if shared is not None:
            if not shared.built:
                shared.build(token_ids_shape)
            self.token_embedding = shared.token_embedding
        else:
            self.token_embedding = keras.layers.Embedding(
                self.vocabulary_size,
                self.embedding_dim,
                embeddings_initializer=self.embeddings_initializer,
                dtype=self.dtype_policy,
                name="token_embedding",
            )
            self.token_embedding.build(token_ids_shape)
        kwargs = dict(dtype=self.dtype_policy, name="position_encoding")
        if self.position_encoding == "sinusoidal":
            self.position_layer = SinusoidalPositionEncoding(self.position_dim, **kwargs)
        elif self.position_encoding == "learned":
            self.position_layer = LearnedPositionEmbedding(self.max_length, self.position_dim, **kwargs)
        elif self.position_encoding == "binary":
            self.position_layer = BinaryPositionEncoding(self.position_dim, **kwargs)
        else:
            self.position_layer = None
        if self.position_layer is not None:
            self.position_layer.build(tuple(token_ids_shape) + (self.embedding_dim,))
        self.built = True

    def call(self, token_ids, start_index=0):
        x = self.token_embedding(token_ids)  # (B, T, E)
        if self.scale_embeddings:
            x = x * ops.cast(math.sqrt(self.embedding_dim), x.dtype)
        if self.position_layer is None:
            return x
        pos = ops.cast(self.position_layer(x, start_index=start_index), x.dtype)  # (B, T, P)
        if self.merge == "add":
            return x + pos
        return ops.concatenate([x, pos], axis=-1)  # (B, T, E + P)

    def compute_mask(self, token_ids, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, token_ids_shape):
        return tuple(token_ids_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            embedding_dim=self.embedding_dim,
            position_encoding=self.position_encoding,
            merge=self.merge,
            position_dim=self.position_dim,
            max_length=self.max_length,
            scale_embeddings=self.scale_embeddings,
            mask_zero=self.mask_zero,
            embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer),
        )
        return config
