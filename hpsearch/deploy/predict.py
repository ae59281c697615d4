"""``hpsearch predict EXPORT_DIR INPUT``: batch predictions from an exported model.

The predictions come from the export's MLflow model, the same code ``mlflow models serve``
runs, so a batch job and a served endpoint answer alike. The input is read by what the
model takes (``model_card.json``):

- a raw-text model: one text per line, or a CSV with a ``text`` column (or one column);
- any other model: a CSV with one input per row, ``prod(input_shape)`` numbers flattened
  (64 for 8x8 digits, 60 for a 60-day window of one price) — or, for a model of windows,
  a CSV of one column: a series, and every complete window of it gets a prediction (the
  row of the window's last value names it).

Output: CSV (or JSON records) with ``row`` (the input's line or row, from 1) and the
model's columns (``label``, ``probability``, ... or ``prediction``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from hpsearch.errors import UserError


def predict_file(export_dir: Path, source: str, *, out: Path | None, fmt: str) -> int:
    """Predict every input of ``source`` (a path, or ``-`` for standard input); returns the
    number of predictions written."""
    card = _read_card(export_dir)
    data = card.get("data") or {}
    shape = [int(n) for n in data.get("input_shape") or []]
    text = _read_source(source)
    if data.get("input_dtype") == "object":
        rows, inputs = _text_inputs(text, source)
    else:
        rows, inputs = _numeric_inputs(text, source, shape)
    predictions = _load_predictor(export_dir).predict(inputs)
    predictions.insert(0, "row", rows)
    stream = io.StringIO()
    if fmt == "json":
        json.dump(predictions.to_dict(orient="records"), stream, indent=2, default=str)
        stream.write("\n")
    else:
        predictions.to_csv(stream, index=False)
    if out is None:
        sys.stdout.write(stream.getvalue())
    else:
        out.write_text(stream.getvalue(), encoding="utf-8")
    return len(predictions)


def _read_card(export_dir: Path) -> dict[str, Any]:
    card_path = export_dir / "model_card.json"
    if not (export_dir / "mlflow_model" / "MLmodel").is_file() or not card_path.is_file():
        raise UserError(
            f"{export_dir}: EXPORT_DIR: not an hpsearch export (it needs mlflow_model/ and"
            " model_card.json; write one with: hpsearch export STUDY --out DIR)"
        )
    return json.loads(card_path.read_text(encoding="utf-8"))


def _read_source(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise UserError(f"{source}: INPUT: no such file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(f"{source}: INPUT: not UTF-8 text ({error.reason})") from None


def _text_inputs(text: str, source: str):
    """Texts for a raw-text model: a CSV's ``text`` column (or only column), else lines."""
    import pandas as pd

    if source.endswith(".csv"):
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        if "text" in frame.columns:
            column = frame["text"]
        elif len(frame.columns) == 1:
            column = frame.iloc[:, 0]
        else:
            raise UserError(
                f"{source}: INPUT: a CSV for a text model needs a 'text' column"
                f" (found {', '.join(map(str, frame.columns))})"
            )
        rows = list(range(1, len(column) + 1))
        texts = list(column)
    else:
        numbered = [
            (number, line.rstrip("\r"))
            for number, line in enumerate(text.split("\n"), 1)
            if line.strip()
        ]
        rows = [number for number, _ in numbered]
        texts = [line for _, line in numbered]
    if not texts:
        raise UserError(f"{source}: INPUT: no text to predict")
    return rows, pd.DataFrame({"text": texts})


def _numeric_inputs(text: str, source: str, shape: list[int]):
    """An array of shape (n, *shape) from rows of numbers, or from the windows of a series."""
    import numpy as np

    size = math.prod(shape) if shape else 0
    table = [
        (number, row)
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)
        if any(cell.strip() for cell in row)
    ]
    if table and not _is_numeric(table[0][1]):
        table = table[1:]  # a header
    if not table:
        raise UserError(f"{source}: INPUT: no rows to predict")
    values = []
    for number, row in table:
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            raise UserError(f"{source}: INPUT: row {number} is not all numbers") from None
    widths = {len(row) for row in values}
    window = shape[0] if len(shape) == 2 and shape[1] == 1 else None
    if widths == {1} and size > 1 and window is not None:
        series = np.asarray(values, dtype="float32").reshape(-1)
        if len(series) < window:
            raise UserError(
                f"{source}: INPUT: a series of {len(series)} values; the model's window needs"
                f" {window}"
            )
        windows = np.lib.stride_tricks.sliding_window_view(series, window)
        rows = [table[end][0] for end in range(window - 1, len(series))]
        return rows, windows.reshape(-1, *shape).copy()
    for (number, _), row in zip(table, values, strict=True):
        if size and len(row) != size:
            raise UserError(
                f"{source}: INPUT: row {number} has {len(row)} values; the model takes {size}"
                f" (input shape {shape}, flattened)"
            )
    array = np.asarray(values, dtype="float32")
    return [number for number, _ in table], array.reshape(-1, *shape) if shape else array


def _is_numeric(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _load_predictor(export_dir: Path):
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return mlflow.pyfunc.load_model(str(export_dir / "mlflow_model"))
