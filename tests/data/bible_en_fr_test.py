"""Tests for the Bible verse pairs and the `bible_en_fr` builder."""


import pytest
import tensorflow_datasets as tfds

from keras_tfm.data import bible
from keras_tfm.data.bible_en_fr import BibleEnFr
from keras_tfm.data.bible_en_fr import BibleEnFrConfig

tfds.disable_progress_bar()



def test_count_query_finds_the_whole_bible():
    assert bible.count_aligned_verses() >= 30_000


def test_cleaning_removes_markers():
    assert bible.clean_english("the [houses] of God`s  people ") == (
        "the houses of God's people"
    )
    assert bible.clean_french("(7:26) L'Éternel dit [Ne détruis pas.]") == (
        "L'Éternel dit Ne détruis pas."
    )
    heading = "(3:1) Psaume de David. A l'occasion. (3:2) O Éternel, vois!"
    assert bible.clean_french(heading) == "O Éternel, vois!"


def test_pairs_are_clean_and_aligned():
    pairs = list(bible.bible_pairs())
    assert len(pairs) >= 30_000
    assert len({p["reference"] for p in pairs}) == len(pairs)
    for pair in pairs:
        for side in (pair["en"], pair["fr"]):
            assert side and side == side.strip()
            assert "[" not in side and "`" not in side
        assert not bible._FRENCH_VERSE_NUMBER.search(pair["fr"])
    genesis = pairs[0]
    assert genesis["reference"] == "1:1:1"
    assert genesis["en"].startswith("In the beginning God created")
    assert genesis["fr"].startswith("Au commencement, Dieu créa")


def test_plain_python_splits_share_no_verse():
    splits = bible.bible_splits()
    assert sum(len(v) for v in splits.values()) >= 30_000
    references = {k: {p["reference"] for p in v} for k, v in splits.items()}
    assert not references["train"] & references["test"]
    assert {p["book"] for p in splits["test"]} == set(bible.TEST_BOOKS)


def test_tfds_build_splits_by_book(tmp_path):
    builder = BibleEnFr(data_dir=str(tmp_path))
    builder.download_and_prepare()
    splits = builder.info.splits
    assert sum(splits[s].num_examples for s in splits) >= 30_000
    references = {}
    for split in ("train", "validation", "test"):
        ds = builder.as_dataset(split=split).map(
            lambda ex: (ex["reference"], ex["book"])
        )
        ((refs, books),) = tfds.as_numpy(ds.batch(40_000))
        references[split] = set(refs.tolist())
        assert len(references[split]) == len(refs)
        assert {bible.split_of_book(int(b)) for b in books} == {split}
    assert not references["train"] & references["test"]
    assert not references["train"] & references["validation"]
    assert not references["validation"] & references["test"]


def test_tiny_config_and_supervised_keys(tmp_path):
    builder = BibleEnFr(config="tiny", data_dir=str(tmp_path))
    builder.download_and_prepare()
    en, fr = next(iter(builder.as_dataset(split="test", as_supervised=True)))
    assert en.dtype == fr.dtype == "string"
    assert builder.info.splits["validation"].num_examples == 48  # Jonah.


def test_bad_books_raise():
    with pytest.raises(ValueError, match="book numbers from 1 to 66"):
        list(bible.bible_pairs(books=(67,)))
    config = BibleEnFrConfig(name="bad", train_books=(1, 41))
    with pytest.raises(ValueError, match="A book must be in one split only"):
        config.books()
    with pytest.raises(ValueError, match="`db_path` must be an existing"):
        bible.count_aligned_verses(db_path="/nonexistent/bible.db")
