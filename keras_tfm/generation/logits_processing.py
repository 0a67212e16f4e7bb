"""Logit filters shared by the decoders.

Shape legend: B batch, V vocabulary. Masked logits get a large finite
negative, never -inf, so no NaN can come out of a softmax.
"""

from keras import ops

NEG = -1e9


def forbid(logits, token_id, condition=True):
    """Masks `token_id` in `logits` `(B, V)` where `condition` (scalar bool) holds."""
    column = ops.equal(ops.arange(ops.shape(logits)[-1]), token_id)  # (V,)
    return ops.where(ops.logical_and(column, condition), NEG, logits)


def constrain(logits, index, pad_id, end_id, min_length):
    """The pad id is never generated; the end id not before `min_length` tokens."""
    logits = forbid(logits, pad_id)
    if min_length:
        logits = forbid(logits, end_id, ops.less(index + 1, min_length))
    return logits


def top_k_filter(logits, k):
    """Keeps the `k` largest logits of each row."""
    kth = ops.top_k(logits, k)[0][:, -1:]  # (B, 1)
    return ops.where(logits < kth, NEG, logits)


def top_p_filter(probs, p):
    """Keeps the smallest set of most likely tokens whose mass reaches `p`, renormalised."""
    ordered = ops.top_k(probs, ops.shape(probs)[-1])[0]  # (B, V), descending
    before = ops.cumsum(ordered, axis=-1) - ordered  # mass of the strictly more likely tokens
    threshold = ops.min(ops.where(before < p, ordered, 2.0), axis=-1, keepdims=True)  # (B, 1)
    kept = ops.where(probs >= threshold, probs, 0.0)
    return kept / ops.sum(kept, axis=-1, keepdims=True)


def sample_from(probs, uniform):
    """Inverse-CDF sampling: the first token whose cumulative mass exceeds `uniform` `(B,)`."""
    cdf = ops.cumsum(probs, axis=-1)  # (B, V)
    target = ops.expand_dims(uniform, -1) * cdf[:, -1:]
    token = ops.sum(ops.cast(cdf <= target, "int32"), axis=-1)
    return ops.minimum(token, ops.shape(probs)[-1] - 1)
