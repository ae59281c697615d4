"""Where the shipped datasets live: ``data/`` of the project, or a folder the user names."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_VARIABLE = "HPSEARCH_DATA_DIR"
PROJECT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def data_file(*parts: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The path of a shipped data file; ``FileNotFoundError`` names where it was looked for.

    ``data_dir`` (a loader parameter) wins over ``$HPSEARCH_DATA_DIR``, which wins over the
    project's ``data/`` folder (present in a source checkout, e.g. ``pip install -e .``).
    """
    base = data_dir or os.environ.get(DATA_DIR_VARIABLE) or PROJECT_DATA_DIR
    path = Path(base).expanduser().joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist (point the loader's data_dir or ${DATA_DIR_VARIABLE}"
            " at the folder that holds it)"
        )
    return path
