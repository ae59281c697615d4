"""A synthetic spatio-temporal task for ConvLSTM2D: which way does the square move?

Each sample is a short film of ``steps`` frames of ``size`` x ``size`` pixels in which a
small bright square moves one pixel per frame right, left, down or up, over noise. No single
frame tells the direction; the order of the frames does. Generated from a seed, no file.
"""

from __future__ import annotations

import numpy as np

from hpsearch.data.dataset import Dataset

DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}


def load_moving_pattern(
    n_samples: int = 800,
    steps: int = 6,
    size: int = 12,
    square: int = 3,
    noise: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Films ``(n, steps, size, size, 1)`` in [0, 1] and their direction (4 balanced classes).

    The last ``test_fraction`` of the samples is the test set.
    """
    travel = steps - 1
    if size < square + travel:
        raise ValueError(f"size must be at least square + steps - 1 = {square + travel}")
    if not 0 <= test_fraction < 1:
        raise ValueError("test_fraction must be in [0, 1)")
    rng = np.random.default_rng(seed)
    names = list(DIRECTIONS)
    labels = np.array([names[i % len(names)] for i in range(n_samples)], dtype=object)
    rng.shuffle(labels)
    films = rng.uniform(0.0, noise, size=(n_samples, steps, size, size, 1)).astype("float32")
    for index, label in enumerate(labels):
        d_row, d_col = DIRECTIONS[label]
        # Start where the whole path stays inside the frame.
        row = rng.integers(max(0, -d_row * travel), size - square - max(0, d_row * travel) + 1)
        col = rng.integers(max(0, -d_col * travel), size - square - max(0, d_col * travel) + 1)
        for step in range(steps):
            r, c = row + d_row * step, col + d_col * step
            films[index, step, r : r + square, c : c + square, 0] = 1.0
    n_test = int(round(n_samples * test_fraction))
    n_train = n_samples - n_test
    return Dataset(
        X=films[:n_train],
        y=labels[:n_train],
        X_test=films[n_train:] if n_test else None,
        y_test=labels[n_train:] if n_test else None,
        inputs="numbers",
    )
