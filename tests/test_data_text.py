"""The raw-text loaders: sizes, cleaning, splits and labels, on the shipped files (no TensorFlow)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from conftest import write_study
from hpsearch.data import load_dataset
from hpsearch.data.text import UNKNOWN_WORD, load_gop_tweets, load_imdb, load_text_corpus
from hpsearch.errors import UserError
from hpsearch.study import load_study

GOP_CLASS_COUNTS = {"Negative": 8493, "Neutral": 3142, "Positive": 2236}


@pytest.fixture(scope="module")
def imdb():
    return load_imdb()


@pytest.fixture(scope="module")
def gop():
    return load_gop_tweets()


@pytest.fixture(scope="module")
def corpus():
    return load_text_corpus()


def assert_raw_text(X) -> None:
    assert X.ndim == 1 and X.dtype == object
    assert all(type(text) is str for text in X)


def assert_string_labels(y) -> None:
    assert y.ndim == 1
    assert all(type(label) is str for label in y)


def test_importing_the_module_loads_neither_keras_nor_pandas():
    code = (
        "import sys, hpsearch.data.text;"
        "heavy = {'tensorflow', 'keras', 'pandas', 'sklearn'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- IMDB ------------------------------------------------------------------------------


def test_imdb_is_raw_balanced_text(imdb):
    for X, y in ((imdb.X, imdb.y), (imdb.X_test, imdb.y_test)):
        assert_raw_text(X)
        assert_string_labels(y)
        assert Counter(y) == {"positive": 3125, "negative": 3125}
    assert imdb.kind == "plain"
    assert imdb.facts == {"vocab_size": 10000, "sequence_length": 200}
    assert imdb.X[0].startswith("Bromwell High is a cartoon comedy.")


@pytest.mark.parametrize("n_rows", [1, 2, 101, 1000])
def test_imdb_prefixes_are_balanced(n_rows):
    dataset = load_imdb(n_train=n_rows, n_test=n_rows)
    for y in (dataset.y, dataset.y_test):
        counts = Counter(y)
        assert len(y) == n_rows
        assert abs(counts["positive"] - counts["negative"]) <= 1


def test_imdb_html_line_breaks_are_gone(imdb):
    for text in (*imdb.X, *imdb.X_test):
        assert not re.search(r"<br\s*/?>", text, re.IGNORECASE)


def test_imdb_in_keras_form_is_declared_token_ids_of_the_training_words():
    text = load_imdb(n_train=40, n_test=20, maxlen=12, num_words=50)
    tokens = load_imdb(n_train=40, n_test=20, maxlen=12, num_words=50, form="tokens")
    assert (text.inputs, tokens.inputs) == ("text", "tokens")
    assert tokens.X.dtype == np.int32 and tokens.X.shape == (40, 12)
    assert tokens.X_test.shape == (20, 12)
    assert (tokens.X[:, 0] == 1).all()  # the start id, as keras.datasets.imdb
    assert tokens.X.max() < 50 and tokens.X_test.max() < 50 and tokens.X.min() >= 0
    # Ids rank the training words by frequency: 3 is the most frequent ("the").
    words, counts = np.unique(tokens.X[tokens.X >= 3], return_counts=True)
    assert words[counts.argmax()] == 3
    assert list(tokens.y) == list(text.y)
    with pytest.raises(ValueError, match="form must be"):
        load_imdb(n_train=2, n_test=2, form="ids")


def test_imdb_maxlen_keeps_the_first_words(imdb):
    lengths = [len(text.split()) for text in imdb.X]
    assert max(lengths) == 200  # long reviews (up to 2,470 words) are cut
    short = load_imdb(n_train=20, n_test=20, maxlen=7, num_words=500)
    assert all(len(text.split()) <= 7 for text in (*short.X, *short.X_test))
    assert short.X[0] == "Bromwell High is a cartoon comedy. It"
    assert short.facts == {"vocab_size": 500, "sequence_length": 7}


def test_imdb_can_keep_the_last_words_where_a_review_gives_its_verdict():
    first = load_imdb(n_train=20, n_test=20, maxlen=7, num_words=500)
    last = load_imdb(n_train=20, n_test=20, maxlen=7, num_words=500, keep="last")
    whole = load_imdb(n_train=20, n_test=20, maxlen=100_000)
    for kept, review in zip(last.X, whole.X, strict=True):
        assert kept.split() == review.split()[-7:]
    assert last.X[0] != first.X[0] and list(last.y) == list(first.y)
    with pytest.raises(ValueError, match="keep must be"):
        load_imdb(n_train=2, n_test=2, keep="middle")


# --- GOP debate tweets -----------------------------------------------------------------


def test_gop_keeps_every_tweet_and_class():
    whole = load_gop_tweets(test_size=0)
    assert whole.X_test is None
    assert len(whole.X) == 13871
    assert Counter(whole.y) == GOP_CLASS_COUNTS


def test_gop_test_set_is_stratified(gop):
    assert_raw_text(gop.X)
    assert_raw_text(gop.X_test)
    assert_string_labels(gop.y)
    assert (len(gop.y), len(gop.y_test)) == (11096, 2775)
    test_counts = Counter(gop.y_test)
    for label, total in GOP_CLASS_COUNTS.items():
        assert abs(test_counts[label] - 0.2 * total) <= 1
    assert gop.facts == {"vocab_size": 10000, "sequence_length": 40}
    assert gop.kind == "plain"


def test_gop_tweets_are_one_line_without_retweet_marker(gop):
    texts = [*gop.X, *gop.X_test]
    assert not any("\n" in text or "\r" in text for text in texts)
    assert not any(re.match(r"RT\b", text) for text in texts)  # 7,710 tweets started so
    assert sum(" RT " in text for text in texts) > 100  # a quoted retweet mid-text stays
    assert "RT @NancyLeeGrahn" not in texts
    assert any(text.startswith("@NancyLeeGrahn: How did everyone feel") for text in texts)


def test_gop_subset_is_stratified_and_seeded():
    subset = load_gop_tweets(n_samples=1000, test_size=0.25, split_seed=1)
    assert (len(subset.y), len(subset.y_test)) == (750, 250)
    counts = Counter([*subset.y, *subset.y_test])
    for label, total in GOP_CLASS_COUNTS.items():
        assert abs(counts[label] - 1000 * total / 13871) <= 1
    again = load_gop_tweets(n_samples=1000, test_size=0.25, split_seed=1)
    other = load_gop_tweets(n_samples=1000, test_size=0.25, split_seed=2)
    assert list(again.X) == list(subset.X) and list(again.y_test) == list(subset.y_test)
    assert list(other.X) != list(subset.X)


# --- Frankenstein, next word -----------------------------------------------------------


def book_words(n_words: int) -> list[str]:
    """The book's first words, read back from the windows (labels may be <unk>)."""
    windows = [text.split() for text in load_text_corpus(max_words=n_words + 1, test_fraction=0).X]
    return windows[0] + [window[-1] for window in windows[1:]]


