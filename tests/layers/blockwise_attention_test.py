import keras
import numpy as np
import pytest
from keras import ops

from keras_tfm.layers.blockwise_attention import blockwise_attention
from tests.layers.gradients import value_and_grads

# Lengths that are not multiples of the block size, so every edge tile is padded.
B, N, T, S, H, V = 2, 3, 37, 45, 8, 5
rng = np.random.default_rng(0)
Q = rng.normal(size=(B, N, T, H)).astype("float32")
K = rng.normal(size=(B, N, S, H)).astype("float32")
VALUES = rng.normal(size=(B, N, S, V)).astype("float32")
COTANGENT = rng.normal(size=(B, N, T, V)).astype("float32")

PADDING = rng.random((B, S)) > 0.3
PADDING[1] = False  # The second example has no real key at all: its rows output zeros.
ATTENTION = rng.random((B, T, S)) > 0.2
ATTENTION[0, 3] = False  # One query row that sees nothing.


def full_mask(padding=None, attention=None, causal_offset=None):
    mask = np.ones((B, T, S), bool)
    if padding is not None:
        mask &= padding[:, None, :]
    if attention is not None:
        mask &= attention
    if causal_offset is not None:
        mask &= np.arange(S)[None, :] <= np.arange(T)[:, None] + causal_offset
    return mask


def plain_attention(q, k, v, mask):
    """The plain formulation, as in MultiHeadAttention: additive bias, zeroed empty rows."""
    mask = ops.convert_to_tensor(mask[:, None])  # (B, 1, T, S)
    scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) / np.sqrt(H)
    scores = scores + ops.where(mask, 0.0, -1e9)
    out = ops.matmul(ops.softmax(scores, axis=-1), v)
    return ops.where(ops.any(mask, axis=-1, keepdims=True), out, 0.0)


CASES = {
    "none": dict(),
    "padding": dict(padding_mask=PADDING),
    "causal_padding_attention": dict(use_causal_mask=True, padding_mask=PADDING, attention_mask=ATTENTION),
    "causal_negative_offset": dict(use_causal_mask=True, causal_offset=-10),  # First rows see nothing.
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_blockwise_equals_plain_forward_and_gradients(case, block_size=16):
    kwargs = CASES[case]
    offset = None
    if kwargs.get("use_causal_mask"):
        offset = kwargs.get("causal_offset", S - T)
    mask = full_mask(kwargs.get("padding_mask"), kwargs.get("attention_mask"), offset)
    ours = value_and_grads(
        lambda q, k, v: blockwise_attention(q, k, v, block_size=block_size, **kwargs),
        Q, K, VALUES, cotangent=COTANGENT,
    )
    ref = value_and_grads(lambda q, k, v: plain_attention(q, k, v, mask), Q, K, VALUES, cotangent=COTANGENT)
    for name, a, b in zip(["output", "d_query", "d_key", "d_value"], ours, ref):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5, err_msg=name)
    empty_rows = ~mask.any(-1)  # (B, T)
    np.testing.assert_array_equal(ours[0].transpose(0, 2, 1, 3)[empty_rows], 0.0)


def test_matches_float64_numpy_reference():
    mask = full_mask(PADDING, None, S - T)
    out = ops.convert_to_numpy(
        blockwise_attention(Q, K, VALUES, padding_mask=PADDING, use_causal_mask=True, block_size=8)
    )
    q, k, v = (x.astype("float64") for x in (Q, K, VALUES))
    logits = np.where(mask[:, None], q @ k.transpose(0, 1, 3, 2) / np.sqrt(H), -np.inf)
    visible = mask.any(-1)[:, None, :, None]
    logits = np.where(visible, logits, 0.0)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    expected = np.where(visible, (weights / weights.sum(-1, keepdims=True)) @ v, 0.0)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_single_tile_and_float16_inputs():
    q, k, v = (ops.cast(x, "float16") for x in (Q, K, VALUES))
    out = blockwise_attention(q, k, v, block_size=1024)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    ref = plain_attention(Q, K, VALUES, full_mask())
    np.testing.assert_allclose(ops.convert_to_numpy(ops.cast(out, "float32")), ops.convert_to_numpy(ref), atol=1e-2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(block_size=0), "block_size=0"),
        (dict(query=Q[0]), r"`query` must have rank 4.*\(3, 37, 8\)"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(query=Q, key=K, value=VALUES)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        blockwise_attention(**args)
