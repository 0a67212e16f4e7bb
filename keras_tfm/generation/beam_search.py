"""Beam search with the GNMT length penalty, over the key/value cache, in one compiled loop.

Shape legend: B batch, K beam width, L `max_length`, V vocabulary, Ly decoder
layers, N heads, H head size.
"""

import numbers

from keras import ops

from keras_tfm.generation import logits_processing as lp
from keras_tfm.generation.kv_cache import DecoderCache, decode_step, decoding_loop
from keras_tfm.generation.validation import check_lengths, check_positive_int
from keras_tfm.layers.cache_writes import write_step


def length_penalty(length, alpha):
    """GNMT: `((5 + |Y|) / 6) ** alpha` (Wu et al. 2016, eq. 14)."""
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


def beam_search(
    model, source_ids, max_length, beam_width=4, length_penalty_alpha=0.6,
    min_length=0, start_id=1, end_id=2, pad_id=0,
):
    """Keeps the `beam_width` best partial translations at every step.

    Hypotheses are ranked by `log P(y) / length_penalty(|y|)`, the GNMT
    score used by Vaswani et al. (alpha = 0.6, section 6.1). A hypothesis that
    has produced the end token stays in the beam with its final score and
    competes with the growing ones; the search stops when all beams of all
    examples have ended, as soon as no growing hypothesis can still beat
    the best ended one, or at `max_length`. With `beam_width=1` this is
    exactly greedy search; with a beam as wide as the number of possible
    outputs it is exhaustive.

    Args:
        model: a `keras_tfm.models.Transformer`.
        source_ids: int `(B, S)`, 0 for padding.
        max_length: L, the most tokens generated (the end token included).
        beam_width: K.
        length_penalty_alpha: alpha >= 0; 0 ranks by raw log-probability.
        min_length, start_id, end_id, pad_id: as in `greedy_search`.

    Returns:
        A dict: `token_ids` `(B, L)` and `scores` `(B,)` of the best
        hypothesis, `lengths` `(B,)`, and the n-best list `nbest_token_ids`
        `(B, K, L)`, `nbest_scores` `(B, K)`, best first, and `steps`.

    References:
        Wu et al., "Google's Neural Machine Translation System", 2016, section 7.
    """
    check_lengths(model, max_length, min_length)
    k = check_positive_int("beam_width", beam_width)
    if not isinstance(length_penalty_alpha, numbers.Real) or length_penalty_alpha < 0:
        raise ValueError(
            f"`length_penalty_alpha` must be >= 0. Received: length_penalty_alpha={length_penalty_alpha!r}"
        )
    alpha = float(length_penalty_alpha)
    batch = ops.shape(source_ids)[0]
    cache = DecoderCache.create(model, source_ids, max_length).repeat(k)
    vocabulary = model.target_vocabulary_size
    beam_offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * k, -1)  # (B, 1)
    is_pad = ops.equal(ops.arange(vocabulary), pad_id)  # (V,)
    stay = ops.where(is_pad, 0.0, lp.NEG)  # An ended beam can only append padding, for free.

    best_possible = length_penalty(max_length, alpha)

    def cond(index, tokens, log_prob, lengths, finished, self_cache, previous):
        # An example is decided once its best ended hypothesis scores at least
        # what any growing one could still reach: log-probabilities only fall,
        # and the penalty is largest at max_length.
        ended = ops.where(finished, log_prob / length_penalty(lengths, alpha), 2 * lp.NEG)
        growing = ops.where(finished, 2 * lp.NEG, log_prob / best_possible)
        decided = ops.max(ended, axis=1) >= ops.max(growing, axis=1)
        return ops.logical_and(index < max_length, ops.logical_not(ops.all(decided)))

    def body(index, tokens, log_prob, lengths, finished, self_cache, previous):
        logits, self_cache = decode_step(
            model, previous, index, self_cache, cache.layers_cross_attention, cache.source_mask
        )  # (B*K, V)
        logits = lp.constrain(logits, index, pad_id, end_id, min_length)
        step = ops.reshape(ops.log_softmax(logits, axis=-1), (batch, k, vocabulary))
        step = ops.where(ops.expand_dims(finished, -1), stay, step)
        total = ops.expand_dims(log_prob, -1) + step  # (B, K, V)
        new_length = ops.where(finished, lengths, index + 1)  # (B, K)
        rank = total / ops.expand_dims(length_penalty(new_length, alpha), -1)
        _, best = ops.top_k(ops.reshape(rank, (batch, k * vocabulary)), k)  # (B, K)
        beam = best // vocabulary
        token = ops.cast(best % vocabulary, "int32")
        log_prob = ops.take_along_axis(ops.reshape(total, (batch, k * vocabulary)), best, axis=1)
        lengths = ops.take_along_axis(new_length, beam, axis=1)
        finished = ops.take_along_axis(finished, beam, axis=1)
        finished = ops.logical_or(finished, ops.equal(token, end_id))
        gather = ops.broadcast_to(ops.expand_dims(beam, -1), (batch, k, max_length))
        tokens = ops.take_along_axis(tokens, gather, axis=1)
        tokens = write_step(tokens, index, ops.expand_dims(token, -1), axis=2)
        flat_beam = ops.reshape(beam_offsets + ops.cast(beam, "int32"), (-1,))  # (B*K,)
        self_cache = tuple(ops.take(c, flat_beam, axis=1) for c in self_cache)
        previous = ops.reshape(token, (-1, 1))
        return index + 1, tokens, log_prob, lengths, finished, self_cache, previous

    first = ops.concatenate([ops.zeros((batch, 1)), ops.full((batch, k - 1), lp.NEG)], axis=1)
    state = (
        ops.zeros((), "int32"),
        ops.zeros((batch, k, max_length), "int32"),
        first,  # Only beam 0 is real at the start; the rest are copies.
        ops.zeros((batch, k), "int32"),
        ops.zeros((batch, k), "bool"),
        cache.layers_self_attention,
        ops.full((batch * k, 1), start_id, "int32"),
    )
    with decoding_loop(model):
        steps, tokens, log_prob, lengths, _, _, _ = ops.while_loop(
            cond, body, state, maximum_iterations=max_length
        )
    scores = log_prob / length_penalty(lengths, alpha)  # (B, K)
    scores, order = ops.top_k(scores, k)
    tokens = ops.take_along_axis(
        tokens, ops.broadcast_to(ops.expand_dims(order, -1), (batch, k, max_length)), axis=1
    )
    lengths = ops.take_along_axis(lengths, order, axis=1)
    return {
        "token_ids": tokens[:, 0],
        "scores": scores[:, 0],
        "lengths": lengths[:, 0],
        "nbest_token_ids": tokens,
        "nbest_scores": scores,
        "steps": steps,
    }
