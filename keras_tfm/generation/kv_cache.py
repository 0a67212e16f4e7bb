"""The key/value cache that makes sequential decoding cost O(1) projections per step.

Shape legend: B batch (times beams), Ly decoder layers, N heads, H head size,
L `max_length` (decoder positions), S source length, V vocabulary.

The self-attention cache is preallocated to `max_length` and written in place
by index (`keras_tfm.layers.cache_writes.write_step`), so every decoding step
has the same static shapes and the whole loop compiles (XLA, TPU, TFLite). The
cross-attention keys and values are projected once from the encoder output.

Inside the decoding loops the cache is a tuple with one `(2, B, N, L, H)`
tensor per layer: each step writes one position of each in place. Stacking
them into one `(Ly, 2, B, N, L, H)` tensor would copy the whole cache every
step (an unstack and a stack per token), which at batch 1 costs as much as
the step's matmuls. The stacked form is the boundary format for callers that
hold the cache themselves (the exported `decode_step` signature).
"""

import contextlib

from keras import ops

from keras_tfm.generation.validation import check_source
from keras_tfm.layers.cache_writes import traced_by_xla
from keras_tfm.layers.multi_head_attention import loop_invariant_kernels


class DecoderCache:
    """Everything a decoding step needs besides the new token and its index.

    Attributes:
        layers_self_attention: tuple of Ly `(2, B, N, L, H)`, written step by step.
        layers_cross_attention: tuple of Ly `(2, B, N, S, H)`, fixed.
        source_mask: boolean `(B, S)`.
        self_attention, cross_attention: the same caches stacked,
            `(Ly, 2, B, N, L, H)` and `(Ly, 2, B, N, S, H)`.
    """

    def __init__(self, layers_self_attention, layers_cross_attention, source_mask):
        self.layers_self_attention = tuple(layers_self_attention)
        self.layers_cross_attention = tuple(layers_cross_attention)
        self.source_mask = source_mask

    @property
    def self_attention(self):
        return ops.stack(self.layers_self_attention)

    @property
    def cross_attention(self):
        return ops.stack(self.layers_cross_attention)

    @classmethod
    def create(cls, model, source_ids, max_length):
        """Encodes `source_ids` `(B, S)` once and allocates an empty cache of length `max_length`."""
        check_source(model, source_ids)
        encoder_output, source_mask = model.encode(source_ids, training=False)  # (B, S, D)
        blocks = model.decoder.blocks
        cross = [b.compute_cross_attention_cache(encoder_output) for b in blocks]
        batch = ops.shape(source_ids)[0]
        self_attention = []
        for block in blocks:
            attention = block.self_attention
            shape = (2, batch, attention.num_heads, max_length, attention.key_dim)
            self_attention.append(ops.zeros(shape, dtype=attention.compute_dtype))  # (2, B, N, L, H)
        return cls(self_attention, cross, source_mask)

    def repeat(self, times):
        """Each example repeated `times` times along the batch (one per beam)."""
        return DecoderCache(
            [ops.repeat(c, times, axis=1) for c in self.layers_self_attention],
            [ops.repeat(c, times, axis=1) for c in self.layers_cross_attention],
            ops.repeat(self.source_mask, times, axis=0),
        )


def decode_step(model, token_ids, index, self_attention, cross_attention, source_mask):
    """Runs the decoder on one new token per sequence.

    Args:
        model: a `keras_tfm.models.Transformer`.
        token_ids: int `(B, 1)`, the token at position `index`.
        index: int scalar, the position being fed (0 for the start token).
        self_attention: the self-attention cache, either stacked
            `(Ly, 2, B, N, L, H)` or a tuple of Ly `(2, B, N, L, H)`.
        cross_attention: `(Ly, 2, B, N, S, H)` or a tuple of Ly `(2, B, N, S, H)`.
        source_mask: boolean `(B, S)`.

    Returns:
        `(logits (B, V), updated self_attention cache)`, the cache in the
        form it was given (stacked tensor or tuple).
    """
    layers = len(model.decoder.blocks)
    per_layer = isinstance(self_attention, (tuple, list))
    hidden, caches = model.decoder(
        token_ids,
        encoder_padding_mask=source_mask,
        self_attention_caches=_layers(self_attention, layers),
        cross_attention_caches=_layers(cross_attention, layers),
        cache_update_index=index,
        training=False,
    )
    logits = model.logits(hidden)[:, 0]  # (B, V)
    return ops.cast(logits, "float32"), tuple(caches) if per_layer else ops.stack(caches)


@contextlib.contextmanager
def decoding_loop(model):
    """Wraps the tracing of a decoding `while_loop` over `model`'s decoder.

    Under XLA (JAX, or TensorFlow with `jit_compile=True`) the attention
    kernels are reshaped to matrices here, outside the loop
    (`keras_tfm.layers.multi_head_attention.loop_invariant_kernels`): 6
    layers d=512 at batch 1 on CPU decode about 1.5x faster than with the
    reshapes inside (`benchmarks/generation.py`). Otherwise a no-op.
    """
    if not traced_by_xla():
        yield
        return
    blocks = model.decoder.blocks
    layers = [b.self_attention for b in blocks] + [b.cross_attention for b in blocks if b.cross_attention]
    with loop_invariant_kernels(layers):
        yield


def _layers(cache, layers):
    if isinstance(cache, (tuple, list)):
        if len(cache) != layers:
            raise ValueError(
                f"The cache must hold one tensor per decoder layer ({layers}). "
                f"Received: {len(cache)} tensors"
            )
        return list(cache)
    return [cache[i] for i in range(layers)]


def uncached_logits(model, source_ids, prefix_ids):
    """Logits for the last position of `prefix_ids` `(B, T)` by a full forward pass.

    What decoding costs without a cache: the whole prefix is recomputed for
    every new token. Used by tests (parity) and benchmarks (speed).
    """
    return ops.cast(model((source_ids, prefix_ids), training=False)[:, -1], "float32")
