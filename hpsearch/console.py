"""What the terminal shows: run progress, leaderboards, the resolved study."""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from hpsearch.models.cudnn import choices_leaving_cudnn, describe_leaving
from hpsearch.study import MODEL_SETTINGS, Branches, Range, Study, redact_text
from hpsearch.study.model import training_stops_epoch_sharing
from hpsearch.study.references import reference_text
from hpsearch.tracking.names import COMPLETE, PARETO_TAG, PRUNED, RUNNING

# Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns.
_console = Console() if sys.stdout.isatty() else Console(width=160)


class RunDisplay:
    """Trials done / total, best so far, elapsed and ETA; one plain line per trial off a TTY."""

    def __init__(self, study: Study, *, quiet: bool = False):
        self.study = study
        self.quiet = quiet
        self.interactive = _console.is_terminal and not quiet
        self.best: float | None = None
        self.done = 0
        self.done_before = 0  # finished by earlier sessions of a resumed study
        self.total = 0
        self.started = time.monotonic()
        self._progress = None
        self._task = None

    def __enter__(self) -> RunDisplay:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, backend, tracker) -> None:
        self.total = backend.planned_trials()
        self.done = sum(1 for t in tracker.trials() if t.counted)
        self.done_before = self.done
        self.started = time.monotonic()
        best = tracker.best_trial(self.study.direction)
        self.best = best.score if best else None
        if self.quiet:
            return
        resumed = f", resuming after {self.done}" if self.done else ""
        _console.print(
            f"[bold]{self.study.name}[/]: {self.study.search.backend} search, {self.total} trials"
            f"{resumed}, {self.study.metric.name} ({self.study.direction})"
        )
        _console.print(f"data: {_describe_data(backend.cross_validation.dataset, self.study)}")
        if self.interactive:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=_console,
                transient=True,
            )
            self._task = self._progress.add_task(
                self._description(), total=self.total, completed=self.done
            )
            self._progress.start()

    def trial_done(self, outcome) -> None:
        shared = outcome.shared_from is not None  # trained nothing, outside the budget
        self.done += 0 if shared else 1
        if outcome.state == COMPLETE and math.isfinite(outcome.score):
            better = self.best is None or (
                outcome.score > self.best
                if self.study.direction == "maximize"
                else outcome.score < self.best
            )
            if better:
                self.best = outcome.score
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, description=self._description())
        else:
            score = f"{outcome.score:.4f}" if math.isfinite(outcome.score) else "-"
            note = f"  ({outcome.error.splitlines()[0][:100]})" if outcome.error else ""
            if shared:
                epochs = outcome.params.get("epochs")
                first = "first epoch" if epochs == 1 else f"first {epochs} epochs"
                note = f"  (trial {outcome.shared_from}'s {first}, not trained again)"
            print(
                f"trial {outcome.number:>4} {outcome.state:<8} {self.study.metric.name} {score}"
                f"  best {self._best_text()}  [{self.done}/{self.total}, "
                f"{time.monotonic() - self.started:.0f}s{self._eta_text()}]{note}",
                flush=True,
            )

    def _eta_text(self) -> str:
        """ ", eta 42s" from this session's pace; nothing once the budget is spent."""
        finished_here = self.done - self.done_before
        remaining = self.total - self.done
        if finished_here <= 0 or remaining <= 0:
            return ""
        pace = (time.monotonic() - self.started) / finished_here
        return f", eta {pace * remaining:.0f}s"

    def _best_text(self) -> str:
        return "-" if self.best is None else f"{self.best:.4f}"

    def _description(self) -> str:
        return f"best {self.study.metric.name} {self._best_text()}"


def print_result(result, leaderboard) -> None:
    """After a run: ``leaderboard`` (the result's, ``report.leaderboard_of_result``), the
    Pareto front and where the results are."""
    study = result.study
    print_leaderboard(leaderboard, fmt="table", top=10)
    pareto = result.study_tags.get(PARETO_TAG)
    if study.multi_objective and pareto:
        objectives = ", ".join(study.objective_names)
        _console.print(
            f"Pareto front ({objectives}): trials {', '.join(map(str, json.loads(pareto)))}"
        )
    print_savings(result.study_metrics)
    _console.print(f"results: {redact_text(result.tracking_uri)} (browse: python -m hpsearch ui)")


