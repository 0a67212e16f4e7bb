"""Multi-head attention with explicit masks and a key/value cache.

Shape legend: B batch, T query length, S key length, N heads, H key (query)
head size, V value head size, D model width (query features), Dk/Dv key and
value features, O output width, L cache length (`max_length`).
"""

import contextlib
import math
import threading

import keras
from keras import ops

from keras_tfm.layers import masks as masks_lib
from keras_tfm.layers.blockwise_attention import axis_size, blockwise_attention
from keras_tfm.layers.cache_writes import write_step
from keras_tfm.layers.fused_attention import jax_gpu_available, padded_fused_attention
from keras_tfm.layers.validation import (
    check_choice,
    check_positive_int,
    check_rank,
    check_rate,
    clone_initializer,
)

IMPLEMENTATIONS = ("auto", "plain", "blockwise", "fused")
# "auto" switches to blockwise attention from this many scores per example
# (N * T * S; 2^27 is 0.5 GiB of float32 scores, e.g. 8 heads over 4,096 tokens).
BLOCKWISE_MIN_SCORES = 2**27

_state = threading.local()  # The kernels reshaped by `loop_invariant_kernels`.


@contextlib.contextmanager
def loop_invariant_kernels(layers):
    """Within this block, `layers` project with 2-D kernels reshaped here, once.

    For loops compiled by XLA: a decoding loop's body that reshapes a 3-D
    kernel `(D, N, H)` at every step lets XLA on CPU fuse the reshape into
    the batch-1 vector-matrix product, which it then emits as a plain loop
    that reads the kernel at about a third of the memory bandwidth of its
    library product. Entered around the loop, the reshape stays outside it.
    (TensorFlow's graph executor is the other way round: the reshaped
    kernels become inputs of the loop, measured 6% slower, so
    `keras_tfm.generation` enters this block only when XLA compiles.)

    Args:
        layers: `MultiHeadAttention` layers, built.
    """
    previous = getattr(_state, "matrices", {})
    matrices = dict(previous)
    for layer in layers:
        for kernel, contracted in layer._kernels():  # In the compute dtype, as a call reads them.
            matrices[id(kernel)] = _matrix(ops.cast(kernel, layer.compute_dtype), contracted)
    _state.matrices = matrices
    try:
        yield
    finally:
        _state.matrices = previous


