"""Greedy and sampled decoding over the key/value cache, in one compiled loop.

Shape legend: B batch, L `max_length`, V vocabulary.
"""

import keras
import numpy as np
from keras import ops

from keras_tfm.generation import logits_processing as lp
from keras_tfm.generation.kv_cache import DecoderCache, decode_step, decoding_loop
from keras_tfm.generation.validation import check_lengths, check_sampling
from keras_tfm.layers.cache_writes import write_step


def _decode_loop(model, source_ids, max_length, min_length, start_id, end_id, pad_id, choose):
    """The shared `while_loop`: one token per step, stopping when every sequence has ended.

    `choose(logits (B, V), index)` returns the next ids `(B,)`.
    """
    cache = DecoderCache.create(model, source_ids, max_length)
    batch = ops.shape(source_ids)[0]
    tokens = ops.zeros((batch, max_length), "int32")
    previous = ops.full((batch, 1), start_id, "int32")
    finished = ops.zeros((batch,), "bool")
    log_prob = ops.zeros((batch,), "float32")

    def cond(index, tokens, previous, finished, self_cache, log_prob):
        return ops.logical_and(index < max_length, ops.logical_not(ops.all(finished)))

    def body(index, tokens, previous, finished, self_cache, log_prob):
        logits, self_cache = decode_step(
            model, previous, index, self_cache, cache.layers_cross_attention, cache.source_mask
        )
        logits = lp.constrain(logits, index, pad_id, end_id, min_length)
        token = ops.cast(choose(logits, index), "int32")  # (B,)
        token_log_prob = ops.take_along_axis(
            ops.log_softmax(logits, axis=-1), ops.expand_dims(token, -1), axis=-1
        )[:, 0]
        token = ops.where(finished, pad_id, token)
        log_prob = log_prob + ops.where(finished, 0.0, token_log_prob)
        finished = ops.logical_or(finished, ops.equal(token, end_id))
        tokens = write_step(tokens, index, ops.expand_dims(token, -1), axis=1)
        return index + 1, tokens, ops.expand_dims(token, -1), finished, self_cache, log_prob

    state = (ops.zeros((), "int32"), tokens, previous, finished, cache.layers_self_attention, log_prob)
    with decoding_loop(model):
        steps, tokens, _, _, _, log_prob = ops.while_loop(cond, body, state, maximum_iterations=max_length)
    lengths = ops.sum(ops.cast(ops.not_equal(tokens, pad_id), "int32"), axis=-1)
    return {"token_ids": tokens, "scores": log_prob, "lengths": lengths, "steps": steps}


def greedy_search(model, source_ids, max_length, min_length=0, start_id=1, end_id=2, pad_id=0):
    """Picks the most likely token at every step.

    Args:
        model: a `keras_tfm.models.Transformer`.
        source_ids: int `(B, S)`, 0 for padding.
        max_length: L, the most tokens generated (the end token included).
        min_length: the end token is forbidden before this many tokens.
        start_id, end_id, pad_id: special ids. The pad id is never generated
            and fills the positions after a sequence's end.

    Returns:
        A dict: `token_ids` int `(B, L)`, `scores` (sum of log-probabilities,
        `(B,)`), `lengths` `(B,)` (the end token counted).
    """
    check_lengths(model, max_length, min_length)
    return _decode_loop(
        model, source_ids, max_length, min_length, start_id, end_id, pad_id,
        lambda logits, index: _argmax(logits),
    )


def _argmax(logits):
    """The first index of the largest logit, `(B, V)` -> `(B,)`.

    `ops.top_k` rather than `ops.argmax`: on TensorFlow, Keras's float argmax
    adds a sign-bit test (Bitcast, BitwiseAnd) that TFLite has no builtin for.
    """
    return ops.top_k(logits, 1)[1][:, 0]


def sample(
    model, source_ids, max_length, temperature=1.0, top_k=None, top_p=None, seed=None,
    min_length=0, start_id=1, end_id=2, pad_id=0,
):
    """Draws each token from the model's distribution, optionally sharpened and truncated.

    The distribution at each step is `softmax(logits / temperature)`, cut to
    the `top_k` most likely tokens and then to the smallest nucleus of mass
    `top_p`, and renormalised. One uniform number per sequence and step is
    drawn up front from `seed` (with NumPy when the batch size is static), so
    a seeded call gives the same tokens on every backend, eagerly and inside
    a compiled graph (XLA's random bits differ from the CPU kernels').

    Args:
        temperature: > 0; below 1 sharpens, above 1 flattens.
        top_k: keep only this many tokens (`top_k=1` is greedy).
        top_p: in (0, 1]; nucleus mass.
        seed: int seed of the uniform draws.
        Others as `greedy_search`.

    Returns:
        As `greedy_search`; `scores` are the model's log-probabilities of the
        drawn tokens (before temperature and truncation).

    References:
        Holtzman et al., "The Curious Case of Neural Text Degeneration", 2020 (top-p).
    """
    check_lengths(model, max_length, min_length)
    check_sampling(temperature, top_k, top_p)
    uniforms = _uniforms(max_length, source_ids, seed)  # (L, B)

    def choose(logits, index):
        logits = logits / temperature
        if top_k is not None:
            logits = lp.top_k_filter(logits, min(top_k, logits.shape[-1]))
        probs = ops.softmax(logits, axis=-1)
        if top_p is not None and top_p < 1:
            probs = lp.top_p_filter(probs, top_p)
        return lp.sample_from(probs, ops.take(uniforms, index, axis=0))

    return _decode_loop(model, source_ids, max_length, min_length, start_id, end_id, pad_id, choose)


def _uniforms(max_length, source_ids, seed):
    batch = source_ids.shape[0]
    if isinstance(batch, int):
        draws = np.random.default_rng(seed).random((max_length, batch), dtype=np.float32)
        return ops.convert_to_tensor(draws)
    return keras.random.uniform((max_length, ops.shape(source_ids)[0]), seed=seed)
