"""The translator as a `tf.Module`: strings in, strings out, everything in the graph.

Shape legend: B batch, S `max_source_length`, L `max_length` (generated
tokens), D model width, Ly decoder layers, Le encoder layers, N heads, H head
size, V target vocabulary.

`TranslatorModule` holds a `keras_tfm.models.Transformer` and its two
tensorflow-text tokenizers and exposes `tf.function`s with fixed signatures:

| function                   | in                                  | out |
|----------------------------|-------------------------------------|-----|
| `translate`                | string `(B,)`                       | `translation` string `(B,)`, `token_ids` int32 `(B, L)`, `scores` `(B,)`, `lengths` `(B,)`, `truncated` bool `(B,)` |
| `translate_with_attention` | string `(B,)`                       | as `translate`, plus `encoder_attention` `(B, Le, N, S, S)`, `decoder_attention` `(B, Ly, N, L, L)`, `cross_attention` `(B, Ly, N, L, S)` |
| `tokenize`                 | string `(B,)`                       | `source_ids` int32 `(B, S)`, `truncated` bool `(B,)` |
| `encode`                   | `source_ids` int32 `(B, S)`         | `encoder_output` `(B, S, D)`, `cross_attention` `(Ly, 2, B, N, S, H)`, `source_mask` bool `(B, S)` |
| `decode_step`              | `token_ids` int32 `(B, 1)`, `step` int32 `()`, `self_attention` `(Ly, 2, B, N, L, H)`, `cross_attention`, `source_mask` | `logits` float32 `(B, V)`, `self_attention` (updated) |
| `detokenize`               | `token_ids` int32 `(B, L)`          | `translation` string `(B,)` |

Input rules, the same in Keras, the SavedModel and TFLite:
* Over-long input is truncated: a sentence of more than S tokens (with
  [START] and [END]) keeps its first S - 1 and [END]; `truncated` says so.
* Empty input (an empty or all-whitespace string, which tokenizes to
  [START] [END]) translates to the empty string, with all-[PAD] token ids,
  score 0 and length 0; the model is not asked to invent a sentence.
* `decode_step` feeds the token at position `step` (0 for [START]); the
  caller keeps the cache and picks the next token. [PAD] must never be
  picked (give its logit a large negative), as the decoders do.

Attention weights are those of a teacher-forced pass over the produced
translation (the decoder input is [START] followed by the output tokens),
which equal the weights seen while decoding.
"""

import tensorflow as tf
from keras import ops

from keras_tfm import generation
from keras_tfm.text import END_ID, PAD_ID, START_ID, fit_to_length

from .tflite_utils import named_function

DECODINGS = ("greedy", "beam")


def source_ids(tokenizer, texts, max_source_length):
    """Strings `(B,)` -> (int32 `(B, S)` ids fitted to S, truncated bool `(B,)`)."""
    ids = tokenizer.tokenize_to_tensor(texts)  # (B, T)
    lengths = tf.reduce_sum(tf.cast(ids != PAD_ID, tf.int32), axis=1)  # (B,)
    return fit_to_length(ids, max_source_length), lengths > max_source_length


def blank_empty(source, token_ids, scores, lengths):
    """Applies the empty-input rule: a source of just [START] [END] gets no output."""
    empty = tf.reduce_sum(tf.cast(source != PAD_ID, tf.int32), axis=1) <= 2  # (B,)
    token_ids = tf.where(empty[:, None], tf.zeros_like(token_ids), token_ids)
    scores = tf.where(empty, tf.zeros_like(scores), scores)
    lengths = tf.where(empty, tf.zeros_like(lengths), lengths)
    return token_ids, scores, lengths


def generate(model, source, max_length, decoding, beam_width, length_penalty_alpha):
    """The Keras model's own decoder (`Transformer.generate`), with the empty-input rule."""
    kwargs = {}
    if decoding == "beam":
        kwargs = dict(beam_width=beam_width, length_penalty_alpha=length_penalty_alpha)
    out = model.generate(source, max_length=max_length, method=decoding, return_dict=True, **kwargs)
    return blank_empty(source, out["token_ids"], out["scores"], out["lengths"])


