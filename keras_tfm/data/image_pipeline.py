"""tf.data input pipeline for image classification.

Shape legend: B batch, H height, W width, C channels, K classes.

    images, labels = load_fashion_mnist("train")
    ds = make_image_dataset((images, labels), batch_size=128, image_size=32,
                            channels=3, num_classes=10, training=True,
                            augment=("randaugment", "mixup"), seed=0)
    # ds yields (images float32 (B, 32, 32, 3), labels float32 (B, 10))

Steps: shuffle (training, seeded), scale to [0, 1] (uint8 input is divided
by 255; float input is taken as already in [0, 1]), add a channel axis to
(H, W) images, grey -> RGB when `channels=3`, resize (bilinear), batch,
augment (training only, in this order, each a Keras core layer):
"randaugment" (`keras.layers.RandAugment` on values in [0, 1]), "mixup"
(`keras.layers.MixUp`), "cutmix" (`keras.layers.CutMix`); then normalise
with `mean`/`std`, prefetch.

Labels stay int64 `(B,)`, unless "mixup" or "cutmix" is asked for or
`one_hot=True`: then they are float32 one-hot `(B, K)` (mixed labels need
it). With `drop_remainder=True` (the default when training) and
`image_size` set, every shape is static.
"""

import keras
import numpy as np
import tensorflow as tf

_AUGMENTATIONS = ("randaugment", "mixup", "cutmix")


def _as_dataset(source):
    """`(images, labels)` arrays, or a dataset of pairs or tfds dicts."""
    if isinstance(source, tf.data.Dataset):
        if isinstance(source.element_spec, dict):
            return source.map(lambda ex: (ex["image"], ex["label"]))
        return source
    if not (isinstance(source, (tuple, list)) and len(source) == 2):
        raise ValueError(
            "`source` must be an (images, labels) pair of arrays or a "
            f"tf.data.Dataset. Received: source={type(source).__name__}"
        )
    images, labels = source
    if len(images) != len(labels):
        raise ValueError(
            "`source` images and labels must have the same length. Received: "
            f"{len(images)} images and {len(labels)} labels"
        )
    return tf.data.Dataset.from_tensor_slices(
        (np.asarray(images), np.asarray(labels))
    )


def _normalise_size(image_size):
    if image_size is None:
        return None
    size = image_size
    if isinstance(size, int):
        size = (size, size)
    if not (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(d, int) and d > 0 for d in size)
    ):
        raise ValueError(
            "`image_size` must be a positive integer or (height, width). "
            f"Received: image_size={image_size!r}"
        )
    return tuple(size)


def make_image_dataset(
    source,
    batch_size,
    image_size=None,
    channels=None,
    num_classes=None,
    training=False,
    augment=(),
    mean=None,
    std=None,
    one_hot=False,
    shuffle_buffer=10_000,
    seed=None,
    repeat=False,
    drop_remainder=None,
):
    """Builds a batched, augmented image dataset.

    Args:
        source: `(images, labels)` NumPy arrays (uint8 `(N, H, W)` or
            `(N, H, W, C)`), or a `tf.data.Dataset` of `(image, label)` or of
            tfds dicts with "image" and "label".
        batch_size: B.
        image_size: output (H, W) or one int for square; None keeps the size.
        channels: 1 or 3 to force the channel count (grey -> RGB by
            repetition; RGB -> grey by luminance); None keeps it.
        num_classes: K, needed for one-hot labels.
        training: shuffle and augment.
        augment: names among "randaugment", "mixup", "cutmix".
        mean, std: per-channel statistics for `(x - mean) / std` after
            augmentation; None skips normalisation.
        one_hot: one-hot labels even without MixUp/CutMix.
        shuffle_buffer: shuffle buffer when training.
        seed: seeds the shuffle and the augmentation layers.
        repeat: repeat forever.
        drop_remainder: drop the last partial batch; defaults to `training`.

    Returns:
        A `tf.data.Dataset` of `(images float32 (B, H, W, C), labels)`.
    """
    image_size = _normalise_size(image_size)
    augment = tuple(augment)
    unknown = [a for a in augment if a not in _AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"`augment` must only hold names among {list(_AUGMENTATIONS)}. "
            f"Received: augment={augment}"
        )
    if channels not in (None, 1, 3):
        raise ValueError(
            f"`channels` must be None, 1 or 3. Received: channels={channels!r}"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            "`batch_size` must be a positive integer. "
            f"Received: batch_size={batch_size!r}"
        )
    mixing = {"mixup", "cutmix"} & set(augment)
    one_hot = one_hot or bool(mixing)
    if one_hot and not (isinstance(num_classes, int) and num_classes > 1):
        raise ValueError(
            "`num_classes` must be an integer > 1 for one-hot labels (MixUp "
            f"and CutMix need them). Received: num_classes={num_classes!r}"
        )
    if drop_remainder is None:
        drop_remainder = training

    def prepare(image, label):
        if image.dtype == tf.uint8:
            image = tf.cast(image, tf.float32) / 255.0
        else:
            image = tf.cast(image, tf.float32)
        if image.shape.rank == 2:
            image = image[..., tf.newaxis]  # (H, W, 1)
        if channels == 3 and image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)  # (H, W, 3)
        elif channels == 1 and image.shape[-1] == 3:
            image = tf.image.rgb_to_grayscale(image)  # (H, W, 1)
        if image_size is not None:
            image = tf.image.resize(image, image_size)
        label = tf.cast(label, tf.int64)
        if one_hot:
            label = tf.one_hot(label, num_classes, dtype=tf.float32)
        return image, label

    ds = _as_dataset(source)
    if training and shuffle_buffer:
        ds = ds.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        ds = ds.repeat()
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    if training and augment:
        layers = []
        for name in augment:
            if name == "randaugment":
                layers.append(
                    keras.layers.RandAugment(value_range=(0, 1), seed=seed)
                )
            elif name == "mixup":
                layers.append(keras.layers.MixUp(seed=seed))
            else:
                layers.append(keras.layers.CutMix(seed=seed))

        def augment_batch(images, labels):
            for layer in layers:
                if isinstance(layer, keras.layers.RandAugment):
                    images = layer(images, training=True)
                else:
                    out = layer({"images": images, "labels": labels},
                                training=True)
                    images, labels = out["images"], out["labels"]
            return images, labels

        ds = ds.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)

    if mean is not None or std is not None:
        mean_t = tf.constant(0.0 if mean is None else mean, tf.float32)
        std_t = tf.constant(1.0 if std is None else std, tf.float32)
        ds = ds.map(lambda x, y: ((x - mean_t) / std_t, y))
    return ds.prefetch(tf.data.AUTOTUNE)
