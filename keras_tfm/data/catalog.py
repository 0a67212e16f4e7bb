"""tfds datasets by name: translation pairs and labelled images.

    pairs = load_translation_dataset("ted_hrlr_translate/pt_to_en", "train")
    images = load_image_dataset("cifar10", "train", data_dir="/data/tfds")

`coref_translation` and `bible_en_fr` build offline (see their modules). The
other names are tfds catalog datasets: they need a network to download, or a
`data_dir` where they were prepared before (`download=False` then never
touches the network). Tests use `tfds.testing.mock_data`. A name outside the
tables below raises a `ValueError` that lists the ones available.
"""

import tensorflow as tf
import tensorflow_datasets as tfds

# Registers the offline builders with tfds.
from keras_tfm.data import bible_en_fr  # noqa: F401
from keras_tfm.data import coref_translation  # noqa: F401

# name -> (source feature, target feature).
TRANSLATION_DATASETS = {
    "coref_translation": ("en", "fr"),
    "coref_translation/tiny": ("en", "fr"),
    "bible_en_fr": ("en", "fr"),
    "bible_en_fr/tiny": ("en", "fr"),
    "ted_hrlr_translate/pt_to_en": ("pt", "en"),
    "ted_hrlr_translate/ru_to_en": ("ru", "en"),
    "ted_hrlr_translate/es_to_pt": ("es", "pt"),
    "wmt14_translate/de-en": ("de", "en"),
    "wmt14_translate/fr-en": ("fr", "en"),
    "wmt16_translate/de-en": ("de", "en"),
    "wmt19_translate/de-en": ("de", "en"),
}

# name -> (image feature, label feature).
IMAGE_DATASETS = {
    "mnist": ("image", "label"),
    "fashion_mnist": ("image", "label"),
    "cifar10": ("image", "label"),
    "cifar100": ("image", "label"),
    "imagenet2012": ("image", "label"),
    "imagenette": ("image", "label"),
    "oxford_flowers102": ("image", "label"),
    "oxford_iiit_pet": ("image", "label"),
}


def available_datasets(kind=None):
    """Sorted names of the datasets this module loads.

    Args:
        kind: "translation", "image", or None for both.
    """
    tables = {"translation": TRANSLATION_DATASETS, "image": IMAGE_DATASETS}
    if kind is not None and kind not in tables:
        raise ValueError(
            "`kind` must be 'translation', 'image' or None. "
            f"Received: kind={kind!r}"
        )
    names = []
    for table_kind, table in tables.items():
        if kind in (None, table_kind):
            names.extend(table)
    return sorted(names)


def _check_name(name, table, kind):
    if name not in table:
        raise ValueError(
            f"`name` must be one of the available {kind} datasets: "
            f"{', '.join(sorted(table))}. Received: name={name!r}"
        )


def _load_pairs(name, split, first_key, second_key, data_dir, download, shuffle_files):
    """`tfds.load` then `(example[first_key], example[second_key])` pairs."""
    ds = tfds.load(name, split=split, data_dir=data_dir, download=download, shuffle_files=shuffle_files)
    return ds.map(lambda ex: (ex[first_key], ex[second_key]), num_parallel_calls=tf.data.AUTOTUNE)


def load_translation_dataset(
    name,
    split,
    data_dir=None,
    download=True,
    reverse=False,
    shuffle_files=False,
):
    """Loads a translation corpus as `(source, target)` string pairs.

    Args:
        name: a key of `TRANSLATION_DATASETS`, e.g.
            "ted_hrlr_translate/pt_to_en" or "coref_translation".
        split: a tfds split, e.g. "train", "test_heldout", "train[:10%]".
        data_dir: tfds data folder (default: `~/tensorflow_datasets`).
        download: let tfds build or download the data when missing.
        reverse: swap the direction (target -> source).
        shuffle_files: shuffle the input files (large corpora).

    Returns:
        A `tf.data.Dataset` of `(source, target)` scalar strings.
    """
    _check_name(name, TRANSLATION_DATASETS, "translation")
    source_key, target_key = TRANSLATION_DATASETS[name]
    if reverse:
        source_key, target_key = target_key, source_key
    return _load_pairs(name, split, source_key, target_key, data_dir, download, shuffle_files)


def load_image_dataset(
    name, split, data_dir=None, download=True, shuffle_files=False
):
    """Loads labelled images as `(image, label)` pairs.

    Args:
        name: a key of `IMAGE_DATASETS`, e.g. "cifar10".
        split: a tfds split, e.g. "train", "test[:1000]".
        data_dir: tfds data folder (default: `~/tensorflow_datasets`).
        download: let tfds download and prepare the data when missing.
        shuffle_files: shuffle the input files.

    Returns:
        A `tf.data.Dataset` of `(image uint8 (H, W, C), label int64)`.
    """
    _check_name(name, IMAGE_DATASETS, "image")
    image_key, label_key = IMAGE_DATASETS[name]
    return _load_pairs(name, split, image_key, label_key, data_dir, download, shuffle_files)
