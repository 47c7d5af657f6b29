"""The workflow on SLURM, through snakemake-executor-plugin-slurm and the project's profiles
(``--workflow-profile profiles/slurm --profile profiles/slurm-noacct``), on a one-node cluster started for the
test (:mod:`tests.integration.slurm_cluster`): every job a SLURM job, one MLflow writer at a time, and the numbers
of a local run. The test node has no GPU: the profile's per-rule requests are given again on the command line
with ``gpu=0`` and memory the node can grant (:func:`requests_the_node_grants`); the rest of the profile is used
as shipped."""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from mlflow import MlflowClient

from sgm_mlc.report.summary import TIMING_METRICS
from tests.integration.slurm_cluster import Node, slurm_cluster
from tests.integration.workflow import copy_project, run_tool, snakemake

pytestmark = pytest.mark.integration

MODELS = ["br", "cnn"]  # a linear model (the profile asks no GPU for it) and a neural one (one GPU)
RUN = "synthetic/{model}/default/frequency/seed13"
PROFILES = ("--workflow-profile", "profiles/slurm", "--profile", "profiles/slurm-noacct")
# One thread per job, as in the local run (the same numbers need the same thread count), and a first status check
# after one second instead of 40 (squeue still qualifies: the cluster keeps finished jobs for an hour).
TEST_CLUSTER_SETTINGS = ("--max-threads", "1", "--slurm-init-seconds-before-status-checks", "1")
# A job of a dry run: its rule, its model wildcard and the GPUs it asks for.
PLANNED_JOB = re.compile(
    r"^rule (?P<rule>\w+):$(?:\n    .*)*?"
    r"\n    wildcards: .*\bmodel=(?P<model>\w+).*(?:\n    .*)*?"
    r"\n    resources: .*\bgpu=(?P<gpu>\d+)",
    re.MULTILINE,
)


def test_the_slurm_profile_asks_a_gpu_for_the_neural_models_only(tmp_path, small_params):
    small_params["run"]["models"] = MODELS
    project = copy_project(tmp_path / "project", small_params)
    plan = snakemake(project, "all", "--dry-run", *PROFILES).stdout
    gpus = {(job["rule"], job["model"]): int(job["gpu"]) for job in PLANNED_JOB.finditer(plan)}
    assert gpus == {("train_model", "br"): 0, ("evaluate_model", "br"): 0,
                    ("train_model", "cnn"): 1, ("evaluate_model", "cnn"): 1}


@pytest.fixture
def cluster():
    with slurm_cluster() as cluster:
        yield cluster


def test_the_workflow_on_slurm_gives_the_numbers_of_a_local_run(tmp_path, small_params, cluster):
    small_params["run"]["models"] = MODELS
    metrics_files = [f"results/evaluation/{RUN.format(model=model)}/metrics.json" for model in MODELS]
    reference = copy_project(tmp_path / "local", small_params)
    project = copy_project(tmp_path / "slurm", small_params)
    profile = yaml.safe_load((project / "profiles/slurm/config.yaml").read_text(encoding="utf-8"))
    with ThreadPoolExecutor(max_workers=1) as beside:  # the local run fills the time SLURM jobs wait in the queue
        local_run = beside.submit(snakemake, reference, *metrics_files)
        result = run_tool(
            project, sys.executable, "-m", "snakemake", "all", *PROFILES, *TEST_CLUSTER_SETTINGS,
            "--set-resources", *requests_the_node_grants(profile, cluster.node),
            env=cluster.environment(), timeout=1200,
        )
        local_run.result()
    jobs = [job for job in cluster.jobs() if job.comment.startswith("rule_")]

    # Every job but the local `all` was a SLURM job, and finished.
    steps = int(re.search(r"(\d+) of \1 steps \(100%\) done", result.stderr).group(1))
    assert len(jobs) == steps - 1 and {job.state for job in jobs} == {"COMPLETED"}, jobs
    for model in MODELS:
        assert any(job.comment.startswith(f"rule_train_model_wildcards_synthetic_{model}_") for job in jobs)
    # The jobs that write to the MLflow store ran one after another.
    writers = sorted((job for job in jobs if job.comment.startswith(("rule_log_", "rule_organise_runs"))),
                     key=lambda job: job.start)
    # The dataset card, the dataset's runs (one job), their grouping under parent runs.
    assert sorted(job.comment.split("_wildcards")[0] for job in writers) == [
        "rule_log_dataset_card", "rule_log_training_runs", "rule_organise_runs"
    ], writers
    assert all(earlier.end <= later.start for earlier, later in zip(writers, writers[1:])), writers

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("sgm-mlc")
    runs = client.search_runs([experiment.experiment_id])
    for model, metrics_file in zip(MODELS, metrics_files):
        on_slurm = json.loads((project / metrics_file).read_text())["test"]
        local = json.loads((reference / metrics_file).read_text())["test"]
        assert quality(on_slurm) == quality(local), model
        [run] = [run for run in runs if run.info.run_name == f"synthetic-{model}-default-frequency-13"]
        assert run.data.metrics["test.micro_f1"] == on_slurm["micro_f1"]


def requests_the_node_grants(profile: dict, node: Node) -> list[str]:
    """The profile's per-rule requests as ``--set-resources`` entries the test node can grant: no GPU (it has
    none), and memory at most the node's share per CPU (so that jobs run side by side, as they do locally).
    ``--set-resources`` on the command line replaces the profile's whole ``set-resources``, hence every entry."""
    share = node.memory_mb // node.cpus

    def granted(name: str, requested: int | str) -> int | str:
        if name == "gpu":
            return 0
        return min(requested, share) if name == "mem_mb" else requested

    return [
        f"{rule}:{name}={granted(name, value)}"
        for rule, resources in profile["set-resources"].items()
        for name, value in resources.items()
    ]


def quality(metrics: dict) -> dict:
    """The metrics without those that measure speed."""
    return {name: value for name, value in metrics.items() if name not in TIMING_METRICS}
