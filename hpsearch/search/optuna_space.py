"""A study's search space in Optuna's terms: the sampler the study names, a candidate drawn
for a trial (branches included: a choice's sub-space is drawn under the choice's own
names), and the names Optuna knows for an enqueued start."""

from __future__ import annotations

from typing import Any

import optuna

from hpsearch.errors import UserError
from hpsearch.search.optuna_experimental import experimental
from hpsearch.study import Branches, Range, branch_name


def make_sampler(study, n_existing: int, salt: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler; its seed moves on with the trials already run, so a resumed
    study does not draw the same first candidates again. ``salt`` sets workers that start
    together apart (each would otherwise draw the same candidates); the grid and QMC
    samplers take their next point from the storage and need none."""
    seed = study.seed + n_existing + salt
    name = study.sampler
    startup = {}  # Optuna's default unless the study says
    if study.search.startup_trials is not None:
        startup["n_startup_trials"] = study.search.startup_trials
    if name == "tpe":
        # Spelled out: Optuna 5 made multivariate TPE with the constant liar its default
        # (Optuna 4 sampled one by one), and a study should sample the same on both.
        # group: a conditional space's branches are modelled each on its own trials
        # (otherwise multivariate TPE falls back to one-by-one sampling for them).
        multivariate = study.multivariate_tpe
        with experimental():  # "experimental" in Optuna 4
            return optuna.samplers.TPESampler(
                seed=seed,
                multivariate=multivariate,
                group=multivariate and study.conditional,
                constant_liar=True,
                **startup,
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(study.grid(), seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=study.seed)  # a sequence: it resumes by itself
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, **startup)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise UserError(
                f"{study.source}: search.sampler: 'gp' needs PyTorch"
                " (pip install 'hpsearch[gp]', or torch for your machine)"
            ) from None
        return optuna.samplers.GPSampler(seed=seed, **startup)
    raise AssertionError(name)


def suggest(trial: optuna.Trial, study) -> dict[str, Any]:
    """One candidate: every searched name drawn by the trial, fixed names as they are; a
    branching name draws its choice, then the names of that choice's sub-space. ``epochs``
    is not drawn where it is the pruner's budget (``Study.epochs_budget``): the trial may
    train them all."""
    params: dict[str, Any] = {}
    for name, dimension in study.search.space.items():
        if name == "epochs" and study.epochs_budget is not None:
            params[name] = study.epochs_budget
        elif isinstance(dimension, Branches):
            choice = trial.suggest_categorical(name, list(dimension.choices))
            params[name] = choice
            for inner, value in dimension.choices[choice].items():
                params[inner] = _suggest_one(trial, branch_name(inner, name, choice), value)
        else:
            params[name] = _suggest_one(trial, name, dimension)
    return params


def _suggest_one(trial: optuna.Trial, name: str, dimension: Any) -> Any:
    if isinstance(dimension, Range):
        if dimension.is_int:
            return trial.suggest_int(
                name,
                int(dimension.low),
                int(dimension.high),
                step=int(dimension.step or 1),
                log=dimension.log,
            )
        return trial.suggest_float(
            name,
            float(dimension.low),
            float(dimension.high),
            step=dimension.step,
            log=dimension.log,
        )
    if isinstance(dimension, list):
        return trial.suggest_categorical(name, dimension)
    return dimension


def optuna_names(start: dict[str, Any], study) -> dict[str, Any]:
    """A start (``search.enqueue``) with the names Optuna knows: a name inside a branch
    carries the branch it was chosen in; ``epochs`` goes where it is the pruner's budget
    (the trial may train them all)."""
    renamed = {}
    for name, value in start.items():
        if name == "epochs" and study.epochs_budget is not None:
            continue
        renamed[name] = value
        for parent, dimension in study.search.space.items():
            chosen = start.get(parent)
            if isinstance(dimension, Branches) and name in dimension.choices.get(chosen, {}):
                del renamed[name]
                renamed[branch_name(name, parent, chosen)] = value
    return renamed