def test_corpus_defaults(corpus):
    assert_raw_text(corpus.X)
    assert_raw_text(corpus.X_test)
    assert_string_labels(corpus.y)
    assert (len(corpus.y), len(corpus.y_test)) == (67790, 7528)  # 75,328 words, 90/10
    assert corpus.kind == "language_model"
    assert corpus.facts == {"vocab_size": 2002, "sequence_length": 5}
    assert len(set(corpus.y)) == 2000  # 1,999 words + <unk>
    assert all(len(text.split()) == 5 for text in (*corpus.X, *corpus.X_test))


def test_corpus_has_no_gutenberg_boilerplate(corpus):
    # The book starts with its title and ends "...lost in darkness and distance."; the
    # licence, the BOM, the transcribers' credits and the "End of the Project Gutenberg
    # EBook" line (inside the markers) are all gone.
    assert corpus.X[0] == "frankenstein or the modern prometheus"
    assert corpus.y[0] == "by"
    assert corpus.X_test[-1] == "and lost in darkness and"
    assert corpus.y_test[-1] == "distance"
    for text in (*corpus.X, *corpus.X_test):
        assert "gutenberg" not in text and "ebook" not in text and "judith" not in text
    assert not any("\ufeff" in text for text in corpus.X[:10])


def test_corpus_is_split_in_time_without_overlap():
    words = book_words(1000)
    assert len(words) == 1000
    split = load_text_corpus(max_words=1000, test_fraction=0.1, vocab_size=50)
    # 900 training words give 895 windows (the last one predicts word 899); the test
    # windows are made of words 900.. only.
    assert list(split.X) == [" ".join(words[i : i + 5]) for i in range(895)]
    assert list(split.X_test) == [" ".join(words[i : i + 5]) for i in range(900, 995)]


def test_corpus_labels_are_frequent_training_words():
    vocab_size, min_count = 300, 3
    dataset = load_text_corpus(max_words=5000, vocab_size=vocab_size, min_count=min_count)
    train_words = book_words(5000)[:4500]
    counts = Counter(train_words)
    top = sorted(counts, key=lambda word: (-counts[word], word))[: vocab_size - 1]
    labels = Counter(dataset.y)
    assert set(labels) - {UNKNOWN_WORD} <= set(top)
    assert UNKNOWN_WORD in labels
    assert min(labels.values()) >= min_count
    assert set(dataset.y_test) <= set(labels)
    # Vocabulary words that are the target of fewer than min_count windows were demoted.
    targets = Counter(train_words[5:])
    assert {w for w in top if targets[w] >= min_count} == set(labels) - {UNKNOWN_WORD}
    assert any(targets[w] < min_count for w in top)  # the demotion did happen


