"""Tuning through the real workflow: a study per model, its best.yaml, tuned runs, MLflow runs per trial."""

import json
import shutil

import pytest
import yaml
from mlflow import MlflowClient

from tests.integration.workflow import copy_project, snakemake

pytestmark = pytest.mark.integration

SPACES = {
    "br": {"C": {"low": 0.1, "high": 10.0, "log": True}},
    "sgm": {
        "learning_rate": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
        "order": {"choices": ["frequency", "natural"]},
    },
}


def tuned_params(small_params, run_studies):
    small_params["run"].update(models=["br", "sgm"])
    small_params["tuning"].update(
        enabled=True, run_studies=run_studies, budget={"trials": 2, "cpu_minutes": 10.0}, spaces=SPACES,
    )
    return small_params


def test_studies_run_write_best_yaml_and_feed_the_tuned_runs(tmp_path, small_params):
    project = copy_project(tmp_path / "studied", tuned_params(small_params, run_studies=True))
    tuned_sgm = "results/evaluation/synthetic/sgm/tuned/tuned/seed13"
    snakemake(project, "tune", f"{tuned_sgm}/metrics.json", "results/tracking/tuning/synthetic/sgm/run.json",
              "--cores", "2")

    best = yaml.safe_load((project / "results/tuning/synthetic/sgm/best.yaml").read_text())
    assert best["order"] in ("frequency", "natural")
    assert best["provenance"]["budget"] == {"trials": 2, "cpu_minutes": 10.0}
    assert best["provenance"]["used"]["finished"] == 2
    trials = json.loads((project / "results/tuning/synthetic/sgm/trials.json").read_text())
    assert len(trials) == 2
    # The tuned run trained with the study's settings and label order, and says so.
    trained = json.loads((project / "results/models/synthetic/sgm/tuned/tuned/seed13/params.json").read_text())
    assert trained["training"]["learning_rate"] == best["settings"]["training"]["learning_rate"]
    assert trained["run"]["label_order"] == best["order"]
    assert json.loads((project / tuned_sgm / "metrics.json").read_text())["test"]["micro_f1"] >= 0

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("sgm-mlc")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    parent = runs["tune-synthetic-sgm"]
    children = [run for run in runs.values() if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(run.info.run_name for run in children) == ["tune-synthetic-sgm-trial0", "tune-synthetic-sgm-trial1"]
    assert parent.data.metrics["trials_finished"] == 2
    assert parent.data.params["tuned_order"] == best["order"]

    # With the studies not run, the tuned runs read the committed best.yaml: no study job is planned.
    committed = copy_project(tmp_path / "committed", tuned_params(small_params, run_studies=False))
    for model in ("br", "sgm"):
        target = committed / "results/tuning/synthetic" / model
        target.mkdir(parents=True)
        for name in ("best.yaml", "trials.json"):
            shutil.copy2(project / "results/tuning/synthetic" / model / name, target / name)
    dry_run = snakemake(committed, "all", "--cores", "2", "--dry-run").stdout
    assert "train_model" in dry_run and "tune_model" not in dry_run and "write_tuned_settings" not in dry_run


def test_two_workflow_jobs_run_trials_of_one_study_on_postgresql(tmp_path, small_params):
    """tuning.workers parallel jobs share one study through a PostgreSQL storage (as on a cluster)."""
    from tests.integration.servers import postgres_database

    with postgres_database() as storage:
        params = tuned_params(small_params, run_studies=True)
        params["run"]["models"] = ["br"]
        params["tuning"].update(workers=2, storage=storage, budget={"trials": 6, "cpu_minutes": 10.0})
        project = copy_project(tmp_path / "shared", params)
        snakemake(project, "tune", "--cores", "2")
        study = project / "results/tuning/synthetic/br"
        records = [json.loads((study / f"workers/worker{worker}.json").read_text()) for worker in (0, 1)]
        best = yaml.safe_load((study / "best.yaml").read_text())
    # No trial starts once 6 are finished; each worker may finish the one it had under way.
    assert 6 <= best["provenance"]["used"]["finished"] <= 7
    assert {record["study"] for record in records} == {"synthetic-br"}
    assert best["provenance"]["storage"].startswith("postgresql+psycopg2://")
    assert not (study / "study.db").exists()


def test_missing_committed_settings_stop_the_workflow_with_the_way_on(tmp_path, small_params):
    project = copy_project(tmp_path / "uncommitted", tuned_params(small_params, run_studies=False))
    result = snakemake(project, "all", "--dry-run", check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "committed settings results/tuning/synthetic/br/best.yaml are missing" in message
    assert "tuning={run_studies: true}" in message and "tuning={enabled: false}" in message
