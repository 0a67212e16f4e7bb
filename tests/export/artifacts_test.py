"""Staged export directories, reports, and the TFLite op-list checks."""

import os

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("export needs the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from export import artifacts, tflite_utils  # noqa: E402


def test_staged_output_appears_only_on_success(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        with artifacts.staged_output(str(target), overwrite=False) as staging:
            open(os.path.join(staging, "half.bin"), "w").write("x")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
    with artifacts.staged_output(str(target), overwrite=False) as staging:
        artifacts.write_report(staging, {"value": np.float32(0.5), "shape": np.array([1, 2])})
    assert os.listdir(target) == ["report.json"]
    with pytest.raises(FileExistsError, match="Pass --overwrite"):
        with artifacts.staged_output(str(target), overwrite=False):
            pass
    with artifacts.staged_output(str(target), overwrite=True) as staging:
        open(os.path.join(staging, "new.bin"), "w").write("x")
    assert os.listdir(target) == ["new.bin"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_check_report_names_every_failure():
    artifacts.check_report([("a", 1.0, 2.0, True)])
    with pytest.raises(artifacts.VerificationError, match=r"b=3.0 \(limit 2.0\); c=0.5 \(limit 1.0\)"):
        artifacts.check_report([("a", 1.0, 2.0, True), ("b", 3.0, 2.0, False), ("c", 0.5, 1.0, False)])


class Strings(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def lengths(self, texts):
        return tf.strings.length(texts)


def test_a_flex_op_is_found_in_the_op_list():
    module = Strings()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.lengths.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    flatbuffer = converter.convert()
    assert [n for n in tflite_utils.operator_names(flatbuffer) if n.startswith("CUSTOM:Flex")]
    with pytest.raises(ValueError, match="builtin ops only.*Flex"):
        tflite_utils.check_builtins_only(flatbuffer)
    with pytest.raises(Exception):  # Builtins alone cannot express the string ops.
        tflite_utils.convert([module.lengths.get_concrete_function()], module)


def test_untracked_weights_and_bad_quantization_are_refused():
    weights = tf.Variable([1.0, 2.0])

    class Untracked(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([2], tf.float32)])
        def scale(self, x):
            return x * weights

    module = Untracked()
    with pytest.raises(ValueError, match="must list the model's variables"):
        tflite_utils.convert([module.scale.get_concrete_function()], module)
    with pytest.raises(ValueError, match="`quantize` must be one of"):
        tflite_utils.convert([module.scale.get_concrete_function()], module, quantize="int4")
