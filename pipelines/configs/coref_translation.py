"""The seed's coreference translator, trained on the 2-core CPU.

Command: python -m pipelines.train_translation --config=coref_translation --workdir=workdir/coref
Expected: pronoun accuracy >= 98% on test and >= 95% on test_heldout (see README).
"""

from .translation import TranslationConfig


def get_config():
    return TranslationConfig()