def print_leaderboard(leaderboard, *, fmt: str = "table", top: int = 20) -> None:
    rows = leaderboard.as_rows()
    if fmt == "json":
        rows = [{key: _json_value(value) for key, value in row.items()} for row in rows]
        json.dump(
            {
                "study": leaderboard.study_name,
                "metric": leaderboard.metric,
                "direction": leaderboard.direction,
                "test_score": _json_value(leaderboard.test_score),
                "trials": rows,
            },
            sys.stdout,
            indent=2,
            default=str,
        )
        print()
        return
    if fmt == "csv":
        leaderboard.write_csv(sys.stdout)
        return
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(leaderboard.counts().items()))
    shared = leaderboard.shared()
    if shared:
        counts += f"; {shared} scored from longer trials' epochs, not trained"
    table = Table(title=f"{leaderboard.study_name}: {len(rows)} trials ({counts or 'none'})")
    param_names = list(dict.fromkeys(k for t in leaderboard.trials for k in t.params))
    for column in ("trial", "state", leaderboard.metric, "std", *param_names):
        table.add_column(column, justify="right" if column != "state" else "left")
    for trial in leaderboard.ranked()[:top]:
        state = (
            trial.state if trial.shared_from is None else f"{trial.state} (of {trial.shared_from})"
        )
        table.add_row(
            str(trial.number),
            state,
            _number(trial.score),
            _number(trial.score_std),
            *(_short(trial.params.get(p)) for p in param_names),
        )
    _console.print(table)
    best = leaderboard.best()
    if best is None:
        _print_nothing_completed(leaderboard)
        return
    test = "" if leaderboard.test_score is None else f", test {_number(leaderboard.test_score)}"
    _console.print(
        f"best: trial {best.number}, {leaderboard.metric} {_number(best.score)}"
        f" ± {_number(best.score_std)}{test}"
    )
    _console.print(f"best parameters: {json.dumps(best.params)}")
    _print_baseline_and_extras(leaderboard)


def _print_nothing_completed(leaderboard) -> None:
    """Why a study has no complete trial: one line per distinct error with the trials it
    failed, most frequent first, then the trials pruned or still running.

        no trial completed: 5 trials failed with "KeyError: 'n_classes_'"
    """
    counts = leaderboard.counts()
    reasons = [f'{_trials(n)} failed with "{error}"' for error, n in leaderboard.errors()]
    for state, what in ((PRUNED, "pruned"), (RUNNING, "still running")):
        if counts.get(state):
            reasons.append(f"{_trials(counts[state])} {what}")
    for reason in reasons or ["no trial ran"]:
        # Plain text: an error's brackets are not rich markup, and a long one stays one line.
        _console.print(
            f"no trial completed: {reason}", markup=False, highlight=False, soft_wrap=True
        )


def print_comparison(leaderboards, *, fmt: str = "table") -> None:
    """Studies side by side: trials, best and test scores, baseline, best parameters."""
    summaries = [board.summary() for board in leaderboards]
    if fmt == "json":
        payload = [{k: _json_value(v) for k, v in summary.items()} for summary in summaries]
        json.dump(payload, sys.stdout, indent=2, default=str)
        print()
        return
    rows = {
        "metric": lambda s: f"{s['metric']} ({s['direction']})",
        "trials": lambda s: ", ".join(f"{n} {k.lower()}" for k, n in sorted(s["trials"].items())),
        "best trial": lambda s: _short(s["best_trial"]),
        "best score": lambda s: f"{_number(s['best_score'])} ± {_number(s['best_score_std'])}",
        "test score": lambda s: _number(s["test_score"]),
        "baseline": lambda s: (
            f"{s['baseline'] or '-'}: {_number(s['baseline_score'])}"
            f" / test {_number(s['baseline_test_score'])}"
        ),
    }
    names = sorted({k for s in summaries for k in (s["best_params"] or {})})
    for name in names:
        rows[name] = lambda s, name=name: _short((s["best_params"] or {}).get(name))
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["", *(s["study"] for s in summaries)])
        writer.writerows([label, *(cell(s) for s in summaries)] for label, cell in rows.items())
        return
    table = Table(title="studies side by side (best parameters below the line)")
    table.add_column("")
    for summary in summaries:
        table.add_column(summary["study"], justify="right")
    for index, (label, cell) in enumerate(rows.items()):
        table.add_row(label, *(cell(s) for s in summaries), end_section=index == 5)
    _console.print(table)


