"""tf.data input pipeline for translation with teacher forcing.

Shape legend: B batch, S source length, T target length.

    ds, stats = make_translation_dataset(
        pairs, source_tokenizer, target_tokenizer, batch_size=64,
        max_source_length=32, max_target_length=32, batching="pad")
    # ds yields ((source_ids (B, S), target_in_ids (B, T)),
    #            target_out_ids (B, T))
    print(stats)  # TextPipelineStats(examples=6000, dropped=3, trimmed=0)

Steps: tokenize (in batches, with [START] ... [END]), cache (optional), drop
or trim pairs longer than the limits, shuffle with a seed, repeat
(optional), shift the target for teacher forcing, batch, prefetch.

Lengths: `max_source_length` bounds `source_ids` ([START] and [END]
included); `max_target_length` bounds `target_in_ids` = target[:-1] and
`target_out_ids` = target[1:]. "drop" removes a pair over either limit;
"trim" keeps the first tokens and ends the row with [END].

Batching: "pad" pads every batch to exactly (B, S) and (B, T) with [PAD]=0,
dropping the last partial batch by default: fully static shapes, as TPUs and
`jit_compile` want. "bucket" groups pairs of similar length
(`tf.data.Dataset.bucket_by_sequence_length`) and pads each batch to its
longest pair: less padding, dynamic T and S.

`stats` is counted by one extra pass over the tokenized corpus before the
dataset is returned (`count=False` skips it, e.g. for WMT-sized corpora); the
returned dataset itself is stateless, so it works under tf.distribute and
its iterator can be checkpointed.
"""

import dataclasses

import tensorflow as tf

from keras_tfm.text.tokenizer import END_ID
from keras_tfm.text.tokenizer import PAD_ID

_OVERLONG = ("drop", "trim")
_BATCHING = ("pad", "bucket")


@dataclasses.dataclass(frozen=True)
class TextPipelineStats:
    """Counts over one pass of the input pairs.

    Attributes:
        examples: pairs read.
        dropped: pairs removed for being too long (`overlong="drop"`).
        trimmed: pairs cut to the limits (`overlong="trim"`).
    """

    examples: int
    dropped: int
    trimmed: int


def _as_pairs(examples, source_key, target_key):
    """A dataset of `(source, target)` strings from pairs, dicts or lists."""
    if not isinstance(examples, tf.data.Dataset):
        examples = list(examples)
        if not examples:
            raise ValueError("`examples` must not be empty. Received: []")
        if isinstance(examples[0], dict):
            examples = [(ex[source_key], ex[target_key]) for ex in examples]
        sources, targets = zip(*examples)
        return tf.data.Dataset.from_tensor_slices(
            (list(sources), list(targets))
        )
    if isinstance(examples.element_spec, dict):
        return examples.map(lambda ex: (ex[source_key], ex[target_key]))
    return examples


def _check_length(name, value):
    if not isinstance(value, int) or value < 2:
        raise ValueError(
            f"`{name}` must be an integer >= 2 (room for [START] and [END]). "
            f"Received: {name}={value!r}"
        )


def _trim(ids, length):
    """Cuts a 1-D row to `length` tokens, the last one [END]."""
    return tf.cond(
        tf.shape(ids)[0] > length,
        lambda: tf.concat([ids[: length - 1], [END_ID]], axis=0),
        lambda: ids,
    )


def default_bucket_boundaries(max_length):
    """8, 16, 32, ... below `max_length` + 1."""
    boundaries, bound = [], 8
    while bound <= max_length:
        boundaries.append(bound)
        bound *= 2
    return boundaries


