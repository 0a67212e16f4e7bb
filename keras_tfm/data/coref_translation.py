"""`coref_translation`: the seed's coreference corpus as a tfds dataset.

Builds offline from the grammar of `keras_tfm.data.coref` (nothing is
downloaded), deterministically for the config's seed:

    import keras_tfm.data  # registers the builder
    ds = tfds.load("coref_translation", split="train")           # 6000 pairs
    ds = tfds.load("coref_translation/tiny", split="test_heldout")  # 20 pairs

Splits: train, validation, test, and test_heldout (the (noun, adjective)
combinations of `coref.HELDOUT_COMBINATIONS`, never in the other splits).
The seed's two sentences are deliberately in train (see `coref`). Another
seed or other sizes: `tfds.builder("coref_translation",
config=CorefTranslationConfig(name="seed1", seed=1))`.

Features (positions index `text.split()`):
    en, fr: the English sentence and its French translation.
    referent: the English noun "it" refers to.
    referent_role: ClassLabel subject / object.
    referent_position, pronoun_position: int32 word indices in `en`.
    fr_pronoun_position: int32 index of "qu'il"/"qu'elle" in `fr`.
    gender: ClassLabel masculine / feminine (of the referent's French noun).
    adjective, fr_adjective: the English adjective and its agreed French form.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from keras_tfm.data import coref


@dataclasses.dataclass(eq=False)
class CorefTranslationConfig(tfds.core.BuilderConfig):
    """A seed and split sizes for `CorefTranslation`.

    Attributes:
        seed: orders the grammar's sentences before the splits are cut.
        num_train, num_validation, num_test, num_test_heldout: split sizes.
    """

    seed: int = 0
    num_train: int = coref.DEFAULT_SIZES["train"]
    num_validation: int = coref.DEFAULT_SIZES["validation"]
    num_test: int = coref.DEFAULT_SIZES["test"]
    num_test_heldout: int = coref.DEFAULT_SIZES["test_heldout"]

    def sizes(self):
        return {
            "train": self.num_train,
            "validation": self.num_validation,
            "test": self.num_test,
            "test_heldout": self.num_test_heldout,
        }


class CorefTranslation(tfds.core.GeneratorBasedBuilder):
    """English->French pairs whose pronoun only the adjective resolves."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        CorefTranslationConfig(
            name="default",
            description="6000 train, 500 validation/test/test_heldout pairs.",
        ),
        CorefTranslationConfig(
            name="tiny",
            description="For tests: 200 train, 20 in each other split.",
            num_train=200,
            num_validation=20,
            num_test=20,
            num_test_heldout=20,
        ),
    ]

    def _info(self):
        features = tfds.features.FeaturesDict({
            "en": tfds.features.Text(),
            "fr": tfds.features.Text(),
            "referent": tfds.features.Text(),
            "referent_role": tfds.features.ClassLabel(
                names=["subject", "object"]
            ),
            "referent_position": np.int32,
            "pronoun_position": np.int32,
            "fr_pronoun_position": np.int32,
            "gender": tfds.features.ClassLabel(
                names=["masculine", "feminine"]
            ),
            "adjective": tfds.features.Text(),
            "fr_adjective": tfds.features.Text(),
        })
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=features,
            supervised_keys=("en", "fr"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        splits = coref.generate_coref_pairs(
            seed=self.builder_config.seed, sizes=self.builder_config.sizes()
        )
        return {
            name: self._generate_examples(name, examples)
            for name, examples in splits.items()
        }

    def _generate_examples(self, split, examples):
        for index, example in enumerate(examples):
            yield f"{split}-{index:06d}", example.as_dict()
