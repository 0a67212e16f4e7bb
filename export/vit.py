r"""Exports an image classifier (the ViT) as a SavedModel and a TFLite model, verified.

Command (after `python -m pipelines.vision --workdir=/tmp/vit`):

    python -m export.vit --model=/tmp/vit/model.keras --images=/tmp/images.npy \
        --quantize=int8 --output=/tmp/vit/export_int8

writes, only once verification has passed,

    /tmp/vit/export_int8/
      saved_model/   `serving_default`: uint8 images (any size; a wrong size
                     fails with a clear message) -> probabilities, top-k
                     indices, probabilities and labels; `classify`: static size
      vit.tflite     signature `serving_default` (the `classify` function): uint8
                     images of the model's size
      report.json    Keras vs SavedModel vs TFLite on held-out images

`--images` is a `.npy` of uint8 images `(N, Hi, Wi[, C])` (or a `.npz` with
`images` and optionally `labels`, to report accuracy). With
`--quantize=int8` or `full_int8` the first `--num_calibration` images
calibrate the model and the rest are held out; otherwise all are held out.
Without `--images`, seeded random images are used (int8 then refuses).

`--quantize`: `none` (float32), `float16` (float16 weights), `dynamic_range`
(int8 weights, float activations), `int8` and `full_int8`. Both int8 choices
take uint8 pixels, hold int8 weights (per channel) and calibrated int8
activations, and are about a quarter of the float32 file:
* `int8` runs the patch embedding, every projection and MLP layer
  (FULLY_CONNECTED, CONV_2D), GELU, the residual adds and LayerNorm's scale
  and shift in int8, and keeps in float32, between DEQUANTIZE and QUANTIZE,
  attention's two batched matmuls and its softmax and LayerNorm's mean,
  variance and rsqrt (`tflite_utils.INT8_FLOAT_OPS`): those have no fast int8
  kernel in LiteRT (an int8 BATCH_MATMUL and SQUARED_DIFFERENCE run on
  reference kernels outside XNNPACK), which made the full-integer ViT-Ti/16
  about 3x slower than float32.
* `full_int8` is the strict full-integer model for integer-only hardware:
  every op with an int8 kernel in int8; only LayerNorm's NEG stays float, as
  the converter leaves it. With a static `--batch_size` attention's batched
  matmuls are unrolled into per-head FULLY_CONNECTED ops, faster in int8
  (ViT-Ti/16: ~1.4x faster than the plain full-integer model, still slower
  than float32).
`report.json` lists the ops left in float (`tflite.float_ops`).

Expected result (tests/export/vit_test.py, a tiny ViT trained for seconds):
float32 within 1e-4 of Keras, float16 within 1e-2, int8 and full_int8 with
>= 97% top-1 agreement in <= 30% of the float32 file.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from . import artifacts, tflite_utils
from . import vit_module as vm

TFLITE_FILENAME = "vit.tflite"
SAVED_MODEL_DIRNAME = "saved_model"
FORMATS = ("saved_model", "tflite")

# Default verification limits per quantization: the largest absolute
# difference of the probabilities and the smallest top-1 agreement with Keras.
TOLERANCES = {
    "none": {"max_abs_diff": 1e-4, "min_top1_agreement": 0.99},
    "float16": {"max_abs_diff": 1e-2, "min_top1_agreement": 0.97},
    "dynamic_range": {"max_abs_diff": None, "min_top1_agreement": 0.97},
    "int8": {"max_abs_diff": None, "min_top1_agreement": 0.97},
    "full_int8": {"max_abs_diff": None, "min_top1_agreement": 0.97},
}


def load_images(path):
    """`(images uint8 (N, Hi, Wi, C), labels (N,) or None)` from a `.npy` or `.npz` file."""
    data = np.load(path)
    if isinstance(data, np.lib.npyio.NpzFile):
        return data["images"], data["labels"] if "labels" in data else None
    return data, None


def export_vit(
    model, output, *, formats=FORMATS, quantize="none", overwrite=False, batch_size=None,
    labels=None, top_k=5, input_range="[-1, 1]", images=None, image_labels=None,
    num_calibration=100, tolerances=None,
):
    """Exports, verifies and only then publishes `output/` (see the module docstring).

    Args:
        model: a built Keras image classifier, or the path of its `.keras` file.
        output: the export directory; must not exist unless `overwrite`.
        formats: any of "saved_model", "tflite".
        quantize: "none", "float16", "dynamic_range", "int8" or "full_int8"
            (TFLite; see the module docstring).
        overwrite: replace an existing `output`.
        batch_size: static batch size of the signatures; None for any.
        labels: class names (K), default "0".."K-1".
        top_k: how many best classes the signatures return.
        input_range: "[-1, 1]" or "[0, 1]", the model's training normalisation.
        images: uint8 `(N, Hi, Wi[, C])`: calibration (int8, full_int8) and
            held-out images.
        image_labels: optional true classes `(N,)` of `images`, for accuracy.
        num_calibration: images used to calibrate int8 and full_int8.
        tolerances: overrides of `TOLERANCES[quantize]`.

    Returns:
        The report dict (also written to `output/report.json`).
    """
    artifacts.check_output(output, overwrite)
    formats = tuple(formats)
    if not formats or set(formats) - set(FORMATS):
        raise ValueError(f"`formats` must be a non-empty subset of {list(FORMATS)}. Received: formats={formats!r}")
    tflite_utils.check_quantize(quantize)
    if isinstance(model, str):
        model = artifacts.load_keras_model(model)
    module = vm.ClassifierModule(model, labels, top_k, input_range, batch_size)
    calibration, held_out, held_labels = _split_images(
        module.image_shape, images, image_labels, quantize, num_calibration
    )
    limits = dict(TOLERANCES[quantize], **(tolerances or {}))
    report = dict(quantize=quantize, batch_size=batch_size, formats=list(formats), top_k=top_k,
                  input_range=input_range, held_out_images=len(held_out), tolerances=limits,
                  synthetic_images=images is None)
    with artifacts.staged_output(output, overwrite) as staging:
        expected = _keras_probabilities(module, held_out)
        if held_labels is not None:
            report["keras_accuracy"] = float(np.mean(expected.argmax(1) == held_labels))
        checks = []
        if "saved_model" in formats:
            path = os.path.join(staging, SAVED_MODEL_DIRNAME)
            tf.saved_model.save(module, path, signatures=module.saved_model_signatures())
            serve = tf.saved_model.load(path).signatures["serving_default"]
            got = _run(lambda x: serve(images=tf.constant(x))["probabilities"].numpy(), held_out, batch_size)
            report["saved_model"] = _compare(expected, got, held_labels, artifacts.directory_size(path))
            checks += _checks("saved_model", report["saved_model"], TOLERANCES["none"])
        if "tflite" in formats:
            flatbuffer = _convert(module, quantize, calibration)
            path = os.path.join(staging, TFLITE_FILENAME)
            with open(path, "wb") as f:
                f.write(flatbuffer)
            runner = tflite_utils.interpreter(model_path=path).get_signature_runner("serving_default")
            got = _run(lambda x: runner(images=x)["probabilities"], held_out, batch_size)
            report["tflite"] = _compare(expected, got, held_labels, len(flatbuffer))
            report["tflite"]["ops"] = tflite_utils.check_builtins_only(flatbuffer)
            if quantize in tflite_utils.CALIBRATED:
                report["tflite"]["float_ops"] = tflite_utils.float_operator_names(flatbuffer)
            checks += _checks("tflite", report["tflite"], limits)
        artifacts.check_report(checks)
        report["passed"] = True
        artifacts.write_report(staging, report)
    return report


def _split_images(shape, images, image_labels, quantize, num_calibration):
    """`(calibration, held_out, held_out_labels)`, after checking the images' shape and dtype."""
    if images is None:
        if quantize in tflite_utils.CALIBRATED:
            raise ValueError(
                f"`quantize={quantize!r}` needs `images` (--images) to calibrate on. Received: images=None"
            )
        images = np.random.default_rng(0).integers(0, 256, (16,) + shape, dtype=np.uint8)
    images = check_images(images, shape, "images")
    count = num_calibration if quantize in tflite_utils.CALIBRATED else 0
    if len(images) <= count:
        raise ValueError(
            f"`images` must hold more than num_calibration={count} images, so that some are held "
            f"out for verification. Received: {len(images)} images"
        )
    held_labels = None if image_labels is None else np.asarray(image_labels)[count:]
    return images[:count], images[count:], held_labels