def _print_baseline_and_extras(leaderboard) -> None:
    """The baseline beside the best score, and the test set's extra metrics (forecast, LM)."""
    metrics = leaderboard.study_metrics
    if "baseline_score" in metrics:
        test = metrics.get("baseline_test_score")
        test_text = "" if test is None else f", test {_number(test)}"
        _console.print(
            f"baseline ({leaderboard.baseline or 'trivial'}): {leaderboard.metric}"
            f" {_number(metrics['baseline_score'])}{test_text}"
        )
    extras = sorted(
        name[len("test_") :]
        for name in metrics
        if name.startswith("test_") and name != "test_score"
    )
    if extras:
        parts = []
        for name in extras:
            baseline = metrics.get(f"baseline_test_{name}")
            versus = "" if baseline is None else f" (baseline {_number(baseline)})"
            parts.append(f"{name} {_number(metrics[f'test_{name}'])}{versus}")
        _console.print("test set: " + ", ".join(parts))


def print_resolved_study(study: Study) -> None:
    search = study.search
    lines = [
        f"study: {study.name} ({study.task}, seed {study.seed})",
        f"data: {study.data.loader} {json.dumps(study.data.params)}",
        f"inputs: {_describe_declared_inputs(study)}",
        f"model: {study.model.builder} {json.dumps(study.model.params)}"
        + (f", loss {study.model.loss}" if study.model.loss else "")
        + "".join(
            f", {name} {value}"
            for name in MODEL_SETTINGS
            if (value := getattr(study.model, name)) is not None
        ),
        f"search: {search.backend}, {_describe_objectives(study)},"
        f" cv {_describe_cv(search.cv)}, n_jobs {search.n_jobs}"
        + (f", timeout {search.timeout}s" if search.timeout else ""),
        "training: " + _describe_training(study),
    ]
    fits = _describe_fits(study)
    if fits:
        lines.append("each fit: " + fits)
    leaving = choices_leaving_cudnn(study)
    if leaving:
        lines.append(describe_leaving(leaving))
    if search.backend == "optuna":
        lines.append(
            f"optuna: {study.n_trials} trials, sampler {study.sampler}"
            f"{' (multivariate)' if study.multivariate_tpe else ''}"
            + (
                f" ({search.startup_trials} random first)"
                if search.startup_trials is not None
                else ""
            )
            + ","
            f" pruner {study.pruner}, storage {redact_text(study.optuna_storage())}"
        )
        if study.epochs_budget is not None:
            lines.append(
                f"  epochs: the pruner's budget, not drawn: each trial may train up to"
                f" {study.epochs_budget}, and the pruner stops the weaker ones sooner"
            )
        if study.shared_epochs:
            lines.append(
                f"  epochs shared: a complete trial is scored after each of {study.shared_epochs}"
                " epochs; the best, if better than the trial, is a trial too (not counted)"
            )
        for start in search.enqueue:
            lines.append(f"  first: {json.dumps(start)}")
        if search.warm_start is not None:
            warm = search.warm_start
            lines.append(
                f"  then: the best {warm.top} parameter sets of study {warm.study!r} that fit"
                " this space (search.warm_start)"
            )
    else:
        lines.append(
            f"grid: {study.grid_size()} candidates x {study.n_folds} folds"
            f" = {study.grid_size() * study.n_folds} fits"
        )
    lines.append("space:")
    for name, value in search.space.items():
        if isinstance(value, Branches):
            lines.append(f"  {name}: one of {list(value.choices)}")
            for choice, subspace in value.choices.items():
                for inner, dimension in subspace.items():
                    lines.append(f"    when {choice!r}: {inner}: {_describe_dimension(dimension)}")
        else:
            lines.append(f"  {name}: {_describe_dimension(value)}")
    lines.append(f"tracking: {redact_text(study.tracking_uri())}")
    print("\n".join(lines))


def _describe_data(dataset, study: Study) -> str:
    """What trains: ``1000 training samples of shape (8, 8); inputs numbers (inferred...)``."""
    scaled = dataset.inputs == "numbers" and study.data.standardize
    return f"{dataset.describe()}; inputs {dataset.describe_inputs()}" + (
        ", standardised per fit" if scaled else ""
    )


def _describe_declared_inputs(study: Study) -> str:
    """The input kind as far as the study file says (``validate`` loads no data)."""
    scaling = "" if study.data.standardize else "; numbers not standardised"
    if study.data.inputs is not None:
        return f"{study.data.inputs} (declared by data.inputs){scaling}"
    return (
        "as the loader declares, else from the data: strings are text, anything else"
        f" numbers (integers too; data.inputs: tokens for ids){scaling}"
    )


