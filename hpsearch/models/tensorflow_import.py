"""TensorFlow's start-up lines kept off the user's terminal, unless ``--verbose``.

Importing TensorFlow 2.21 writes to the process's standard error, at the C level, lines that
say nothing a user can act on: absl's ``WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR``, then ``I0000 ... port.cc:153]
oneDNN custom operations are on...`` and ``cudart_stub.cc:31] Could not find cuda drivers``,
twice (two of its libraries load). ``TF_CPP_MIN_LOG_LEVEL`` hides TensorFlow's later lines
but not these: absl prints them before TensorFlow's own log settings exist.

``hide_tensorflow_start_up()`` makes the first ``import tensorflow`` of the process run with
file descriptor 2 pointed at a temporary file; when the import ends, descriptor 2 is the
terminal again and the captured text is written back to it, less absl's informational and
warning lines (``I...``, ``W...``). Errors (``E...``, ``F...``) and anything else, Python's
warnings included, still reach the user, and a Python exception raised by the import is
untouched. Only a crash inside the import itself (a C++ abort) would lose its last words
in the capture: ``--verbose`` shows them. ``TF_ENABLE_ONEDNN_OPTS`` is left as it is (it
changes the numbers); only its notice is hidden.

The hook is installed, not the import done: a process that never needs TensorFlow (the
study's own process, ``validate``) never pays for it. Each process that may import
TensorFlow installs it: the CLI's, the fork server (``worker_preload``), Dask's and
joblib's workers. ``HPSEARCH_VERBOSE=1`` in the environment (what ``--verbose`` sets, for
the processes it starts) leaves TensorFlow's output as it is.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_VARIABLE = "HPSEARCH_VERBOSE"
# hpsearch's default (hpsearch/__init__.py): TensorFlow's C++ lines after start-up, among
# them a harmless tf.data "NodeDef mentions attribute" error at every fit.
QUIET_LEVEL = "3"

# absl's format: severity, date, time, thread, file:line]. Informational and warning lines.
_START_UP_LINE = re.compile(rb"^[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^ \]]+:\d+\] ")
_START_UP_TEXTS = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    # The second line of cpu_feature_guard's notice (shown with TF_CPP_MIN_LOG_LEVEL=0).
    b"To enable the following instructions:",
)


def verbose() -> bool:
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


def show_tensorflow_output() -> None:
    """``--verbose``: TensorFlow's lines as TensorFlow writes them, here and in the
    processes started from here (they inherit the environment)."""
    os.environ[VERBOSE_VARIABLE] = "1"
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == QUIET_LEVEL:
        # TensorFlow's own default; set rather than removed, so that the processes started
        # from here, which import hpsearch and its default again, keep it.
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    logging.getLogger("tensorflow").setLevel(logging.NOTSET)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]


def hide_tensorflow_start_up() -> None:
    """Hide the start-up lines of this process's first ``import tensorflow`` (see the
    module's docstring). Does nothing when TensorFlow is already imported, and what
    ``--verbose`` asks when ``HPSEARCH_VERBOSE`` is set. Cheap: nothing is imported."""
    if verbose():
        show_tensorflow_output()
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_LEVEL)
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


class _QuietTensorFlowFinder:
    """Finds ``tensorflow`` as the other finders do, with a loader that hides its lines."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        # Once per process: out of the way before looking, so that the lookup below (and
        # every later import) goes through the usual finders.
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _LoaderHidingStartUp(spec.loader)
        return spec


class _LoaderHidingStartUp:
    """The package's own loader, its ``exec_module`` (where the libraries load) wrapped."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        try:
            with start_up_lines_hidden():
                self._loader.exec_module(module)
        finally:
            # From now on the module is as any other: its own loader, not this wrapper.
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader


@contextmanager
def start_up_lines_hidden() -> Iterator[None]:
    """File descriptor 2 captured for the block; then restored, and what was captured
    written back to it, less TensorFlow's start-up lines."""
    try:
        saved = os.dup(2)
    except OSError:  # no standard error at all: nothing to hide
        yield
        return
    _flush_stderr()
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = without_start_up_lines(capture.read())
            if kept:
                _write_all(2, kept)


def without_start_up_lines(text: bytes) -> bytes:
    """``text`` less absl's informational and warning lines and its pre-init notice."""
    return b"".join(
        line
        for line in text.splitlines(keepends=True)
        if not _START_UP_LINE.match(line) and not line.startswith(_START_UP_TEXTS)
    )


def _flush_stderr() -> None:
    if sys.stderr is not None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
