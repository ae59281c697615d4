"""The study file: what SPEC allows parses; every mistake is exit 2 with its key named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, write_study
from hpsearch.cli import main
from hpsearch.errors import UserError
from hpsearch.study import Range, load_study

SPEC_EXAMPLE = """
name: imdb-lstm
task: classification
seed: 42
data:
  loader: digits
  params: {n_samples: 100}
model:
  builder: lstm
  params: {embedding_dim: 64}
  loss: binary_crossentropy
search:
  backend: optuna
  n_trials: 30
  timeout: 3600
  sampler: tpe
  pruner: hyperband
  n_jobs: 1
  cv: 3
  metric: accuracy
  direction: maximize
  space:
    optimizer: [adam, rmsprop, sgd]
    init: [glorot_uniform, he_normal, lecun_uniform]
    activation: [tanh, relu]
    dropout: {low: 0.0, high: 0.5, step: 0.1}
    units: {low: 16, high: 128, log: true}
    batch_size: [32, 64]
    epochs: {low: 1, high: 5}
    learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
tracking:
  uri: sqlite:///mlruns/mlflow.db
"""


def test_the_spec_example_parses(tmp_path):
    study = load_study(write_study(tmp_path, SPEC_EXAMPLE))
    space = study.search.space
    assert space["optimizer"] == ["adam", "rmsprop", "sgd"]
    assert space["units"] == Range(low=16, high=128, log=True) and space["units"].is_int
    assert not space["dropout"].is_int
    assert study.metric.name == "accuracy" and study.direction == "maximize"
    assert study.n_folds == 3


def test_epochs_are_shared_from_a_list_and_from_a_range_only_when_asked(tmp_path):
    """``search.share_epochs``: the shorter epochs a completed Optuna trial scores."""
    unpruned = SPEC_EXAMPLE.replace("pruner: hyperband", "pruner: median")
    assert load_study(write_study(tmp_path, unpruned)).shared_epochs == []  # a range
    text = unpruned.replace("n_jobs: 1", "n_jobs: 1\n  share_epochs: true")
    assert load_study(write_study(tmp_path, text)).shared_epochs == [1, 2, 3, 4, 5]
    text = unpruned.replace("epochs: {low: 1, high: 5}", "epochs: [12, 4, 8]")
    assert load_study(write_study(tmp_path, text)).shared_epochs == [4, 8, 12]
    text = text.replace("n_jobs: 1", "n_jobs: 1\n  share_epochs: false")
    assert load_study(write_study(tmp_path, text)).shared_epochs == []


def test_a_pruner_that_shares_out_epochs_takes_the_top_of_the_searched_epochs(tmp_path):
    """``Study.epochs_budget``: with hyperband or successive halving, every trial may train
    the most epochs the space allows; otherwise the sampler draws them."""

    def budget(text: str) -> int | None:
        return load_study(write_study(tmp_path, text)).epochs_budget

    assert budget(SPEC_EXAMPLE) == 5  # epochs: {low: 1, high: 5}
    stepped = SPEC_EXAMPLE.replace("{low: 1, high: 5}", "{low: 2, high: 12, step: 3}")
    assert budget(stepped) == 11  # 2, 5, 8, 11
    assert budget(SPEC_EXAMPLE.replace("{low: 1, high: 5}", "[12, 4, 8]")) == 12
    halving = SPEC_EXAMPLE.replace("pruner: hyperband", "pruner: successive_halving")
    assert budget(halving) == 5
    assert budget(SPEC_EXAMPLE.replace("pruner: hyperband", "pruner: median")) is None
    assert budget(SPEC_EXAMPLE.replace("{low: 1, high: 5}", "5")) is None  # fixed
    grid = SPEC_EXAMPLE.replace("sampler: tpe", "sampler: grid").replace(
        "{low: 1, high: 5}", "[1, 5]"
    )
    assert budget(grid) is None  # the grid's candidates are fixed in advance


def test_scientific_notation_without_a_dot_is_a_float(tmp_path):
    text = SPEC_EXAMPLE.replace("1.0e-4", "1e-4")
    study = load_study(write_study(tmp_path, text))
    assert study.search.space["learning_rate"].low == pytest.approx(1e-4)


def test_grid_counts_candidates(tmp_path):
    text = """
    name: g
    task: regression
    data: {loader: digits}
    model: {builder: dense}
    search:
      backend: grid
      cv: {holdout: 0.25}
      space:
        units: {low: 8, high: 32, step: 8}
        dropout: {low: 0.0, high: 0.5, step: 0.25}
        optimizer: [adam, sgd]
        epochs: 3
    """
    study = load_study(write_study(tmp_path, text))
    assert study.grid()["units"] == [8, 16, 24, 32]
    assert study.grid()["dropout"] == [0.0, 0.25, 0.5]
    assert study.grid_size() == 4 * 3 * 2
    assert study.metric.name == "rmse" and study.direction == "minimize"


BROKEN = [
    (
        "s/units: {low: 16, high: 128, log: true}/units: {low: 200, high: 128}/",
        "search.space.units: low (200) must be <= high (128)",
    ),
    (
        "s/units: {low: 16, high: 128, log: true}/units: {low: 0, high: 128, log: true}/",
        "search.space.units: a log range needs low > 0",
    ),
    ("s/batch_size: \\[32, 64\\]/batch_size: []/", "search.space.batch_size: an empty list"),
    ("s/n_jobs: 1/n_jobz: 1/", "search.n_jobz: unknown key"),
    (
        's/params: {embedding_dim: 64}/params: {"embedding dim": 64}/',
        "model.params: 'embedding dim' is not a valid parameter name",
    ),
    (
        "s/n_jobs: 1/trials_per_process: -1/",
        "search.trials_per_process: Input should be greater than or equal to 0",
    ),
    ("s/seed: 42/seed: forty-two/", "seed: Input should be a valid integer"),
    (
        "s/  loss: binary_crossentropy.*/  jit_compile: xla/",
        "model.jit_compile: Input should be a valid boolean",
    ),
    (
        "s/  loss: binary_crossentropy.*/  steps_per_execution: 0/",
        "model.steps_per_execution: Input should be greater than or equal to 1",
    ),
    ("s/cv: 3/cv: {holdout: 1.5}/", "search.cv.holdout: Input should be less than 1"),
    ("s/cv: 3/cv: {folds: 2}/", "search.cv: cv is a number of folds"),
    ("s/metric: accuracy/metric: rmse/", "search.metric: 'rmse' is a regression metric"),
    ("s/metric: accuracy/metric: accurcy/", "search.metric: unknown metric 'accurcy'"),
    ("s/direction: maximize/direction: minimize/", "search.direction: accuracy is to maximize"),
    ("s/sampler: tpe/sampler: bayes/", "search.sampler: Input should be"),
    ("s/^task: classification/task: clustering/", "task: Input should be"),
    (
        "s/epochs: {low: 1, high: 5}/epochs: {low: 0, high: 5}/",
        "search.space.epochs: must be an integer >= 1",
    ),
    ("s/timeout: 3600/timeout: -5/", "search.timeout: Input should be greater than 0"),
    (
        "s/metric: accuracy/metric: [accuracy, n_params]/;"
        "s/direction: maximize/direction: [maximize, minimize]/",
        "search.pruner: Optuna cannot prune a multi-objective study; use none",
    ),
    (
        "s/metric: accuracy/metric: [accuracy, loss]/",
        "search.metric: 'loss' cannot follow the metric (objectives after it: n_params,"
        " predict_ms)",
    ),
    (
        "s/metric: accuracy/metric: [accuracy, accuracy]/",
        "search.metric: a list of different objectives, metric first",
    ),
    (
        "s/pruner: hyperband/pruner: none/;s/metric: accuracy/metric: [accuracy, n_params]/",
        "search.direction: 1 direction(s) for 2 objective(s)",
    ),
    (
        "s/pruner: hyperband/pruner: none/;s/metric: accuracy/metric: [accuracy, n_params]/;"
        "s/direction: maximize/direction: [maximize, maximize]/",
        "search.direction: n_params is to minimize, not to maximize",
    ),
    (
        "s/pruner: hyperband/pruner: none/;s/metric: accuracy/metric: [accuracy, n_params]/;"
        "s/direction: maximize/direction: [maximize, minimize]/;s/sampler: tpe/sampler: cmaes/",
        "search.sampler: cmaes optimises one objective",
    ),
    (
        "s/n_jobs: 1/n_jobs: 2\\n  trials_per_process: 0/",
        "search.n_jobs: parallel Optuna trials train in worker processes",
    ),
    (
        "s/timeout: 3600/timeout: 3600\\n  heartbeat: 0/",
        "search.heartbeat: Input should be greater than or equal to 1",
    ),
    ("s/backend: optuna/backend: grid/", "search.n_trials: applies to the optuna backend only"),
    (
        "s/sampler: tpe/sampler: random\\n  multivariate: true/",
        "search.multivariate: applies to the tpe sampler only (the sampler is random)",
    ),
    (
        "s/sampler: tpe/sampler: tpe\\n  multivariate: yes please/",
        "search.multivariate: Input should be a valid boolean",
    ),
    (
        "s/sampler: tpe/sampler: random\\n  startup_trials: 3/",
        "search.startup_trials: applies to the tpe, gp, cmaes samplers only (the sampler is random)",
    ),
    (
        "s/sampler: tpe/sampler: tpe\\n  startup_trials: -1/",
        "search.startup_trials: Input should be greater than or equal to 0",
    ),
    (
        "s/sampler: tpe/sampler: tpe\\n  share_epochs: true/;s/epochs: {low: 1, high: 5}/epochs: 3/",
        "search.share_epochs: needs epochs searched at the top of search.space, as a list",
    ),
    (
        "s/sampler: tpe/sampler: grid\\n  share_epochs: true/;s/epochs: {low: 1, high: 5}/epochs: [1, 5]/",
        "search.share_epochs: does not apply to the grid sampler",
    ),
    (
        "s/sampler: tpe/sampler: tpe\\n  share_epochs: true\\n  reuse_models: false/;"
        "s/epochs: {low: 1, high: 5}/epochs: [1, 5]/",
        "search.share_epochs: needs search.reuse_models",
    ),
    (
        "s/backend: optuna/backend: grid/;s/n_trials: 30/share_epochs: false/;"
        "s/  sampler: tpe//;s/  pruner: hyperband//",
        "search.share_epochs: applies to the optuna backend only",
    ),
    (
        "s/  n_jobs: 1/  n_jobs: 1\\n  enqueue: [{units: 200}]/",
        "search.enqueue.0.units: 200 is outside the range int in [16, 128], log",
    ),
    (
        "s/  n_jobs: 1/  n_jobs: 1\\n  enqueue: [{optimizer: adamw}]/",
        "search.enqueue.0.optimizer: 'adamw' is not one of the choices",
    ),
    (
        "s/  n_jobs: 1/  n_jobs: 1\\n  enqueue: [{epochz: 2}]/",
        "search.enqueue.0.epochz: 'epochz' is not in search.space",
    ),
    (
        "s/init: \\[glorot_uniform, he_normal/init: [he_normal, he_normal/",
        "search.space.init: the choice 'he_normal' is listed twice",
    ),
    (
        "s/  loader: digits/  loader: digitz/",
        "data.loader: unknown loader 'digitz'; did you mean 'digits'?",
    ),
    (
        "s/  builder: lstm/  builder: lstn/",
        "model.builder: unknown builder 'lstn'; did you mean 'lstm'?",
    ),
    (
        "s/params: {embedding_dim: 64}/params: {embedding_dims: 64}/",
        "model.params.embedding_dims: the builder 'lstm' takes no parameter 'embedding_dims'; did you mean 'embedding_dim'?",
    ),
    (
        "s/params: {n_samples: 100}/params: {n_sample: 100}/",
        "data.params.n_sample: the loader 'digits' takes no parameter 'n_sample'",
    ),
    (
        "s/optimizer: \\[adam, rmsprop, sgd\\]/optimizer: [adam, rmsprops]/",
        "search.space.optimizer: unknown optimizer 'rmsprops'",
    ),
    (
        "s/    activation: \\[tanh, relu\\]/    shuffle: [true, false]/",
        "search.space.shuffle: 'shuffle' is reserved",
    ),
    (
        "s/    activation: \\[tanh, relu\\]/    steps_per_execution: [1, 8]/",
        "search.space.steps_per_execution: 'steps_per_execution' is a fixed setting of the"
        " study: set model.steps_per_execution",
    ),
    (
        "s/    optimizer: \\[adam, rmsprop, sgd\\]/    optimizer: {choices: {adam: {units: [8]}}}/",
        "search.space.optimizer.choices.adam.units: 'units' is also searched at the top level",
    ),
    (
        "s/    optimizer: \\[adam, rmsprop, sgd\\]/    optimizer: {choices: {adam: {}}}/;"
        "s/    activation: \\[tanh, relu\\]/    activation: {choices: {tanh: {}}}/;"
        "s/adam: {}/adam: {l2: [0.1]}/;s/tanh: {}/tanh: {l2: [0.2]}/",
        "search.space.activation.choices.tanh.l2: 'l2' is also in the branches of 'optimizer'",
    ),
    (
        "s/    optimizer: \\[adam, rmsprop, sgd\\]/    optimizer: {choices: {}}/",
        "search.space.optimizer.choices: no choices; give at least one value",
    ),
    (
        "s/sampler: tpe/sampler: grid/;"
        "s/    optimizer: \\[adam, rmsprop, sgd\\]/    optimizer: {choices: {adam: {}}}/",
        "search.sampler: Optuna's grid sampler takes no branches",
    ),
    (
        "s/    optimizer: \\[adam, rmsprop, sgd\\]/    optimizer: {choices: {adam: {}}}/;"
        "s/  n_jobs: 1/  n_jobs: 1\\n  enqueue: [{optimizer: adam, momentum: 0.9}]/",
        "search.enqueue.0.momentum: 'momentum' is not in search.space (nor in a branch this"
        " start chooses)",
    ),
    (
        "s/    activation: \\[tanh, relu\\]/    momentum: [0.0, 0.9]/",
        "search.space.momentum: 'adam' takes no momentum (only sgd, rmsprop)",
    ),
    (
        "s/  n_jobs: 1/  n_jobs: 1\\n  grid_backend: dask/",
        "search.grid_backend: applies to the grid backend only",
    ),
    (
        "s/  n_jobs: 1/  n_jobs: 1\\n  dask_scheduler: tcp:\\/\\/x:8786/",
        "search.dask_scheduler: applies with grid_backend: dask only",
    ),
    (
        "s/  n_jobs: 1/  n_jobs: 1\\n  threads: 1\\n  trials_per_process: 0/",
        "search.threads: sets the threads of hpsearch's worker processes",
    ),
    ("s/n_jobs: 1/threads: 0/", "search.threads: Input should be greater than or equal to 1"),
    ("s/name: imdb-lstm/name: my study/", "name: use letters, digits"),
    (
        "s/^data:/data:\\n  loader: digits\\ndata:/",
        "line 7, column 1: invalid YAML: duplicate key 'data'",
    ),
    ("s/  cv: 3/ cv: 3/", "line 19, column 2: invalid YAML"),
]


@pytest.mark.parametrize("edit, message", BROKEN, ids=[m.split(":")[0] for _, m in BROKEN])
def test_broken_study_files_exit_2_naming_the_key(tmp_path, capsys, edit, message):
    path = write_study(tmp_path, SPEC_EXAMPLE)
    subprocess.run(["sed", "-i", edit, str(path)], check=True)
    assert path.read_text() != SPEC_EXAMPLE.lstrip("\n"), "the edit changed nothing"
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    assert f"{path}: {message}" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "(top level): the file is empty"),
        ("- just\n- a list\n", "(top level): a study file is a mapping"),
        (b"\x00\xff\xfe binary", "not a text file"),
        ("name: x\n", "task: missing (required)"),
        (
            "name: x\ntask: regression\ndata: {loader: digits}\nmodel: {builder: dense}\n"
            "search: {space: {units: [[1, 2]]}}\n",
            "search.space.units.0: expected a number",
        ),
        (
            "name: x\ntask: regression\ndata: {loader: digits}\nmodel: {builder: dense}\n"
            "search: {space: {units: {low: 1, high: 1e999}}}\n",
            "must be a finite number",
        ),
        (
            "name: x\ntask: regression\ndata: {loader: digits}\nmodel: {builder: dense}\n"
            "search: {backend: grid, space: {dropout: {low: 0.0, high: 0.5}}}\n",
            "search.space.dropout: the grid backend needs a step for a float range",
        ),
        (
            "name: x\ntask: regression\ndata: {loader: digits}\nmodel: {builder: dense, params: {units: 3}}\n"
            "search: {space: {units: [1, 2]}}\n",
            "search.space.units: also set in model.params",
        ),
        (
            "name: x\ntask: regression\ndata: {loader: digits}\nmodel: {builder: dense}\n"
            "search: {space: {x: !!python/object/apply:os.system [echo hacked]}}\n",
            "invalid YAML",
        ),
    ],
)
def test_malformed_files(tmp_path, capsys, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_missing_study_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such study file" in capsys.readouterr().err


def test_file_builder_and_loader_resolve_next_to_the_study(tmp_path):
    (tmp_path / "mine.py").write_text(
        "def load(n=3):\n    return [[0.0]] * n, [0, 1, 0]\n"
        "def build(meta, width=2):\n    raise RuntimeError\n"
    )
    study_text = """
    name: mine
    task: classification
    data: {loader: "mine.py:load", params: {n: 3}}
    model: {builder: "mine.py:build"}
    search: {space: {width: [1, 2]}}
    """
    path = write_study(tmp_path, study_text)
    assert main(["validate", str(path)]) == 0
    with pytest.raises(UserError, match="has no builder function 'buld'; did you mean 'build'"):
        from hpsearch.models.routing import check_model

        check_model(load_study(write_study(tmp_path, study_text.replace('build"', 'buld"'))))


def test_validate_prints_the_resolved_study_without_tensorflow(tmp_path):
    path = write_study(tmp_path, SPEC_EXAMPLE)
    code = (
        "import sys; from hpsearch.cli import main; rc = main(['validate', sys.argv[1]]);"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported';"
        "assert 'sklearn' not in sys.modules and 'mlflow' not in sys.modules; sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "optuna: 30 trials, sampler tpe (multivariate), pruner hyperband" in result.stdout
    assert "epochs: the pruner's budget, not drawn: each trial may train up to 5" in result.stdout
    assert "units: int in [16, 128], log" in result.stdout
    grid = write_study(tmp_path, (ROOT / "studies" / "quickstart.yaml").read_text(), "q.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "hpsearch", "validate", str(grid)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert not Path(tmp_path, "mlruns").exists(), "validate must not write anything"


def test_a_reader_that_stops_early_ends_the_output_without_a_traceback(tmp_path):
    path = write_study(tmp_path, SPEC_EXAMPLE)  # as `hpsearch validate study.yaml | head -1`
    command = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "validate", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    command.stdout.close()
    errors = command.stderr.read().decode()
    assert command.wait() == 1 and errors == "", errors


@pytest.mark.parametrize(
    "path", sorted((ROOT / "studies").glob("*.yaml")), ids=lambda path: path.name
)
def test_every_shipped_study_validates(path, capsys):
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_the_program_leaves_its_objects_to_the_exit(tmp_path, monkeypatch):
    """``hpsearch`` and ``python -m hpsearch`` run ``main`` and then freeze what is alive,
    so that the interpreter's last collection does not walk MLflow's and pandas' objects
    (~1 s that pipes and ``subprocess.run`` wait for)."""
    import gc

    from hpsearch.cli import entry_point

    path = write_study(tmp_path, SPEC_EXAMPLE)
    monkeypatch.setattr(sys, "argv", ["hpsearch", "validate", str(path)])
    assert gc.get_freeze_count() == 0
    try:
        assert entry_point() == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