def _describe_dimension(value: Any) -> str:
    if isinstance(value, Range):
        return value.describe()
    if isinstance(value, list):
        return f"one of {value}"
    return f"fixed {value!r}"


def _describe_training(study) -> str:
    search = study.search
    if search.backend == "grid" and search.grid_backend == "dask":
        where = search.dask_scheduler or f"a LocalCluster of {search.n_jobs} worker(s)"
        return f"fits on Dask ({redact_text(where)}), one fresh model per fit"
    where = (
        f"worker process, replaced every {search.trials_per_process} trials"
        if search.trials_per_process
        else "in this process"
    )
    if search.n_jobs > 1 and search.trials_per_process:
        where = f"{search.n_jobs} worker processes, each replaced every"
        where += f" {search.trials_per_process} trials"
    models = ", one built model per architecture" if search.reuse_models else ", fresh models"
    if search.reuse_models and training_stops_epoch_sharing(study) is None:
        models += ", epochs shared"
    return where + models


def _describe_fits(study) -> str:
    """The training section: ``early stopping on val_loss (patience 3...), class weights...``."""
    training = study.training
    parts = []
    stopping = training.early_stopping
    if stopping is not None:
        restored = ", best epoch's weights kept" if stopping.restore_best_weights else ""
        parts.append(
            f"early stopping on {stopping.monitor} (patience {stopping.patience},"
            f" min_delta {stopping.min_delta}{restored}); the refit trains the folds'"
            " median best epoch"
        )
    if training.class_weight is not None:
        parts.append(f"class weights {json.dumps(training.class_weight)}")
    if training.callbacks:
        names = ", ".join(reference_text(value) for value in training.callbacks)
        parts.append(f"callbacks {names} (one new each fit)")
    return "; ".join(parts)


def _describe_objectives(study) -> str:
    pairs = ", ".join(
        f"{reference_text(name)} ({direction})"
        for name, direction in zip(study.objectives, study.directions, strict=True)
    )
    return f"objectives {pairs}" if study.multi_objective else f"metric {pairs}"


def _describe_cv(cv: Any) -> str:
    if isinstance(cv, int):
        return f"{cv} folds"
    if hasattr(cv, "holdout"):
        return f"holdout {cv.holdout}"
    return f"{cv.timeseries} time-series splits"


def _trials(count: int) -> str:
    return f"{count} trial" if count == 1 else f"{count} trials"


