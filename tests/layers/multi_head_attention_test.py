import keras
import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import MultiHeadAttention
from keras_tfm.layers.masks import causal_mask
from tests.test_case import assert_allclose, run_layer_test

B, T, S, D, N, H = 2, 5, 7, 16, 4, 4
rng = np.random.default_rng(0)
QUERY = rng.normal(size=(B, T, D)).astype("float32")
VALUE = rng.normal(size=(B, S, D)).astype("float32")


def padding_mask(batch=B, length=S):
    mask = rng.random((batch, length)) > 0.3
    mask[:, 0] = True  # Keep every row attending something, as Keras MHA would average otherwise.
    return mask


def test_self_attention_layer():
    run_layer_test(
        MultiHeadAttention,
        dict(num_heads=N, key_dim=H, dropout=0.1),
        QUERY,
        (B, T, D),
    )


def test_cross_attention_layer_with_value_dim_and_output_dim():
    run_layer_test(
        MultiHeadAttention,
        dict(num_heads=N, key_dim=H, value_dim=6, output_dim=10),
        {"query": QUERY, "value": VALUE},
        (B, T, 10),
    )


def _copied_keras_mha(ours, query, value):
    theirs = keras.layers.MultiHeadAttention(num_heads=N, key_dim=H)
    theirs(query, value)
    theirs.set_weights(ours.get_weights())
    return theirs


@pytest.mark.parametrize("mask_kind", ["none", "padding", "attention", "causal"])
def test_matches_keras_multi_head_attention(mask_kind):
    value = QUERY if mask_kind == "causal" else VALUE
    ours = MultiHeadAttention(num_heads=N, key_dim=H, bias_initializer="random_normal")
    ours(QUERY, value)
    theirs = _copied_keras_mha(ours, QUERY, value)
    ours_kwargs, theirs_kwargs = {}, {}
    if mask_kind == "padding":
        mask = padding_mask()
        ours_kwargs["padding_mask"] = mask
        theirs_kwargs["attention_mask"] = np.broadcast_to(mask[:, None, :], (B, T, S))
    elif mask_kind == "attention":
        mask = rng.random((B, T, S)) > 0.4
        mask[..., 0] = True
        ours_kwargs["attention_mask"] = theirs_kwargs["attention_mask"] = mask
    elif mask_kind == "causal":
        ours_kwargs["use_causal_mask"] = theirs_kwargs["use_causal_mask"] = True
    out, scores = ours(QUERY, value, return_attention_scores=True, **ours_kwargs)
    ref, ref_scores = theirs(QUERY, value, return_attention_scores=True, **theirs_kwargs)
    assert_allclose(out, ref, atol=1e-5)
    assert_allclose(scores, ref_scores, atol=1e-5)


def test_matches_float64_numpy_reference():
    layer = MultiHeadAttention(num_heads=N, key_dim=H, value_dim=3, bias_initializer="random_normal")
    mask = padding_mask()
    out = layer(QUERY, VALUE, padding_mask=mask)
    wq, bq, wk, bk, wv, bv, wo, bo = [w.astype("float64") for w in layer.get_weights()]
    q = np.einsum("btd,dnh->bnth", QUERY, wq) + bq[:, None]
    k = np.einsum("bsd,dnh->bnsh", VALUE, wk) + bk[:, None]
    v = np.einsum("bsd,dnh->bnsh", VALUE, wv) + bv[:, None]
    logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(H)
    logits = np.where(mask[:, None, None, :], logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    expected = np.einsum("bnts,bnsv,nvo->bto", weights, v, wo) + bo
    assert_allclose(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_fully_masked_rows_give_zeros(dtype):
    layer = MultiHeadAttention(num_heads=N, key_dim=H, use_bias=False, dtype=dtype)
    mask = np.ones((B, S), bool)
    mask[1] = False  # The whole second example is padding.
    out, scores = layer(QUERY, VALUE, padding_mask=mask, return_attention_scores=True)
    out = ops.convert_to_numpy(ops.cast(out, "float32"))
    scores = ops.convert_to_numpy(ops.cast(scores, "float32"))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_array_equal(scores[1], 0.0)
    np.testing.assert_allclose(scores[0].sum(-1), 1.0, atol=1e-2)


def test_keras_implicit_mask_is_honoured():
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]])
    embedding = keras.layers.Embedding(10, D, mask_zero=True)
    x = embedding(ids)
    layer = MultiHeadAttention(num_heads=N, key_dim=H)
    implicit = layer(x)
    explicit = layer(ops.convert_to_tensor(ops.convert_to_numpy(x)), padding_mask=ids != 0)
    real = ids != 0
    assert_allclose(ops.convert_to_numpy(implicit)[real], ops.convert_to_numpy(explicit)[real], atol=1e-6)


