"""The lecture's way of searching a grid, as a user would write it: SciKeras + GridSearchCV.

    python bench/lecture_grid.py [--samples N] [--seed 42]

GOP-debate tweets (3 classes), tokenized once with Keras's TextVectorization on all the
training tweets, Embedding(2000, 32) + LSTM(32) + softmax, ``GridSearchCV`` over batch size
[10, 20, 40] x epochs [1, 2, 3] with 3 folds. Only the rows come from hpsearch's loader, so
that both sides of ``bench/gop_grid.py`` train on the same tweets and the same folds
(``StratifiedKFold(3, shuffle=True)``: the lecture's ``cv=3`` would give unstratified folds,
since scikit-learn >= 1.6 does not see SciKeras 0.13's classifier as one).

Prints one JSON line: the best CV score and candidate, every candidate's mean score, and
where the time went (start-up, tokenizing, each epoch's seconds, GridSearchCV's fit and
score times). GridSearchCV refits the best candidate on all the rows, as by default.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scikeras.wrappers import KerasClassifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from hpsearch.data.text import load_gop_tweets  # noqa: E402

VOCABULARY, LENGTH, UNITS, EMBEDDING = 2000, 40, 32, 32
GRID = {"batch_size": [10, 20, 40], "epochs": [1, 2, 3]}
EPOCHS: list[dict] = []  # every epoch of every fit: batch size, seconds, refit or not
CURRENT: dict = {}  # the fit under way: its batch size, refit or not; the rows in all


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        EPOCHS.append(
            {
                "epoch": epoch + 1,
                "seconds": seconds,
                "batch_size": self.batch_size,
                "refit": CURRENT["refit"],
            }
        )

    def on_train_begin(self, logs=None):
        self.batch_size = CURRENT["batch_size"]  # Keras's params do not say it


def build(meta):
    model = keras.Sequential(
        [
            keras.Input(shape=(LENGTH,), dtype="int32"),
            keras.layers.Embedding(VOCABULARY, EMBEDDING, mask_zero=True),
            keras.layers.LSTM(UNITS),
            keras.layers.Dense(meta["n_classes_"], activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


class Classifier(KerasClassifier):
    def fit(self, X, y, **kwargs):
        CURRENT["batch_size"] = self.batch_size
        CURRENT["refit"] = len(X) == CURRENT["rows"]  # GridSearchCV's refit on all rows
        return super().fit(X, y, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()
    imported = time.perf_counter()

    data = load_gop_tweets(
        test_size=0.2, maxlen=LENGTH, num_words=VOCABULARY, n_samples=arguments.samples
    )
    loaded = time.perf_counter()
    vectorize = keras.layers.TextVectorization(max_tokens=VOCABULARY, output_sequence_length=LENGTH)
    texts = tf.constant(data.X.astype(str))
    vectorize.adapt(texts)
    X = np.asarray(vectorize(texts), dtype="int32")
    tokenized = time.perf_counter()

    estimator = Classifier(
        model=build, random_state=arguments.seed, verbose=0, callbacks=[EpochTimer]
    )
    search = GridSearchCV(
        estimator,
        GRID,
        cv=StratifiedKFold(3, shuffle=True, random_state=arguments.seed),
        scoring="accuracy",
    )  # refit=True, as by default: the best candidate is fitted again on all the rows
    CURRENT["rows"] = len(X)
    search.fit(X, data.y)
    searched = time.perf_counter()
    results = search.cv_results_
    print(
        json.dumps(
            {
                "best_score": float(search.best_score_),
                "best_params": search.best_params_,
                "scores": {
                    f"{p['batch_size']}/{p['epochs']}": float(s)
                    for p, s in zip(results["params"], results["mean_test_score"], strict=True)
                },
                "startup": imported - STARTED,
                "load": loaded - imported,
                "tokenize": tokenized - loaded,
                "search": searched - tokenized,
                "fit_time": float(np.sum(results["mean_fit_time"]) * 3),
                "refit_time": float(search.refit_time_),
                "score_time": float(np.sum(results["mean_score_time"]) * 3),
                "epochs": EPOCHS,
            }
        )
    )


if __name__ == "__main__":
    main()
