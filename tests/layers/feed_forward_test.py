import numpy as np
import pytest

from keras_tfm.layers import FeedForward, Residual, StochasticDepth
from tests.test_case import run_layer_test

X = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")


def test_feed_forward():
    run_layer_test(FeedForward, dict(intermediate_dim=16, dropout=0.1, activation="gelu"), X, (2, 3, 8))


def test_feed_forward_output_dim():
    run_layer_test(FeedForward, dict(intermediate_dim=16, output_dim=5), X, (2, 3, 5))


@pytest.mark.parametrize("normalize_first", [True, False])
def test_residual(normalize_first):
    run_layer_test(
        Residual, dict(dropout=0.1, normalize_first=normalize_first),
        {"residual": X, "branch": X * 2}, (2, 3, 8),
        # Pre-norm applies its norm in `normalize()`, outside `call`.
        run_training=not normalize_first,
    )


def test_stochastic_depth_drops_whole_examples():
    run_layer_test(StochasticDepth, dict(rate=0.5), X, (2, 3, 8), run_training=False)
    layer = StochasticDepth(rate=0.5, seed=1)
    x = np.ones((64, 3, 4), "float32")
    out = np.asarray(layer(x, training=True))
    per_example = out.reshape(64, -1)
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert np.all(per_example.min(1) == per_example.max(1))  # All or nothing per example.
    assert 10 < (per_example[:, 0] == 0).sum() < 54
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_bad_rate():
    with pytest.raises(ValueError, match="rate=1.0"):
        StochasticDepth(rate=1.0)
