"""Fused attention on JAX (`jax.nn.dot_product_attention`), lengths padded for cuDNN.

Shape legend: B batch, N heads, T query length, S key length, H head size;
T' and S' the lengths padded up to a multiple of `length_multiple`.

cuDNN's flash attention takes only some sequence lengths (a ViT's 197 tokens
is not one of them), so queries, keys and values are padded with zeros to a
multiple of 64 and the padding is hidden by `query_seq_lengths` and
`key_value_seq_lengths` (cuDNN's padding mask, no `(T, S)` bias). Other masks
enter as a boolean mask (cuDNN turns it into a bias); a causal mask alone, with
T = S, uses cuDNN's own causal mask. On CPU the same code runs with XLA's
implementation, which is how the tests prove padded == plain.
"""

from keras import ops

LENGTH_MULTIPLE = 64


def jax_gpu_available():
    """True when Keras runs on JAX and JAX's default device is a GPU."""
    import keras

    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "gpu"


def padded_fused_attention(
    query, key, value, mask=None, causal=False, scale=1.0, implementation=None,
    length_multiple=LENGTH_MULTIPLE,
):
    """Attention through `jax.nn.dot_product_attention` on padded lengths.

    Args:
        query: `(B, N, T, H)`; key `(B, N, S, H)`; value `(B, N, S, H)`.
        mask: boolean, broadcastable to `(B, T, S)`, `True` may attend, or `None`.
        causal: `True` for `j <= i` (only with T = S and no other mask).
        scale: logit scale.
        implementation: `"cudnn"`, `"xla"` or `None` (XLA), as in JAX.
        length_multiple: T and S are padded up to a multiple of this.

    Returns:
        `(B, N, T, H)`; rows with no visible key are zeros.
    """
    import jax
    import jax.numpy as jnp

    batch, _, t, _ = query.shape
    s = key.shape[2]
    t_pad, s_pad = _round_up(t, length_multiple), _round_up(s, length_multiple)

    def layout(x, length):  # (B, N, L, H) -> (B, L', N, H)
        x = jnp.swapaxes(x, 1, 2)
        return jnp.pad(x, ((0, 0), (0, length - x.shape[1]), (0, 0), (0, 0)))

    q, k, v = layout(query, t_pad), layout(key, s_pad), layout(value, s_pad)
    mask4 = None
    if mask is not None:
        mask = jnp.asarray(mask, bool)
        mask = mask[None] if mask.ndim == 2 else mask
        mask = jnp.broadcast_to(mask, (mask.shape[0], t, s))  # (B or 1, T, S)
        mask4 = jnp.pad(mask, ((0, 0), (0, t_pad - t), (0, s_pad - s)))[:, None]  # (B, 1, T', S')
    out = jax.nn.dot_product_attention(
        q, k, v, mask=mask4, scale=scale, is_causal=causal,
        query_seq_lengths=jnp.full((batch,), t, "int32"),
        key_value_seq_lengths=jnp.full((batch,), s, "int32"),
        implementation=implementation,
    )  # (B, T', N, H)
    out = jnp.swapaxes(out[:, :t], 1, 2)  # (B, N, T, H)
    if mask is not None:
        visible = jnp.any(mask, axis=-1)[:, None, :, None]  # (B, 1, T, 1)
        out = jnp.where(visible, out, ops.zeros((), out.dtype))
    return out


def _round_up(length, multiple):
    return -(-length // multiple) * multiple