def check_images(images, shape, name="images"):
    """uint8 `(N, Hi, Wi, C)` (a missing channel axis is added) or a clear error."""
    images = np.asarray(images)
    if images.ndim == 3 and shape[-1] == 1:
        images = images[..., None]
    if images.dtype != np.uint8:
        raise ValueError(
            f"`{name}` must be uint8 pixels in [0, 255] (preprocessing happens in the graph). "
            f"Received: dtype={images.dtype}"
        )
    if images.ndim != 4 or images.shape[1:] != tuple(shape):
        raise ValueError(
            f"`{name}` must have shape (N, {shape[0]}, {shape[1]}, {shape[2]}), the model's input size. "
            f"Received: shape={images.shape}"
        )
    return images


def _keras_probabilities(module, images):
    scale, offset = vm.INPUT_RANGES[module.input_range]
    logits = module.model.predict(images.astype(np.float32) * scale + offset, batch_size=64, verbose=0)
    return keras.ops.convert_to_numpy(keras.ops.softmax(keras.ops.cast(logits, "float32")))


def _run(function, images, batch_size):
    """Runs `function` over `images` in chunks; a static batch pads the last chunk with zeros."""
    step = batch_size or len(images)
    outputs = []
    for start in range(0, len(images), step):
        chunk = images[start : start + step]
        real = len(chunk)
        if batch_size and real < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - real,) + chunk.shape[1:], chunk.dtype)])
        outputs.append(np.asarray(function(chunk))[:real])
    return np.concatenate(outputs)


