"""`pipelines.pictures`: every picture is written and shows something; the rollout arithmetic."""

import os

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from pipelines import pictures


def _assert_picture(path):
    assert os.path.exists(path)
    assert not pictures.is_blank(path)


def test_binary_heatmap_shows_the_seed_table(tmp_path):
    path = pictures.plot_binary_encoding(str(tmp_path / "binary.png"), num_bits=3)
    _assert_picture(path)
    # Find the heatmap by its two cell colours, then read each cell's centre back.
    image = matplotlib.image.imread(path)[..., :3]
    colors = np.array([matplotlib.colors.to_rgb(c) for c in pictures.BIT_COLORS])  # (2, 3)
    distance = np.abs(image[:, :, None, :] - colors).max(-1)  # (H, W, 2)
    rows, cols = np.nonzero(distance.min(-1) < 0.02)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    centre_y = (top + (np.arange(8) + 0.5) * (bottom - top) / 8).astype(int)
    centre_x = (left + (np.arange(3) + 0.5) * (right - left) / 3).astype(int)
    bits = distance[centre_y[:, None], centre_x[None, :]].argmin(-1)  # (8, 3)
    assert ["".join(map(str, row)) for row in bits] == ["000", "001", "010", "011", "100", "101", "110", "111"]


def test_sinusoidal_heatmap(tmp_path):
    _assert_picture(pictures.plot_sinusoidal_encoding(str(tmp_path / "sinusoidal.png")))


def test_attention_heatmaps(tmp_path):
    words = "the animal didn't cross the street because it was too tired".split()
    weights = np.random.default_rng(0).dirichlet(np.ones(len(words)), size=(4, 1))  # (N, T, S)
    path = pictures.plot_attention(["it"], words, weights, str(tmp_path / "attention.png"), "encoder self-attention")
    _assert_picture(path)
    with pytest.raises(ValueError, match=r"weights.shape=\(4, 1, 11\), 2 query and 11 key words"):
        pictures.plot_attention(["it", "was"], words, weights, str(tmp_path / "bad.png"))


def test_rollout_arithmetic():
    batch, tokens = 2, 5
    identity = np.broadcast_to(np.eye(tokens), (batch, 3, tokens, tokens))
    np.testing.assert_allclose(pictures.attention_rollout_matrices([identity, identity]), np.broadcast_to(np.eye(tokens), (batch, tokens, tokens)))
    uniform = np.full((batch, 2, tokens, tokens), 1 / tokens)
    expected = (np.full((tokens, tokens), 1 / tokens) + np.eye(tokens)) / 2  # residual added, renormalised
    np.testing.assert_allclose(pictures.attention_rollout_matrices([uniform])[0], expected)
    np.testing.assert_allclose(pictures.attention_rollout_matrices([uniform, uniform])[0], expected @ expected)
    random = np.random.default_rng(0).dirichlet(np.ones(tokens), size=(batch, 2, tokens))  # (B, N, T, T)
    rollout = pictures.attention_rollout_matrices([random, random, random])
    np.testing.assert_allclose(rollout.sum(-1), 1)
    np.testing.assert_allclose(pictures.attention_rollout([random]), pictures.attention_rollout_matrices([random])[:, 0, 1:])
    with pytest.raises(ValueError, match="at least one layer"):
        pictures.attention_rollout([])


def test_rollout_overlay(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 28, 28, 1))
    layers = [rng.dirichlet(np.ones(17), size=(3, 2, 17)) for _ in range(2)]  # 16 patches + class token
    path = pictures.plot_attention_rollout(images, pictures.attention_rollout(layers), str(tmp_path / "rollout.png"),
                                           titles=["a", "b", "c"])
    _assert_picture(path)


def test_is_blank(tmp_path):
    path = str(tmp_path / "blank.png")
    Figure(figsize=(1, 1)).savefig(path)
    assert pictures.is_blank(path)
