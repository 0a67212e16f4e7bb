"""An image classifier as a `tf.Module`: uint8 images in, probabilities and top-k labels out.

Shape legend: B batch, Hi, Wi image height and width, C channels, K classes,
k `top_k`.

`ClassifierModule` wraps any Keras model mapping normalised float images
`(B, Hi, Wi, C)` to logits `(B, K)` (a `keras_tfm.models.VisionTransformer`,
or the functional fine-tuning models of `pipelines/`) and puts the
preprocessing in the graph:

| function          | in                                       | out |
|-------------------|------------------------------------------|-----|
| `classify`        | `images` uint8 `(B, Hi, Wi, C)`          | `probabilities` float32 `(B, K)`, `top_k_indices` int32 `(B, k)`, `top_k_probabilities` `(B, k)`, `top_k_labels` string `(B, k)` |
| `classify_any_size` | `images` uint8 `(B, None, None, C)`    | as `classify`, after checking the size (SavedModel `serving_default`) |
| `classify_pixels` | `images` float32 `(B, Hi, Wi, C)` in [0, 255] | as `classify` (for full-integer TFLite: the converter turns this input into uint8 with scale 1 and zero point 0, so it takes raw pixels) |

Preprocessing: pixels `p` become `p / 127.5 - 1` (`input_range="[-1, 1]"`,
what the ViT checkpoints and `pipelines/vision.py` use) or `p / 255`
(`input_range="[0, 1]"`). Images must have the model's size: the SavedModel
fails with "`images` must be HixWi" otherwise. TFLite signatures have the
size in their static input shape, but LiteRT's signature runner resizes
inputs without complaint (and the converter folds away any in-graph shape
check), so a raw interpreter would classify a 20x20 image as 2x2 patches:
`export.litert_client.LiteRTImageClassifier` checks size and dtype first.
"""

import tensorflow as tf

from .tflite_utils import named_function

INPUT_RANGES = {"[-1, 1]": (2.0 / 255.0, -1.0), "[0, 1]": (1.0 / 255.0, 0.0)}


def image_shape(model):
    """`(Hi, Wi, C)` of a Keras image model's input."""
    shape = getattr(model, "image_size", None)
    if shape is not None:
        return tuple(shape) + (model.num_channels,)
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(
            "`model` must take images of a static shape (B, Hi, Wi, C). "
            f"Received: model.input_shape={model.input_shape}"
        )
    return shape


class ClassifierModule(tf.Module):
    """A Keras image classifier with in-graph preprocessing and top-k labels.

    Args:
        model: a built Keras model, images `(B, Hi, Wi, C)` -> logits `(B, K)`.
        labels: K class names, or None for "0".."K-1".
        top_k: k, the number of best classes returned.
        input_range: "[-1, 1]" or "[0, 1]", what the model was trained on.
        batch_size: static batch size of every signature, or None for any.
    """

    def __init__(self, model, labels=None, top_k=5, input_range="[-1, 1]", batch_size=None):
        super().__init__(name="classifier")
        if input_range not in INPUT_RANGES:
            raise ValueError(
                f"`input_range` must be one of {list(INPUT_RANGES)}. Received: input_range={input_range!r}"
            )
        self.image_shape = image_shape(model)
        num_classes = int(model.compute_output_shape((1,) + self.image_shape)[-1])
        labels = [str(i) for i in range(num_classes)] if labels is None else [str(x) for x in labels]
        if len(labels) != num_classes:
            raise ValueError(
                f"`labels` must name the model's {num_classes} classes. Received: {len(labels)} labels"
            )
        if not isinstance(top_k, int) or not 1 <= top_k <= num_classes:
            raise ValueError(f"`top_k` must be an integer in [1, {num_classes}]. Received: top_k={top_k!r}")
        self.model = model
        # A Keras model on a tf.Module is not tracked: list its variables.
        self.weights = [v.value for v in model.variables]
        self.labels = list(labels)
        self._labels = tf.constant(self.labels)
        self.top_k = top_k
        self.input_range = input_range
        self.batch_size = batch_size
        h, w, c = self.image_shape
        self.classify = named_function(
            self._classify, "classify", [tf.TensorSpec([batch_size, h, w, c], tf.uint8, name="images")]
        )
        self.classify_pixels = named_function(
            self._classify_pixels, "classify_pixels",
            [tf.TensorSpec([batch_size, h, w, c], tf.float32, name="images")],
        )
        self.classify_any_size = named_function(
            self._classify_any_size, "classify_any_size",
            [tf.TensorSpec([batch_size, None, None, c], tf.uint8, name="images")],
        )

    def _outputs(self, pixels):
        """Float pixels `(B, Hi, Wi, C)` in [0, 255] -> the output dict."""
        scale, offset = INPUT_RANGES[self.input_range]
        logits = self.model(pixels * scale + offset, training=False)  # (B, K)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        best, indices = tf.math.top_k(probabilities, self.top_k)  # (B, k)
        return {
            "probabilities": probabilities,
            "top_k_indices": indices,
            "top_k_probabilities": best,
            "top_k_labels": tf.gather(self._labels, indices),
        }

    def _classify(self, images):
        return self._outputs(tf.cast(images, tf.float32))

    def _classify_pixels(self, images):
        return self._outputs(images)

    def _classify_any_size(self, images):
        h, w, c = self.image_shape
        check = tf.debugging.assert_equal(
            tf.shape(images)[1:3], tf.constant([h, w]),
            message=f"`images` must be {h}x{w}x{c} uint8 (the model's input size); resize them first.",
        )
        with tf.control_dependencies([check]):
            images = tf.ensure_shape(tf.identity(images), [self.batch_size, h, w, c])
        return self._classify(images)

    def saved_model_signatures(self):
        """`serving_default` checks the image size; `classify` has it static."""
        return {
            "serving_default": self.classify_any_size.get_concrete_function(),
            "classify": self.classify.get_concrete_function(),
        }