def _number(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    return value


def print_savings(metrics: dict[str, float]) -> None:
    """What the search saved (``hpsearch.results.savings``), from the parent run's metrics:

    saved: 12 of 24 epochs not trained (pruning, early stopping, shared epochs),
    about 3s at 0.25s an epoch; 14 of 16 fits reused a built model
    """
    if "epochs_trained" not in metrics:
        return
    trained = int(metrics["epochs_trained"])
    without = int(metrics["epochs_without_savings"])
    text = f"saved: {without - trained} of {without} epochs not trained"
    text += " (pruning, early stopping, shared epochs)"
    pace = metrics.get("seconds_per_epoch")
    if pace is not None and without > trained:
        seconds = (without - trained) * pace
        shown = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
        text += f", about {shown}s at {pace:.2g}s an epoch"
    if metrics.get("fits"):
        text += f"; {int(metrics['fits_reused'])} of {int(metrics['fits'])} fits reused a built"
        text += " model (no build, no trace)"
    _console.print(text, markup=False, highlight=False, soft_wrap=True)


def print_study_list(studies, *, fmt: str = "table", tracking_uri: str = "") -> None:
    """``hpsearch list``: one study a row (``hpsearch.results.studies``)."""
    rows = [study.as_row() for study in studies]
    if fmt == "json":
        rows = [{key: _json_value(value) for key, value in row.items()} for row in rows]
        json.dump(rows, sys.stdout, indent=2, default=str)
        print()
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(
            ["name", "backend", "trials", "best_trial", "best_score", "metric", "last_activity"]
        )
        for row in rows:
            writer.writerow(
                [
                    row["name"],
                    row["backend"],
                    _counts(row["trials"]),
                    row["best_trial"],
                    row["best_score"],
                    row["metric"],
                    row["last_activity"],
                ]
            )
        return
    if not rows:
        _console.print(f"no studies in {redact_text(tracking_uri)}")
        return
    table = Table(title=f"studies in {redact_text(tracking_uri)}")
    for column in ("study", "backend", "trials", "best", "metric", "last activity (UTC)"):
        table.add_column(column, justify="right" if column == "best" else "left")
    for row in rows:
        best = "-" if row["best_trial"] is None else f"{_number(row['best_score'])}"
        best += "" if row["best_trial"] is None else f" (trial {row['best_trial']})"
        last = (row["last_activity"] or "-").replace("T", " ").removesuffix("+00:00")
        table.add_row(
            row["name"],
            row["backend"] or "-",
            _counts(row["trials"]) or "none",
            best,
            f"{row['metric']} ({row['direction'][:3]})",
            last,
        )
    _console.print(table)


def _counts(trials: dict[str, int]) -> str:
    return ", ".join(f"{n} {state.lower()}" for state, n in sorted(trials.items()))


def print_rerun(result) -> None:
    """``hpsearch rerun``: the data and versions against the record, then each fold's score
    beside the recorded one."""
    trial = result.trial
    print(
        f"{result.study_name}: trial {trial.number} (run {trial.run_id}) trained again,"
        f" seed {result.seed}: {json.dumps(trial.params)}"
    )
    if trial.shared_from is not None:
        print(
            f"  (scored from trial {trial.shared_from}'s states when recorded; trained here"
            f" for its own {trial.params.get('epochs')} epochs)"
        )
    if result.data_same is None:
        print(f"data: sha256 {result.data_sha256[:12]}…; the record has no hash to compare")
    elif result.data_same:
        print(f"data: as recorded (sha256 {result.data_sha256[:12]}…)")
    else:
        print(
            f"data: DIFFERS from the record (sha256 {result.data_sha256[:12]}…, recorded"
            f" {result.recorded_data_sha256[:12]}…): the loader returns other rows now"
        )
    if result.version_changes:
        changes = ", ".join(
            f"{name} {recorded or 'not recorded'} -> {here or 'not installed'}"
            for name, recorded, here in result.version_changes
        )
        print(f"versions: DIFFER from the record: {changes}")
    else:
        print("versions: as recorded")
    for fold in result.folds:
        recorded = "-" if fold.recorded is None else f"{fold.recorded:.10f}"
        verdict = "same" if fold.matches else "DIFFERENT"
        if fold.recorded is not None and not fold.matches:
            verdict += f" (by {fold.rerun - fold.recorded:+.3g})"
        print(
            f"fold {fold.fold}: {result.metric} recorded {recorded}  rerun {fold.rerun:.10f}"
            f"  {verdict}"
        )
    if result.error:
        print(f"the rerun failed: {result.error}")
    elif len(result.folds) != len(trial.fold_scores):
        print(
            f"the record has {len(trial.fold_scores)} fold scores, the study's splits"
            f" {len(result.folds)}"
        )
    print(
        "reproduced: every fold's score is the recorded one"
        if result.matches
        else "NOT reproduced: a fold's score differs from the record"
    )


def ask_on_terminal(question: str) -> bool:
    """``question? [y/N]`` on a terminal; without one, nobody can say yes."""
    from hpsearch.errors import UserError

    if not sys.stdin.isatty():
        raise UserError(f"{question}: no terminal to confirm on; add --yes (nothing was done)")
    answer = input(f"{question}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def print_deletion(deletion) -> None:
    """What ``hpsearch delete`` removed (``hpsearch.results.deletion``) and what it kept."""
    where = redact_text(deletion.tracking_uri)
    runs = f"{len(deletion.run_ids)} runs"
    if deletion.removed_for_good:
        print(f"deleted study {deletion.name!r}: its experiment and {runs} from {where}")
    else:
        print(
            f"deleted study {deletion.name!r}: its experiment and {runs} renamed and marked"
            f" deleted on {where} (the server's `mlflow gc` removes them for good)"
        )
    if deletion.optuna_storage is not None:
        storage = redact_text(deletion.optuna_storage)
        done = "deleted" if deletion.optuna_deleted else "none found"
        print(f"Optuna study {deletion.name!r} in {storage}: {done}")
    if deletion.kept_versions:
        versions = ", ".join(deletion.kept_versions)
        print(
            f"kept: registered model {deletion.name!r} versions {versions}, with their files"
            " (--models deletes them)"
        )
    elif deletion.versions:
        versions = ", ".join(version for version, _ in deletion.versions)
        print(f"deleted: registered model {deletion.name!r} versions {versions}")