@keras.saving.register_keras_serializable(package="keras_tfm")
class MultiHeadAttention(keras.layers.Layer):
    """Scaled dot-product attention with `num_heads` heads (Vaswani et al.).

    Each head projects queries and keys to `key_dim` features and values to
    `value_dim` features, computes `softmax(Q K^T / sqrt(key_dim)) V`, and the
    heads are concatenated and projected to `output_dim`. Weights are stored
    in the same layouts as `keras.layers.MultiHeadAttention` (query kernel
    `(D, N, H)`, output kernel `(N, V, O)`), so weights copy across directly.

    Masks follow `keras_tfm.layers.masks`: boolean, `True` means "may attend",
    and every mask given (padding, attention, causal and the Keras implicit
    masks of query and value) is combined with a logical AND. A query whose
    keys are all masked outputs zeros (plus the output bias).

    Implementations (`attention_impl`), all equal to the plain one up to
    float rounding (tests/layers/attention_implementations_test.py):

    * `"plain"`: the `(B, N, T, S)` scores, softmax in float32, `1 / sqrt(H)`
      folded into the query projection's weights (into its output when that
      is smaller, as in decoding steps). TFLite builtins only. (One
      fused QKV matmul for self-attention was measured slower on CPU, on
      TensorFlow and on JAX, than three projections, and is not used.)
    * `"blockwise"`: `keras_tfm.layers.blockwise_attention`, exact attention
      over `(block_size, block_size)` tiles with an online softmax and a
      recomputing backward pass: memory linear in the length. No attention
      dropout, no returned weights.
    * `"fused"` (JAX only): `jax.nn.dot_product_attention` with the lengths
      padded to a multiple of 64, cuDNN flash attention on a GPU (XLA
      elsewhere). No attention dropout, no returned weights.
    * `"auto"`: fused with cuDNN on a JAX GPU in float16/bfloat16 (head size a
      multiple of 8, at most 128); blockwise once the scores of one example
      reach `BLOCKWISE_MIN_SCORES`; plain otherwise, and whenever the weights
      are returned, attention dropout is active or a cache is given.

    Args:
        num_heads: number of attention heads N.
        key_dim: size H of each query and key head.
        value_dim: size V of each value head. Defaults to `key_dim`.
        output_dim: width O of the output. Defaults to the query width D.
        dropout: dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.
        attention_impl: one of `"auto"`, `"plain"`, `"blockwise"`, `"fused"`.
        block_size: tile size of the blockwise implementation.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(B, T, D)`.
        value: `(B, S, Dv)`; defaults to `query` (self-attention).
        key: `(B, S, Dk)`; defaults to `value`.
        padding_mask: boolean `(B, S)`, `True` for real key positions.
        attention_mask: boolean `(B, T, S)` or `(T, S)`.
        use_causal_mask: if `True`, query `i` attends keys `j <= i + offset`,
            where the offset is `S - T` (or the cache index when decoding).
        return_attention_scores: also return the weights `(B, N, T, S)`.
        training: enables attention dropout.
        cache: optional `(2, B, N, L, H)` keys and values (index 0 keys,
            1 values). With `cache_update_index`, the keys/values of `key` and
            `value` are written at that index and attention runs over the
            whole cache, so `use_causal_mask` must hide the unwritten tail.
            Without it (cross-attention) the cache is used as is and `key` and
            `value` are ignored.
        cache_update_index: int scalar (may be a tensor), where to write.

    Returns:
        `(B, T, O)`; with a cache, `(output, cache)`; with
        `return_attention_scores`, the weights are appended last.

    Example:
    >>> mha = MultiHeadAttention(num_heads=2, key_dim=8)
    >>> x = keras.random.normal((3, 5, 16))
    >>> mha(x, use_causal_mask=True).shape
    (3, 5, 16)

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.2.
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        output_dim=None,
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        attention_impl="auto",
        block_size=512,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.key_dim = check_positive_int("key_dim", key_dim)
        self.value_dim = check_positive_int(
            "value_dim", key_dim if value_dim is None else value_dim
        )
        self.output_dim = (
            None if output_dim is None else check_positive_int("output_dim", output_dim)
        )
        self.dropout = check_rate("dropout", dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.attention_impl = check_choice("attention_impl", attention_impl, IMPLEMENTATIONS)
        self.block_size = check_positive_int("block_size", block_size)
        if attention_impl in ("blockwise", "fused") and self.dropout > 0:
            raise ValueError(
                f"`attention_impl='{attention_impl}'` has no attention dropout; use "
                f"`dropout=0` or another implementation. Received: dropout={dropout}"
            )
        if attention_impl == "fused" and self.value_dim != self.key_dim:
            raise ValueError(
                "`attention_impl='fused'` needs `value_dim == key_dim`. Received: "
                f"key_dim={self.key_dim}, value_dim={self.value_dim}"
            )
        if attention_impl == "fused" and keras.backend.backend() != "jax":
            raise ValueError(
                "`attention_impl='fused'` needs the JAX backend. Received: "
                f"attention_impl='fused' with backend={keras.backend.backend()!r}"
            )
        self.supports_masking = True

    def build(self, query_shape, value_shape=None, key_shape=None):
        check_rank("query", query_shape, 3)
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        check_rank("value", value_shape, 3)
        check_rank("key", key_shape, 3)
        n, h, v = self.num_heads, self.key_dim, self.value_dim
        out = self.output_dim or query_shape[-1]
        self._output_width = out

        def dense(name, shape, bias_shape):
            kernel = self.add_weight(
                name=f"{name}_kernel", shape=shape, initializer=clone_initializer(self.kernel_initializer)
            )
            bias = None
            if self.use_bias:
                bias = self.add_weight(
                    name=f"{name}_bias", shape=bias_shape, initializer=clone_initializer(self.bias_initializer)
                )
            return kernel, bias

        self.query_kernel, self.query_bias = dense("query", (query_shape[-1], n, h), (n, h))
        self.key_kernel, self.key_bias = dense("key", (key_shape[-1], n, h), (n, h))
        self.value_kernel, self.value_bias = dense("value", (value_shape[-1], n, v), (n, v))
        self.output_kernel, self.output_bias = dense("output", (n, v, out), (out,))
        self._dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    # Projections -----------------------------------------------------------

    def _kernels(self):
        """Each kernel with its number of contracted (input) axes."""
        return [
            (self.query_kernel, 1), (self.key_kernel, 1), (self.value_kernel, 1), (self.output_kernel, 2)
        ]

    def _project(self, x, kernel, bias, scale=None):
        # The scale multiplies whichever is smaller: the kernel (D*N*H numbers,
        # training and encoding) or the projected rows (B*T*N*H, decoding steps,
        # where scaling the kernel would rewrite it at every token).
        rows = x.shape[0] * x.shape[1] if None not in x.shape[:2] else None
        scale_rows = scale is not None and rows is not None and rows < kernel.shape[0]
        if scale is not None and not scale_rows:
            kernel = kernel * ops.cast(scale, kernel.dtype)
            bias = None if bias is None else bias * ops.cast(scale, bias.dtype)
        y = _dense(x, kernel, 1, bias)  # (B, T, N, H)
        if scale_rows:
            y = y * ops.cast(scale, y.dtype)
        return ops.transpose(y, (0, 2, 1, 3))  # (B, N, T, H)

    def compute_key_value(self, key, value=None):
        """Projects `key`/`value` to a cache `(2, B, N, S, H)`.

        Used once per source sentence for cross-attention, so decoding steps
        never recompute the encoder's keys and values.
        """
        value = key if value is None else value
        if self.key_dim != self.value_dim:
            raise ValueError(
                "A key/value cache needs `key_dim == value_dim`. Received: "
                f"key_dim={self.key_dim}, value_dim={self.value_dim}"
            )
        k = self._project(key, self.key_kernel, self.key_bias)
        v = self._project(value, self.value_kernel, self.value_bias)
        # Called outside `__call__`, the float32 weights are not autocast:
        # return the compute dtype that decoding steps write into the cache.
        return ops.cast(ops.stack([k, v]), self.compute_dtype)  # (2, B, N, S, H)

    # Masks -----------------------------------------------------------------

    def _mask_parts(
        self, query, key_length, padding_mask, attention_mask, use_causal_mask,
        query_mask, value_mask, causal_offset,
    ):
        """Checked masks: key `(B, S)`, attention, causal offset, query `(B, T)`.

        The causal offset is `None` without a causal mask.
        """
        batch_masks = []
        if padding_mask is not None:
            check_rank("padding_mask", padding_mask.shape, 2)
            _check_length("padding_mask", padding_mask.shape[1], key_length, "key")
            batch_masks.append(padding_mask)
        if value_mask is not None:
            batch_masks.append(value_mask)
        key_mask = masks_lib.merge_masks(*batch_masks)
        if attention_mask is not None:
            if len(attention_mask.shape) not in (2, 3):
                raise ValueError(
                    "`attention_mask` must have shape (B, T, S) or (T, S). "
                    f"Received: attention_mask.shape={tuple(attention_mask.shape)}"
                )
            _check_length("attention_mask", attention_mask.shape[-1], key_length, "key")
            _check_length("attention_mask", attention_mask.shape[-2], query.shape[1], "query")
        offset = None
        if use_causal_mask:
            query_length = axis_size(query, 1)
            offset = key_length - query_length if causal_offset is None else causal_offset
        return key_mask, attention_mask, offset, query_mask

    def _combined_mask(self, query_length, key_length, key_mask, attention_mask, offset, query_mask):
        """The parts above merged into one boolean `(B, T, S)` mask, or `None`."""
        if key_mask is not None:
            key_mask = ops.expand_dims(key_mask, 1)  # (B, 1, S)
        causal = None
        if offset is not None:
            causal = masks_lib.causal_mask(query_length, key_length, offset)  # (T, S)
        if query_mask is not None:
            query_mask = ops.expand_dims(query_mask, -1)  # (B, T, 1)
        return masks_lib.merge_masks(key_mask, attention_mask, causal, query_mask)

    # Call ------------------------------------------------------------------

    def call(
        self,
        query,
        value=None,
        key=None,
        padding_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        cache=None,
        cache_update_index=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
    ):
        self_attention = value is None
        if query_mask is None:
            query_mask = getattr(query, "_keras_mask", None)
        if self_attention:
            value = query
            if value_mask is None:
                value_mask = query_mask
        if value_mask is None and key_mask is not None:
            value_mask = key_mask
        key = value if key is None else key

        if cache is not None:
            _check_cache(cache, query)
        scale = 1.0 / math.sqrt(self.key_dim)  # Folded into the query projection.
        causal_offset = None
        q = self._project(query, self.query_kernel, self.query_bias, scale)  # (B, N, T, H)
        if cache is None:
            k = self._project(key, self.key_kernel, self.key_bias)  # (B, N, S, H)
            v = self._project(value, self.value_kernel, self.value_bias)  # (B, N, S, V)
        elif cache_update_index is None:  # Precomputed cross-attention keys/values.
            k, v = _keys_and_values(cache)  # (B, N, S, H)
        else:
            kv_new = self.compute_key_value(key, value)  # (2, B, N, T, H)
            index = ops.cast(cache_update_index, "int32")
            cache = write_step(cache, index, kv_new, axis=3)
            k, v = _keys_and_values(cache)  # (B, N, L, H)
            causal_offset = index

        key_length = axis_size(k, 2)
        parts = self._mask_parts(
            query, key_length, padding_mask, attention_mask, use_causal_mask,
            query_mask, value_mask, causal_offset,
        )
        implementation = self._implementation(q, k, training, return_attention_scores, cache is not None)
        if implementation == "plain":
            mask = self._combined_mask(axis_size(q, 2), key_length, *parts)
            output, weights = self._attend(q, k, v, mask, training, return_attention_scores)
        elif implementation == "blockwise":
            output = self._attend_blockwise(q, k, v, *parts)
        else:
            output = self._attend_fused(q, k, v, parts, implementation)
        output = ops.transpose(output, (0, 2, 1, 3))  # (B, T, N, V)
        output = _dense(output, self.output_kernel, 2, self.output_bias)  # (B, T, O)
        results = (output,)
        if cache is not None:
            results += (cache,)
        if return_attention_scores:
            results += (weights,)
        return results[0] if len(results) == 1 else results

    def _implementation(self, q, k, training, return_weights, decoding):
        """`"plain"`, `"blockwise"`, `"cudnn"` or `"xla"` for this call."""
        dropout = bool(training) and self.dropout > 0
        if self.attention_impl == "plain":
            return "plain"
        if self.attention_impl != "auto":
            if return_weights:
                raise ValueError(
                    "`return_attention_scores=True` needs the plain implementation, which "
                    "materializes the weights. Received: "
                    f"attention_impl='{self.attention_impl}'"
                )
            if self.attention_impl == "blockwise":
                return "blockwise"
            return "cudnn" if _fused_cudnn_ok(self, q) else "xla"
        if return_weights or dropout or decoding:  # Decoding steps are short: plain.
            return "plain"
        if _fused_cudnn_ok(self, q):
            return "cudnn"
        t, s = q.shape[2], k.shape[2]
        if isinstance(t, int) and isinstance(s, int) and self.num_heads * t * s >= BLOCKWISE_MIN_SCORES:
            return "blockwise"
        return "plain"

    def _attend_blockwise(self, q, k, v, key_mask, attention_mask, offset, query_mask):
        output = blockwise_attention(
            q, k, v, padding_mask=key_mask, attention_mask=attention_mask,
            use_causal_mask=offset is not None, causal_offset=offset, scale=1.0,
            block_size=self.block_size,
        )  # (B, N, T, V)
        if query_mask is not None:
            output = ops.where(query_mask[:, None, :, None], output, ops.zeros_like(output))
        return output

    def _attend_fused(self, q, k, v, parts, implementation):
        key_mask, attention_mask, offset, query_mask = parts
        t, s = q.shape[2], k.shape[2]
        only_causal = key_mask is None and attention_mask is None and query_mask is None
        if only_causal and offset is not None and t == s and isinstance(offset, int) and offset == 0:
            return padded_fused_attention(q, k, v, causal=True, implementation=implementation)
        mask = self._combined_mask(t, s, *parts)
        return padded_fused_attention(q, k, v, mask=mask, implementation=implementation)

    def _attend(self, q, k, v, mask, training, return_weights=False):
        """softmax(q k^T) v with the mask applied (q carries 1/sqrt(H)); softmax in float32.

        The mask enters as an additive bias computed once for all heads, and
        rows with no visible key are zeroed on the (smaller) output rather
        than on the weights, unless the weights are returned.
        """
        scores = ops.matmul(q, ops.swapaxes(k, -1, -2))  # (B, N, T, S)
        scores = ops.cast(scores, "float32")
        visible_rows = None
        if mask is not None:
            mask = ops.expand_dims(mask, -3)  # (B, 1, T, S)
            bias = ops.where(mask, 0.0, masks_lib.large_negative("float32"))
            scores = scores + bias
            visible_rows = ops.any(mask, axis=-1, keepdims=True)  # (B, 1, T, 1)
        weights = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        dropped = self._dropout_layer(weights, training=training)
        output = ops.matmul(dropped, v)  # (B, N, T, V)
        if visible_rows is not None:
            output = ops.where(visible_rows, output, ops.zeros_like(output))
            if return_weights:
                weights = ops.where(visible_rows, weights, ops.zeros_like(weights))
        return output, weights

    def compute_mask(self, query, value=None, key=None, **kwargs):
        return getattr(query, "_keras_mask", None)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            output_dim=self.output_dim,
            dropout=self.dropout,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            attention_impl=self.attention_impl,
            block_size=self.block_size,
        )
        return config


def _fused_cudnn_ok(layer, q):
    """Whether cuDNN flash attention takes this call (JAX on a GPU, half precision)."""
    h = layer.key_dim
    return (
        jax_gpu_available()
        and str(q.dtype) in ("float16", "bfloat16")
        and h == layer.value_dim and h % 8 == 0 and h <= 128
    )


def _check_cache(cache, query):
    check_rank("cache", cache.shape, 5)
    pair, batch = cache.shape[0], cache.shape[1]
    batch_differs = None not in (batch, query.shape[0]) and batch != query.shape[0]
    if pair not in (2, None) or batch_differs:
        raise ValueError(
            "`cache` must have shape (2, B, N, L, H): keys, then values, for the "
            f"query's batch. Received: cache.shape={tuple(cache.shape)} with "
            f"query.shape={tuple(query.shape)}"
        )


def _keys_and_values(cache):
    """The keys and values `(B, N, L, H)` of a cache `(2, B, N, L, H)`.

    Keys and values lead the cache so that splitting them is a split of the
    leading axis, which TensorFlow serves as views of the same buffer. With
    the pair on the second axis, `cache[:, 0]` copied half the cache at every
    decoding step and in every layer (`benchmarks/generation.py --batch 8
    --lengths 512`: 50 against 37 ms per step on the 2-core CPU).
    """
    return tuple(ops.unstack(cache, 2, axis=0))


def _matrix(kernel, contracted):
    """`kernel` `(*K, *F)` as a `(prod(K), prod(F))` matrix."""
    return ops.reshape(kernel, (math.prod(kernel.shape[:contracted]), -1))


def _dense(x, kernel, contracted, bias=None):
    """`x` `(B, T, *K)` times `kernel` `(*K, *F)` plus `bias` `(*F)`, contracting len(K) = `contracted` axes.

    Inside `loop_invariant_kernels` a kernel reshaped there is used as is (a
    kernel computed per call, e.g. scaled, is not among them).

    One 2-D matmul over the flattened axes rather than an einsum: on
    TensorFlow's CPU kernels the projections' einsums and their gradients
    cost more than plain matmuls with the same contraction (attention
    forward+backward in `benchmarks/attention.py`: 0.78 of Keras MHA's time
    with matmuls, 0.80 to 0.95 with einsums, runs on 2026-11-29). Both lower
    to FULLY_CONNECTED in TFLite.
    """
    batch_shape = ops.shape(x)[:2]
    inner = math.prod(kernel.shape[:contracted])
    features = tuple(kernel.shape[contracted:])
    matrix = getattr(_state, "matrices", {}).get(id(kernel))
    if matrix is None:
        matrix = _matrix(kernel, contracted)
    y = ops.matmul(ops.reshape(x, (-1, inner)), matrix)
    if bias is not None:
        y = y + ops.reshape(bias, (-1,))
    return ops.reshape(y, tuple(batch_shape) + features)


def _check_length(name, actual, expected, what):
    if isinstance(actual, int) and isinstance(expected, int) and actual != expected:
        raise ValueError(
            f"`{name}` must have {expected} {what} positions to match the inputs. "
            f"Received: {name} with {actual} {what} positions"
        )

