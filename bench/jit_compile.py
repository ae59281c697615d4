"""Does XLA (``jit_compile=True``) make the recurrent builders' epochs faster on this CPU?

    python bench/jit_compile.py [--repeat 3] [--rows 3000] [--data gop|digits]

GOP-debate tweets as token ids (2,000 words, 40 tokens), or the digits read row by row (8
steps of 8 floats, no embedding), the built-in builders for each cell (Embedding 32 for the
tweets + one layer of 32 units + softmax), batch size 32, 3 epochs, compiled
with and without ``jit_compile``, alternating, in this one process. Reports per cell the
median first epoch (building, tracing, XLA compiling) and the median steady epoch (the
later ones), and their ratios jit / no jit.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import keras
import numpy as np

from hpsearch.data.text import load_gop_tweets
from hpsearch.models.builders import build_recurrent
from hpsearch.models.text_tokens import TextTokens

CELLS = ("simple_rnn", "lstm", "gru")


class EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def tokens(rows: int):
    data = load_gop_tweets(test_size=0.2, maxlen=40, num_words=2000, n_samples=rows)
    X = TextTokens(vocab_size=2000, sequence_length=40).fit(data.X).transform(data.X)
    classes = {name: k for k, name in enumerate(sorted(set(data.y)))}
    return X, np.array([classes[c] for c in data.y])


def digits(rows: int):
    from hpsearch.data.digits import load_digits_sequences

    return load_digits_sequences(n_samples=rows)


def epoch_times(cell: str, jit: bool, X, y) -> list[float]:
    keras.utils.set_random_seed(1)
    meta = {
        "X_dtype_": X.dtype,
        "X_shape_": X.shape,
        "n_classes_": len(np.unique(y)),
        "target_type_": "multiclass",
    }
    model = build_recurrent(meta, cell=cell, units=32, embedding_dim=32, vocab_size=2000)
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile=jit)
    timer = EpochTimes()
    model.fit(X, y, batch_size=32, epochs=3, verbose=0, callbacks=[timer])
    keras.backend.clear_session()
    return timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--data", choices=["gop", "digits"], default="gop")
    arguments = parser.parse_args()
    X, y = (tokens if arguments.data == "gop" else digits)(arguments.rows)
    first, steady = defaultdict(list), defaultdict(list)
    failures = {}
    for _ in range(arguments.repeat):
        for cell in CELLS:
            for jit in (False, True):
                try:
                    seconds = epoch_times(cell, jit, X, y)
                except Exception as error:  # noqa: BLE001 - XLA may refuse a model: report it
                    failures[(cell, jit)] = f"{type(error).__name__}: {str(error)[:200]}"
                    continue
                first[(cell, jit)].append(seconds[0])
                steady[(cell, jit)].extend(seconds[1:])
                print(f"{cell} jit={jit}: " + ", ".join(f"{s:.2f}" for s in seconds), flush=True)
    print(f"\n{len(X)} rows, batch 32, 3 epochs; medians of {arguments.repeat} runs (s)\n")
    print("| cell | first epoch | first, jit | steady epoch | steady, jit | steady jit / no jit |")
    print("| --- | --- | --- | --- | --- | --- |")
    for cell in CELLS:
        if (cell, True) in failures or (cell, False) in failures:
            print(f"| {cell} | failed: {failures.get((cell, True)) or failures[(cell, False)]} |")
            continue
        plain, jit = (
            statistics.median(steady[(cell, False)]),
            statistics.median(steady[(cell, True)]),
        )
        print(
            f"| {cell} | {statistics.median(first[(cell, False)]):.2f} | "
            f"{statistics.median(first[(cell, True)]):.2f} | {plain:.3f} | {jit:.3f} | "
            f"{jit / plain:.2f} |"
        )


if __name__ == "__main__":
    main()