@pytest.mark.parametrize("batch", [B, 1])
@pytest.mark.parametrize("implementation", [{}, {"attention_impl": "blockwise", "block_size": 4}])
def test_cache_decoding_matches_full_causal_attention(implementation, batch):
    layer = MultiHeadAttention(num_heads=N, key_dim=H, **implementation)
    query = QUERY[:batch]
    full = ops.convert_to_numpy(layer(query, use_causal_mask=True))
    cache = ops.zeros((2, batch, N, T, H))
    for t in range(T):
        step, cache = layer(query[:, t : t + 1], use_causal_mask=True, cache=cache, cache_update_index=t)
        assert_allclose(step[:, 0], full[:, t], atol=1e-5)


@pytest.mark.parametrize("batch", [B, 1])
def test_precomputed_cross_attention_cache(batch):
    layer = MultiHeadAttention(num_heads=N, key_dim=H)
    mask = padding_mask()[:batch]
    full = layer(QUERY[:batch], VALUE[:batch], padding_mask=mask)
    cache = layer.compute_key_value(VALUE[:batch])
    cached, _ = layer(QUERY[:batch], padding_mask=mask, cache=cache)
    assert_allclose(cached, full, atol=1e-6)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, 3, N, T, H), r"cache.shape=\(2, 3, 4, 5, 4\) with query.shape=\(2, 1, 16\)"),
        ((3, B, N, T, H), r"must have shape \(2, B, N, L, H\).*cache.shape=\(3, 2, 4, 5, 4\)"),
        ((2, B, N, T), r"`cache` must have rank 5"),
    ],
)
def test_bad_cache_shapes(shape, message):
    layer = MultiHeadAttention(num_heads=N, key_dim=H)
    with pytest.raises(ValueError, match=message):
        layer(QUERY[:, :1], use_causal_mask=True, cache=ops.zeros(shape), cache_update_index=0)


@pytest.mark.tf_only
@pytest.mark.parametrize("batch", [1, B])
def test_tensorflow_reads_the_cache_without_copying(batch):
    # Keys and values are split off the cache's leading axis (views of the
    # buffer); a strided slice such as `cache[:, 0]` would copy at every step.
    import tensorflow as tf

    layer = MultiHeadAttention(num_heads=N, key_dim=H)
    layer(QUERY[:1])
    cache = tf.zeros((2, batch, N, T, H))
    step = tf.function(
        lambda x, cache: layer(x, use_causal_mask=True, cache=cache, cache_update_index=2)
    )
    graph = step.get_concrete_function(tf.constant(QUERY[:batch, :1]), cache).graph
    op_types = {op.type for op in graph.get_operations()}
    assert "Unpack" in op_types
    assert "StridedSlice" not in op_types


def test_causal_mask_offsets():
    mask = ops.convert_to_numpy(causal_mask(2, 4, offset=2))
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0], [1, 1, 1, 1]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_heads=0, key_dim=4), "num_heads=0"),
        (dict(num_heads=2, key_dim=-1), "key_dim=-1"),
        (dict(num_heads=2, key_dim=4, dropout=1.5), "dropout=1.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(**kwargs)


def test_wrong_rank_query():
    with pytest.raises(ValueError, match=r"`query` must have rank 3.*\(2, 16\)"):
        MultiHeadAttention(num_heads=2, key_dim=4)(QUERY[:, 0])


def test_mask_of_the_wrong_shape():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    with pytest.raises(ValueError, match="padding_mask"):
        layer(QUERY, VALUE, padding_mask=np.ones((B, S + 1), bool))
    with pytest.raises(ValueError, match="attention_mask"):
        layer(QUERY, VALUE, attention_mask=np.ones((B, T + 1, S), bool))
    with pytest.raises(ValueError, match="attention_mask"):
        layer(QUERY, VALUE, attention_mask=np.ones((B,), bool))


def test_projections_start_from_different_values():
    # One unseeded Keras initializer instance repeats its values; each weight gets a clone.
    layer = MultiHeadAttention(num_heads=N, key_dim=H)
    layer(QUERY)
    q, k, v = (ops.convert_to_numpy(w) for w in (layer.query_kernel, layer.key_kernel, layer.value_kernel))
    assert not np.allclose(q, k) and not np.allclose(k, v)


def test_loop_invariant_kernels_are_reshaped_once_on_entry():
    from keras_tfm.layers.multi_head_attention import loop_invariant_kernels

    layer = MultiHeadAttention(num_heads=N, key_dim=H)
    before = ops.convert_to_numpy(layer(QUERY, VALUE))
    with loop_invariant_kernels([layer]):
        for kernel in (layer.query_kernel, layer.output_kernel):
            kernel.assign(np.zeros(kernel.shape, "float32"))
        inside = ops.convert_to_numpy(layer(QUERY, VALUE))  # The matrices made on entry.
    after = ops.convert_to_numpy(layer(QUERY, VALUE))  # The live, zeroed kernels.
    np.testing.assert_array_equal(inside, before)
    bias = ops.convert_to_numpy(layer.output_bias)
    np.testing.assert_array_equal(after, np.broadcast_to(bias, after.shape))
    assert np.abs(before - after).max() > 1e-3
