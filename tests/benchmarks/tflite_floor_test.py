"""The matmul floor of `benchmarks/tflite.py` does the ViT's matrix products and nothing else.

README.md's claim about the float32 ViT target rests on the floor doing
exactly the products of our ViT: if the converter merged or dropped any (it
merges layers with equal weights and inputs), the floor would be too low.
"""

import importlib.util
import os

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite conversion needs the TensorFlow backend", allow_module_level=True)

from export import tflite_utils  # noqa: E402
from keras_tfm.models import VisionTransformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = dict(patch_size=8, num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32)
PRODUCTS = ("CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL")


def load_benchmark():
    spec = importlib.util.spec_from_file_location("tflite_benchmark", os.path.join(ROOT, "benchmarks", "tflite.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_floor_has_exactly_the_vits_matrix_products():
    benchmark = load_benchmark()
    ours = VisionTransformer(image_size=32, include_top=False, **SIZE)
    ours.build((None, 32, 32, 3))
    floor = benchmark.matmul_floor(image_size=32, **SIZE)
    vit_ops = tflite_utils.operator_counts(benchmark.convert_backbone(ours, "none", image_size=32))
    floor_ops = tflite_utils.operator_counts(benchmark.convert_backbone(floor, "none", image_size=32))
    assert {op: floor_ops[op] for op in PRODUCTS} == {op: vit_ops[op] for op in PRODUCTS}
    assert floor_ops["FULLY_CONNECTED"] == 6 * SIZE["num_layers"]
    assert floor_ops["BATCH_MATMUL"] == 2 * SIZE["num_layers"]
    for op in ("SOFTMAX", "GELU", "MEAN", "ADD"):
        assert vit_ops[op] > 0 and floor_ops[op] == 0, op
    assert ours(keras.ops.zeros((1, 32, 32, 3))).shape == floor.output.shape


def test_floor_activations_stay_finite_and_unit_scale_on_other_images():
    floor = load_benchmark().matmul_floor(image_size=32, **dict(SIZE, num_layers=6))
    images = np.random.default_rng(7).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    output = keras.ops.convert_to_numpy(floor(images))
    assert np.isfinite(output).all()
    assert 0.1 < output.std() < 10, output.std()
