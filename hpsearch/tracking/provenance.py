"""Where a result came from: package versions and the project's git commit.

Both go on every run (as tags) and into the model card, so that a score can be traced back
to the code and libraries that produced it. Nothing here imports TensorFlow: versions are
read from the installed packages' metadata.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from hpsearch import __version__

# The libraries a result depends on, in the order people look for them.
TRACKED_PACKAGES = (
    "tensorflow",
    "keras",
    "scikeras",
    "scikit-learn",
    "optuna",
    "mlflow",
    "numpy",
    "pandas",
)

# MLflow's own tag: the UI shows it as the run's "Git commit".
GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_DIRTY_TAG = "hpsearch.git_dirty"


def package_versions() -> dict[str, str]:
    """hpsearch, Python and each tracked package that is installed, by name."""
    versions = {"hpsearch": __version__, "python": platform.python_version()}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(folder: Path) -> tuple[str, bool] | None:
    """(commit, has uncommitted changes) of the git work tree holding ``folder``, or None."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip(), bool(status.returncode == 0 and status.stdout.strip())


def provenance_tags(folder: Path) -> dict[str, str]:
    """Tags for a run: ``hpsearch.version.<package>`` for each package, and the git commit
    (``hpsearch.git_dirty`` says whether changes were not committed: the commit alone would
    then not reproduce the result)."""
    tags = {f"hpsearch.version.{name}": version for name, version in package_versions().items()}
    found = git_commit(folder)
    if found is not None:
        tags[GIT_COMMIT_TAG] = found[0]
        tags[GIT_DIRTY_TAG] = str(found[1]).lower()
    return tags
