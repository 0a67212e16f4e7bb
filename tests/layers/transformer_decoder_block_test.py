import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import TransformerDecoderBlock
from tests.test_case import assert_allclose, run_layer_test

rng = np.random.default_rng(0)
X = rng.normal(size=(2, 5, 16)).astype("float32")
ENC = rng.normal(size=(2, 7, 16)).astype("float32")


@pytest.mark.parametrize("normalize_first", [False, True])
def test_layer(normalize_first):
    run_layer_test(
        TransformerDecoderBlock,
        dict(num_heads=4, intermediate_dim=32, dropout=0.1, normalize_first=normalize_first),
        {"inputs": X, "encoder_output": ENC},
        (2, 5, 16),
    )


def test_causal():
    block = TransformerDecoderBlock(num_heads=4, intermediate_dim=32)
    base = ops.convert_to_numpy(block(X, ENC))
    changed = X.copy()
    changed[:, 3:] += 1.0
    out = ops.convert_to_numpy(block(changed, ENC))
    assert_allclose(out[:, :3], base[:, :3], atol=1e-5)
    assert not np.allclose(out[:, 3:], base[:, 3:], atol=1e-3)


def test_cached_steps_match_the_parallel_pass():
    block = TransformerDecoderBlock(num_heads=4, intermediate_dim=32)
    full = ops.convert_to_numpy(block(X, ENC))
    cache = ops.zeros((2, 2, 4, 5, 4))  # (2, B, N, L, H)
    cross = block.compute_cross_attention_cache(ENC)
    for t in range(5):
        step, cache = block(X[:, t : t + 1], self_attention_cache=cache, cache_update_index=t, cross_attention_cache=cross)
        assert_allclose(step[:, 0], full[:, t], atol=1e-5)


def test_decoder_only_block_and_errors():
    block = TransformerDecoderBlock(num_heads=4, intermediate_dim=32)
    assert tuple(block(X).shape) == (2, 5, 16)
    with pytest.raises(ValueError, match="built without an encoder output"):
        block(X, ENC)
    with pytest.raises(ValueError, match="rank 3"):
        TransformerDecoderBlock(num_heads=4, intermediate_dim=32)(X[0], ENC)