def _convert(module, quantize, calibration):
    if quantize not in tflite_utils.CALIBRATED:
        return tflite_utils.convert([module.classify.get_concrete_function()], module, quantize)
    pixels = calibration.astype(np.float32)
    # The uint8 input takes raw pixels when the calibrated input range is
    # exactly [0, 255] (scale 1, zero point 0): make sure both ends occur.
    pixels[0].flat[0], pixels[0].flat[1] = 0.0, 255.0

    def representative_dataset():
        for image in pixels:
            yield [image[None]]

    function = tflite_utils.named_function(
        module._classify_pixels, "classify",
        [tf.TensorSpec([module.batch_size, *module.image_shape], tf.float32, name="images")],
    )
    flatbuffer = tflite_utils.convert(
        [function.get_concrete_function()], module, quantize, representative_dataset, uint8_input=True
    )
    details = tflite_utils.interpreter(model_content=flatbuffer).get_signature_runner("serving_default")
    scale, zero_point = details.get_input_details()["images"]["quantization"]
    if (scale, zero_point) != (1.0, 0):
        raise artifacts.VerificationError(
            f"The {quantize} model's uint8 input must take raw pixels (scale 1, zero point 0). "
            f"Received: scale={scale}, zero_point={zero_point}; nothing was written."
        )
    return flatbuffer


def _compare(expected, got, labels, size):
    result = {
        "max_abs_diff": float(np.max(np.abs(expected - got))),
        "top1_agreement": float(np.mean(expected.argmax(1) == got.argmax(1))),
        "size_bytes": int(size),
    }
    if labels is not None:
        result["accuracy"] = float(np.mean(got.argmax(1) == labels))
    return result


def _checks(name, result, limits):
    checks = []
    if limits["max_abs_diff"] is not None:
        checks.append((f"{name}.max_abs_diff", result["max_abs_diff"], limits["max_abs_diff"],
                       result["max_abs_diff"] <= limits["max_abs_diff"]))
    checks.append((f"{name}.top1_agreement", result["top1_agreement"], limits["min_top1_agreement"],
                   result["top1_agreement"] >= limits["min_top1_agreement"]))
    return checks


def _define_flags():
    flags.DEFINE_string("model", None, "The classifier's .keras file.", required=True)
    flags.DEFINE_string("output", None, "Export directory (written only after verification).", required=True)
    flags.DEFINE_list("formats", list(FORMATS), "Any of saved_model, tflite.")
    flags.DEFINE_enum("quantize", "none", list(tflite_utils.QUANTIZATIONS), "TFLite precision.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing --output.")
    flags.DEFINE_integer("batch_size", None, "Static batch size of the signatures; unset for any.")
    flags.DEFINE_string("images", None, ".npy uint8 images, or .npz with images (and labels).")
    flags.DEFINE_integer("num_calibration", 100, "Images that calibrate --quantize=int8 or full_int8.")
    flags.DEFINE_string("labels", None, "Text file of class names, one per line.")
    flags.DEFINE_integer("top_k", 5, "Best classes returned.")
    flags.DEFINE_enum("input_range", "[-1, 1]", list(vm.INPUT_RANGES), "The model's input normalisation.")
    flags.DEFINE_float("max_abs_diff", None, "Override the probability tolerance.")
    flags.DEFINE_float("min_top1_agreement", None, "Override the top-1 agreement limit.")


def main(argv):
    del argv
    f = flags.FLAGS
    artifacts.check_output(f.output, f.overwrite)  # Before any loading.
    images, image_labels = load_images(f.images) if f.images else (None, None)
    labels = None
    if f.labels:
        with open(f.labels) as file:
            labels = [line.rstrip("\n") for line in file if line.strip()]
    tolerances = {k: getattr(f, k) for k in ("max_abs_diff", "min_top1_agreement") if getattr(f, k) is not None}
    report = export_vit(
        f.model, f.output, formats=f.formats, quantize=f.quantize, overwrite=f.overwrite,
        batch_size=f.batch_size, labels=labels, top_k=f.top_k, input_range=f.input_range,
        images=images, image_labels=image_labels, num_calibration=f.num_calibration, tolerances=tolerances,
    )
    print(f"Wrote {f.output}: " + ", ".join(
        f"{k} top-1 agreement {report[k]['top1_agreement']:.3f}, max |diff| {report[k]['max_abs_diff']:.2e}"
        for k in FORMATS if k in report
    ))


if __name__ == "__main__":
    _define_flags()
    app.run(main)
