"""Raw-text datasets: IMDB reviews, GOP-debate tweets and a book for next-word prediction.

The text stays text (a 1-D array of ``str``, one per sample): the model starts with a Keras
``TextVectorization`` layer adapted on each fit's training data, so no test or validation
word leaks into the vocabulary. The loaders only clean what would mislead that layer (HTML
line breaks, CSV line breaks, licence boilerplate) and tell the model its sizes in ``facts``.
Heavy modules are imported inside the functions so that importing this one stays cheap.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from hpsearch.data.dataset import Dataset
from hpsearch.data.files import data_file

UNKNOWN_WORD = "<unk>"

_HTML_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_LINE_BREAKS = re.compile(r"[\r\n]+")
_RETWEET_MARKER = re.compile(r"^RT\b\s*")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_GUTENBERG_START = re.compile(r"\*\*\* ?START OF (?:THIS|THE) PROJECT GUTENBERG EBOOK", re.I)
_GUTENBERG_END = re.compile(r"\*\*\* ?END OF (?:THIS|THE) PROJECT GUTENBERG EBOOK", re.I)
# Inside the markers, Gutenberg still adds the transcribers' credits and an "End of ..." line.
_GUTENBERG_CREDITS = re.compile(r"\A\s*Produced by .*?\n\s*\n", re.DOTALL)
_GUTENBERG_TRAILER = re.compile(r"\n\s*End of (?:the )?Project Gutenberg.*\Z", re.I | re.DOTALL)


def load_imdb(
    n_train: int | None = None,
    n_test: int | None = None,
    maxlen: int = 200,
    num_words: int = 10000,
    form: str = "text",
    full: bool = False,
    data_dir: str | None = None,
    keep: str = "first",
) -> Dataset:
    """IMDB movie reviews (the Stanford set, or a balanced quarter of it): review text ->
    sentiment.

    Args:
        n_train: keep the first n training reviews (the file alternates positive and
            negative, so any prefix is balanced); None keeps all (6,250, or 25,000 full).
        n_test: the same for the test reviews.
        maxlen: words kept of each review, and the sequence length the model's
            TextVectorization pads or cuts to (cutting here saves its time).
        num_words: the size of the model's vocabulary (padding and unknown tokens included).
        form: ``text`` (raw reviews: each fit learns its vocabulary) or ``tokens``, the form
            of ``keras.datasets.imdb``: word ids by frequency in the training reviews (0
            padding, 1 start, 2 a word outside the ``num_words`` kept, 3 the most frequent
            word), ``maxlen`` ids per review, padded at the end.
        full: all 25,000 + 25,000 reviews (what ``keras.datasets.imdb`` is built from)
            instead of the quarter (every review with id < 3125), the quick option.
        data_dir: folder holding ``imdb/``; defaults to ``$HPSEARCH_DATA_DIR`` or ``data/``.
        keep: ``first`` (the first ``maxlen`` words) or ``last`` (the last ones, as
            Keras's ``pad_sequences`` keeps by default): a review's verdict is often at its
            end. The model's TextVectorization cuts a longer text to its first ``maxlen``
            words, so a model trained on the last ones wants the last ones at prediction
            too.

    y holds the strings ``negative`` and ``positive``.
    """
    _check_positive(maxlen=maxlen, num_words=num_words)
    if form not in ("text", "tokens"):
        raise ValueError(f"form must be 'text' or 'tokens' (got {form!r})")
    if keep not in ("first", "last"):
        raise ValueError(f"keep must be 'first' or 'last' (got {keep!r})")
    train, test = (
        ("imdb_train.csv.gz", "imdb_test.csv.gz")
        if full
        else ("imdb_train_subset.csv", "imdb_test_subset.csv")
    )
    X, y = _read_imdb(train, n_train, maxlen, keep, data_dir)
    X_test, y_test = _read_imdb(test, n_test, maxlen, keep, data_dir)
    if form == "tokens":
        ids = _word_ids(X, num_words)
        X, X_test = (_token_ids(texts, ids, maxlen) for texts in (X, X_test))
    return Dataset(
        X=X,
        y=y,
        X_test=X_test,
        y_test=y_test,
        facts={"vocab_size": num_words, "sequence_length": maxlen},
        inputs=form,
    )


# Ids as keras.datasets.imdb gives them (its index_from=3).
_PADDING, _START, _OUT_OF_VOCABULARY, _FIRST_WORD = 0, 1, 2, 3


def _word_ids(texts, num_words: int) -> dict[str, int]:
    """The ``num_words - 3`` most frequent training words (ties alphabetical) -> 3, 4, ..."""
    counts = Counter(word for text in texts for word in _WORD.findall(text.lower()))
    ranked = sorted(counts, key=lambda word: (-counts[word], word))
    return {word: _FIRST_WORD + rank for rank, word in enumerate(ranked[: num_words - 3])}


def _token_ids(texts, ids: dict[str, int], maxlen: int) -> np.ndarray:
    tokens = np.full((len(texts), maxlen), _PADDING, dtype="int32")
    for row, text in enumerate(texts):
        words = [_START] + [ids.get(w, _OUT_OF_VOCABULARY) for w in _WORD.findall(text.lower())]
        tokens[row, : min(maxlen, len(words))] = words[:maxlen]
    return tokens


def _read_imdb(name: str, n_rows: int | None, maxlen: int, keep: str, data_dir: str | None):
    import pandas as pd

    reviews = pd.read_csv(data_file("imdb", name, data_dir=data_dir), nrows=n_rows)
    kept = slice(None, maxlen) if keep == "first" else slice(-maxlen, None)
    text = [
        " ".join(_HTML_LINE_BREAK.sub(" ", review).split()[kept]) for review in reviews["review"]
    ]
    return _strings(text), _strings(reviews["sentiment"])


def load_gop_tweets(
    test_size: float = 0.2,
    n_samples: int | None = None,
    maxlen: int = 40,
    num_words: int = 10000,
    split_seed: int = 42,
    data_dir: str | None = None,
) -> Dataset:
    """Tweets about the first 2015 GOP debate -> Negative, Neutral or Positive (13,871 tweets).

    Args:
        test_size: fraction held out as a stratified test set; 0 keeps none.
        n_samples: keep a stratified random subset of this many tweets before the split
            (for quick studies); None, or more than there are, keeps all.
        maxlen: the sequence length of the model's TextVectorization (tweets are short).
        num_words: the size of the model's vocabulary (padding and unknown tokens included).
        split_seed: seed of the subset and of the train/test split, so both are repeatable.
        data_dir: folder holding ``gop_debate/``; defaults to ``$HPSEARCH_DATA_DIR`` or ``data/``.

    Line breaks inside tweets become spaces and a leading ``RT`` retweet marker is removed
    (it says nothing about sentiment); the rest stays as written. Classes are imbalanced
    (61% Negative), hence the stratification.
    """
    import pandas as pd
    from sklearn.model_selection import train_test_split

    _check_positive(maxlen=maxlen, num_words=num_words)
    if not 0 <= test_size < 1:
        raise ValueError(f"test_size must be in [0, 1) (got {test_size})")
    tweets = pd.read_csv(
        data_file("gop_debate", "Sentiment.csv", data_dir=data_dir),
        usecols=["text", "sentiment"],
        encoding="utf-8",
    )
    text = _strings(_RETWEET_MARKER.sub("", _LINE_BREAKS.sub(" ", t)) for t in tweets["text"])
    y = _strings(tweets["sentiment"])
    if n_samples is not None and n_samples < len(y):
        text, _, y, _ = train_test_split(
            text, y, train_size=n_samples, stratify=y, random_state=split_seed
        )
    facts = {"vocab_size": num_words, "sequence_length": maxlen}
    if test_size == 0:
        return Dataset(X=text, y=y, facts=facts, inputs="text")
    X, X_test, y, y_test = train_test_split(
        text, y, test_size=test_size, stratify=y, random_state=split_seed
    )
    return Dataset(X=X, y=y, X_test=X_test, y_test=y_test, facts=facts, inputs="text")


def load_text_corpus(
    window: int = 5,
    vocab_size: int = 2000,
    test_fraction: float = 0.1,
    stride: int = 1,
    max_words: int | None = None,
    min_count: int = 3,
    data_dir: str | None = None,
) -> Dataset:
    """Next-word prediction on Mary Shelley's *Frankenstein*: ``window`` words -> the next word.

    Args:
        window: words per sample (the model's sequence length).
        vocab_size: the target classes are the ``vocab_size - 1`` most frequent training
            words (ties alphabetical) plus ``<unk>`` for every other word.
        test_fraction: the last fraction of the book is the test set; being contiguous, none
            of its text is seen in training. 0 keeps no test set.
        stride: words between the starts of consecutive windows (2 halves the samples).
        max_words: keep only the first N words of the book (quick tests and studies).
        min_count: a vocabulary word that is the target of fewer training windows than this
            becomes ``<unk>`` too: stratified k-fold cross-validation needs every class at
            least k times (the default suits ``cv: 3``). ``<unk>`` gets as many, from the
            rarest vocabulary words if need be.
        data_dir: folder holding ``language_model/``; defaults to ``$HPSEARCH_DATA_DIR`` or
            ``data/``.

    X holds the raw window text (lower-cased words joined by spaces, not unk-replaced: the
    model's TextVectorization limits its own vocabulary); y the next word or ``<unk>``.
    Words are letters with inner apostrophes (``don't``); the Gutenberg header, footer and
    credits are removed. Every test label is a training label.
    """
    _check_positive(window=window, stride=stride, min_count=min_count)
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2: a word and <unk> (got {vocab_size})")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1) (got {test_fraction})")
    path = data_file("language_model", "Frankenstein.txt", data_dir=data_dir)
    words = _WORD.findall(_gutenberg_body(path.read_text(encoding="utf-8-sig")).lower())
    if max_words is not None:
        words = words[:max_words]
    n_train_words = round(len(words) * (1 - test_fraction))
    X, targets = _windows(words[:n_train_words], window, stride)
    X_test, test_targets = _windows(words[n_train_words:], window, stride)
    if len(targets) == 0 or (test_fraction > 0 and len(test_targets) == 0):
        raise ValueError(
            f"{len(words)} words leave no {window}-word window in the training or test part;"
            " raise max_words or lower window"
        )
    label = _target_labeller(words[:n_train_words], targets, vocab_size, min_count)
    y, y_test = _strings(map(label, targets)), _strings(map(label, test_targets))
    # Labels are training words or <unk>, which has training samples: test labels are known.
    assert set(y_test) <= set(y), set(y_test) - set(y)
    facts = {"vocab_size": vocab_size + 2, "sequence_length": window}
    if test_fraction == 0:
        return Dataset(X=X, y=y, facts=facts, kind="language_model", inputs="text")
    return Dataset(
        X=X,
        y=y,
        X_test=X_test,
        y_test=y_test,
        facts=facts,
        kind="language_model",
        inputs="text",
    )


def _gutenberg_body(text: str) -> str:
    """The book between Project Gutenberg's markers, without credits; all of it if unmarked."""
    start, end = _GUTENBERG_START.search(text), _GUTENBERG_END.search(text)
    if start and end:
        body_start = text.index("\n", start.end()) + 1  # the marker's line is excluded
        text = text[body_start : text.rindex("\n", 0, end.start())]
    text = _GUTENBERG_CREDITS.sub("", text)
    return _GUTENBERG_TRAILER.sub("", text)


def _windows(words: list[str], window: int, stride: int) -> tuple[np.ndarray, list[str]]:
    """Each run of ``window`` words as one string, and the word that follows it."""
    starts = range(0, len(words) - window, stride)
    texts = _strings(" ".join(words[i : i + window]) for i in starts)
    return texts, [words[i + window] for i in starts]


def _target_labeller(train_words: list[str], targets: list[str], vocab_size: int, min_count: int):
    """word -> label: frequent training words keep their name, the others are ``<unk>``."""
    counts = Counter(train_words)
    ranked = sorted(counts, key=lambda word: (-counts[word], word))[: vocab_size - 1]
    target_counts = Counter(targets)
    kept = [word for word in ranked if target_counts[word] >= min_count]
    # <unk> is a class too, the only one for test words never seen in training: when the
    # vocabulary covers nearly every training word, its rarest words make up <unk>.
    unknown_count = len(targets) - sum(target_counts[word] for word in kept)
    while unknown_count < min_count and kept:
        unknown_count += target_counts[kept.pop()]
    kept_words = set(kept)
    return lambda word: word if word in kept_words else UNKNOWN_WORD


def _strings(values) -> np.ndarray:
    """A 1-D object array of Python ``str`` (pandas may hand out its own string type)."""
    return np.array([str(value) for value in values], dtype=object)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1 (got {value})")
