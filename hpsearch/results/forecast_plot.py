"""Pictures logged beside the numbers: a forecast against what really happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# pyplot keeps its figures in one global registry: the study's plots are drawn in a thread
# while the best model is refitted (hpsearch.runner), so one figure at a time.
_PYPLOT = threading.Lock()


@contextmanager
def pyplot() -> Iterator:
    """``matplotlib.pyplot`` on the Agg backend (no display on servers), to one drawer at
    a time."""
    with _PYPLOT:
        import matplotlib

        matplotlib.use("Agg")  # must precede importing pyplot
        import matplotlib.pyplot as plt

        yield plt


def forecast_plot(table: dict[str, list], title: str, path: Path) -> Path:
    """Actual vs predicted per test day, with the last-value baseline, as a PNG."""
    with pyplot() as plt:
        figure, axes = plt.subplots(figsize=(9, 4.5))
        days = range(len(table["date"]))
        axes.plot(days, table["actual"], marker="o", label="actual", color="black")
        axes.plot(days, table["predicted"], marker="o", label="predicted", color="tab:blue")
        axes.plot(
            days,
            table["last_value"],
            linestyle=":",
            label="last value (baseline)",
            color="tab:gray",
        )
        axes.set_xticks(list(days), table["date"], rotation=60, fontsize=7)
        axes.set_ylabel("price")
        axes.set_title(title)
        axes.legend()
        axes.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        return path
