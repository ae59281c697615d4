"""The stock-price loader: windows, the January test month, and the errors (no TensorFlow)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, write_study
from hpsearch.data import load_dataset
from hpsearch.data.stocks import load_stock_prices
from hpsearch.errors import UserError
from hpsearch.study import load_study

STOCKS = ROOT / "data" / "stocks"
ALL_PRICES = ["Open", "High", "Low", "Close", "Volume"]
JANUARY_TRADING_DAYS = 21


def raw(ticker: str, part: str) -> pd.DataFrame:
    """A shipped file as it is, for the expected values."""
    return pd.read_csv(STOCKS / f"{ticker}_{part}.csv")


def float32(column: pd.Series) -> np.ndarray:
    return column.to_numpy(dtype="float32")


def copy_stocks(tmp_path: Path) -> Path:
    """A data_dir holding a copy of the shipped files, to be edited by a test."""
    shutil.copytree(STOCKS, tmp_path / "stocks")
    return tmp_path


def test_default_is_the_lecture_setup_60_days_of_open():
    data = load_stock_prices()
    assert data.X.shape == (1258 - 60, 60, 1) and data.y.shape == (1258 - 60,)
    assert data.X_test.shape == (JANUARY_TRADING_DAYS, 60, 1)
    assert data.y_test.shape == (JANUARY_TRADING_DAYS,)
    assert all(a.dtype == np.float32 for a in (data.X, data.y, data.X_test, data.y_test))
    assert data.kind == "forecast" and data.forecast_feature == 0 and data.facts == {}


def test_several_features_with_close_as_target():
    data = load_stock_prices(features=ALL_PRICES, target="Close")
    assert data.X.shape == (1198, 60, 5) and data.X_test.shape == (21, 60, 5)
    assert data.forecast_feature == 3
    train = raw("GOOG", "train")
    assert np.array_equal(data.X[0], train[ALL_PRICES].to_numpy(dtype="float32")[:60])
    assert np.array_equal(data.y, float32(train["Close"])[60:])


def test_both_date_styles_are_parsed():
    # The train file writes 2014-01-02, the test file 1/2/19.
    assert raw("GOOG", "train")["Date"].iloc[[0, -1]].tolist() == ["2014-01-02", "2018-12-31"]
    assert raw("GOOG", "test")["Date"].iloc[0] == "1/2/19"
    labels = load_stock_prices().test_labels
    assert len(labels) == JANUARY_TRADING_DAYS
    assert labels[0] == "2019-01-02" and labels[-1] == "2019-01-31"
    assert all(label.startswith("2019-01-") for label in labels) and labels == sorted(labels)
    # train_start compares dates, so the training dates were parsed too.
    first_of_2018 = load_stock_prices(train_start="2018-01-01", window=1)
    assert first_of_2018.X[0, 0, 0] == np.float32(1048.339966)  # Open on 2018-01-02


def test_every_january_day_is_predicted_from_the_days_before_it():
    data = load_stock_prices(features=ALL_PRICES, target="Close")
    train = raw("GOOG", "train")[ALL_PRICES].to_numpy(dtype="float32")
    january = raw("GOOG", "test")
    assert np.array_equal(data.X_test[0], train[-60:])
    assert np.array_equal(data.y_test, float32(january["Close"]))
    # The second window has slid one day: it ends on the first January day.
    assert np.array_equal(data.X_test[1, :-1], train[-59:])
    assert np.array_equal(data.X_test[1, -1], january[ALL_PRICES].to_numpy(dtype="float32")[0])


@pytest.mark.parametrize("horizon", [1, 5])
def test_y_is_the_target_horizon_days_after_the_window(horizon):
    data = load_stock_prices(features=ALL_PRICES, target="Close", window=20, horizon=horizon)
    close = float32(raw("GOOG", "train")["Close"])
    assert len(data.y) == len(close) - 20 - horizon + 1
    # The window of sample i + horizon ends on the day sample i predicts.
    assert np.array_equal(data.y[:-horizon], data.X[horizon:, -1, 3])
    assert np.array_equal(data.y, close[20 + horizon - 1 :])
    assert data.y[-1] == close[-1]
    # The first January target is predicted from a window ending `horizon` days earlier.
    assert np.array_equal(
        data.X_test[0, :, 3], close[len(close) - horizon - 19 : len(close) - horizon + 1]
    )
    assert np.array_equal(data.y_test, float32(raw("GOOG", "test")["Close"]))


def test_no_january_value_reaches_a_training_sample(tmp_path):
    # January prices pushed far above any real price, so that a leak cannot go unseen.
    data_dir = copy_stocks(tmp_path)
    test_file = data_dir / "stocks" / "GOOG_test.csv"
    january = pd.read_csv(test_file, dtype={"Date": str})
    january[ALL_PRICES] += 1_000_000_000
    january.to_csv(test_file, index=False)
    data = load_stock_prices(features=ALL_PRICES, target="Close", data_dir=str(data_dir))
    assert data.X.max() < 1e9 and data.y.max() < 1e9
    assert (data.y_test > 1e9).all() and data.X_test.max() > 1e9


def test_train_start_drops_earlier_days():
    full = load_stock_prices()
    recent = load_stock_prices(train_start="2018-01-01")
    days_in_2018 = int((raw("GOOG", "train")["Date"] >= "2018-01-01").sum())
    assert len(recent.y) == days_in_2018 - 60 < len(full.y)
    assert np.array_equal(recent.y, full.y[-len(recent.y) :])
    assert np.array_equal(recent.X_test, full.X_test)


def test_amzn_and_the_ticker_in_any_case():
    data = load_stock_prices("amzn", features=["Open", "Close"], target="Close", window=30)
    assert data.X.shape == (1258 - 30, 30, 2) and data.forecast_feature == 1
    assert np.array_equal(data.y_test, float32(raw("AMZN", "test")["Close"]))
    assert not np.array_equal(
        data.y_test, load_stock_prices(target="Close", features=["Close"]).y_test
    )


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"ticker": "MSFT"}, ValueError, "unknown ticker 'MSFT' (known: GOOG, AMZN)"),
        ({"features": ["Open", "Price"]}, KeyError, "no column 'Price' (available: Open, High"),
        ({"target": "Close"}, ValueError, "target 'Close' must be one of features ['Open']"),
        ({"features": ["Open", "Open"]}, ValueError, "lists 'Open' twice"),
        ({"window": 0}, ValueError, "window must be a whole number of days >= 1"),
        ({"horizon": 0}, ValueError, "horizon must be a whole number of days >= 1"),
        ({"train_start": "1/1/18"}, ValueError, "train_start must be an ISO date"),
        ({"train_start": "2018-12-01"}, ValueError, "window 60 + horizon 1 needs at least 61"),
    ],
)
def test_mistakes_are_named(arguments, error, message):
    with pytest.raises(error) as raised:
        load_stock_prices(**arguments)
    assert message in str(raised.value)


def test_a_missing_data_dir_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="GOOG_train.csv does not exist"):
        load_stock_prices(data_dir=str(tmp_path / "nowhere"))


def rewrite_train(data_dir: Path, edit) -> None:
    path = data_dir / "stocks" / "GOOG_train.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], "not in ascending order"),
        (lambda lines: lines[:101] + lines[111:], "trading days are missing"),
        (lambda lines: lines + [lines[-1]], "not in ascending order"),
        (
            lambda lines: [lines[0], lines[1].replace("2014-01-02", "01/02/2014"), *lines[2:]],
            "neither all",
        ),
        (
            lambda lines: [lines[0], "2014-01-02,,1,1,1,1,1", *lines[2:]],
            "'Open' is empty or not a number on 2014-01-02",
        ),
        (lambda lines: [lines[0], "2014-01-02,null,1,1,1,1,1", *lines[2:]], "not a number"),
    ],
    ids=["unsorted", "gap", "duplicate", "mixed-dates", "empty", "null"],
)
def test_a_malformed_file_is_a_value_error_naming_it(tmp_path, edit, message):
    data_dir = copy_stocks(tmp_path)
    rewrite_train(data_dir, edit)
    with pytest.raises(ValueError, match="GOOG_train.csv") as raised:
        load_stock_prices(data_dir=str(data_dir))
    assert message in str(raised.value)


def test_the_loader_does_not_import_tensorflow():
    code = "import sys, hpsearch.data.stocks as s; s.load_stock_prices(); print('tensorflow' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert found.stdout.strip() == "False", found.stderr


STOCK_STUDY = """
name: stocks-lstm
task: regression
data:
  loader: stock_prices
  params: {window: 10}
model:
  builder: lstm
"""


def test_a_study_loads_the_stocks_as_a_forecast(tmp_path):
    data = load_dataset(load_study(write_study(tmp_path, STOCK_STUDY)))
    assert data.kind == "forecast" and data.forecast_feature == 0
    assert data.X.shape == (1258 - 10, 10, 1) and data.y.shape == (1258 - 10,)
    assert data.X_test.shape == (21, 10, 1) and len(data.test_labels) == 21


def test_a_study_with_a_wrong_column_gets_a_one_line_error(tmp_path):
    study = STOCK_STUDY.replace("{window: 10}", "{features: [Open, Price]}")
    with pytest.raises(UserError, match="stock_prices' failed: missing column or key .*'Price'"):
        load_dataset(load_study(write_study(tmp_path, study)))
