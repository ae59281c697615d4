"""``python -m hpsearch``: parse arguments, call one function, map exceptions to exit codes.

Exit codes (SPEC): 0 success; 2 a user error, printed as one line naming the file and key;
130 interrupted (143 on SIGTERM) after the state was saved; 1 a ``run`` or ``worker`` that
ends with no complete trial in the study (its errors printed, its trials kept), a ``rerun``
whose fold scores differ from the record, a ``delete`` answered no, or anything else.

TensorFlow's start-up lines (absl, oneDNN, CUDA) stay off the terminal unless ``--verbose``
(hpsearch.models.tensorflow_import): in this process and in those it starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from hpsearch import __version__
from hpsearch.errors import UserError

EXIT_NOTHING_COMPLETED = 1
EXIT_RERUN_DIFFERS = 1  # a fold trained again to another score than the recorded one
EXIT_NOT_CONFIRMED = 1  # delete: the question was answered no
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

VERBOSE_HELP = "show TensorFlow's own start-up and log lines (hidden by default)"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so that the running trial is recorded."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpsearch",
        description="Hyperparameter search for Keras models, tracked in MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"hpsearch {__version__}")
    parser.add_argument("--verbose", action="store_true", default=False, help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a study, or resume it")
    run.add_argument("study", type=Path, help="the study file (YAML)")
    run.add_argument("--n-trials", type=int, help="total trials of an optuna study")
    run.add_argument("--n-jobs", type=int, help="trials (grid: fits) at once on this machine")
    run.add_argument("--timeout", type=float, help="stop starting trials after S seconds")
    run.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default sqlite:///mlruns/mlflow.db)"
    )
    run.add_argument("--storage", help="Optuna storage URL (default sqlite:///mlruns/optuna.db)")
    run.add_argument("--seed", type=int, help="seed of the sampler, the folds and Keras")
    run.add_argument("--quiet", action="store_true", help="no progress display")

    worker = commands.add_parser(
        "worker", help="join a study that other workers run against the same storage"
    )
    worker.add_argument("study", type=Path, help="the study file (YAML), the same for all")
    worker.add_argument("--storage", help="Optuna storage shared by the workers (postgresql://...)")
    worker.add_argument("--tracking-uri", help="MLflow tracking server shared by the workers")
    worker.add_argument("--n-trials", type=int, help="total trials of the study, all workers")
    worker.add_argument("--timeout", type=float, help="stop starting trials after S seconds")
    worker.add_argument("--quiet", action="store_true", help="no progress display")

    validate = commands.add_parser("validate", help="check a study file without training")
    validate.add_argument("study", type=Path)

    commands.add_parser(
        "schema",
        help="the study file's JSON Schema, for editors",
        description="Prints the JSON Schema of a study file. Save it and point your editor"
        " at it: `hpsearch schema > study.schema.json`, then a first line"
        " `# yaml-language-server: $schema=study.schema.json` in the study file.",
    )

    report = commands.add_parser("report", help="leaderboard of a study, from the tracking store")
    report.add_argument("study", nargs="?", help="study name or study file")
    report.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="two studies (names or files) side by side instead of one leaderboard",
    )
    report.add_argument("--tracking-uri")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument("--top", type=int, default=20, help="rows of the table (default 20)")

    export = commands.add_parser(
        "export", help="write the best model (or a trial's) for deployment"
    )
    export.add_argument("study", help="study name or study file")
    export.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    which = export.add_mutually_exclusive_group()
    which.add_argument(
        "--trial", type=int, help="a complete trial of that number instead of the best (refitted)"
    )
    which.add_argument("--run-id", help="the complete trial of that MLflow run instead of the best")
    export.add_argument(
        "--alias",
        help="registered model alias for the exported version (default: champion for the best,"
        " none for --trial/--run-id)",
    )
    export.add_argument("--tracking-uri")

    studies = commands.add_parser("list", help="the studies in the tracking store")
    studies.add_argument("--format", choices=("table", "csv", "json"), default="table")
    studies.add_argument("--tracking-uri")

    rerun = commands.add_parser(
        "rerun", help="train one trial again from its MLflow record and compare its fold scores"
    )
    rerun.add_argument("run_id", help="the MLflow run id of a complete trial")
    rerun.add_argument("--tracking-uri")

    delete = commands.add_parser("delete", help="remove a study from the MLflow and Optuna stores")
    delete.add_argument("study", help="study name or study file")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.add_argument(
        "--models", action="store_true", help="delete its registered model versions too"
    )
    delete.add_argument("--tracking-uri")
    delete.add_argument(
        "--storage", help="Optuna storage URL (default: the one the study recorded)"
    )

    predict = commands.add_parser(
        "predict", help="batch predictions of an exported model (CSV rows or text lines)"
    )
    predict.add_argument("export_dir", type=Path, help="a folder written by export")
    predict.add_argument(
        "input", help="CSV (one input per row, or one series) or text lines; - for stdin"
    )
    predict.add_argument("--out", type=Path, help="write here instead of standard output")
    predict.add_argument("--format", choices=("csv", "json"), default="csv")

    ui = commands.add_parser("ui", help="the MLflow UI on this project's store")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1; anything else exposes your runs)",
    )
    ui.add_argument("--tracking-uri")
    for command in commands.choices.values():
        # Also after the command (``hpsearch run study.yaml --verbose``); unset there, it
        # keeps the value given before the command.
        command.add_argument(
            "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
    return parser


def entry_point() -> int:
    """``hpsearch`` and ``python -m hpsearch``: ``main``, then let the process end at once.

    At exit the interpreter runs one last garbage collection over every object alive:
    with MLflow, Optuna, scikit-learn and pandas loaded, ~1 s that a shell, a pipe or a
    ``subprocess.run`` waits for after the results are printed. Frozen, they are left to
    the exit (atexit handlers still run). A reader that closed the pipe early (``hpsearch
    validate study.yaml | head``) ends the output, not in a traceback.
    """
    import gc

    try:
        code = main()
    except BrokenPipeError:
        # Python's advice: point stdout at devnull, so that its flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    gc.freeze()
    return code


def main(argv: list[str] | None = None) -> int:
    from hpsearch.models.tensorflow_import import hide_tensorflow_start_up, show_tensorflow_output

    arguments = build_parser().parse_args(argv)
    if arguments.verbose:
        show_tensorflow_output()
    else:
        hide_tensorflow_start_up()  # nothing imported: only when something needs TensorFlow
    # MLflow draws a progress bar for every artifact download: noise in logs and pipes.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    signal.signal(signal.SIGTERM, _raise_terminated)
    handler = {
        "run": _run,
        "worker": _worker,
        "validate": _validate,
        "schema": _schema,
        "report": _report,
        "export": _export,
        "list": _list,
        "rerun": _rerun,
        "delete": _delete,
        "predict": _predict,
        "ui": _ui,
    }[arguments.command]
    try:
        return handler(arguments) or 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Terminated:
        print(
            "terminated: finished trials are saved; run the same command to resume.",
            file=sys.stderr,
        )
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(
            "interrupted: finished trials are saved; run the same command to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def _raise_terminated(signum, frame):
    raise Terminated()


def _run(arguments) -> int:
    return _run_and_print(_study_with_overrides(arguments), quiet=arguments.quiet, worker=False)


def _worker(arguments) -> int:
    study = _study_with_overrides(arguments)
    if study.search.storage is None:
        raise UserError(
            f"{study.source}: search.storage: a worker needs the shared Optuna storage"
            " (--storage postgresql://... or search.storage)"
        )
    return _run_and_print(study, quiet=arguments.quiet, worker=True)


def _study_with_overrides(arguments):
    """The study file with the command line's options over its values (``worker`` has no
    ``--n-jobs`` or ``--seed``)."""
    from hpsearch.study import load_study

    options = {
        "search.n_trials": "n_trials",
        "search.n_jobs": "n_jobs",
        "search.timeout": "timeout",
        "search.storage": "storage",
        "tracking.uri": "tracking_uri",
        "seed": "seed",
    }
    return load_study(
        arguments.study,
        {key: getattr(arguments, name, None) for key, name in options.items()},
    )


def _run_and_print(study, *, quiet: bool, worker: bool) -> int:
    from hpsearch.console import RunDisplay, print_result
    from hpsearch.results.report import leaderboard_of_result
    from hpsearch.runner import run_study

    if not quiet and sys.stdout.isatty():
        # The first lines of the run come once the data is loaded and the MLflow store open,
        # while TensorFlow loads in the worker process: say so at once.
        print(f"{study.name}: loading TensorFlow and the data…", flush=True)
    display = RunDisplay(study, quiet=quiet)
    with display:
        result = run_study(
            study, on_trial=display.trial_done, on_start=display.start, worker=worker
        )
    leaderboard = leaderboard_of_result(result)
    print_result(result, leaderboard)
    # Over the whole study, earlier sessions too: a search that completed nothing is no
    # success, though every trial stays recorded (print_result said why they failed).
    return 0 if leaderboard.best() is not None else EXIT_NOTHING_COMPLETED


def _validate(arguments) -> int:
    from hpsearch.console import print_resolved_study
    from hpsearch.data import resolve_loader
    from hpsearch.models.routing import check_model
    from hpsearch.study import load_study
    from hpsearch.study.references import signatures_from_source

    study = load_study(arguments.study)
    # A file.py:function's parameters read from its source: a user's builder file imports
    # Keras, and importing it would load TensorFlow (~3 s) to learn a few names.
    with signatures_from_source():
        resolve_loader(study)
        check_model(study)
    print_resolved_study(study)
    return 0


def _schema(arguments) -> int:
    import json

    from hpsearch.study.json_schema import study_json_schema

    print(json.dumps(study_json_schema(), indent=2))
    return 0


def _study_name_and_uri(reference: str, tracking_uri: str | None) -> tuple[str, str]:
    """A study name, or a study file from which the name and store are read."""
    from hpsearch.study import load_study, resolve_tracking_uri

    if reference.endswith((".yaml", ".yml")) or os.path.isfile(reference):
        study = load_study(reference, {"tracking.uri": tracking_uri})
        return study.name, study.tracking_uri()
    return reference, resolve_tracking_uri(tracking_uri)


def _report(arguments) -> int:
    from hpsearch.console import print_leaderboard
    from hpsearch.results.report import load_leaderboard

    if arguments.compare:
        if arguments.study:
            raise UserError("report: give one study, or two with --compare, not both")
        from hpsearch.console import print_comparison

        boards = [
            load_leaderboard(*_study_name_and_uri(study, arguments.tracking_uri))
            for study in arguments.compare
        ]
        print_comparison(boards, fmt=arguments.format)
        return 0
    if not arguments.study:
        raise UserError("report: which study? (a name or a study file; or --compare A B)")
    name, uri = _study_name_and_uri(arguments.study, arguments.tracking_uri)
    leaderboard = load_leaderboard(name, uri)
    print_leaderboard(leaderboard, fmt=arguments.format, top=arguments.top)
    return 0


def _export(arguments) -> int:
    from hpsearch.deploy.export import export_model

    name, uri = _study_name_and_uri(arguments.study, arguments.tracking_uri)
    result = export_model(
        name,
        uri,
        arguments.out,
        number=arguments.trial,
        run_id=arguments.run_id,
        alias=arguments.alias,
    )
    card = result.card
    print(
        f"exported {name} (trial {card['trial']}, {card['metric']} {card['cv_score']:.4f})"
        f" to {result.out_dir}"
    )
    alias = card["registered_model"]["alias"]
    print(
        f"registered model {result.model_name!r} version {result.model_version}"
        f" ({f'alias {alias}' if alias else 'no alias'})"
    )
    return 0


def _list(arguments) -> int:
    from hpsearch.console import print_study_list
    from hpsearch.results.studies import list_studies
    from hpsearch.study import resolve_tracking_uri

    uri = resolve_tracking_uri(arguments.tracking_uri)
    print_study_list(list_studies(uri), fmt=arguments.format, tracking_uri=uri)
    return 0


def _rerun(arguments) -> int:
    from hpsearch.console import print_rerun
    from hpsearch.results.rerun import rerun_trial
    from hpsearch.study import resolve_tracking_uri

    if sys.stdout.isatty():
        print(f"{arguments.run_id}: training the trial again…", flush=True)
    result = rerun_trial(arguments.run_id, resolve_tracking_uri(arguments.tracking_uri))
    print_rerun(result)
    return 0 if result.matches else EXIT_RERUN_DIFFERS


def _delete(arguments) -> int:
    from hpsearch.console import ask_on_terminal, print_deletion
    from hpsearch.results.deletion import delete_study

    name, uri = _study_name_and_uri(arguments.study, arguments.tracking_uri)
    deletion = delete_study(
        name,
        uri,
        storage=arguments.storage,
        models=arguments.models,
        confirm=None if arguments.yes else ask_on_terminal,
    )
    if deletion is None:
        print(f"{name}: nothing deleted", file=sys.stderr)
        return EXIT_NOT_CONFIRMED
    print_deletion(deletion)
    return 0


def _predict(arguments) -> int:
    from hpsearch.deploy.predict import predict_file

    count = predict_file(
        arguments.export_dir, arguments.input, out=arguments.out, fmt=arguments.format
    )
    if arguments.out is not None:
        print(f"{count} predictions written to {arguments.out}", file=sys.stderr)
    return 0


def _ui(arguments) -> int:
    from hpsearch.study import resolve_tracking_uri
    from hpsearch.tracking.tracker import local_artifacts_root, prepare_mlflow_store

    uri = resolve_tracking_uri(arguments.tracking_uri)
    prepare_mlflow_store(uri)
    if arguments.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {arguments.host}: anyone who can reach it sees and changes"
            " your runs; put authentication in front (mlflow ui --app-name basic-auth)",
            file=sys.stderr,
        )
    print(
        f"MLflow UI for {uri} at http://{arguments.host}:{arguments.port} (Ctrl-C to stop)",
        flush=True,
    )
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        arguments.host,
        "--port",
        str(arguments.port),
        "--workers",
        "1",
    ]
    artifacts = local_artifacts_root(uri)
    if artifacts:
        command += ["--default-artifact-root", artifacts]
    # One browsing user needs neither MLflow's background job workers (seven processes)
    # nor several web workers.
    environment = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    # Replace this process: Ctrl-C and SIGTERM then reach the server, which leaves no orphans.
    os.execve(sys.executable, command, environment)


if __name__ == "__main__":
    raise SystemExit(main())
