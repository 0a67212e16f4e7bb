"""The sequence-to-sequence Transformer.

Shape legend: B batch, S source length, T target length, D model width, V vocabulary.
"""

import keras
from keras import ops

from keras_tfm import generation
from keras_tfm.layers.masks import padding_mask_from_ids
from keras_tfm.layers.validation import check_choice
from keras_tfm.layers.validation import check_positive_int
from keras_tfm.models.presets import TRANSFORMER_PRESETS, preset_kwargs
from keras_tfm.models.transformer_decoder import TransformerDecoder
from keras_tfm.models.transformer_encoder import TransformerEncoder


@keras.saving.register_keras_serializable(package="keras_tfm")
class Transformer(keras.Model):
    """Encoder-decoder Transformer trained with teacher forcing.

    `call((source_ids, target_in_ids))` returns logits for every target
    position at once: `target_in_ids` is the target shifted right (it starts
    with the start token), and causal masking in the decoder keeps position t
    from seeing targets after t. Id 0 is padding on both sides; train with
    `SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)`.

    Args:
        vocabulary_size: source vocabulary (and target, unless set apart).
        target_vocabulary_size: target vocabulary; defaults to `vocabulary_size`.
        num_layers: encoder blocks.
        num_decoder_layers: decoder blocks; defaults to `num_layers`.
        hidden_dim, num_heads, intermediate_dim, dropout, attention_dropout,
        activation, normalize_first, layer_norm_epsilon, position_encoding,
        merge, position_dim, max_length, scale_embeddings: as in
            `TransformerEncoder`.
        share_embeddings: one token table for source and target (needs equal
            vocabularies). Defaults to `True` when they are equal.
        tie_embeddings: the output projection is the transposed target token
            table (Vaswani et al. 3.4); needs `merge="add"`.
        **kwargs: base model arguments.

    Call arguments:
        inputs: `(source_ids, target_in_ids)`, int `(B, S)` and `(B, T)`, or a
            dict with those keys.
        training: enables dropout.

    Returns:
        Logits `(B, T, V)`.

    Example:
    >>> model = Transformer.from_preset("transformer-base", vocabulary_size=37000)

    References:
        Vaswani et al., "Attention Is All You Need", 2017, sections 3 and 5.
    """

    def __init__(
        self,
        vocabulary_size,
        target_vocabulary_size=None,
        num_layers=6,
        num_decoder_layers=None,
        hidden_dim=512,
        num_heads=8,
        intermediate_dim=2048,
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
        share_embeddings=None,
        tie_embeddings=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.target_vocabulary_size = check_positive_int(
            "target_vocabulary_size",
            vocabulary_size if target_vocabulary_size is None else target_vocabulary_size,
        )
        if share_embeddings is None:
            share_embeddings = self.target_vocabulary_size == self.vocabulary_size
        if share_embeddings and self.target_vocabulary_size != self.vocabulary_size:
            raise ValueError(
                "`share_embeddings=True` needs equal vocabularies. Received: "
                f"vocabulary_size={vocabulary_size}, target_vocabulary_size={target_vocabulary_size}"
            )
        if tie_embeddings and merge == "concat" and position_encoding != "none":
            raise ValueError(
                "`tie_embeddings=True` needs token vectors as wide as the model, so "
                "`merge` must be 'add'. Received: merge='concat'"
            )
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.num_decoder_layers = check_positive_int(
            "num_decoder_layers", num_layers if num_decoder_layers is None else num_decoder_layers
        )
        self.share_embeddings = bool(share_embeddings)
        self.tie_embeddings = bool(tie_embeddings)
        stack_args = dict(
            hidden_dim=hidden_dim,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            attention_dropout=attention_dropout,
            activation=activation,
            normalize_first=normalize_first,
            layer_norm_epsilon=layer_norm_epsilon,
            position_encoding=position_encoding,
            merge=merge,
            position_dim=position_dim,
            max_length=max_length,
            scale_embeddings=scale_embeddings,
        )
        self._stack_args = stack_args
        self.encoder = TransformerEncoder(
            self.vocabulary_size, self.num_layers, dtype=self.dtype_policy, name="encoder", **stack_args
        )
        self.decoder = TransformerDecoder(
            self.target_vocabulary_size, self.num_decoder_layers,
            dtype=self.dtype_policy, name="decoder", **stack_args,
        )
        if self.share_embeddings:
            self.decoder.embedding.share_token_embedding(self.encoder.embedding)
        self.output_projection = None
        if not self.tie_embeddings:
            self.output_projection = keras.layers.Dense(
                self.target_vocabulary_size, dtype=self.dtype_policy, name="output_projection"
            )

    @classmethod
    def from_preset(cls, preset, vocabulary_size, **kwargs):
        """A model of a named size (see `presets.TRANSFORMER_PRESETS`)."""
        config = preset_kwargs(TRANSFORMER_PRESETS, preset)
        config.update(kwargs)
        return cls(vocabulary_size=vocabulary_size, **config)

    @property
    def hidden_dim(self):
        return self._stack_args["hidden_dim"]

    @property
    def max_length(self):
        return self._stack_args["max_length"]

    def build(self, inputs_shape):
        source_shape, target_shape = _split_inputs(inputs_shape)
        self.encoder.build(source_shape)
        self.decoder.build(target_shape, tuple(source_shape) + (self.hidden_dim,))
        if self.output_projection is not None:
            self.output_projection.build(tuple(target_shape) + (self.hidden_dim,))
        self.built = True

    # The three pieces that `call` and `keras_tfm.generation` share --------

    def encode(self, source_ids, training=None, return_attention_scores=False):
        """Source ids `(B, S)` -> `(encoder_output (B, S, D), source_padding_mask (B, S))`."""
        outputs = self.encoder(
            source_ids, training=training, return_attention_scores=return_attention_scores
        )
        mask = padding_mask_from_ids(source_ids)
        if return_attention_scores:
            return outputs[0], mask, outputs[1]
        return outputs, mask

    def logits(self, hidden):
        """Decoder states `(B, T, D)` -> logits `(B, T, V)`."""
        if self.output_projection is not None:
            return self.output_projection(hidden)
        table = self.decoder.embedding.token_embedding.embeddings  # (V, D)
        return ops.matmul(hidden, ops.transpose(ops.cast(table, hidden.dtype)))

    def call(self, inputs, training=None):
        source_ids, target_ids = _split_inputs(inputs)
        encoder_output, source_mask = self.encode(source_ids, training=training)
        hidden = self.decoder(
            target_ids, encoder_output, encoder_padding_mask=source_mask, training=training
        )
        return self.logits(hidden)

    def generate(self, source_ids, max_length=None, method="greedy", return_dict=False, **kwargs):
        """Translates token ids: encodes once, then decodes over a key/value cache.

        Args:
            source_ids: int `(B, S)`, 0 for padding.
            max_length: most generated tokens; defaults to the model's
                `max_length`, else `2 * S + 10`.
            method: `"greedy"`, `"beam"` or `"sample"`.
            return_dict: return the decoder's dict (scores, lengths, n-best)
                instead of the ids alone.
            **kwargs: passed to `keras_tfm.generation.greedy_search`,
                `beam_search` or `sample` (`beam_width`, `length_penalty_alpha`,
                `temperature`, `top_k`, `top_p`, `seed`, `min_length`,
                `start_id`, `end_id`, `pad_id`).

        Returns:
            int `(B, max_length)`: generated ids, the end id included, then 0.
        """
        decoders = {
            "greedy": generation.greedy_search,
            "beam": generation.beam_search,
            "sample": generation.sample,
        }
        check_choice("method", method, decoders)
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        if max_length is None:
            max_length = self.max_length or 2 * int(source_ids.shape[1]) + 10
        outputs = decoders[method](self, source_ids, max_length, **kwargs)
        return outputs if return_dict else outputs["token_ids"]

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            target_vocabulary_size=self.target_vocabulary_size,
            num_layers=self.num_layers,
            num_decoder_layers=self.num_decoder_layers,
            share_embeddings=self.share_embeddings,
            tie_embeddings=self.tie_embeddings,
            **self._stack_args,
        )
        return config


def _split_inputs(inputs):
    if isinstance(inputs, dict):
        missing = {"source_ids", "target_ids"} - set(inputs)
        if missing:
            raise ValueError(
                "`inputs` must hold 'source_ids' and 'target_ids'. "
                f"Received: keys {sorted(inputs)}"
            )
        return inputs["source_ids"], inputs["target_ids"]
    if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
        return inputs[0], inputs[1]
    raise ValueError(
        "`inputs` must be (source_ids, target_ids) or a dict with those keys. "
        f"Received: inputs={inputs!r}"
    )
