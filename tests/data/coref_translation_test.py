"""Tests for the coreference grammar and the `coref_translation` builder."""

import socket

import pytest
import tensorflow_datasets as tfds

from keras_tfm.data import coref
from keras_tfm.data.coref_translation import CorefTranslation
from keras_tfm.data.coref_translation import CorefTranslationConfig

tfds.disable_progress_bar()

FEMININE_ARTICLES = ("la ", "La ")
MASCULINE_ARTICLES = ("le ", "Le ")


@pytest.fixture(scope="module")
def splits():
    return coref.generate_coref_pairs(seed=0)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the build tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _read(builder, split):
    return [
        {k: v.decode() if isinstance(v, bytes) else int(v)
         for k, v in ex.items()}
        for ex in tfds.as_numpy(builder.as_dataset(split=split))
    ]


def test_same_seed_same_pairs_other_seed_other_pairs():
    first = coref.generate_coref_pairs(seed=3, sizes={"train": 300})
    second = coref.generate_coref_pairs(seed=3, sizes={"train": 300})
    other = coref.generate_coref_pairs(seed=4, sizes={"train": 300})
    assert first == second
    assert first["train"] != other["train"]


def test_split_sizes_and_balance(splits):
    assert {k: len(v) for k, v in splits.items()} == coref.DEFAULT_SIZES
    for examples in splits.values():
        subjects = sum(ex.referent_role == "subject" for ex in examples)
        assert abs(2 * subjects - len(examples)) <= 2


def test_seed_sentences_are_in_train(splits):
    train = {(ex.en, ex.fr) for ex in splits["train"]}
    for pair in coref.SEED_PAIRS:
        assert pair in train
    assert coref.SEED_PAIRS == (
        ("The animal didn't cross the street because it was too tired",
         "L'animal n'a pas traversé la rue parce qu'il était trop fatigué"),
        ("The animal didn't cross the street because it was too wide",
         "L'animal n'a pas traversé la rue parce qu'elle était trop large"),
    )


def test_pronoun_and_adjective_agree_with_the_referent(splits):
    subject_fr = {en: (fr, g) for en, fr, g in coref.SUBJECTS}
    object_fr = {en: (fr, g) for en, fr, g, _ in coref.OBJECTS}
    tables = dict(coref.SUBJECT_ADJECTIVES, **coref.OBJECT_ADJECTIVES)
    for examples in splits.values():
        for ex in examples:
            fr_words = ex.fr.split()
            noun, gender = {**subject_fr, **object_fr}[ex.referent]
            feminine = ex.gender == "feminine"
            assert feminine == (gender == "f")
            # The pronoun.
            expected = "qu'elle" if feminine else "qu'il"
            assert fr_words[ex.fr_pronoun_position] == expected, ex
            assert coref.french_pronoun(ex.fr) == ("elle" if feminine else "il")
            # The adjective, last word, in the referent's gender.
            masculine_form, feminine_form = tables[ex.adjective]
            assert fr_words[-1] == ex.fr_adjective
            assert ex.fr_adjective == (
                feminine_form if feminine else masculine_form
            ), ex
            if masculine_form != feminine_form:
                assert feminine_form.endswith("e") and feminine == (
                    ex.fr_adjective == feminine_form
                )
            # The referent's French noun is in the sentence with its article.
            assert noun.split()[-1] in ex.fr.lower()
            article = "l'" if "'" in noun else noun.split()[0]
            assert article in ("la", "le", "l'")
            if article != "l'":
                assert (article == "la") == feminine


def test_positions_point_at_the_words(splits):
    for ex in splits["test"] + splits["test_heldout"]:
        en_words = ex.en.split()
        assert en_words[ex.pronoun_position] == "it"
        assert en_words[ex.referent_position] == ex.referent
        assert en_words[-1] == ex.adjective


def test_heldout_combinations_never_in_train(splits):
    def combos(split):
        return {(ex.referent, ex.adjective) for ex in splits[split]}

    assert combos("test_heldout") <= coref.HELDOUT_COMBINATIONS
    for split in ("train", "validation", "test"):
        assert not combos(split) & coref.HELDOUT_COMBINATIONS
    sentences = [{ex.en for ex in examples} for examples in splits.values()]
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            assert not sentences[i] & sentences[j]


def test_every_adjective_form_occurs_in_train(splits):
    forms = {ex.fr_adjective for ex in splits["train"]}
    for masculine, feminine in list(coref.SUBJECT_ADJECTIVES.values()) + list(
        coref.OBJECT_ADJECTIVES.values()
    ):
        assert masculine in forms and feminine in forms


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="`sizes` keys must be among"):
        coref.generate_coref_pairs(sizes={"dev": 3})
    with pytest.raises(ValueError, match="non-negative integers"):
        coref.generate_coref_pairs(sizes={"train": -1})
    with pytest.raises(ValueError, match="more subject-referent sentences"):
        coref.generate_coref_pairs(sizes={"test_heldout": 10**6})
    with pytest.raises(ValueError, match="at least 2 to hold the seed"):
        coref.generate_coref_pairs(sizes={"train": 1})


def test_tfds_builds_offline_and_identically(tmp_path, no_network):
    builds = []
    for name in ("a", "b"):
        builder = CorefTranslation(config="tiny", data_dir=str(tmp_path / name))
        builder.download_and_prepare()
        builds.append({s: _read(builder, s) for s in coref.SPLITS})
    assert builds[0] == builds[1]
    first = builds[0]
    assert {s: len(v) for s, v in first.items()} == {
        "train": 200, "validation": 20, "test": 20, "test_heldout": 20,
    }
    train = {(ex["en"], ex["fr"]) for ex in first["train"]}
    assert set(coref.SEED_PAIRS) <= train
    assert set(first["test"][0]) == {
        "en", "fr", "referent", "referent_role", "referent_position",
        "pronoun_position", "fr_pronoun_position", "gender", "adjective",
        "fr_adjective",
    }
    # The tfds examples are the grammar's.
    expected = coref.generate_coref_pairs(
        seed=0, sizes=CorefTranslation.builder_configs["tiny"].sizes()
    )
    assert sorted(ex["en"] for ex in first["test_heldout"]) == sorted(
        ex.en for ex in expected["test_heldout"]
    )


def test_tfds_default_config(tmp_path, no_network):
    builder = CorefTranslation(data_dir=str(tmp_path))
    builder.download_and_prepare()
    sizes = {s: builder.info.splits[s].num_examples for s in coref.SPLITS}
    assert sizes == coref.DEFAULT_SIZES
    ds = builder.as_dataset(split="train").map(lambda ex: ex["fr"])
    (train_fr,) = tfds.as_numpy(ds.batch(10_000))
    assert {fr for _, fr in coref.SEED_PAIRS} <= {
        fr.decode() for fr in train_fr
    }


def test_tfds_config_with_another_seed(tmp_path, no_network):
    config = CorefTranslationConfig(
        name="seed7", seed=7, num_train=50, num_validation=4, num_test=4,
        num_test_heldout=4,
    )
    builder = CorefTranslation(config=config, data_dir=str(tmp_path))
    builder.download_and_prepare()
    train = _read(builder, "train")
    assert len(train) == 50
    expected = coref.generate_coref_pairs(seed=7, sizes=config.sizes())
    assert sorted(ex["en"] for ex in train) == sorted(
        ex.en for ex in expected["train"]
    )
    label = builder.info.features["gender"]
    assert label.names == ["masculine", "feminine"]
