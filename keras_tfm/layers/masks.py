"""Attention masks: one convention for the whole package.

Shape legend: B batch, T query (target) length, S key (source) length.

A mask is boolean and `True` means "may attend". Every attention layer in
keras_tfm combines the masks it is given with a logical AND:

* `padding_mask` `(B, S)`: which keys are real tokens;
* `attention_mask` `(B, T, S)` (or `(T, S)`): which query may see which key;
* the causal mask, built here from `arange` comparisons (never from
  `is_causal`, which needs Flex ops in TFLite);
* Keras implicit masks (`inputs._keras_mask`) on the query `(B, T)` and on the
  key/value `(B, S)`.

A query row whose keys are all masked yields zeros (not NaN, not a uniform
average), in every dtype.
"""

from keras import ops


def large_negative(dtype):
    """The masked-logit fill value for `dtype`: finite, so no `-inf` arithmetic."""
    dtype = str(dtype)
    if dtype == "float16":
        return -3e4  # float16 max is 65504; leaves room for the largest logit.
    return -1e9


def causal_mask(query_length, key_length, offset=0):
    """Boolean `(T, S)` mask with `mask[i, j] = j <= i + offset`.

    Args:
        query_length: T, the number of query positions.
        key_length: S, the number of key positions.
        offset: absolute position of the first query. `S - T` for a full
            self-attention over a prefix, or the cache index while decoding.
            May be a scalar tensor.

    Returns:
        A boolean tensor of shape `(T, S)`.
    """
    rows = ops.expand_dims(ops.arange(query_length, dtype="int32"), 1)  # (T, 1)
    cols = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)  # (1, S)
    return ops.less_equal(cols, rows + ops.cast(offset, "int32"))  # (T, S)


def merge_masks(*masks):
    """AND together boolean masks that broadcast; `None` entries are skipped."""
    merged = None
    for mask in masks:
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        merged = mask if merged is None else ops.logical_and(merged, mask)
    return merged


def padding_mask_from_ids(token_ids, pad_id=0):
    """`(B, T)` boolean mask, `True` where `token_ids != pad_id`."""
    return ops.not_equal(token_ids, pad_id)
