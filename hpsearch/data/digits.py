"""scikit-learn's handwritten digits as sequences: each 8x8 image is 8 time steps of 8 pixels.

It ships with scikit-learn (no download), trains in seconds, and still needs a recurrent
network to read it row by row: the quick built-in for the quickstart and the tests.
"""

from __future__ import annotations


def load_digits_sequences(n_samples: int | None = None, classes: int = 10):
    """``(X, y)`` with X of shape (n, 8, 8) in [0, 1] and y the digit.

    ``n_samples`` keeps the first n images (the set is ordered digit 0..9 over and over, so
    any prefix is balanced); ``classes`` keeps the digits below it (2 makes a binary task).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < classes
    X = (digits.images[keep] / 16.0).astype("float32")
    y = digits.target[keep].astype("int64")
    if n_samples is not None:
        X, y = X[:n_samples], y[:n_samples]
    return X, y
