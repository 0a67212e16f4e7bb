"""The key/value cache that makes sequential decoding cost O(1) projections per step.

Shape legend: B batch (times beams), Ly decoder layers, N heads, H head size,
L `max_length` (decoder positions), S source length, V vocabulary.

The self-attention cache is preallocated to `max_length` and written in place
by index (`slice_update`), so every decoding step has the same static shapes
and the whole loop compiles (XLA, TPU, TFLite). The cross-attention keys and
values are projected once from the encoder output.
"""

from keras import ops

from keras_tfm.generation.validation import check_source


class DecoderCache:
    """Everything a decoding step needs besides the new token and its index.

    Attributes:
        self_attention: `(Ly, B, 2, N, L, H)`, written step by step.
        cross_attention: `(Ly, B, 2, N, S, H)`, fixed.
        source_mask: boolean `(B, S)`.
    """

    def __init__(self, self_attention, cross_attention, source_mask):
        self.self_attention = self_attention
        self.cross_attention = cross_attention
        self.source_mask = source_mask

    @classmethod
    def create(cls, model, source_ids, max_length):
        """Encodes `source_ids` `(B, S)` once and allocates an empty cache of length `max_length`."""
        check_source(model, source_ids)
        encoder_output, source_mask = model.encode(source_ids, training=False)  # (B, S, D)
        blocks = model.decoder.blocks
        cross = ops.stack([b.compute_cross_attention_cache(encoder_output) for b in blocks])
        attention = blocks[0].self_attention
        batch = ops.shape(source_ids)[0]
        shape = (len(blocks), batch, 2, attention.num_heads, max_length, attention.key_dim)
        self_attention = ops.zeros(shape, dtype=cross.dtype)  # (Ly, B, 2, N, L, H)
        return cls(self_attention, cross, source_mask)

    def repeat(self, times):
        """Each example repeated `times` times along the batch (one per beam)."""
        return DecoderCache(
            ops.repeat(self.self_attention, times, axis=1),
            ops.repeat(self.cross_attention, times, axis=1),
            ops.repeat(self.source_mask, times, axis=0),
        )


def decode_step(model, token_ids, index, self_attention, cross_attention, source_mask):
    """Runs the decoder on one new token per sequence.

    Args:
        model: a `keras_tfm.models.Transformer`.
        token_ids: int `(B, 1)`, the token at position `index`.
        index: int scalar, the position being fed (0 for the start token).
        self_attention: `(Ly, B, 2, N, L, H)` cache.
        cross_attention: `(Ly, B, 2, N, S, H)` cache.
        source_mask: boolean `(B, S)`.

    Returns:
        `(logits (B, V), updated self_attention cache)`.
    """
    layers = len(model.decoder.blocks)
    hidden, caches = model.decoder(
        token_ids,
        encoder_padding_mask=source_mask,
        self_attention_caches=[self_attention[i] for i in range(layers)],
        cross_attention_caches=[cross_attention[i] for i in range(layers)],
        cache_update_index=index,
        training=False,
    )
    logits = model.logits(hidden)[:, 0]  # (B, V)
    return ops.cast(logits, "float32"), ops.stack(caches)


def uncached_logits(model, source_ids, prefix_ids):
    """Logits for the last position of `prefix_ids` `(B, T)` by a full forward pass.

    What decoding costs without a cache: the whole prefix is recomputed for
    every new token. Used by tests (parity) and benchmarks (speed).
    """
    return ops.cast(model((source_ids, prefix_ids), training=False)[:, -1], "float32")
