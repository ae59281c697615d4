"""A new local MLflow store is a copy of MLflow's empty schema, made once per version."""

from __future__ import annotations

import sqlite3

from hpsearch.tracking.tracker import prepare_mlflow_store


def _schema(database) -> tuple[list, list]:
    """Every table's and index's definition, and the schema revision MLflow stamped.

    A definition's lines are compared as a set: MLflow's migrations list a table's
    constraints in an order that varies from one run to the next."""
    with sqlite3.connect(database) as connection:
        sql = [row[0] for row in connection.execute("SELECT sql FROM sqlite_master") if row[0]]
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    lines = sorted(sorted(line.strip().rstrip(",") for line in s.splitlines()) for s in sql)
    return lines, revision


def test_a_new_store_is_the_store_mlflow_makes_from_one_template(workdir, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    template = workdir / "cache" / "hpsearch" / f"mlflow-{mlflow.__version__}-empty.db"
    made_by_mlflow = workdir / "mlflow-made" / "mlflow.db"
    made_by_mlflow.parent.mkdir()
    MlflowClient(f"sqlite:///{made_by_mlflow}").search_experiments()

    made_at = None
    for name in ("first", "second"):
        database = workdir / name / "mlflow.db"
        prepare_mlflow_store(f"sqlite:///{database}")
        assert _schema(database) == _schema(made_by_mlflow)
        made_at = made_at or template.stat().st_mtime_ns
        assert template.stat().st_mtime_ns == made_at  # made once, copied since
        # MLflow opens it as its own (it checks the schema's revision) and records in it.
        client = MlflowClient(f"sqlite:///{database}")
        experiment = client.create_experiment(name)
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "score", 0.5)
        [only] = client.search_runs([experiment])
        assert only.data.metrics == {"score": 0.5}
        assert client.get_experiment("0").name == "Default"  # MLflow adds it, as ever
    assert sorted(p.name for p in (workdir / "second").iterdir()) == ["mlflow.db"]

    # A store that exists is never replaced.
    prepare_mlflow_store(f"sqlite:///{workdir / 'second' / 'mlflow.db'}")
    client = MlflowClient(f"sqlite:///{workdir / 'second' / 'mlflow.db'}")
    assert client.get_experiment_by_name("second") is not None


def test_a_failed_template_leaves_nothing_in_the_cache(workdir, monkeypatch):
    """If MLflow's schema cannot be made (here: its migrations raise), MLflow makes the
    store itself, and no half-made template stays behind in the cache."""
    from mlflow import MlflowClient
    from mlflow.store.db import utils

    def broken(engine):
        with engine.begin() as connection:  # half-way: some tables made
            connection.exec_driver_sql("CREATE TABLE experiments (id INTEGER)")
        raise RuntimeError("migration failed")

    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    monkeypatch.setattr(utils, "_initialize_tables", broken)
    database = workdir / "store" / "mlflow.db"
    prepare_mlflow_store(f"sqlite:///{database}")
    assert list((workdir / "cache" / "hpsearch").iterdir()) == []
    assert not database.exists()
    monkeypatch.undo()
    MlflowClient(f"sqlite:///{database}").search_experiments()  # MLflow makes it
    assert database.exists()