class TranslatorModule(tf.Module):
    """A `Transformer` and its tokenizers, with the signatures of the module docstring.

    Args:
        model: a built `keras_tfm.models.Transformer`.
        source_tokenizer, target_tokenizer: objects with the `tf.function`s
            `tokenize_to_tensor(texts)` and `detokenize(ids)`: the
            `keras_tfm.text` tokenizers (tensorflow-text ops, for TFLite), or
            `export.core_wordpiece.CoreWordpieceTokenizer` (core ops only,
            for a SavedModel that `saved_model_cli` can run).
        max_source_length: S, the static source length (inputs are truncated
            or padded to it).
        max_length: L, the most generated tokens ([END] included).
        decoding: "greedy" or "beam".
        beam_width, length_penalty_alpha: for beam search.
        batch_size: static batch size of every signature, or None for any.
    """

    def __init__(
        self, model, source_tokenizer, target_tokenizer, max_source_length, max_length,
        decoding="greedy", beam_width=4, length_penalty_alpha=0.6, batch_size=None,
    ):
        super().__init__(name="translator")
        if decoding not in DECODINGS:
            raise ValueError(
                f"`decoding` must be one of {list(DECODINGS)}. Received: decoding={decoding!r}"
            )
        for name, value in (("max_source_length", max_source_length), ("max_length", max_length)):
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"`{name}` must be an integer >= 2. Received: {name}={value!r}")
        limit = model.max_length
        if limit is not None and max(max_source_length, max_length) > limit:
            raise ValueError(
                f"`max_source_length` and `max_length` must be <= the model's max_length={limit}. "
                f"Received: max_source_length={max_source_length}, max_length={max_length}"
            )
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(
                f"`batch_size` must be None or an integer >= 1. Received: batch_size={batch_size!r}"
            )
        self.model = model
        # A Keras model on a tf.Module is not tracked: list its variables here,
        # or SavedModel and TFLite hold uninitialised weights.
        self.weights = [v.value for v in model.variables]
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_source_length = max_source_length
        self.max_length = max_length
        self.decoding = decoding
        self.beam_width = beam_width
        self.length_penalty_alpha = length_penalty_alpha
        self.batch_size = batch_size
        blocks = model.decoder.blocks
        attention = blocks[0].self_attention
        self.cache_shape = (len(blocks), 2, batch_size, attention.num_heads, max_length, attention.key_dim)
        self.cross_shape = self.cache_shape[:4] + (max_source_length, attention.key_dim)
        self.cache_dtype = model.compute_dtype

        b, s = batch_size, max_source_length
        texts = tf.TensorSpec([b], tf.string, name="texts")
        self.translate = named_function(self._translate, "translate", [texts])
        self.translate_with_attention = named_function(
            self._translate_with_attention, "translate_with_attention", [texts]
        )
        self.tokenize = named_function(self._tokenize, "tokenize", [texts])
        self.encode = named_function(
            self._encode, "encode", [tf.TensorSpec([b, s], tf.int32, name="source_ids")]
        )
        self.decode_step = named_function(
            self._decode_step,
            "decode_step",
            [
                tf.TensorSpec([b, 1], tf.int32, name="token_ids"),
                tf.TensorSpec([], tf.int32, name="step"),
                tf.TensorSpec(self.cache_shape, self.cache_dtype, name="self_attention"),
                tf.TensorSpec(self.cross_shape, self.cache_dtype, name="cross_attention"),
                tf.TensorSpec([b, s], tf.bool, name="source_mask"),
            ],
        )
        self.detokenize = named_function(
            self._detokenize, "detokenize", [tf.TensorSpec([b, max_length], tf.int32, name="token_ids")]
        )

    # The functions (wrapped as `tf.function`s in __init__) ------------------

    def _tokenize(self, texts):
        ids, truncated = source_ids(self.source_tokenizer, texts, self.max_source_length)
        return {"source_ids": ids, "truncated": truncated}

    def _detokenize(self, token_ids):
        return {"translation": self.target_tokenizer.detokenize(token_ids)}

    def _decode(self, source):
        if self.decoding == "beam":
            out = generation.beam_search(
                self.model, source, self.max_length, beam_width=self.beam_width,
                length_penalty_alpha=self.length_penalty_alpha,
                start_id=START_ID, end_id=END_ID, pad_id=PAD_ID,
            )
        else:
            out = generation.greedy_search(
                self.model, source, self.max_length, start_id=START_ID, end_id=END_ID, pad_id=PAD_ID
            )
        return blank_empty(source, out["token_ids"], out["scores"], out["lengths"])

    def _translate(self, texts):
        source, truncated = source_ids(self.source_tokenizer, texts, self.max_source_length)
        token_ids, scores, lengths = self._decode(source)
        return {
            "translation": self.target_tokenizer.detokenize(token_ids),
            "token_ids": token_ids,
            "scores": scores,
            "lengths": lengths,
            "truncated": truncated,
        }

    def _translate_with_attention(self, texts):
        outputs = self._translate(texts)
        source, _ = source_ids(self.source_tokenizer, texts, self.max_source_length)
        token_ids = outputs["token_ids"]
        start = tf.fill([tf.shape(token_ids)[0], 1], START_ID)
        target_in = tf.concat([start, token_ids[:, :-1]], axis=1)  # (B, L)
        # [PAD] inside the decoder input would hide nothing the model used:
        # positions after [END] only attend to earlier ones (causal mask).
        encoder_output, source_mask, encoder_scores = self.model.encode(
            source, training=False, return_attention_scores=True
        )
        _, decoder_scores = self.model.decoder(
            target_in, encoder_output, encoder_padding_mask=source_mask,
            return_attention_scores=True, training=False,
        )
        outputs["encoder_attention"] = tf.cast(tf.stack(encoder_scores, axis=1), tf.float32)
        outputs["decoder_attention"] = tf.cast(tf.stack([s["self"] for s in decoder_scores], axis=1), tf.float32)
        outputs["cross_attention"] = tf.cast(tf.stack([s["cross"] for s in decoder_scores], axis=1), tf.float32)
        return outputs

    def _encode(self, source_ids):
        encoder_output, source_mask = self.model.encode(source_ids, training=False)  # (B, S, D)
        cross = ops.stack(
            [b.compute_cross_attention_cache(encoder_output) for b in self.model.decoder.blocks]
        )  # (Ly, 2, B, N, S, H)
        return {"encoder_output": encoder_output, "cross_attention": cross, "source_mask": source_mask}

    def _decode_step(self, token_ids, step, self_attention, cross_attention, source_mask):
        logits, cache = generation.decode_step(
            self.model, token_ids, step, self_attention, cross_attention, source_mask
        )
        return {"logits": logits, "self_attention": cache}

    def saved_model_signatures(self):
        """Every function as a SavedModel signature; `serving_default` is `translate`."""
        names = ("translate", "translate_with_attention", "tokenize", "encode", "decode_step", "detokenize")
        signatures = {name: getattr(self, name).get_concrete_function() for name in names}
        signatures["serving_default"] = signatures["translate"]
        return signatures
