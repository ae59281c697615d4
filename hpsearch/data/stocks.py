"""Daily GOOG and AMZN prices (2014-2018, then January 2019): chapter 9 of the Keras workshop.

The lecture predicts tomorrow's ``Open`` from the 60 previous days of ``Open``; this loader
builds those sliding windows for any columns, window and horizon. Prices stay in dollars:
scaling belongs to the model, fitted on each fit's own training data, so that no
cross-validation fold (nor the test month) leaks into it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpsearch.data.dataset import Dataset
from hpsearch.data.files import data_file

if TYPE_CHECKING:
    import pandas as pd

TICKERS = ("GOOG", "AMZN")
# The train files write 2014-01-02, the test files 1/2/19: each file must match one of these.
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%y")
# Markets have not closed for more than a week since 1933: a longer gap means missing rows.
MAX_CALENDAR_GAP_DAYS = 7


def load_stock_prices(
    ticker: str = "GOOG",
    features: list[str] | tuple[str, ...] = ("Open",),
    target: str = "Open",
    window: int = 60,
    horizon: int = 1,
    train_start: str | None = None,
    data_dir: str | None = None,
) -> Dataset:
    """Sliding windows of daily prices: train on 2014-2018, test on every day of January 2019.

    - ``ticker``: ``GOOG`` or ``AMZN`` (any case).
    - ``features``: the columns each day contributes (``Open``, ``High``, ``Low``,
      ``Close``, ``Adj Close``, ``Volume``); a single name may be given as a string.
    - ``target``: the column to predict; one of ``features``, since a forecast's baseline
      is its last value in the window (``forecast_feature`` is its index in ``features``).
    - ``window``: the number of past days in each sample.
    - ``horizon``: predict the target this many trading days after the window's last day
      (1 = the next day).
    - ``train_start``: an ISO date (``2017-01-01``); earlier training days are dropped, for a
      smaller, faster study.
    - ``data_dir``: the folder holding ``stocks/{ticker}_train.csv`` (default: see
      ``hpsearch.data.files.data_file``).

    ``X`` and ``X_test`` have shape (n, window, len(features)), ``y`` and ``y_test`` shape
    (n,), all float32. A training sample lies wholly in 2014-2018. Test windows run on from
    the end of the training days, so that each of the 21 January days is a test target; its
    date is in ``test_labels``.
    """
    ticker = _known_ticker(ticker)
    features = _checked_features(features, target)
    for name, days in (("window", window), ("horizon", horizon)):
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"{name} must be a whole number of days >= 1 (got {days!r})")

    train_path = data_file("stocks", f"{ticker}_train.csv", data_dir=data_dir)
    test_path = data_file("stocks", f"{ticker}_test.csv", data_dir=data_dir)
    train = _read_prices(train_path, features)
    test = _read_prices(test_path, features)
    if train_start is not None:
        train = train[train.index >= _iso_date(train_start, "train_start")]
    needed = window + horizon
    if len(train) < needed:
        raise ValueError(
            f"{train_path}: {len(train)} training days from train_start={train_start!r};"
            f" window {window} + horizon {horizon} needs at least {needed}"
        )

    import pandas as pd

    series = pd.concat([train, test])
    _check_dates(series, f"{train_path} followed by {test_path}")
    values = series.to_numpy(dtype="float32")
    target_values = series[target].to_numpy(dtype="float32")

    n_train = len(train)
    # Sample i: days [i, i + window) in, the target `horizon` days after the last of them.
    train_targets = np.arange(window + horizon - 1, n_train)
    test_targets = np.arange(n_train, len(series))
    return Dataset(
        X=_windows(values, train_targets, window, horizon),
        y=target_values[train_targets],
        X_test=_windows(values, test_targets, window, horizon),
        y_test=target_values[test_targets],
        facts={},
        kind="forecast",
        forecast_feature=features.index(target),
        test_labels=[day.strftime("%Y-%m-%d") for day in test.index],
        inputs="numbers",
    )


def _known_ticker(ticker: str) -> str:
    if not isinstance(ticker, str) or ticker.upper() not in TICKERS:
        raise ValueError(f"unknown ticker {ticker!r} (known: {', '.join(TICKERS)})")
    return ticker.upper()


def _checked_features(features: list[str] | tuple[str, ...] | str, target: str) -> list[str]:
    features = [features] if isinstance(features, str) else list(features)
    if not features:
        raise ValueError("features is empty; name at least one column (e.g. [Open])")
    repeated = sorted({name for name in features if features.count(name) > 1})
    if repeated:
        raise ValueError(f"features lists {repeated[0]!r} twice")
    if target not in features:
        raise ValueError(
            f"target {target!r} must be one of features {features} (a forecast starts from"
            " the target's last value in the window)"
        )
    return features


def _iso_date(text: str, name: str) -> datetime:
    try:
        return datetime.strptime(str(text), "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"{name} must be an ISO date such as 2017-01-01 (got {text!r})") from None


def _read_prices(path: Path, features: list[str]) -> pd.DataFrame:
    """The feature columns as floats, indexed by date, with every value present."""
    import pandas as pd

    table = pd.read_csv(path, dtype={"Date": str})
    if "Date" not in table.columns:
        raise KeyError(f"{path} has no 'Date' column (columns: {', '.join(table.columns)})")
    available = [name for name in table.columns if name != "Date"]
    for name in features:
        if name not in available:
            raise KeyError(f"{path} has no column {name!r} (available: {', '.join(available)})")
    prices = table[features].apply(pd.to_numeric, errors="coerce")
    prices.index = pd.DatetimeIndex(_parse_dates(table["Date"], path), name="Date")
    empty = prices.isna()
    if empty.any().any():
        row = int(np.flatnonzero(empty.any(axis=1).to_numpy())[0])
        column = empty.columns[empty.iloc[row].to_numpy()][0]
        raise ValueError(
            f"{path}: {column!r} is empty or not a number on {table['Date'].iloc[row]}"
            f" ({int(empty.to_numpy().sum())} such values); fill or drop those days"
        )
    return prices


def _parse_dates(dates: pd.Series, path: Path) -> pd.Series:
    import pandas as pd

    for date_format in DATE_FORMATS:
        try:
            return pd.to_datetime(dates, format=date_format)
        except (ValueError, TypeError):
            continue
    raise ValueError(
        f"{path}: the Date column is neither all {DATE_FORMATS[0]} nor all"
        f" {DATE_FORMATS[1]} (first value {dates.iloc[0]!r})"
    )


def _check_dates(series: pd.DataFrame, where: str) -> None:
    """Windows assume consecutive trading days: ascending, unique dates and no missing week."""
    days = series.index
    steps = np.diff(days.to_numpy()).astype("timedelta64[D]").astype(int)
    if (steps <= 0).any():
        at = int(np.flatnonzero(steps <= 0)[0])
        raise ValueError(
            f"{where}: dates are not in ascending order ({days[at].date()} is followed by"
            f" {days[at + 1].date()})"
        )
    if (steps > MAX_CALENDAR_GAP_DAYS).any():
        at = int(np.flatnonzero(steps > MAX_CALENDAR_GAP_DAYS)[0])
        raise ValueError(
            f"{where}: no prices from {days[at].date()} to {days[at + 1].date()};"
            " trading days are missing"
        )


def _windows(values: np.ndarray, targets: np.ndarray, window: int, horizon: int) -> np.ndarray:
    """For each target row p, the ``window`` rows ending ``horizon`` rows before it."""
    last_days = targets - horizon
    rows = last_days[:, None] + np.arange(1 - window, 1)[None, :]
    return values[rows]
