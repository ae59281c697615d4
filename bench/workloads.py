"""The search benchmarks' workloads, each a loader (``file.py:function``) for hpsearch's
study and the same rows for KerasTuner's script: the same training rows, the same
validation rows (hpsearch's holdout split, ``validation_split``) and the same test rows.

- ``digits``: scikit-learn's 1,797 handwritten digits read row by row (8 steps of 8
  pixels), 20% held out for the test: 1,437 training rows, 360 test rows, 10 classes.
- ``waves``: which of four frequencies (1, 1.5, 2 or 2.5 cycles per 8 steps) a noisy sine
  wave has, beside a channel of pure noise; random phase and amplitude, so no single step
  tells. 600 training rows, 300 test rows, 4 balanced classes. A logistic regression on
  the magnitudes of the wave channel's Fourier transform scores 0.83 on the test rows; on
  the raw steps, about chance (0.25).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TEST_SIZE = 0.2
SEED = 7
WORKLOADS = ("digits", "waves")


def loader(workload: str) -> str:
    """What a study's ``data.loader`` says to load ``workload``."""
    return f"{Path(__file__).resolve()}:load_{workload}"


def load_digits():
    """``(X_train, y_train, X_test, y_test)``: a stratified 80/20 split of all the digits."""
    from sklearn.model_selection import train_test_split

    from hpsearch.data.digits import load_digits_sequences

    X, y = load_digits_sequences()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=SEED
    )
    return X_train, y_train, X_test, y_test


def load_waves(n_train: int = 600, n_test: int = 300, steps: int = 8, noise: float = 0.4):
    """``(X_train, y_train, X_test, y_test)``: ``(n, steps, 2)`` float32 sequences."""
    rng = np.random.default_rng(SEED)
    n = n_train + n_test
    frequencies = np.array([1.0, 1.5, 2.0, 2.5])
    y = np.arange(n) % len(frequencies)
    rng.shuffle(y)
    t = np.arange(steps)
    phase = rng.uniform(0, 2 * np.pi, n)
    amplitude = rng.uniform(0.6, 1.4, n)
    wave = amplitude[:, None] * np.sin(
        2 * np.pi * frequencies[y][:, None] * t[None, :] / steps + phase[:, None]
    )
    X = np.stack([wave + rng.normal(0, noise, (n, steps)), rng.normal(0, 1, (n, steps))], axis=-1)
    X = X.astype("float32")
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def validation_split(study_path: str):
    """Training and validation rows of the study's workload, split as the study's
    ``cv: {holdout: ...}`` splits them in hpsearch; all training rows; the test rows."""
    from hpsearch.search.evaluation import make_splitter
    from hpsearch.study import load_study

    study = load_study(study_path)
    load = globals()[study.data.loader.rsplit(":", 1)[1]]
    X, y, X_test, y_test = load()
    ((train, validation),) = make_splitter(study).split(X, y)
    return (X[train], y[train]), (X[validation], y[validation]), (X, y), (X_test, y_test)
