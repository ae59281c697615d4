"""How long `--help` and `validate` take, against a bare Python start in the same run.

    python bench/cli_latency.py [--repeat 7]

Prints the median wall time of each command and its ratio to `python -c pass` measured
back to back, so the machine's noise cancels out. Goal: both answer in about a second.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "hpsearch --help": [sys.executable, "-m", "hpsearch", "--help"],
    "hpsearch validate studies/quickstart.yaml": [
        sys.executable,
        "-m",
        "hpsearch",
        "validate",
        str(ROOT / "studies" / "quickstart.yaml"),
    ],
}


def median_seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    results = {name: median_seconds(command, repeat) for name, command in COMMANDS.items()}
    baseline = results["python -c pass (baseline)"]
    print(f"| command | median of {repeat} (s) | ratio to bare python |")
    print("| --- | --- | --- |")
    for name, seconds in results.items():
        print(f"| `{name}` | {seconds:.3f} | {seconds / baseline:.1f} |")


if __name__ == "__main__":
    main()
