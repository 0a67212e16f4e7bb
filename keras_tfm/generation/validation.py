"""Argument checks of the decoders: each error names the argument and the value."""

import numbers

from keras_tfm.layers.validation import check_positive_int  # noqa: F401  (re-exported)


def check_sampling(temperature, top_k, top_p):
    if not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature!r}")
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None and (not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1):
        raise ValueError(f"`top_p` must be in (0, 1]. Received: top_p={top_p!r}")


def check_lengths(model, max_length, min_length):
    check_positive_int("max_length", max_length)
    if isinstance(min_length, bool) or not isinstance(min_length, numbers.Integral) or not 0 <= min_length <= max_length:
        raise ValueError(
            f"`min_length` must be an integer in [0, max_length={max_length}]. "
            f"Received: min_length={min_length!r}"
        )
    limit = model.max_length
    if limit is not None and max_length > limit:
        raise ValueError(
            f"`max_length` must be <= the model's max_length={limit}. Received: max_length={max_length}"
        )


def check_source(model, source_ids):
    if len(source_ids.shape) != 2:
        raise ValueError(
            f"`source_ids` must have shape (B, S). Received: source_ids.shape={tuple(source_ids.shape)}"
        )
    limit, length = model.max_length, source_ids.shape[1]
    if limit is not None and isinstance(length, int) and length > limit:
        raise ValueError(
            f"`source_ids` is longer than the model allows (max_length={limit}). "
            f"Received: source_ids.shape={tuple(source_ids.shape)}"
        )
