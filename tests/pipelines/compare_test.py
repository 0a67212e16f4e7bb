"""`pipelines.compare` at tiny sizes: the measured Table 1 quantities, the counting and the plot."""

import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines import compare
from pipelines.pictures import is_blank

K = compare.TINY.kernel_size


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return compare.run_comparison(compare.TINY, str(tmp_path_factory.mktemp("compare")), log=lambda *_: None)


def _rows(results, kind, sweep="n_sweep"):
    return results["layers"][kind][sweep]


def test_rnn_sequential_steps_equal_n(results):
    for row in _rows(results, compare.RNN) + _rows(results, compare.RNN, "d_sweep"):
        assert row["sequential_steps"] == row["n"]


def test_attention_and_convolutions_are_one_parallel_step(results):
    for kind in (compare.ATTENTION, compare.CONV, compare.DILATED):
        assert {row["sequential_steps"] for row in _rows(results, kind)} == {1}


def test_path_lengths_by_gradient_reachability(results):
    paths = {kind: {r["n"]: r["measured"] for r in results["layers"][kind]["path_length"]} for kind in compare.KINDS}
    for n in compare.TINY.lengths:
        assert paths[compare.ATTENTION][n] == 1
        assert paths[compare.RNN][n] == n
        assert paths[compare.CONV][n] == math.ceil((n - 1) / (K - 1))
        assert paths[compare.DILATED][n] == math.ceil(math.log(n) / math.log(K) - 1e-9)


def test_counted_flops_agree_with_the_formulas(results):
    # Both count 2 FLOPs per multiply-add of the matrix products, so they agree
    # exactly except where TensorFlow itself does extra work: a dilated
    # convolution runs as space-to-batch, which pads the sequence to a multiple
    # of the dilation r < n, so the counted figure is at most (n + r - 1) / n < 2
    # times the formula.
    for kind in compare.KINDS:
        for row in _rows(results, kind) + _rows(results, kind, "d_sweep"):
            ratio = row["flops_counted"] / row["flops_analytic"]
            if kind == compare.DILATED:
                r = K ** (compare.dilated_depth(row["n"], K) - 1)
                assert 1 <= ratio <= (row["n"] + r - 1) / row["n"] < 2, (kind, row)
            else:
                assert ratio == pytest.approx(1, rel=1e-6), (kind, row)


def test_fitted_flop_exponents(results):
    fits = {kind: results["layers"][kind]["fits"]["upper_half"] for kind in compare.KINDS}
    assert fits[compare.RNN]["flops_counted_in_n"] == pytest.approx(1)
    assert fits[compare.RNN]["flops_counted_in_d"] == pytest.approx(2)
    assert fits[compare.CONV]["flops_counted_in_d"] == pytest.approx(2)
    assert 1 < fits[compare.ATTENTION]["flops_counted_in_n"] <= 2
    assert fits[compare.RNN]["path_length_in_n"] == pytest.approx(1)
    assert fits[compare.ATTENTION]["sequential_steps_in_n"] == pytest.approx(0)


def test_table_plot_and_json(results):
    assert "| self-attention | per-layer cost in n | O(n^2 d) | 2 |" in results["table"]
    assert os.path.exists(results["plot"]) and not is_blank(results["plot"])
    with open(results["json"]) as f:
        assert json.load(f)["layers"][compare.RNN]["n_sweep"][0]["sequential_steps"] == compare.TINY.lengths[0]


def test_lstm_jacobi_steps_equal_keras_lstm():
    n, width = 5, 3
    x = tf.random.stateless_normal((2, n, width), seed=(1, 2))
    lstm = keras.layers.LSTM(width, return_sequences=True)
    expected = lstm(x)
    state = (tf.zeros_like(x), tf.zeros_like(x))
    for _ in range(n):
        state = compare.lstm_jacobi_step(lstm.cell, x, state)
    np.testing.assert_allclose(state[0], expected, atol=1e-5)


def test_count_flops_reads_shapes_and_loop_trip_counts():
    w = tf.ones((4, 5))

    def forward(x):
        y = tf.einsum("bd,de->be", x, w)  # 2 * 3 * 4 * 5
        y = tf.matmul(x, w) + y  # 2 * 3 * 4 * 5
        _, z = tf.while_loop(lambda i, z: i < 7, lambda i, z: (i + 1, tf.matmul(z, tf.ones((5, 5)))), (0, y))
        tf.matmul(x, w)  # dead code: not counted
        return z, [op.outputs[0] for op in tf.compat.v1.get_default_graph().get_operations() if op.type in compare.LOOP_OPS]

    concrete = tf.function(forward, autograph=False).get_concrete_function(tf.TensorSpec((3, 4)))
    loop = [op for op in concrete.graph.get_operations() if op.type in compare.LOOP_OPS][0]
    _, (trips,) = concrete(tf.ones((3, 4)))
    assert int(trips) == 7
    counted = compare.count_flops(concrete.graph, concrete.graph.outputs[:1], {loop.name: int(trips)})
    assert counted == 2 * (2 * 3 * 4 * 5) + 7 * 2 * 3 * 5 * 5


def test_fit_exponent_uses_the_upper_half():
    n = np.array([1, 2, 4, 8, 16])
    assert compare.fit_exponent(n, n**2) == pytest.approx(2)
    assert compare.fit_exponent(n, np.where(n < 4, 100, n**2)) == pytest.approx(2)  # overhead at small n ignored


def test_errors():
    with pytest.raises(ValueError, match="kernel_size=1"):
        compare.run_comparison(compare.CompareConfig(kernel_size=1))
    with pytest.raises(ValueError, match="d=10, num_heads=4"):
        compare.make_layer(compare.ATTENTION, 8, 10, compare.CompareConfig(num_heads=4))
