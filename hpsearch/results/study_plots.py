"""Optuna's plots of a finished study, for either backend, as HTML and PNG.

The plots are drawn from what MLflow recorded, turned into an in-memory Optuna study
(``as_optuna_study``): the same pictures for a grid as for an Optuna search, and for a
study resumed over several sessions. A trial's intermediate values are what it reported to
the pruner (the first fold's score after each epoch) when the Optuna study has them, else
the running mean of its fold scores (a grid).

PNGs come from ``optuna.visualization.matplotlib`` (plotly's own PNG export needs a
browser); the interactive versions go into one self-contained ``plots.html`` (plotly.js
once, about 5 MB, so it opens without a network, also inside the MLflow UI).
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.study import Range, Study
from hpsearch.tracking.names import COMPLETE, FAIL, PRUNED
from hpsearch.tracking.tracker import TrialRecord

# The contour plot shows the two most important parameters: with more, its panels grow
# as the square and the PNG alone takes over a second to draw.
CONTOUR_PARAMS = 2

PLOT_NAMES = (
    "optimization_history",
    "param_importances",
    "parallel_coordinate",
    "slice",
    "contour",
    "intermediate_values",
)


@dataclass
class PlotFiles:
    """What ``write_plots`` produced, and why a plot is missing where one is."""

    html: Path | None = None
    png: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def search_distributions(study: Study) -> dict[str, Any]:
    """Optuna distributions of the searched names (fixed values are not plotted).

    Steps are left out: a grid's enumerated floats need not land exactly on Optuna's step
    lattice, and the plots do not use them.
    """
    import optuna.distributions as dist

    distributions: dict[str, Any] = {}
    for name, dimensions in study.dimensions().items():
        # A name in several branches: one axis spanning all of them.
        ranges = [d for d in dimensions if isinstance(d, Range)]
        if ranges and len(ranges) == len(dimensions):
            low, high = min(d.low for d in ranges), max(d.high for d in ranges)
            log = all(d.log for d in ranges)
            if all(d.is_int for d in ranges):
                distributions[name] = dist.IntDistribution(int(low), int(high), log=log)
            else:
                distributions[name] = dist.FloatDistribution(float(low), float(high), log=log)
        elif not ranges:
            values = [v for d in dimensions for v in (d if isinstance(d, list) else [d])]
            choices = tuple(dict.fromkeys(values))
            if len(choices) > 1:
                distributions[name] = dist.CategoricalDistribution(choices)
    return distributions


def as_optuna_study(
    study: Study,
    records: Iterable[TrialRecord],
    intermediate: dict[int, dict[int, float]] | None = None,
):
    """An in-memory Optuna study holding the finished trials MLflow recorded.

    ``intermediate``: the values each trial (by number) reported, if known. Trials whose
    parameters fall outside today's space (a study file edited between sessions) are left
    out rather than drawn wrongly.
    """
    import optuna

    states = {
        COMPLETE: optuna.trial.TrialState.COMPLETE,
        PRUNED: optuna.trial.TrialState.PRUNED,
        FAIL: optuna.trial.TrialState.FAIL,
    }
    distributions = search_distributions(study)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    plotted = optuna.create_study(study_name=study.name, directions=study.directions)
    for record in records:
        state = states.get(record.state)
        values = objective_values(study, record)
        if state is None or (state == states[COMPLETE] and values is None):
            continue
        params = {name: record.params[name] for name in distributions if name in record.params}
        try:
            trial = optuna.trial.create_trial(
                state=state,
                values=values if state == states[COMPLETE] else None,
                params=params,
                distributions={name: distributions[name] for name in params},
                intermediate_values=(intermediate or {}).get(record.number)
                or _running_means(record.fold_scores),
                user_attrs={"mlflow_run_id": record.run_id, "trial": record.number},
            )
        except ValueError:
            continue
        plotted.add_trial(trial)
    return plotted


def objective_values(study: Study, record: TrialRecord) -> list[float] | None:
    """The trial's score and secondary objectives as recorded; None if one is missing."""
    values = [record.score] + [record.metrics.get(name) for name in study.objectives[1:]]
    if any(value is None or not math.isfinite(value) for value in values):
        return None
    return values


def pareto_front(plotted) -> list[int]:
    """Trial numbers (the study's own) on the Pareto front of a multi-objective study."""
    if len(plotted.directions) < 2:
        return []
    return sorted(trial.user_attrs["trial"] for trial in plotted.best_trials)


def _running_means(fold_scores: list[float]) -> dict[int, float]:
    means, total = {}, 0.0
    for step, score in enumerate(fold_scores, start=1):
        if not math.isfinite(score):
            break
        total += score
        means[step] = total / step
    return means


