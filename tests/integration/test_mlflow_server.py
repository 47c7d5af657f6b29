"""MLflow on a shared tracking server (``mlflow server`` serving its artifacts, on PostgreSQL or SQLite): parallel
jobs log every run to it exactly once, and a server that is down, or fails midway through a log, loses nothing."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from mlflow import MlflowClient

from sgm_mlc.tracking.runs import RUN_KEY_TAG, TrackingStoreUnavailable, init_tracking
from sgm_mlc.tracking.training_run import log_training_run
from tests.integration.servers import mlflow_server, postgres_database
from tests.integration.workflow import copy_project, snakemake
from tests.support.trained_runs import trained_runs

pytestmark = pytest.mark.integration

EXPERIMENT = "sgm-mlc"
# MLflow's client retries a failed request for minutes by default. While the server works, the tests keep a few
# quick retries (a pooled connection that the server has closed meanwhile fails once and is retried); while it
# is down, none.
FEW_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"
}
NO_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
TRAINING_START_SECONDS = 300


@pytest.fixture(scope="module")
def postgres_tracking_server(tmp_path_factory):
    """An MLflow server on a fresh PostgreSQL database, serving its artifacts from a folder of its own."""
    with postgres_database() as database:
        with mlflow_server(database, tmp_path_factory.mktemp("tracking") / "artifacts") as server:
            yield server


def run_folder(phase: str, model: str) -> str:
    return f"results/{phase}/synthetic/{model}/default/frequency/seed13"


TRAINING_RUNS = "results/tracking/synthetic/training_runs.json"


def logged_run_id(project: Path, model: str) -> str:
    """The MLflow run id the logging step recorded for ``model``'s run (seed 13)."""
    return json.loads((project / TRAINING_RUNS).read_text())[f"synthetic/{model}/default/frequency/seed13"]["run_id"]


def assert_each_run_logged_once(client: MlflowClient, project: Path, models: list[str]) -> None:
    """The experiment holds one finished run per run key, named for the dataset card, each model's run and its
    recipe's parent run, and each model's run holds its metrics (each epoch once), its model file and its pyfunc
    model; the run files of the workflow point at those runs, and the best is registered."""
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = client.search_runs([experiment_id])
    keys = [run.data.tags[RUN_KEY_TAG] for run in runs]
    assert len(keys) == len(set(keys))
    by_name = {run.info.run_name: run for run in runs}
    parents = {f"synthetic-{model}-default-frequency" for model in models}
    assert set(by_name) == {"dataset-synthetic"} | {f"{parent}-13" for parent in parents} | parents
    assert {run.info.status for run in runs} == {"FINISHED"}
    assert client.get_model_version_by_alias("sgm-mlc-synthetic", "best").run_id in {run.info.run_id for run in runs}
    for model in models:
        run = by_name[f"synthetic-{model}-default-frequency-13"]
        assert run.data.tags["mlflow.parentRunId"] == by_name[f"synthetic-{model}-default-frequency"].info.run_id
        assert logged_run_id(project, model) == run.info.run_id
        assert 0 <= run.data.metrics["test.micro_f1"] <= 1 and "valid.subset_accuracy" in run.data.metrics
        model_dir = project / run_folder("models", model)
        if (model_dir / "history.json").is_file():
            epochs = len(json.loads((model_dir / "history.json").read_text()))
            assert [m.step for m in client.get_metric_history(run.info.run_id, "epoch.train_loss")] == list(
                range(1, epochs + 1)
            )
        artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
        model_file = "model.pt" if (model_dir / "model.pt").is_file() else "model.joblib"
        assert {model_file, "metrics.json", "predictions.parquet", "train_summary.json"} <= artifacts
        logged = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
        assert [model.status.name for model in logged] == ["READY"]


def test_parallel_jobs_log_each_run_once_to_a_postgresql_tracking_server(
    tmp_path, small_params, postgres_tracking_server
):
    server = postgres_tracking_server
    models = ["br", "cnn", "sgm"]
    small_params["run"]["models"] = models
    project = copy_project(tmp_path / "project", small_params)
    # The server takes parallel writers: its logging jobs take none of the one-writer resource a SQLite store needs.
    snakemake(project, "all", env={"MLFLOW_TRACKING_URI": server.url, **FEW_RETRIES})

    client = MlflowClient(tracking_uri=server.url)
    assert_each_run_logged_once(client, project, models)
    run = client.get_run(logged_run_id(project, "sgm"))
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # uploaded through the server, stored by it
    assert (server.artifacts / run.info.experiment_id / run.info.run_id / "artifacts" / "model.pt").is_file()


