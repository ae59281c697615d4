"""A content hash of a study's training data: whether a trial is trained again on the same
rows (``hpsearch rerun``) is a fact, not a hope."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def data_sha256(X: Any, y: Any) -> str:
    """SHA-256 of X and y as ``load_dataset`` returns them (arrays): each array's dtype,
    shape and values. Strings (raw text, string labels) are hashed by their UTF-8 text, so
    the same data hashes the same in any process."""
    digest = hashlib.sha256()
    for array in (np.asarray(X), np.asarray(y)):
        digest.update(array.dtype.str.encode())
        digest.update(repr(array.shape).encode())
        if array.dtype.kind in "OUS":
            for value in array.ravel():
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                encoded = text.encode("utf-8")
                digest.update(len(encoded).to_bytes(8, "little"))
                digest.update(encoded)
        else:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