def write_plots(
    plotted, folder: Path, *, metric: str, title: str, objectives: list[str] | None = None
) -> PlotFiles:
    """Every plot that the study's trials allow, into ``folder`` (``<name>.png`` each and
    one ``plots.html``); a plot that cannot be drawn is listed with the reason.

    A multi-objective study (``objectives``: the metric, then the others) gets its Pareto
    front too; the other plots show the metric.
    """
    import optuna
    import optuna.visualization as interactive
    import optuna.visualization.matplotlib as static

    folder.mkdir(parents=True, exist_ok=True)
    result = PlotFiles()
    complete = plotted.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    params = sorted({name for trial in complete for name in trial.params})
    multi = len(plotted.directions) > 1
    names = PLOT_NAMES + (("pareto_front",) if multi else ())
    reasons = _reasons_to_skip(plotted, complete, params)
    if multi and not complete:
        reasons["pareto_front"] = "no trial completed"
    target = {"target": _first_value} if multi else {}
    options = {name: {"target_name": metric, **target} for name in PLOT_NAMES}
    options["intermediate_values"] = {}
    options["pareto_front"] = {"target_names": objectives or [metric]}
    figures = []
    with warnings.catch_warnings():
        # Optuna calls its matplotlib plots "experimental", and PED-ANOVA warns when few
        # trials make every importance equal (the plot then shows just that).
        warnings.simplefilter("ignore")
        if "param_importances" not in reasons:
            try:
                evaluator = _computed_once(plotted, target.get("target"))
                options["param_importances"]["evaluator"] = evaluator
                if "contour" not in reasons:
                    options["contour"]["params"] = list(evaluator.importances)[:CONTOUR_PARAMS]
            except (ValueError, RuntimeError) as error:
                reasons["param_importances"] = f"{type(error).__name__}: {error}"
        if "contour" not in reasons and "params" not in options["contour"]:
            options["contour"]["params"] = params[:CONTOUR_PARAMS]
        for name in names:
            if name in reasons:
                result.skipped[name] = reasons[name]
                continue
            kwargs = options[name]
            try:
                figures.append((name, getattr(interactive, f"plot_{name}")(plotted, **kwargs)))
                result.png.append(
                    _save_png(getattr(static, f"plot_{name}"), plotted, kwargs, folder / name)
                )
            except (ValueError, RuntimeError, ZeroDivisionError) as error:
                result.skipped[name] = f"{type(error).__name__}: {error}"
    if figures:
        result.html = folder / "plots.html"
        result.html.write_text(_page(title, figures, result.skipped), encoding="utf-8")
    return result


def _reasons_to_skip(plotted, complete, params) -> dict[str, str]:
    reasons = {}
    if not complete:
        return {name: "no trial completed" for name in PLOT_NAMES}
    if not params:
        for name in ("param_importances", "parallel_coordinate", "slice", "contour"):
            reasons[name] = "nothing was searched (every value is fixed)"
    if len(complete) < 2:
        for name in ("param_importances", "contour"):
            reasons.setdefault(name, "needs at least 2 completed trials")
    if len(params) < 2:
        reasons.setdefault("contour", "needs at least 2 searched parameters")
    if not any(trial.intermediate_values for trial in plotted.trials):
        reasons["intermediate_values"] = "no trial reported intermediate values"
    return reasons


def _first_value(trial) -> float:
    """The metric of a multi-objective trial (what the single-objective plots show)."""
    return trial.values[0]


def _computed_once(plotted, target=None):
    """Optuna's default importances, computed once for the HTML plot, the PNG and the choice
    of the contour's parameters."""
    import optuna

    class ComputedOnce(optuna.importance.BaseImportanceEvaluator):
        def __init__(self):
            self.importances = optuna.importance.get_param_importances(plotted, target=target)

        def evaluate(self, study, params=None, *, target=None):
            return self.importances

    return ComputedOnce()


def _save_png(plot: Callable[..., Any], plotted, kwargs: dict[str, Any], stem: Path) -> Path:
    import numpy as np

    from hpsearch.results.forecast_plot import pyplot

    with pyplot() as plt:
        drawn = plot(plotted, **kwargs)
        axes = np.ravel(drawn)[0] if isinstance(drawn, np.ndarray) else drawn
        figure = axes.get_figure()
        figure.set_size_inches(9, 5.5)
        path = stem.with_suffix(".png")
        figure.savefig(path, dpi=100)
        plt.close("all")
    return path


def _page(title: str, figures: list[tuple[str, Any]], skipped: dict[str, str]) -> str:
    """One HTML page with every interactive figure; plotly.js is embedded once."""
    sections = []
    for index, (name, figure) in enumerate(figures):
        body = figure.to_html(full_html=False, include_plotlyjs=index == 0)
        sections.append(f'<h2 id="{name}">{name.replace("_", " ")}</h2>\n{body}')
    notes = "".join(
        f"<li>{html.escape(name.replace('_', ' '))}: {html.escape(reason)}</li>"
        for name, reason in skipped.items()
    )
    missing = f"<p>Not drawn:</p><ul>{notes}</ul>" if notes else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{missing}\n" + "\n".join(sections) + "\n</body></html>\n"
    )
