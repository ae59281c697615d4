"""A quiet, quick start: no TensorFlow start-up lines on the terminal unless ``--verbose``,
``validate`` without importing a user's builder file, and the study file's JSON Schema."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, TINY_OPTUNA, write_study
from hpsearch.cli import build_parser, main
from hpsearch.data import resolve_loader
from hpsearch.errors import UserError
from hpsearch.models.tensorflow_import import without_start_up_lines
from hpsearch.study import load_study
from hpsearch.study.reading import read_yaml
from hpsearch.study.references import (
    SourceFunction,
    accepted_parameters,
    check_parameters,
    resolve,
    signatures_from_source,
)

# What TensorFlow 2.21 writes at start-up: absl's notice before its logging is set up, then
# its own lines (``I0000 00:00:1796535662.842901    8472 port.cc:153] oneDNN ...``).
ABSL_NOTICE = "All log messages before absl::InitializeLog() is called"
ABSL_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ", re.MULTILINE)


def _environment(**extra: str) -> dict[str, str]:
    """This environment without the variables that decide what TensorFlow shows."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("HPSEARCH_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")
    }
    return {**environment, **extra}


def _python(code: str, *arguments: str, cwd: Path, **environment: str):
    return subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_environment(**environment),
        timeout=300,
    )


# --- TensorFlow's start-up lines ---------------------------------------------------------