def test_a_log_cut_short_on_the_server_is_completed_in_the_same_run(
    tmp_path, params, postgres_tracking_server, monkeypatch
):
    server = postgres_tracking_server
    for name, value in FEW_RETRIES.items():
        monkeypatch.setenv(name, value)
    project = tmp_path / "project"
    model_dir = trained_runs(project, params, ["br"])["br"]
    run_params = json.loads((model_dir / "params.json").read_text())
    wildcards = {name: str(value) for name, value in run_params["run"].items()}
    run_files = (wildcards, run_params, model_dir, project / run_folder("evaluation", "br"),
                 project / "data/processed/synthetic/examples.parquet", project)
    experiment = "log-cut-short"
    experiment_id = init_tracking(server.url, experiment)
    client = MlflowClient(tracking_uri=server.url)

    # The server's artifact store fails (a file where its folder should be): the run is created and gets its
    # parameters and metrics, then the first artifact upload fails.
    aside = server.artifacts.with_name("artifacts-aside")
    server.artifacts.mkdir(exist_ok=True)
    server.artifacts.rename(aside)
    server.artifacts.write_text("not a folder")
    try:
        with pytest.raises(TrackingStoreUnavailable, match=re.escape(f"{server.url} is unavailable (it answered")):
            log_training_run(server.url, experiment, *run_files)
    finally:
        server.artifacts.unlink()
        aside.rename(server.artifacts)
    [partial] = client.search_runs([experiment_id])
    assert partial.info.status == "RUNNING" and partial.data.params and "test.micro_f1" in partial.data.metrics
    assert client.list_artifacts(partial.info.run_id) == []

    logged = log_training_run(server.url, experiment, *run_files)
    assert logged["run_id"] == partial.info.run_id
    [run] = client.search_runs([experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags[RUN_KEY_TAG] == logged["run_key"]
    assert "model.joblib" in {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert len(client.search_logged_models([experiment_id])) == 1


def results_written(project: Path, model: str) -> tuple[int, int]:
    """When the run's training summary and evaluation metrics were written (they exist)."""
    return tuple(
        (project / run_folder(phase, model) / name).stat().st_mtime_ns
        for phase, name in (("models", "train_summary.json"), ("evaluation", "metrics.json"))
    )


def wait_for_training_to_start(project: Path, workflow: Future) -> None:
    """Return as soon as a ``train_model`` job has started (its log file exists)."""
    deadline = time.monotonic() + TRAINING_START_SECONDS
    while not any((project / "results/logs/train_model").rglob("*.log")):
        if workflow.done():
            pytest.fail(f"the workflow ended before any training started:\n{workflow.result().stderr[-3000:]}")
        assert time.monotonic() < deadline, f"no training started within {TRAINING_START_SECONDS} s"
        time.sleep(0.2)


def test_training_finishes_while_the_tracking_server_is_down_and_a_rerun_logs_each_run_once(tmp_path, small_params):
    models = ["br", "cnn"]
    small_params["run"]["models"] = models
    project = copy_project(tmp_path / "project", small_params)
    with mlflow_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", workers=1) as server:
        outage = {"MLFLOW_TRACKING_URI": server.url, **NO_RETRIES}
        with ThreadPoolExecutor(max_workers=1) as pool:
            workflow = pool.submit(snakemake, project, "all", "--keep-going", check=False, env=outage)
            wait_for_training_to_start(project, workflow)
            server.stop()
            result = workflow.result()
        assert result.returncode != 0

        # Training and evaluation finished; the logging step failed with one line that says what to do.
        written = {model: results_written(project, model) for model in models}
        assert not (project / TRAINING_RUNS).exists()
        log = (project / "results/logs/log_training_runs/synthetic.log").read_text()
        errors = [line for line in log.splitlines() if " ERROR " in line]
        assert len(errors) == 1 and "Traceback" not in log
        assert f"MLflow tracking server {server.url} is unavailable" in errors[0] and "rerun this step" in errors[0]

        server.start()  # back, at the same address and on the same store
        snakemake(project, "all", env={"MLFLOW_TRACKING_URI": server.url, **FEW_RETRIES})
        client = MlflowClient(tracking_uri=server.url)
        assert_each_run_logged_once(client, project, models)
        assert {model: results_written(project, model) for model in models} == written  # nothing trained again
