"""Search backends: what to try next, behind one contract (``SearchBackend``).

``grid`` runs scikit-learn's GridSearchCV; ``optuna`` an Optuna study. Both score candidates
through the same ``CrossValidation`` and report each finished trial to the same tracker, so
their trials look the same in MLflow.
"""

BACKENDS: dict[str, str] = {
    "grid": "hpsearch.search.grid:GridBackend",
    "optuna": "hpsearch.search.optuna_search:OptunaBackend",
}


def backend_class(name: str):
    import importlib

    module_name, _, class_name = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)