def test_run_shows_no_tensorflow_start_up_lines(tmp_path):
    """The study's process, the fork server and its worker all import TensorFlow's
    libraries or inherit them; none of their start-up lines reaches stdout or stderr."""
    text = TINY_OPTUNA.replace("n_trials: 4", "n_trials: 1")
    text += "tracking: {plots: false, system_metrics: false}\n"
    path = write_study(tmp_path, text)
    result = subprocess.run(
        [sys.executable, "-m", "hpsearch", "run", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_environment(),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert ABSL_NOTICE not in output, output
    assert not ABSL_LINE.search(output), output
    assert "oneDNN" not in output and "cuda" not in output.lower(), output
    assert "trial    0 COMPLETE" in result.stdout
    # Off a terminal, the run's first line is the study's, as before.
    assert result.stdout.startswith("tiny-optuna: optuna search, 1 trials")


def test_verbose_lets_tensorflow_lines_through(tmp_path):
    """--verbose: TensorFlow's own output, here and (through the environment) in the fork
    server. Asserted against what a bare import prints on this machine, which may be
    nothing at all."""
    bare = _python("import tensorflow", cwd=tmp_path)
    code = textwrap.dedent(
        """
        import os, sys
        from hpsearch.cli import main
        assert main(sys.argv[1:]) == 0
        assert os.environ["HPSEARCH_VERBOSE"] == "1", "not passed on to the workers"
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
        import tensorflow
        """
    )
    verbose = _python(code, "schema", "--verbose", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    for seen in (ABSL_NOTICE, "port.cc", "cudart_stub.cc"):
        if seen in bare.stderr:
            assert seen in verbose.stderr, verbose.stderr


FAKE_TENSORFLOW = """
import os, sys, warnings
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1796535662.842901    8472 port.cc:153] oneDNN custom operations are on.\\n")
os.write(2, b"W0000 00:00:1796535662.845666    8472 cudart_stub.cc:31] Could not find cuda drivers\\n")
os.write(2, b"E0000 00:00:1796535662.845666    8472 platform.cc:1] a real error\\n")
print("a line of the library's own", file=sys.stderr)
if os.environ.get("FAKE_TENSORFLOW_FAILS"):
    raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")
"""


@pytest.fixture
def fake_tensorflow(tmp_path) -> Path:
    """A ``tensorflow`` package that writes TensorFlow's start-up lines to descriptor 2,
    as the real one does from C++: what the hook does, checked without loading TensorFlow."""
    package = tmp_path / "fake" / "tensorflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_TENSORFLOW)
    return package.parent


HIDDEN_IMPORT = textwrap.dedent(
    """
    import os, sys
    from hpsearch.models.tensorflow_import import hide_tensorflow_start_up
    hide_tensorflow_start_up()
    try:
        import tensorflow
    except ImportError as error:
        os.write(2, f"after the import: {error}\\n".encode())
        raise SystemExit(3)
    assert type(tensorflow.__loader__).__name__ == "SourceFileLoader", tensorflow.__loader__
    assert tensorflow.__spec__.loader is tensorflow.__loader__
    assert not any("Quiet" in type(f).__name__ for f in sys.meta_path), sys.meta_path
    os.write(2, b"after the import\\n")
    """
)


def test_the_first_tensorflow_import_hides_only_its_start_up_lines(tmp_path, fake_tensorflow):
    result = _python(HIDDEN_IMPORT, cwd=tmp_path, PYTHONPATH=str(fake_tensorflow))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "E0000 00:00:1796535662.845666    8472 platform.cc:1] a real error",
        "a line of the library's own",
        "after the import",
    ]


def test_a_failed_tensorflow_import_keeps_its_error_and_the_terminal(tmp_path, fake_tensorflow):
    result = _python(
        HIDDEN_IMPORT, cwd=tmp_path, PYTHONPATH=str(fake_tensorflow), FAKE_TENSORFLOW_FAILS="1"
    )
    assert result.returncode == 3, result.stderr
    assert "a real error" in result.stderr and "port.cc" not in result.stderr
    assert "after the import: libtensorflow_framework.so.2" in result.stderr


def test_verbose_environment_leaves_the_import_alone(tmp_path, fake_tensorflow):
    result = _python(
        HIDDEN_IMPORT.replace("assert type(tensorflow.__loader__)", "# "),
        cwd=tmp_path,
        PYTHONPATH=str(fake_tensorflow),
        HPSEARCH_VERBOSE="1",
    )
    assert result.returncode == 0, result.stderr
    assert ABSL_NOTICE in result.stderr and "port.cc:153" in result.stderr


def test_start_up_lines_are_told_from_the_rest():
    text = (
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        b"I0000 00:00:1796535662.842901    8472 port.cc:153] oneDNN custom operations are on.\n"
        b"W0000 00:00:1796535662.8    12 cudart_stub.cc:31] Could not find cuda drivers\n"
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild\n"
        b"F0000 00:00:1796535662.842901    8472 check.cc:9] Check failed: fatal\n"
        b"/x.py:3: UserWarning: a warning\n"
        b"Info: not absl's\n"
    )
    assert without_start_up_lines(text) == (
        b"F0000 00:00:1796535662.842901    8472 check.cc:9] Check failed: fatal\n"
        b"/x.py:3: UserWarning: a warning\n"
        b"Info: not absl's\n"
    )


def test_verbose_goes_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--verbose", "validate", "s.yaml"]).verbose is True
    assert parser.parse_args(["validate", "s.yaml", "--verbose"]).verbose is True
    assert parser.parse_args(["run", "s.yaml"]).verbose is False


# --- validate without importing the user's files -------------------------------------------

USER_BUILDER = """\
import keras

from hpsearch.models.heads import output_layer


def build(meta, units=16, *, dropout=0.0):
    model = keras.Sequential([keras.Input(shape=meta["X_shape_"][1:])])
    model.add(keras.layers.LSTM(units, dropout=dropout))
    model.add(output_layer(meta))
    return model
"""

USER_STUDY = """\
name: user-builder
task: classification
data: {loader: digits}
model: {builder: "my_model.py:build"}
search:
  space:
    units: [8, 16]
    dropout: [0.0, 0.2]
    epochs: 1
"""


def test_validate_reads_a_builder_file_without_importing_it(tmp_path):
    (tmp_path / "my_model.py").write_text(USER_BUILDER)
    path = write_study(tmp_path, USER_STUDY)
    code = textwrap.dedent(
        """
        import sys
        from hpsearch.cli import main
        code = main(["validate", sys.argv[1]])
        imported = [m for m in sys.modules if m.startswith(("tensorflow", "keras", "hpsearch_user"))]
        assert not imported, imported
        sys.exit(code)
        """
    )
    result = _python(code, str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model: my_model.py:build" in result.stdout
    misspelled = write_study(tmp_path, USER_STUDY.replace("units:", "unit:"), "bad.yaml")
    result = _python(code, str(misspelled), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"error: {misspelled}: search.space.unit: the builder 'my_model.py:build' takes no"
        " parameter 'unit'; did you mean 'units'? (it takes: dropout, units)\n"
    )


def test_validate_gives_the_errors_importing_gives(tmp_path):
    """The same message from the source as from the imported function, suggestion included."""
    (tmp_path / "mine.py").write_text(
        "def load(n=3, *, scale=1.0):\n    return [[0.0]] * n, [0, 1, 0]\n"
        "def build(meta, width=2):\n    raise RuntimeError\n"
    )
    for text, expected in [
        ('data: {loader: "mine.py:load", params: {scales: 2}}', "did you mean 'scale'?"),
        ('data: {loader: "mine.py:lod"}', "has no loader function 'lod'; did you mean 'load'?"),
        ('data: {loader: "nothere.py:load"}', "the loader file"),
    ]:
        study = load_study(
            write_study(
                tmp_path,
                f"name: m\ntask: classification\n{text}\nmodel: {{builder: 'mine.py:build'}}\n",
            )
        )
        with pytest.raises(UserError) as imported:
            resolve_loader(study)
        with signatures_from_source(), pytest.raises(UserError) as read:
            resolve_loader(study)
        assert str(read.value) == str(imported.value)
        assert expected in str(read.value)


# --- the ast reader ------------------------------------------------------------------------


def _read(tmp_path: Path, source: str, name: str = "build"):
    path = tmp_path / "builder.py"
    path.write_text(textwrap.dedent(source))
    return SourceFunction.read(path, name, where="model.builder", kind="builder")


def test_source_signature_names_and_defaults(tmp_path):
    function = _read(
        tmp_path,
        """
        import numpy as np

        def build(meta, /, units=16, layers=(1, 2), *args, dtype=np.float32, dropout, **rest):
            return units
        """,
    )
    signature = inspect.signature(function)
    assert list(signature.parameters) == [
        "meta",
        "units",
        "layers",
        "args",
        "dtype",
        "dropout",
        "rest",
    ]
    assert signature.parameters["meta"].kind is inspect.Parameter.POSITIONAL_ONLY
    assert signature.parameters["units"].default == 16
    assert signature.parameters["layers"].default == (1, 2)
    assert repr(signature.parameters["dtype"].default) == "np.float32"
    assert signature.parameters["dropout"].default is inspect.Parameter.empty
    assert accepted_parameters(function) is None  # **rest: any name


def test_source_signature_without_kwargs_checks_names(tmp_path):
    function = _read(tmp_path, "def build(meta, units=16, *, dropout=0.0):\n    return units\n")
    assert accepted_parameters(function) == {"meta", "units", "dropout"}
    with pytest.raises(UserError, match="takes no parameter 'dropot'; did you mean 'dropout'"):
        check_parameters(function, {"dropot": "search.space.dropot"}, kind="builder", reference="b")
    assert function(None, units=3) == 3  # calling it imports the file


@pytest.mark.parametrize(
    "source",
    [
        "import functools\n@functools.cache\ndef build(meta, units=1):\n    pass\n",
        "def make():\n    pass\nbuild = make\n",
        "def build(meta):\n    pass\ndef build(meta, units):\n    pass\n",
        "import os\nif os.environ.get('X'):\n    def build(meta):\n        pass\n",
        "async def build(meta):\n    pass\n",
        "def build(meta):\n    pass\nfrom os.path import *\n",
        "def build(meta):\n    pass\ndef setup():\n    global build\n",
        "from somewhere import build\n",
        "def build(meta:\n",
        "def other(meta):\n    pass\n",
    ],
    ids=[
        "decorated",
        "assigned",
        "defined-twice",
        "under-if",
        "async",
        "star-import",
        "global",
        "imported",
        "syntax-error",
        "missing",
    ],
)
def test_what_the_source_cannot_tell_is_left_to_importing(tmp_path, source):
    assert _read(tmp_path, source) is None


def test_only_file_references_are_read_from_source(tmp_path):
    builtins = {"digits": "hpsearch.data.digits:load_digits_sequences"}
    with signatures_from_source():
        loader = resolve("digits", builtins, kind="loader", where="data.loader")
    assert not isinstance(loader, SourceFunction)


# --- hpsearch schema -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    result = subprocess.run(
        [sys.executable, "-m", "hpsearch", "schema"], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def _as_json(document):
    """What an editor's YAML server hands the schema: JSON values, every key a string."""
    return json.loads(json.dumps(document))


def test_schema_is_a_json_schema_without_internal_fields(schema):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "hpsearch study file"
    assert set(schema["properties"]) == {
        "name",
        "task",
        "seed",
        "data",
        "model",
        "search",
        "training",
        "tracking",
    }


@pytest.mark.parametrize(
    "path", sorted((ROOT / "studies").glob("*.yaml")), ids=lambda path: path.name
)
def test_every_shipped_study_validates_against_the_schema(schema, path):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(_as_json(read_yaml(path)), schema)


@pytest.mark.parametrize(
    "edit",
    [
        lambda study: study.update(colour="red"),
        lambda study: study["search"].update(n_trial=3),
        lambda study: study["search"]["space"].update(units={"lo": 1, "hi": 2}),
        lambda study: study["search"].update(timeout=0),
    ],
    ids=["unknown-key", "unknown-search-key", "not-a-dimension", "timeout-zero"],
)
def test_schema_refuses_what_validate_refuses(schema, edit):
    jsonschema = pytest.importorskip("jsonschema")
    study = _as_json(read_yaml(ROOT / "studies" / "quickstart.yaml"))
    edit(study)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(study, schema)


def test_schema_command_in_process(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "hpsearch study file"
