"""The ViT export: Keras vs SavedModel vs TFLite in four precisions.

A tiny ViT (16x16 grayscale, patch 8, one block of width 192) is trained for
a few seconds on synthetic images (a bright band whose row is the class), so
that int8 agreement means something.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("export needs the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from export import artifacts, tflite_utils, vit  # noqa: E402
from export.litert_client import LiteRTImageClassifier  # noqa: E402
from keras_tfm.models import VisionTransformer  # noqa: E402

LABELS = [f"class {i}" for i in range(10)]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def synthetic_images(count, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = rng.integers(0, 80, (count, 16, 16, 1))
    for i, label in enumerate(labels):
        images[i, label + 3] += 150
    return images.astype(np.uint8), labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = VisionTransformer(
        image_size=16, patch_size=8, num_channels=1, num_layers=1, hidden_dim=192, num_heads=2,
        intermediate_dim=384, num_classes=10,
    )
    images, labels = synthetic_images(1024, seed=0)
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images.astype("float32") / 127.5 - 1, labels, batch_size=64, epochs=8, verbose=0)
    held_images, held_labels = synthetic_images(300, seed=1)
    root = tmp_path_factory.mktemp("vit")
    reports = {}
    for quantize in tflite_utils.QUANTIZATIONS:
        reports[quantize] = vit.export_vit(
            model, str(root / quantize), quantize=quantize, labels=LABELS, top_k=3,
            formats=("saved_model", "tflite") if quantize == "none" else ("tflite",),
            images=held_images, image_labels=held_labels,
        )
    return dict(model=model, root=root, reports=reports, images=held_images, labels=held_labels)


def keras_probabilities(model, images):
    return keras.ops.convert_to_numpy(keras.ops.softmax(model(images.astype("float32") / 127.5 - 1)))


def tflite_path(trained, quantize):
    return str(trained["root"] / quantize / vit.TFLITE_FILENAME)


def test_every_precision_is_verified_and_has_builtin_ops_only(trained):
    for quantize, report in trained["reports"].items():
        directory = trained["root"] / quantize
        assert json.load(open(directory / "report.json"))["passed"]
        with open(directory / vit.TFLITE_FILENAME, "rb") as f:
            names = tflite_utils.operator_names(f.read())
        assert not [n for n in names if n.startswith("CUSTOM:") or "Flex" in n], (quantize, names)
    reports = trained["reports"]
    assert reports["none"]["tflite"]["max_abs_diff"] <= 1e-4
    assert reports["none"]["saved_model"]["max_abs_diff"] <= 1e-4
    assert reports["float16"]["tflite"]["max_abs_diff"] <= 1e-2
    assert reports["int8"]["keras_accuracy"] > 0.9  # The model learned something to agree on.
    float_size = os.path.getsize(tflite_path(trained, "none"))
    for quantize in tflite_utils.CALIBRATED:
        assert reports[quantize]["tflite"]["top1_agreement"] >= 0.97, quantize
        assert os.path.getsize(tflite_path(trained, quantize)) <= 0.3 * float_size, quantize
    assert os.path.getsize(tflite_path(trained, "float16")) < 0.6 * float_size


@pytest.mark.parametrize("batch", [1, 4])
def test_tflite_and_saved_model_match_keras_at_two_batch_sizes(trained, batch):
    images = trained["images"][:batch]
    expected = keras_probabilities(trained["model"], images)
    for quantize, atol in (("none", 1e-4), ("float16", 1e-2)):
        out = LiteRTImageClassifier(tflite_path(trained, quantize)).classify(images)
        np.testing.assert_allclose(out["probabilities"], expected, atol=atol)
        assert [bytes(x).decode() for x in out["top_k_labels"][:, 0]] == [LABELS[i] for i in expected.argmax(1)]
    for quantize in tflite_utils.CALIBRATED:
        int8 = LiteRTImageClassifier(tflite_path(trained, quantize)).classify(images)
        assert int8["probabilities"].shape == (batch, 10)
        assert np.mean(int8["top_k_indices"][:, 0] == expected.argmax(1)) >= 0.75, quantize
    loaded = tf.saved_model.load(str(trained["root"] / "none" / vit.SAVED_MODEL_DIRNAME))
    served = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-4)
    np.testing.assert_array_equal(served["top_k_indices"].numpy()[:, 0], expected.argmax(1))


def test_int8_keeps_only_the_ops_without_fast_int8_kernels_in_float(trained):
    ops = {}
    for quantize in tflite_utils.CALIBRATED:
        with open(tflite_path(trained, quantize), "rb") as f:
            flatbuffer = f.read()
        ops[quantize] = (tflite_utils.operator_names(flatbuffer), tflite_utils.float_operator_names(flatbuffer))
        assert trained["reports"][quantize]["tflite"]["float_ops"] == ops[quantize][1]
    names, float_ops = ops["int8"]
    # Attention's batched matmuls and softmax and LayerNorm's statistics stay
    # float; the projections, MLP, GELU and residual adds are int8.
    assert {"BATCH_MATMUL", "SOFTMAX", "SQUARED_DIFFERENCE", "RSQRT"} <= set(float_ops)
    assert set(float_ops) <= set(tflite_utils.INT8_FLOAT_OPS)
    assert {"FULLY_CONNECTED", "CONV_2D", "GELU", "ADD", "QUANTIZE", "DEQUANTIZE"} <= set(names)
    # Full-integer: nothing in float but the NEG that the converter does not
    # quantize. (With a dynamic batch its BATCH_MATMULs stay: only a static
    # batch size lets the converter unroll them per head.)
    assert set(ops["full_int8"][1]) <= {"NEG"}
    assert "FULLY_CONNECTED" in ops["full_int8"][0]


def test_images_of_wrong_size_or_dtype_are_refused_clearly(trained):
    loaded = tf.saved_model.load(str(trained["root"] / "none" / vit.SAVED_MODEL_DIRNAME))
    serve = loaded.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="`images` must be 16x16x1 uint8"):
        serve(images=tf.zeros((1, 20, 20, 1), tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a uint8 tensor"):
        serve(images=tf.zeros((1, 16, 16, 1), tf.float32))
    classifier = LiteRTImageClassifier(tflite_path(trained, "int8"))
    with pytest.raises(ValueError, match=r"must have shape \(B, 16, 16, 1\).*\(2, 28, 28, 1\)"):
        classifier.classify(np.zeros((2, 28, 28, 1), np.uint8))
    with pytest.raises(ValueError, match="must be uint8.*float32"):
        classifier.classify(np.zeros((2, 16, 16, 1), np.float32))
    with pytest.raises(ValueError, match="must be uint8"):
        vit.export_vit(trained["model"], str(trained["root"] / "bad"), images=np.zeros((4, 16, 16, 1)))
    assert not (trained["root"] / "bad").exists()


def test_failed_verification_and_existing_output_leave_the_target_as_it_was(trained, tmp_path):
    target = tmp_path / "export"
    with pytest.raises(artifacts.VerificationError, match=r"tflite.max_abs_diff=.*\(limit 0.0\)"):
        vit.export_vit(trained["model"], str(target), formats=["tflite"], quantize="float16",
                       tolerances={"max_abs_diff": 0.0})
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="needs `images`"):
        vit.export_vit(trained["model"], str(target), quantize="int8")
    assert os.listdir(tmp_path) == []
    existing = trained["root"] / "none"
    before = sorted(os.listdir(existing))
    with pytest.raises(FileExistsError, match="Pass --overwrite"):
        vit.export_vit(trained["model"], str(existing), formats=["tflite"])
    assert sorted(os.listdir(existing)) == before


def test_program_exports_with_flags(trained, tmp_path):
    model_path = str(tmp_path / "vit.keras")
    trained["model"].save(model_path)
    images_path = str(tmp_path / "images.npz")
    np.savez(images_path, images=trained["images"][:150, :, :, 0], labels=trained["labels"][:150])
    output = str(tmp_path / "export")
    command = [sys.executable, "-m", "export.vit", f"--model={model_path}", f"--images={images_path}",
               f"--output={output}", "--quantize=dynamic_range", "--formats=tflite", "--batch_size=2"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.load(open(os.path.join(output, "report.json")))
    assert report["batch_size"] == 2 and report["tflite"]["top1_agreement"] >= 0.97
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert again.returncode != 0 and "Pass --overwrite" in again.stderr
