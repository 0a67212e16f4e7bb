"""Exact softmax attention computed block by block, in memory linear in length.

Shape legend: B batch, N heads, T query length, S key length, H key head size,
V value head size; P and K the query and key block sizes, I and J the number of
query and key blocks (T and S padded up to `I * P` and `J * K`).

The plain formulation materializes the `(B, N, T, S)` scores, and autodiff
keeps them (and the softmax) for the backward pass: 8.6 GB in float32 at
B=1, N=8, T=S=16,384. Here the queries are cut into blocks of P rows and, for
each, the keys into blocks of K columns; an online softmax (a running maximum
`m`, normalizer `l` and weighted sum per row) folds in one `(P, K)` tile at a
time. The forward pass keeps only the output and the per-row log-sum-exp; the
backward pass recomputes each tile from them (FlashAttention-2, section 3.1),
so neither pass holds more than a few tiles.

References:
    Rabe and Staats, "Self-attention Does Not Need O(n^2) Memory", 2021.
    Dao, "FlashAttention-2: Faster Attention with Better Parallelism and Work
    Partitioning", 2023, sections 3.1 and 3.2.
"""

import math

import keras
from keras import ops

from keras_tfm.layers import masks as masks_lib
from keras_tfm.layers.validation import check_positive_int, check_rank

_NEG = masks_lib.large_negative("float32")


def blockwise_attention(
    query,
    key,
    value,
    padding_mask=None,
    attention_mask=None,
    use_causal_mask=False,
    causal_offset=None,
    scale=None,
    block_size=512,
):
    """`softmax(scale * Q K^T) V` over blocks, equal to the plain formulation.

    Masks follow `keras_tfm.layers.masks` (boolean, `True` may attend, all
    combined with AND) and a query row with no visible key outputs zeros, as
    in `MultiHeadAttention`. Computation runs in float32; the output has the
    dtype of `value`.

    Args:
        query: `(B, N, T, H)`.
        key: `(B, N, S, H)`.
        value: `(B, N, S, V)`.
        padding_mask: boolean `(B, S)`, `True` for real keys.
        attention_mask: boolean `(B, T, S)` or `(T, S)`.
        use_causal_mask: query `i` attends keys `j <= i + causal_offset`.
        causal_offset: int or int scalar tensor; defaults to `S - T`.
        scale: logit scale; defaults to `1 / sqrt(H)`.
        block_size: rows and columns of a tile (P = K).

    Returns:
        `(B, N, T, V)`.

    Example:
    >>> q = keras.random.normal((1, 2, 1000, 16))
    >>> blockwise_attention(q, q, q, use_causal_mask=True, block_size=128).shape
    (1, 2, 1000, 16)
    """
    block_size = check_positive_int("block_size", block_size)
    for name, x in (("query", query), ("key", key), ("value", value)):
        check_rank(name, x.shape, 4)  # (B, N, length, head size)
    out_dtype = value.dtype
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    q = ops.cast(query, "float32") * scale
    k = ops.cast(key, "float32")
    v = ops.cast(value, "float32")
    t, s = axis_size(q, 2), axis_size(k, 2)
    if use_causal_mask and causal_offset is None:
        causal_offset = s - t
    tiles = _Tiles(q, k, v, padding_mask, attention_mask, causal_offset if use_causal_mask else None, block_size)
    return ops.cast(tiles.attend(q, k, v), out_dtype)


def axis_size(x, axis):
    """The static size of `axis` when known, else the dynamic one."""
    return x.shape[axis] if x.shape[axis] is not None else ops.shape(x)[axis]


def _blocks(x, axis, size, count):
    """Pads `axis` to `count * size` and moves the blocks to a new axis 0."""
    x = _pad(x, axis, count * size - axis_size(x, axis))
    shape = list(ops.shape(x))
    x = ops.reshape(x, shape[:axis] + [count, size] + shape[axis + 1 :])
    return ops.moveaxis(x, axis, 0)


def _unblock(x, axis, length):
    """Inverse of `_blocks`: `(I, ..., P, ...)` back to `length` on `axis`."""
    x = ops.moveaxis(x, 0, axis)
    shape = list(ops.shape(x))
    x = ops.reshape(x, shape[:axis] + [shape[axis] * shape[axis + 1]] + shape[axis + 2 :])
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(0, length)
    return x[tuple(index)]


def _pad(x, axis, amount):
    if isinstance(amount, int) and amount == 0:
        return x
    widths = [[0, 0] for _ in x.shape]
    widths[axis] = [0, amount]
    return ops.pad(x, widths)


