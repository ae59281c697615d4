"""What kind of input X is: numbers, token ids or raw text, and how that was decided.

The kind decides what a builder puts first (an ``Embedding`` for tokens, a vectorizer for
text, nothing for numbers) and how the estimator prepares X (standardised numbers, ids,
a vocabulary). Only strings are inferred, as text: an integer array is as often counts,
codes or pixel values as it is token ids, so integers are numbers unless a loader's
``Dataset(inputs="tokens")`` or the study's ``data.inputs: tokens`` says otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUMBERS = "numbers"
TOKENS = "tokens"
TEXT = "text"
INPUT_KINDS = (NUMBERS, TOKENS, TEXT)


def is_text(X: Any) -> bool:
    """A non-empty array whose every value is a string: raw text."""
    array = X if isinstance(X, np.ndarray) else None
    if array is None or array.size == 0:
        return False
    if array.dtype.kind in "US":
        return True
    return array.dtype == object and all(isinstance(value, str) for value in array.ravel())


def infer_input_kind(X: Any) -> str:
    """Text for strings, numbers for anything else (never tokens: see the module)."""
    return TEXT if is_text(np.asarray(X) if not isinstance(X, np.ndarray) else X) else NUMBERS


def resolve_input_kind(X: Any, declared: str | None) -> tuple[str, str]:
    """The kind of ``X`` and how it was decided, checked against what was declared.

    Raises ``ValueError`` (a sentence for the user) when X cannot be what was declared.
    """
    if declared is None:
        kind = infer_input_kind(X)
        why = "inferred: strings" if kind == TEXT else "inferred: not strings"
        return kind, why
    if declared not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {declared!r} (known: {', '.join(INPUT_KINDS)})")
    check_input_kind(X, declared)
    return declared, "declared"


def check_input_kind(X: Any, kind: str) -> None:
    """``ValueError`` when X cannot be read as ``kind``."""
    array = np.asarray(X) if not isinstance(X, np.ndarray) else X
    text = is_text(array)
    if kind == TEXT and not text:
        raise ValueError(f"inputs are declared text but X holds {array.dtype} values, not strings")
    if kind != TEXT and text:
        raise ValueError(f"inputs are declared {kind} but X holds strings (raw text?)")
    if kind == TOKENS:
        if array.dtype.kind not in "iuf" or (
            array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0)
        ):
            raise ValueError(f"inputs are declared tokens but X holds {array.dtype} values")
        if array.size and array.min() < 0:
            raise ValueError(
                f"inputs are declared tokens but X holds a negative id ({array.min()})"
            )
