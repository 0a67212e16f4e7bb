"""Every attention implementation of MultiHeadAttention equals the plain one."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import MultiHeadAttention
from keras_tfm.layers import multi_head_attention as mha_lib
from tests.layers.gradients import layer_value_and_grads
from tests.test_case import assert_allclose

B, T, S, D, N, H = 2, 13, 21, 16, 2, 8
rng = np.random.default_rng(1)
QUERY = rng.normal(size=(B, T, D)).astype("float32")
VALUE = rng.normal(size=(B, S, D)).astype("float32")
PADDING = rng.random((B, S)) > 0.3
PADDING[1, :] = False  # Second example: no real key, zeros out.
SELF_PADDING = rng.random((B, T)) > 0.3
SELF_PADDING[:, 0] = True

jax_only = pytest.mark.jax_only  # The fused path runs on JAX.


def twins(impl, **kwargs):
    """A plain layer and one with `attention_impl=impl`, with the same weights."""
    plain = MultiHeadAttention(N, H, attention_impl="plain", bias_initializer="random_normal", **kwargs)
    other = MultiHeadAttention(N, H, attention_impl=impl, block_size=4, **kwargs)
    return plain, other


CALLS = {
    "cross_padding": (dict(query=QUERY, value=VALUE, padding_mask=PADDING), (B, T, D)),
    "self_causal": (dict(query=QUERY, use_causal_mask=True), (B, T, D)),
    "self_causal_padding": (dict(query=QUERY, use_causal_mask=True, padding_mask=SELF_PADDING), (B, T, D)),
    "cross_attention_mask": (
        dict(query=QUERY, value=VALUE, attention_mask=rng.random((B, T, S)) > 0.5), (B, T, D)
    ),
}


def check_equal(impl, call):
    kwargs, shape = CALLS[call]
    plain, other = twins(impl)
    plain(**kwargs)
    other(**kwargs)
    other.set_weights(plain.get_weights())
    cotangent = rng.normal(size=shape).astype("float32")
    ours = layer_value_and_grads(other, cotangent, **kwargs)
    ref = layer_value_and_grads(plain, cotangent, **kwargs)
    for i, (a, b) in enumerate(zip(ours, ref)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5, err_msg=f"output/gradient {i}")


@pytest.mark.parametrize("call", ["cross_attention_mask", "self_causal_padding"])
def test_blockwise_layer_equals_plain(call):
    check_equal("blockwise", call)


@jax_only
@pytest.mark.parametrize("call", ["cross_padding", "self_causal", "self_causal_padding"])
def test_padded_fused_layer_equals_plain(call):
    # On CPU the fused path runs XLA's implementation on lengths padded to 64,
    # the code path cuDNN takes on a GPU.
    check_equal("fused", call)


def test_auto_switches_to_blockwise_on_long_inputs(monkeypatch):
    layer = MultiHeadAttention(N, H)
    reference = ops.convert_to_numpy(layer(QUERY, VALUE, padding_mask=PADDING))
    calls = []
    blockwise = layer._attend_blockwise
    monkeypatch.setattr(layer, "_attend_blockwise", lambda *a: calls.append(1) or blockwise(*a))
    monkeypatch.setattr(mha_lib, "BLOCKWISE_MIN_SCORES", N * T * S)
    assert_allclose(layer(QUERY, VALUE, padding_mask=PADDING), reference, atol=1e-5)
    assert calls, "auto did not take the blockwise path"
    # Returned weights need the plain path.
    _, weights = layer(QUERY, VALUE, padding_mask=PADDING, return_attention_scores=True)
    assert weights.shape == (B, N, T, S) and len(calls) == 1


def test_keras_implicit_query_mask_zeroes_rows_like_plain():
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]])
    x = keras.layers.Embedding(10, D, mask_zero=True)(ids)
    plain, blockwise = twins("blockwise")
    plain(x)
    blockwise(x)
    blockwise.set_weights(plain.get_weights())
    assert_allclose(blockwise(x), plain(x), atol=1e-5)


def test_config_round_trip():
    layer = MultiHeadAttention(N, H, attention_impl="blockwise", block_size=128)
    config = layer.get_config()
    assert config["attention_impl"] == "blockwise" and config["block_size"] == 128
    assert MultiHeadAttention.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(attention_impl="flash"), "attention_impl='flash'"),
        (dict(block_size=0), "block_size=0"),
        (dict(attention_impl="blockwise", dropout=0.1), "dropout=0.1"),
        (dict(attention_impl="fused", value_dim=4), "value_dim=4"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(N, H, **kwargs)


@pytest.mark.tf_only
def test_fused_needs_jax():
    with pytest.raises(ValueError, match="backend='tensorflow'"):
        MultiHeadAttention(N, H, attention_impl="fused")


def test_blockwise_does_not_return_weights():
    layer = MultiHeadAttention(N, H, attention_impl="blockwise")
    with pytest.raises(ValueError, match="attention_impl='blockwise'"):
        layer(QUERY, return_attention_scores=True)