def _loop(lower, upper, body, init):
    """`ops.fori_loop`, one iteration at a time.

    TensorFlow's while loop otherwise runs up to 10 iterations at once, and
    nested in `_map` that is 100 tiles alive: the memory bound would be lost.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.while_loop(
            lambda i, _: i < upper, lambda i, val: (i + 1, body(i, val)), (lower, init),
            parallel_iterations=1,
        )[1]
    return ops.fori_loop(lower, upper, body, init)


def _map(f, xs):
    """`ops.map`, one element at a time (see `_loop`)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        signature = keras.tree.map_structure(tf.TensorSpec.from_tensor, f(keras.tree.map_structure(lambda x: x[0], xs)))
        return tf.map_fn(f, xs, fn_output_signature=signature, parallel_iterations=1)
    return ops.map(f, xs)


def _ceil_div(a, b):
    return (a + b - 1) // b


class _Tiles:
    """The tiling of one attention call: blocked masks and the loop bounds."""

    def __init__(self, q, k, v, padding_mask, attention_mask, causal_offset, block_size):
        t, s = axis_size(q, 2), axis_size(k, 2)
        self.t, self.s = t, s
        # Blocks no larger than the padded length: short inputs use one tile.
        self.p = min(block_size, t) if isinstance(t, int) else block_size
        self.k = min(block_size, s) if isinstance(s, int) else block_size
        self.num_q = _ceil_div(t, self.p)
        self.num_k = _ceil_div(s, self.k)
        self.value_dim = v.shape[-1]
        # Keys past S (padding up to J * K) and masked keys are invisible.
        key_ok = ops.expand_dims(ops.arange(self.num_k * self.k) < s, 0)  # (1, J*K)
        if padding_mask is not None:
            key_ok = ops.logical_and(key_ok, _pad(ops.cast(padding_mask, "bool"), 1, self.num_k * self.k - s))
        self.key_ok = _blocks(key_ok, 1, self.k, self.num_k)  # (J, B or 1, K)
        self.attention_mask = None
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "bool")
            if len(mask.shape) == 2:
                mask = ops.expand_dims(mask, 0)  # (1, T, S)
            mask = _blocks(mask, 2, self.k, self.num_k)  # (J, B, T, K)
            mask = _blocks(mask, 2, self.p, self.num_q)  # (I, J, B, P, K)
            self.attention_mask = mask
        self.causal_offset = None if causal_offset is None else ops.cast(causal_offset, "int32")

    # Loop bounds: with a causal mask, tiles above the diagonal are skipped.

    def key_blocks(self, i):
        """Key blocks `[0, end)` that query block `i` may see."""
        if self.causal_offset is None:
            return 0, self.num_k
        last_col = (i + 1) * self.p - 1 + self.causal_offset  # Last visible column.
        end = ops.clip(ops.floor_divide(last_col, self.k) + 1, 0, self.num_k)
        return 0, ops.cast(end, "int32")

    def query_blocks(self, j):
        """Query blocks `[start, I)` that may see key block `j`."""
        if self.causal_offset is None:
            return 0, self.num_q
        first_row = j * self.k - self.causal_offset  # First row that sees column j*K.
        start = ops.clip(ops.floor_divide(first_row, self.p), 0, self.num_q)
        return ops.cast(start, "int32"), self.num_q

    def mask(self, i, j):
        """Boolean `(B or 1, 1, P, K)` visibility of tile (i, j)."""
        mask = ops.take(self.key_ok, j, axis=0)[:, None, None, :]  # (B, 1, 1, K)
        if self.causal_offset is not None:
            rows = i * self.p + ops.arange(self.p, dtype="int32")
            cols = j * self.k + ops.arange(self.k, dtype="int32")
            causal = cols[None, :] <= rows[:, None] + self.causal_offset  # (P, K)
            mask = ops.logical_and(mask, causal)
        if self.attention_mask is not None:
            tile = ops.take(ops.take(self.attention_mask, i, axis=0), j, axis=0)  # (B, P, K)
            mask = ops.logical_and(mask, ops.expand_dims(tile, 1))
        return mask

    def probabilities(self, q_i, k_j, i, j, lse_i):
        """Recomputed softmax tile `(B, N, P, K)` from the saved log-sum-exp."""
        scores = ops.where(self.mask(i, j), ops.matmul(q_i, ops.swapaxes(k_j, -1, -2)), _NEG)
        return ops.exp(scores - ops.expand_dims(lse_i, -1))

    # Forward and backward.

    def attend(self, q, k, v):
        q_blocks = _blocks(q, 2, self.p, self.num_q)  # (I, B, N, P, H)
        k_blocks = _blocks(k, 2, self.k, self.num_k)  # (J, B, N, K, H)
        v_blocks = _blocks(v, 2, self.k, self.num_k)  # (J, B, N, K, V)

        @ops.custom_gradient
        def attention(q_blocks, k_blocks, v_blocks):
            out, lse = self._forward(q_blocks, k_blocks, v_blocks)

            def grad(*args, upstream=None):
                d_out = args[0] if upstream is None else upstream
                return self._backward(q_blocks, k_blocks, v_blocks, out, lse, d_out)

            return out, grad

        out = attention(q_blocks, k_blocks, v_blocks)  # (I, B, N, P, V)
        return _unblock(out, 2, self.t)

    def _forward(self, q_blocks, k_blocks, v_blocks):
        def query_block(args):
            i, q_i = args  # q_i: (B, N, P, H)
            row_shape = tuple(ops.shape(q_i)[:-1])

            def fold_in(j, carry):  # Online softmax over key block j.
                m, l, acc = carry  # (B, N, P), (B, N, P), (B, N, P, V)
                k_j, v_j = ops.take(k_blocks, j, axis=0), ops.take(v_blocks, j, axis=0)
                scores = ops.matmul(q_i, ops.swapaxes(k_j, -1, -2))  # (B, N, P, K)
                scores = ops.where(self.mask(i, j), scores, _NEG)
                m_new = ops.maximum(m, ops.max(scores, axis=-1))
                p = ops.exp(scores - ops.expand_dims(m_new, -1))
                alpha = ops.exp(m - m_new)
                l = l * alpha + ops.sum(p, axis=-1)
                acc = acc * ops.expand_dims(alpha, -1) + ops.matmul(p, v_j)
                return m_new, l, acc

            init = (
                ops.full(row_shape, _NEG, "float32"),
                ops.zeros(row_shape, "float32"),
                ops.zeros(row_shape + (self.value_dim,), "float32"),
            )
            m, l, acc = _loop(*self.key_blocks(i), fold_in, init)
            # A row whose keys are all masked keeps m == _NEG exactly: output zeros.
            visible = ops.expand_dims(m > 0.5 * _NEG, -1)
            out = ops.where(visible, acc / ops.expand_dims(l, -1), 0.0)
            return out, m + ops.log(l)

        indices = ops.arange(self.num_q, dtype="int32")
        return _map(query_block, (indices, q_blocks))  # (I, B, N, P, V), (I, B, N, P)

    def _backward(self, q_blocks, k_blocks, v_blocks, out, lse, d_out):
        # Rows with no visible key output constant zeros: no gradient flows.
        d_out = ops.where(ops.expand_dims(lse > 0.5 * _NEG, -1), d_out, 0.0)
        delta = ops.sum(d_out * out, axis=-1)  # (I, B, N, P): rowsum(dO * O)

        def tile_grads(i, j, q_i, k_j, v_j):
            d_out_i = ops.take(d_out, i, axis=0)
            p = self.probabilities(q_i, k_j, i, j, ops.take(lse, i, axis=0))  # (B, N, P, K)
            dp = ops.matmul(d_out_i, ops.swapaxes(v_j, -1, -2))
            ds = p * (dp - ops.expand_dims(ops.take(delta, i, axis=0), -1))
            return p, d_out_i, ds

        def query_block(args):  # dQ_i = sum_j dS_ij K_j
            i, q_i = args

            def add(j, dq):
                k_j, v_j = ops.take(k_blocks, j, axis=0), ops.take(v_blocks, j, axis=0)
                _, _, ds = tile_grads(i, j, q_i, k_j, v_j)
                return dq + ops.matmul(ds, k_j)

            return _loop(*self.key_blocks(i), add, ops.zeros_like(q_i))

        def key_block(args):  # dK_j = sum_i dS_ij^T Q_i, dV_j = sum_i P_ij^T dO_i
            j, k_j, v_j = args

            def add(i, carry):
                dk, dv = carry
                q_i = ops.take(q_blocks, i, axis=0)
                p, d_out_i, ds = tile_grads(i, j, q_i, k_j, v_j)
                dk = dk + ops.matmul(ops.swapaxes(ds, -1, -2), q_i)
                dv = dv + ops.matmul(ops.swapaxes(p, -1, -2), d_out_i)
                return dk, dv

            init = (ops.zeros_like(k_j), ops.zeros_like(v_j))
            return _loop(*self.query_blocks(j), add, init)

        dq = _map(query_block, (ops.arange(self.num_q, dtype="int32"), q_blocks))
        dk, dv = _map(key_block, (ops.arange(self.num_k, dtype="int32"), k_blocks, v_blocks))
        return dq, dk, dv