def make_translation_dataset(
    examples,
    source_tokenizer,
    target_tokenizer=None,
    batch_size=64,
    max_source_length=64,
    max_target_length=64,
    overlong="drop",
    batching="pad",
    drop_remainder=None,
    bucket_boundaries=None,
    shuffle_buffer=0,
    seed=None,
    repeat=False,
    cache=False,
    count=True,
    source_key="en",
    target_key="fr",
):
    """Builds the teacher-forcing dataset for a translation model.

    Args:
        examples: a `tf.data.Dataset` of `(source, target)` strings or of
            dicts (tfds examples, read with `source_key`/`target_key`), or a
            Python list of pairs or dicts.
        source_tokenizer: a `keras_tfm.text` tokenizer for the source side.
        target_tokenizer: the target side's; the source's when None.
        batch_size: examples per batch, B.
        max_source_length: S, the longest `source_ids`.
        max_target_length: T, the longest `target_in_ids`/`target_out_ids`.
        overlong: "drop" or "trim" the pairs over a limit.
        batching: "pad" (static shapes) or "bucket" (by length).
        drop_remainder: drop the last partial batch; by default True for
            "pad" and False for "bucket".
        bucket_boundaries: length boundaries for "bucket";
            `default_bucket_boundaries(max(S, T))` when None.
        shuffle_buffer: shuffle buffer size; 0 keeps the input order.
        seed: the shuffle seed (same seed, same order).
        repeat: repeat forever (after the shuffle, so each epoch reshuffles).
        cache: cache the tokenized pairs in memory (small corpora).
        count: count examples, dropped and trimmed pairs first.
        source_key, target_key: dict keys, for dict examples.

    Returns:
        `(dataset, stats)`: the dataset yields
        `((source_ids (B, S), target_in_ids (B, T)), target_out_ids (B, T))`,
        int32, [PAD]=0; `stats` is a `TextPipelineStats`, or None when
        `count=False`.
    """
    if overlong not in _OVERLONG:
        raise ValueError(
            f"`overlong` must be one of {list(_OVERLONG)}. "
            f"Received: overlong={overlong!r}"
        )
    if batching not in _BATCHING:
        raise ValueError(
            f"`batching` must be one of {list(_BATCHING)}. "
            f"Received: batching={batching!r}"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            "`batch_size` must be a positive integer. "
            f"Received: batch_size={batch_size!r}"
        )
    _check_length("max_source_length", max_source_length)
    _check_length("max_target_length", max_target_length)
    if not isinstance(shuffle_buffer, int) or shuffle_buffer < 0:
        raise ValueError(
            "`shuffle_buffer` must be a non-negative integer. "
            f"Received: shuffle_buffer={shuffle_buffer!r}"
        )
    target_tokenizer = target_tokenizer or source_tokenizer
    if drop_remainder is None:
        drop_remainder = batching == "pad"
    S, T = max_source_length, max_target_length

    def tokenize(sources, targets):
        return (
            source_tokenizer.tokenize(sources),
            target_tokenizer.tokenize(targets),
        )

    pairs = _as_pairs(examples, source_key, target_key)
    ds = (
        pairs.batch(256)
        .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()  # (source_ids (None,), target_ids (None,))
    )
    if cache:
        ds = ds.cache()

    def too_long(source, target):
        return tf.logical_or(
            tf.shape(source)[0] > S, tf.shape(target)[0] - 1 > T
        )

    stats = None
    if count:
        counts = ds.map(
            lambda s, t: tf.cast(too_long(s, t), tf.int64)
        ).reduce(
            (tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
            lambda acc, over: (acc[0] + 1, acc[1] + over),
        )
        examples_seen, over = (int(c) for c in counts)
        stats = TextPipelineStats(
            examples=examples_seen,
            dropped=over if overlong == "drop" else 0,
            trimmed=over if overlong == "trim" else 0,
        )

    if overlong == "drop":
        ds = ds.filter(lambda s, t: tf.logical_not(too_long(s, t)))
    else:
        ds = ds.map(lambda s, t: (_trim(s, S), _trim(t, T + 1)))
    if shuffle_buffer:
        ds = ds.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        ds = ds.repeat()
    # Teacher forcing: the decoder reads target[:-1] and predicts target[1:].
    ds = ds.map(
        lambda s, t: ((s, t[:-1]), t[1:]),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    padding = ((tf.constant(PAD_ID), tf.constant(PAD_ID)), tf.constant(PAD_ID))
    if batching == "pad":
        ds = ds.padded_batch(
            batch_size,
            padded_shapes=(([S], [T]), [T]),
            padding_values=padding,
            drop_remainder=drop_remainder,
        )
    else:
        boundaries = bucket_boundaries or default_bucket_boundaries(max(S, T))
        ds = ds.bucket_by_sequence_length(
            element_length_func=lambda inputs, out: tf.maximum(
                tf.shape(inputs[0])[0], tf.shape(out)[0]
            ),
            bucket_boundaries=list(boundaries),
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=padding,
            drop_remainder=drop_remainder,
        )
    return ds.prefetch(tf.data.AUTOTUNE), stats
