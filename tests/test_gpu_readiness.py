"""Ready for a GPU, checked on a CPU: which LSTM/GRU layers can run cuDNN's fast kernel
(of a built model, and of a study's settings before anything is built), the tag each
trial carries, and the environment each worker process gets where there are GPUs."""

from __future__ import annotations

import os

import pytest

from conftest import study_runs, write_study
from hpsearch.cli import main
from hpsearch.models.cudnn import choices_leaving_cudnn, cudnn_eligible
from hpsearch.search.gpus import parse_visible_devices, visible_gpus, worker_gpu_environment
from hpsearch.study import load_study


def _model(*layers):
    import keras

    return keras.Sequential([keras.Input((5, 3)), *layers, keras.layers.Dense(1)])


def test_a_built_model_is_eligible_only_with_the_fast_kernels_settings():
    import keras

    layers = keras.layers
    assert cudnn_eligible(_model(layers.LSTM(4))) is True
    assert cudnn_eligible(_model(layers.GRU(4, return_sequences=True), layers.LSTM(2))) is True
    assert cudnn_eligible(_model(layers.Bidirectional(layers.LSTM(4)))) is True
    assert cudnn_eligible(_model(layers.Flatten())) is None  # no LSTM or GRU
    for off in (
        layers.LSTM(4, recurrent_dropout=0.2),
        layers.LSTM(4, activation="relu"),
        layers.LSTM(4, recurrent_activation="hard_sigmoid"),
        layers.LSTM(4, unroll=True),
        layers.LSTM(4, use_bias=False),
        layers.LSTM(4, use_cudnn=False),
        layers.GRU(4, reset_after=False),
        layers.Bidirectional(layers.GRU(4, activation="relu")),
    ):
        assert cudnn_eligible(_model(off)) is False, off.get_config()
    # One slow layer is enough to make the model slow.
    assert (
        cudnn_eligible(_model(layers.LSTM(4, return_sequences=True), layers.GRU(2, unroll=True)))
        is False
    )


def _study(workdir, builder: str, space: str, params: str = "{}"):
    path = write_study(
        workdir,
        f"""
        name: gpu
        task: classification
        data: {{loader: digits}}
        model: {{builder: "{builder}", params: {params}}}
        search: {{space: {space}}}
        """,
    )
    return load_study(path)


def test_a_studys_choices_that_leave_the_fast_kernel_are_named(workdir):
    (workdir / "mine.py").write_text(
        "def build(meta, recurrent_dropout=0.0, unroll=False, activation='relu'):\n    pass\n"
    )
    cases = {
        ("lstm", "{activation: [tanh, relu], units: [4, 8]}"): ["search.space.activation relu"],
        ("gru", "{recurrent_dropout: {low: 0.0, high: 0.3}}"): [
            "search.space.recurrent_dropout up to 0.3"
        ],
        ("recurrent", "{cell: [lstm, gru, simple_rnn]}"): ["search.space.cell simple_rnn"],
        ("cnn_lstm", "{activation: [relu, tanh]}"): [],  # the convolutions' activation
        ("dense", "{activation: [relu], recurrent_dropout: 0.2}"): [],
        ("lstm", "{units: 4, recurrent_dropout: 0.0}"): [],
        # A builder of the user's: only the names that can mean nothing else.
        ("mine.py:build", "{activation: [relu], unroll: [false, true]}"): [
            "search.space.unroll True"
        ],
    }
    for (builder, space), expected in cases.items():
        assert choices_leaving_cudnn(_study(workdir, builder, space)) == expected, (builder, space)
    fixed = _study(workdir, "lstm", "{units: 4}", params="{recurrent_dropout: 0.2}")
    assert choices_leaving_cudnn(fixed) == ["model.params.recurrent_dropout 0.2"]


def test_validate_says_in_one_line_which_choices_leave_cudnn(workdir, capsys):
    write_study(
        workdir,
        """
        name: slow-on-gpu
        task: classification
        data: {loader: digits}
        model: {builder: lstm}
        search: {space: {activation: [tanh, relu], recurrent_dropout: [0.0, 0.2]}}
        """,
    )
    assert main(["validate", "study.yaml"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "cuDNN" in line]
    assert len(lines) == 1
    assert "search.space.activation relu" in lines[0]
    assert "search.space.recurrent_dropout 0.2" in lines[0]


def test_each_trial_is_tagged_with_whether_its_model_can_run_cudnn(workdir):
    write_study(
        workdir,
        """
        name: tagged
        task: classification
        seed: 1
        data: {loader: digits, params: {n_samples: 60, classes: 2}}
        model: {builder: lstm}
        search:
          backend: grid
          cv: {holdout: 0.5}
          trials_per_process: 0
          space: {units: 2, epochs: 1, batch_size: 32, recurrent_dropout: [0.0, 0.2]}
        """,
        plots=False,
    )
    assert main(["run", "study.yaml", "--quiet"]) == 0
    _, trials = study_runs("tagged")
    tags = {run.data.params["recurrent_dropout"]: run.data.tags["hpsearch.cudnn"] for run in trials}
    assert tags == {"0.0": "true", "0.2": "false"}


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    assert parse_visible_devices("2,3") == ["2", "3"]
    assert parse_visible_devices("") == [] and parse_visible_devices("-1") == []
    assert parse_visible_devices("0,-1,1") == ["0"]  # CUDA stops at an invalid entry
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1, 3")
    assert visible_gpus() == ["1", "3"]


def test_each_worker_gets_its_own_gpu_and_memory_growth():
    assert worker_gpu_environment(0, []) == {}  # no GPU: nothing changes
    assert worker_gpu_environment(3, ["0"]) == {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    two = [worker_gpu_environment(slot, ["0", "1"])["CUDA_VISIBLE_DEVICES"] for slot in range(4)]
    assert two == ["0", "1", "0", "1"]


@pytest.mark.slow
def test_worker_processes_start_with_their_gpu_environment(monkeypatch):
    """Real worker processes of two parallel jobs, on a machine said to have GPUs 4 and 5
    (TensorFlow finds none on a CPU machine; the environment is what is checked)."""
    from hpsearch.search.trainer import ParallelTrainer

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    trainer = ParallelTrainer(None, trials_per_process=1, n_jobs=2)
    try:
        seen = []
        for slot in range(2):
            worker = trainer._trainer() if slot == 0 else _second_thread_trainer(trainer)
            seen.append(
                (
                    worker._call(os.getenv, "CUDA_VISIBLE_DEVICES"),
                    worker._call(os.getenv, "TF_FORCE_GPU_ALLOW_GROWTH"),
                )
            )
    finally:
        trainer.close()
    assert seen == [("4", "true"), ("5", "true")]


def _second_thread_trainer(trainer):
    """The worker trainer another job's thread gets (one per thread)."""
    import threading

    found = []
    thread = threading.Thread(target=lambda: found.append(trainer._trainer()))
    thread.start()
    thread.join()
    return found[0]
