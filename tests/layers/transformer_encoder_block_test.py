import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import TransformerEncoderBlock
from tests.test_case import assert_allclose, run_layer_test

X = np.random.default_rng(0).normal(size=(2, 6, 16)).astype("float32")


@pytest.mark.parametrize("normalize_first", [False, True])
def test_layer(normalize_first):
    run_layer_test(
        TransformerEncoderBlock,
        dict(num_heads=4, intermediate_dim=32, dropout=0.1, normalize_first=normalize_first, drop_path_rate=0.1),
        X,
        (2, 6, 16),
    )


def test_padding_does_not_leak_into_real_positions():
    block = TransformerEncoderBlock(num_heads=4, intermediate_dim=32)
    mask = np.ones((2, 6), bool)
    real = block(X, padding_mask=mask)
    padded = np.concatenate([X, np.random.default_rng(1).normal(size=(2, 3, 16))], 1).astype("float32")
    out = block(padded, padding_mask=np.concatenate([mask, np.zeros((2, 3), bool)], 1))
    assert_allclose(ops.convert_to_numpy(out)[:, :6], real, atol=1e-5)


def test_attention_scores():
    block = TransformerEncoderBlock(num_heads=4, intermediate_dim=32)
    out, scores = block(X, return_attention_scores=True)
    assert tuple(scores.shape) == (2, 4, 6, 6)


def test_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="divisible by `num_heads`.*width=16, num_heads=3"):
        TransformerEncoderBlock(num_heads=3, intermediate_dim=32)(X)