@pytest.mark.parametrize("min_count", [1, 3, 10])
def test_corpus_every_class_has_min_count_samples(min_count):
    dataset = load_text_corpus(max_words=8000, stride=3, min_count=min_count)
    assert min(Counter(dataset.y).values()) >= min_count
    assert set(dataset.y_test) <= set(dataset.y)


def test_corpus_unknown_word_is_a_training_class_even_when_the_vocabulary_covers_all():
    # 1,999 vocabulary words cover every training word of a 2,000-word text, but the test
    # part has new words: <unk> takes the rarest vocabulary words to exist in training.
    dataset = load_text_corpus(max_words=2000, vocab_size=2000, min_count=1)
    assert Counter(dataset.y)[UNKNOWN_WORD] >= 1
    assert UNKNOWN_WORD in set(dataset.y_test) <= set(dataset.y)


def test_corpus_tiny_vocabulary():
    dataset = load_text_corpus(max_words=2000, vocab_size=2)
    assert set(dataset.y) == {"the", UNKNOWN_WORD}


def test_corpus_stride_skips_windows():
    every = load_text_corpus(max_words=3000, window=4)
    third = load_text_corpus(max_words=3000, window=4, stride=3)
    assert list(third.X) == list(every.X[::3])
    assert list(third.y) != [] and len(third.X_test) == len(every.X_test[::3])
    assert third.facts["sequence_length"] == 4


def test_corpus_is_deterministic():
    first = load_text_corpus(max_words=4000, vocab_size=100)
    second = load_text_corpus(max_words=4000, vocab_size=100)
    for name in ("X", "y", "X_test", "y_test"):
        assert list(getattr(first, name)) == list(getattr(second, name))


@pytest.mark.parametrize(
    "params",
    [{"window": 50, "max_words": 100}, {"vocab_size": 1}, {"stride": 0}, {"test_fraction": 1.0}],
)
def test_corpus_rejects_impossible_settings(params):
    with pytest.raises(ValueError):
        load_text_corpus(**params)


# --- through the study file ------------------------------------------------------------


@pytest.mark.parametrize(
    "loader, params, facts",
    [
        (
            "imdb",
            "{n_train: 40, n_test: 20, maxlen: 50}",
            {"vocab_size": 10000, "sequence_length": 50},
        ),
        ("gop_tweets", "{n_samples: 300}", {"vocab_size": 10000, "sequence_length": 40}),
        (
            "text_corpus",
            "{max_words: 3000, vocab_size: 200}",
            {"vocab_size": 202, "sequence_length": 5},
        ),
    ],
)
def test_loaded_through_a_study(tmp_path, loader, params, facts):
    study = load_study(
        write_study(
            tmp_path,
            f"""
            name: text-{loader}
            task: classification
            data:
              loader: {loader}
              params: {params}
            model:
              builder: lstm
            """,
        )
    )
    dataset = load_dataset(study)
    for X, y in ((dataset.X, dataset.y), (dataset.X_test, dataset.y_test)):
        assert X.shape == (len(y), 1) and X.dtype == object
        assert isinstance(X[0, 0], str)
    assert dataset.facts == facts


@pytest.mark.parametrize("loader", [load_imdb, load_gop_tweets, load_text_corpus])
def test_missing_files_name_the_folder(tmp_path, loader):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        loader(data_dir=str(tmp_path))


def test_a_study_with_a_wrong_data_dir_is_a_user_error(tmp_path):
    study = load_study(
        write_study(
            tmp_path,
            f"""
            name: text-missing
            task: classification
            data:
              loader: imdb
              params: {{data_dir: "{tmp_path}"}}
            model:
              builder: lstm
            """,
        )
    )
    with pytest.raises(UserError, match="found no file"):
        load_dataset(study)


def test_labels_are_numpy_arrays(imdb, gop, corpus):
    for dataset in (imdb, gop, corpus):
        assert isinstance(dataset.y, np.ndarray) and isinstance(dataset.y_test, np.ndarray)


def test_the_whole_imdb_holds_the_quarter_as_its_rows_of_id_below_3125():
    import pandas as pd

    from hpsearch.data.files import data_file

    full = load_imdb(full=True, maxlen=50)
    assert len(full.y) == len(full.y_test) == 25_000
    assert Counter(full.y) == Counter(full.y_test) == {"positive": 12_500, "negative": 12_500}
    ids = pd.read_csv(data_file("imdb", "imdb_train.csv.gz"), usecols=["id"])["id"].to_numpy()
    quarter = load_imdb(maxlen=50)
    assert list(full.X[ids < 3125]) == list(quarter.X)
    assert list(full.y[ids < 3125]) == list(quarter.y)
