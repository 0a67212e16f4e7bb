"""Multi-head attention with explicit masks and a key/value cache.

Shape legend: B batch, T query length, S key length, N heads, H key (query)
head size, V value head size, D model width (query features), Dk/Dv key and
value features, O output width, L cache length (`max_length`).
"""

import math

import keras
from keras import ops

from keras_tfm.layers import masks as masks_lib
from keras_tfm.layers.validation import check_positive_int, check_rank, check_rate, clone_initializer


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

    Args:
        num_heads: number of attention heads N.
        key_dim: size H of each query and key head.
        value_dim: size V of each value head. Defaults to `key_dim`.
        output_dim: width O of the output. Defaults to the query width D.
        dropout: dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.
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
        cache: optional `(B, 2, N, L, H)` keys and values (index 0 keys,
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

    def _project(self, x, kernel, bias):
        y = ops.einsum("btd,dnh->bnth", x, kernel)  # (B, N, T, H)
        if bias is not None:
            y = y + ops.expand_dims(bias, 1)  # (N, 1, H)
        return y

    def compute_key_value(self, key, value=None):
        """Projects `key`/`value` to a cache `(B, 2, N, S, H)`.

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
        return ops.stack([k, v], axis=1)  # (B, 2, N, S, H)

    # Masks -----------------------------------------------------------------

    def _combined_mask(
        self, query, key_length, padding_mask, attention_mask, use_causal_mask,
        query_mask, value_mask, causal_offset,
    ):
        batch_masks = []
        if padding_mask is not None:
            check_rank("padding_mask", padding_mask.shape, 2)
            _check_length("padding_mask", padding_mask.shape[1], key_length, "key")
            batch_masks.append(padding_mask)
        if value_mask is not None:
            batch_masks.append(value_mask)
        key_mask = masks_lib.merge_masks(*batch_masks)
        if key_mask is not None:
            key_mask = ops.expand_dims(key_mask, 1)  # (B, 1, S)
        if attention_mask is not None:
            if len(attention_mask.shape) not in (2, 3):
                raise ValueError(
                    "`attention_mask` must have shape (B, T, S) or (T, S). "
                    f"Received: attention_mask.shape={tuple(attention_mask.shape)}"
                )
            _check_length("attention_mask", attention_mask.shape[-1], key_length, "key")
            _check_length("attention_mask", attention_mask.shape[-2], query.shape[1], "query")
        causal = None
        if use_causal_mask:
            query_length = ops.shape(query)[1]
            offset = key_length - query_length if causal_offset is None else causal_offset
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

        q = self._project(query, self.query_kernel, self.query_bias)  # (B, N, T, H)
        causal_offset = None
        if cache is not None:
            if cache_update_index is None:  # Precomputed cross-attention keys/values.
                k, v = cache[:, 0], cache[:, 1]  # (B, N, S, H)
            else:
                kv_new = self.compute_key_value(key, value)  # (B, 2, N, T, H)
                index = ops.cast(cache_update_index, "int32")
                zero = ops.zeros((), "int32")
                cache = ops.slice_update(cache, (zero, zero, zero, index, zero), kv_new)
                k, v = cache[:, 0], cache[:, 1]  # (B, N, L, H)
                causal_offset = index
        else:
            k = self._project(key, self.key_kernel, self.key_bias)  # (B, N, S, H)
            v = self._project(value, self.value_kernel, self.value_bias)  # (B, N, S, V)

        key_length = k.shape[2] if k.shape[2] is not None else ops.shape(k)[2]
        mask = self._combined_mask(
            query, key_length, padding_mask, attention_mask, use_causal_mask,
            query_mask, value_mask, causal_offset,
        )
        output, weights = self._attend(q, k, v, mask, training, return_attention_scores)
        output = ops.einsum("bntv,nvo->bto", output, self.output_kernel)  # (B, T, O)
        if self.output_bias is not None:
            output = output + self.output_bias
        results = (output,)
        if cache is not None:
            results += (cache,)
        if return_attention_scores:
            results += (weights,)
        return results[0] if len(results) == 1 else results

    def _attend(self, q, k, v, mask, training, return_weights=False):
        """softmax(q k^T / sqrt(H)) v with the mask applied; softmax in float32.

        The mask enters as an additive bias computed once for all heads, and
        rows with no visible key are zeroed on the (smaller) output rather
        than on the weights, unless the weights are returned.
        """
        q = q * ops.cast(1.0 / math.sqrt(self.key_dim), q.dtype)
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
        )
        return config


def _check_length(name, actual, expected, what):
    if isinstance(actual, int) and isinstance(expected, int) and actual != expected:
        raise ValueError(
            f"`{name}` must have {expected} {what} positions to match the inputs. "
            f"Received: {name} with {actual} {what} positions"
        )

