"""Faults survived: a training job killed with SIGKILL mid-run resumes from its last checkpoint and ends with the
metrics of an uninterrupted run, with one MLflow run."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from tests.integration.workflow import copy_project, snakemake, tool_environment

pytestmark = pytest.mark.integration

RUN = "synthetic/sgm/default/frequency/seed13"


def test_a_training_job_killed_mid_run_resumes_and_ends_as_an_uninterrupted_run(tmp_path, small_params):
    small_params["run"]["models"] = ["sgm"]
    small_params["training"]["epochs"] = 4
    target = "results/tracking/synthetic/training_runs.json"
    reference = copy_project(tmp_path / "reference", small_params)
    snakemake(reference, target)

    project = copy_project(tmp_path / "project", small_params)
    workflow = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "1", target], cwd=project, env=tool_environment(project),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    history = project / "results/models" / RUN / "history.json"
    deadline = time.monotonic() + 300
    while not (history.is_file() and len(json.loads(history.read_text() or "[]")) >= 2):
        assert time.monotonic() < deadline and workflow.poll() is None, "training never reached epoch 2"
        time.sleep(0.2)
    victims = [pid for pid in train_pids() if os.readlink(f"/proc/{pid}/cwd") == str(project)]
    assert len(victims) == 1
    os.kill(victims[0], signal.SIGKILL)
    assert workflow.wait(timeout=120) != 0  # the job failed; the checkpoint of its last epoch is on disk
    assert (project / "results/models" / RUN / "checkpoint.pt").is_file()
    assert not (project / "results/models" / RUN / "train_summary.json").exists()

    rerun = snakemake(project, target)
    log = (project / "results/logs/train_model" / f"{RUN}.log").read_text()
    assert re.search(r"resuming from \S+checkpoint.pt after epoch [23]", log), log
    metrics = json.loads((project / "results/evaluation" / RUN / "metrics.json").read_text())
    expected = json.loads((reference / "results/evaluation" / RUN / "metrics.json").read_text())
    for split in ("valid", "test"):
        for name, value in expected[split].items():
            if name != "documents_per_second":
                assert metrics[split][name] == pytest.approx(value, abs=1e-9), (split, name)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("sgm-mlc")
    names = [run.info.run_name for run in client.search_runs([experiment.experiment_id])]
    assert names.count("synthetic-sgm-default-frequency-13") == 1


def train_pids():
    """PIDs of every running ``python -m sgm_mlc train`` process."""
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines()
            if " -m sgm_mlc train " in line and not line.split(None, 1)[1].startswith(("/bin/bash", "bash"))]


def test_the_whole_workflow_killed_then_rerun_completes_and_takes_nothing_half_written(tmp_path, small_params):
    small_params["run"]["models"] = ["br", "sgm", "br_neural"]
    small_params["run"]["seeds"] = [13, 14]
    project = copy_project(tmp_path / "project", small_params)
    workflow = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", "all"], cwd=project, env=tool_environment(project),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not list((project / "results/models").glob("*/*/*/*/*/history.json")):
        assert time.monotonic() < deadline and workflow.poll() is None, "no training started"
        time.sleep(0.2)
    os.killpg(workflow.pid, signal.SIGKILL)  # snakemake and every job it started, at once
    workflow.wait(timeout=60)
    assert not (project / "results/report/index.html").exists()

    snakemake(project, "--unlock")  # the killed run's lock stays behind
    snakemake(project, "all")
    assert (project / "results/report/index.html").is_file()
    assert not [path for path in project.rglob("*") if path.name.endswith(".partial") or ".partial." in path.name]
    for metrics in (project / "results/evaluation").glob("*/*/*/*/*/metrics.json"):
        assert set(json.loads(metrics.read_text())) == {"valid", "test"}
    assert "Nothing to be done" in snakemake(project, "all", "-n").stdout
