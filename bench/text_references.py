"""The honest reference for the text studies: a bag-of-words logistic regression.

    python bench/text_references.py [--maxlen 200] [--keep first] [--imdb-only]

Fits TF-IDF over word unigrams and bigrams and a logistic regression (C picked by 5-fold
cross-validation on the training rows) on the same split the studies use: IMDB, the
whole 25,000 + 25,000 reviews (with the studies' ``maxlen`` words per review, the first
or, ``--keep last``, the last ones, and with whole reviews), and the GOP-debate tweets
(the loader's stratified 20% test set). Tweets are short and misspelt, so they also get
character n-grams (2-5, within words) beside the words, under a logistic regression and a
linear SVM: the strongest linear references here. Prints test accuracy and macro-F1 for
each: what a recurrent network must beat to be worth it.
"""

from __future__ import annotations

import argparse
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from hpsearch.data.text import load_gop_tweets, load_imdb


def words():
    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)


def words_and_characters():
    characters = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True
    )
    return make_union(words(), characters)


def bag_of_words(
    X, y, X_test, y_test, features=words, classifier=None, Cs=(0.5, 2.0, 8.0)
) -> dict[str, float]:
    started = time.perf_counter()
    pipeline = make_pipeline(features(), classifier or LogisticRegression(max_iter=3000))
    C = next(name for name in pipeline.get_params() if name.endswith("__C"))
    search = GridSearchCV(pipeline, {C: list(Cs)}, cv=5, n_jobs=2)
    search.fit(list(X.ravel()), y)
    predicted = search.predict(list(X_test.ravel()))
    return {
        "test_accuracy": accuracy_score(y_test, predicted),
        "test_f1_macro": f1_score(y_test, predicted, average="macro"),
        "cv_accuracy": search.best_score_,
        "C": search.best_params_[C],
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maxlen", type=int, default=200, help="words kept per review")
    parser.add_argument("--keep", choices=("first", "last"), default="first")
    parser.add_argument("--imdb-only", action="store_true", help="leave the tweets out")
    args = parser.parse_args()
    imdb = {
        f"imdb full, {args.keep} {args.maxlen} words": load_imdb(
            full=True, maxlen=args.maxlen, keep=args.keep
        ),
        "imdb full, whole reviews": load_imdb(full=True, maxlen=100_000),
    }
    for name, data in imdb.items():
        show(name, bag_of_words(data.X, data.y, data.X_test, data.y_test))
    if args.imdb_only:
        return
    gop = load_gop_tweets(test_size=0.2)
    tweets = (gop.X, gop.y, gop.X_test, gop.y_test)
    show("gop tweets (20% test)", bag_of_words(*tweets))
    show(
        "gop tweets, words and characters, LogisticRegression",
        bag_of_words(*tweets, features=words_and_characters),
    )
    # A linear SVM's hinge loss wants less regularisation strength than the logistic's.
    show(
        "gop tweets, words and characters, LinearSVC",
        bag_of_words(*tweets, words_and_characters, LinearSVC(), Cs=(0.1, 0.5, 2.0)),
    )


def show(name: str, result: dict) -> None:
    shown = ", ".join(
        f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}"
        for key, value in result.items()
    )
    print(f"{name}: {shown}", flush=True)


if __name__ == "__main__":
    main()
