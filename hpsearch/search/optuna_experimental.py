"""Optuna's experimental features hpsearch relies on (multivariate and grouped TPE,
heartbeats, ``fail_stale_trials``, retries of stale trials), used without the
``ExperimentalWarning`` each use raises: hpsearch chose them, a user can do nothing about
the warning, and the version range in pyproject.toml is what guards them."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import optuna


@contextmanager
def experimental() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield
