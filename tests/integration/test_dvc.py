"""DVC as a fresh clone of the project gets it: `dvc repro` runs with no set-up, metrics are one row per run,
`dvc push` / `dvc pull` restore every versioned file into another clone (through the committed local remote, and
through S3), and `dvc exp run` over params reruns exactly what they touch and diffs its metrics against HEAD.

One tiny pipeline run (module fixture) serves every test; a test that changes the workspace works on a copy.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import tiny_params
from tests.integration.workflow import PROJECT_ROOT, copy_project, run_tool, write_params

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("git") is None, reason="DVC needs git, which is not installed"),
]

# What `git clone` brings of the DVC repository besides the workflow (copy_project copies the workflow).
DVC_REPOSITORY_FILES = (".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore", "results/tuning/README.md")
ALL_STAGES = {
    "download", "preprocess", "embeddings", "image_features", "label_orders", "tune", "train", "evaluate",
    "cross_dataset", "summarize", "tracking", "report",
}
RUNS = ("synthetic-br-default-frequency-seed13", "synthetic-cnn-default-frequency-seed13")


@dataclass(frozen=True)
class Reproduced:
    """A committed project after its first `dvc repro`, with what that run printed and left for git."""

    project: Path
    repro_output: str
    left_for_git: list[str]


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def commit(project: Path, message: str) -> None:
    run_tool(project, "git", "add", "-A")
    run_tool(project, "git", "commit", "-q", "-m", message)


def dvc_outputs(project: Path) -> list[str]:
    """The paths of every DVC output of dvc.lock (cached or committed)."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return sorted({out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])})


def checksums(project: Path, outputs: list[str]) -> dict[str, str]:
    """md5 of every file under ``outputs``, by path relative to the project."""
    files = (path for out in outputs for path in sorted((project / out).rglob("*")) if path.is_file())
    return {str(path.relative_to(project)): hashlib.md5(path.read_bytes()).hexdigest() for path in files}


def versioned(files: dict[str, str]) -> dict[str, str]:
    """``files`` without what .dvcignore keeps out of DVC (training checkpoints)."""
    return {path: digest for path, digest in files.items() if Path(path).name != "checkpoint.pt"}


def assert_up_to_date(project: Path) -> None:
    assert "Data and pipelines are up to date." in run_tool(project, "dvc", "status").stdout


def assert_pulled_equal(origin: Path, clone: Path) -> None:
    outputs = dvc_outputs(origin)
    original = checksums(origin, outputs)
    assert any(Path(path).name == "checkpoint.pt" for path in original)  # the cnn run's, not versioned
    assert checksums(clone, outputs) == versioned(original)
    assert_up_to_date(clone)


def copy_workspace(project: Path, target: Path) -> Path:
    """A copy of the whole workspace (git, DVC cache, Snakemake's records), file times kept."""
    shutil.copytree(project, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, default_params) -> Reproduced:
    params = tiny_params(default_params)
    params["run"]["models"] = ["br", "cnn"]
    project = copy_project(tmp_path_factory.mktemp("dvc") / "origin", params)
    for name in DVC_REPOSITORY_FILES:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, project / name)
    run_tool(project, "git", "init", "-q", "-b", "main")
    commit(project, "the project")

    # As on a user's machine: Python writes bytecode (__pycache__/) beside the code the stages import.
    output = run_tool(project, "dvc", "repro", env={"PYTHONDONTWRITEBYTECODE": ""}).stdout
    left_for_git = run_tool(project, "git", "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    commit(project, "a run")
    return Reproduced(project, output, left_for_git)


def test_a_fresh_clone_reproduces_with_no_set_up_and_git_keeps_only_the_lock_and_the_summary(reproduced):
    assert stages_run(reproduced.repro_output) == ALL_STAGES
    # The run left bytecode inside the stages' code dependencies, and DVC (.dvcignore) does not count it.
    assert list((reproduced.project / "src/sgm_mlc/text").glob("__pycache__/*.pyc"))
    left = {line[3:] for line in reproduced.left_for_git}
    assert left == {"dvc.lock"} | {f"results/summary/metrics/{run}.json" for run in RUNS} | {
        f"results/summary/curves/{RUNS[1]}.json"
    }
    assert stages_run(run_tool(reproduced.project, "dvc", "repro").stdout) == set()
    assert_up_to_date(reproduced.project)


def test_metrics_show_one_row_per_run_with_quality_apart_from_timings_and_plots_show_the_curves(reproduced):
    project = reproduced.project
    metrics = json.loads(run_tool(project, "dvc", "metrics", "show", "--json").stdout)
    files = next(iter(metrics.values()))["data"]
    assert set(files) == {f"results/summary/metrics/{run}.json" for run in RUNS}
    for result in files.values():
        assert set(result["data"]) == {"test", "valid"}
        assert 0 < result["data"]["test"]["micro_f1"] <= 1 and "documents_per_second" not in result["data"]["test"]
    table = run_tool(project, "dvc", "metrics", "show", "--md").stdout.strip().splitlines()
    assert len(table) == 2 + len(RUNS)  # header, rule, one row per run

    timings = json.loads(run_tool(project, "dvc", "metrics", "show", "--json", "results/timings").stdout)
    timing = next(iter(timings.values()))["data"][f"results/timings/{RUNS[0]}.json"]["data"]
    assert timing["train_seconds"] > 0 and timing["test"]["documents_per_second"] > 0

    plots = json.loads(run_tool(project, "dvc", "plots", "show", "--json").stdout)
    assert "errors" not in plots
    assert list(plots["data"]) == [f"results/summary/curves/{RUNS[1]}.json"]


def test_a_rerun_leaves_git_status_clean_and_verify_checks_every_run_against_the_commit(reproduced, tmp_path):
    project = copy_workspace(reproduced.project, tmp_path / "rerun")
    verification = project / "results/verify/verification.json"
    first = json.loads(verification.read_text())  # the first run, before any record was committed
    assert first["record"].startswith("none (") and first["counts"]["new"] == len(RUNS) and first["passed"]

    # A clone comes without bytecode; a run writes it again. Neither counts as a change of the code DVC hashes.
    for bytecode in list((project / "src").rglob("__pycache__")):
        shutil.rmtree(bytecode)
    assert_up_to_date(project)

    # Retrain and re-evaluate every run, as on a user's machine (bytecode written): the committed record is
    # reproduced bit for bit, and nothing else that git tracks changes (wall times live in results/timings).
    rerun = ("--forcerun", "train_model", "evaluate_model", "--quiet")
    run_tool(project, "snakemake", "--cores", "2", "phase_summarize", *rerun, env={"PYTHONDONTWRITEBYTECODE": ""})
    assert list((project / "src/sgm_mlc/text").glob("__pycache__/*.pyc"))
    assert "src/" not in run_tool(project, "dvc", "status").stdout  # retrained outputs differ; the code did not
    assert run_tool(project, "git", "status", "--porcelain", "--untracked-files=all").stdout == ""
    output = run_tool(project, "snakemake", "--cores", "1", "verify").stdout
    assert f"IDENTICAL {RUNS[1]}" in output and "PASSED: 2 identical" in output
    # The workflow's own check (the report's provenance) reruns when the commit moves.
    run_tool(project, "snakemake", "--cores", "1", str(verification.relative_to(project)))
    checked = json.loads(verification.read_text())
    assert checked["record"].startswith("git ") and checked["counts"]["identical"] == len(RUNS) and checked["passed"]

    summary = project / f"results/summary/metrics/{RUNS[1]}.json"
    figures = json.loads(summary.read_text())
    figures["test"]["micro_f1"] += 0.05
    summary.write_text(json.dumps(figures))
    failed = run_tool(project, "snakemake", "--cores", "1", "verify", check=False)
    assert failed.returncode != 0
    assert f"OUTSIDE   {RUNS[1]}  largest: test micro_f1 +0.050000" in failed.stdout + failed.stderr


def test_push_then_pull_into_a_clone_beside_it_through_the_committed_local_remote(reproduced):
    origin = reproduced.project
    run_tool(origin, "dvc", "push")
    assert (origin.parent / "sgm-mlc-dvc-storage/files/md5").is_dir()  # ../sgm-mlc-dvc-storage, as committed

    clone = origin.parent / "clone"
    run_tool(origin.parent, "git", "clone", "-q", str(origin), str(clone))
    run_tool(clone, "dvc", "pull")
    assert_pulled_equal(origin, clone)

    # Snakemake keeps no record of the parameters the pulled files were made with until it is told they are
    # current; then an edit of params.yaml reruns exactly its jobs, as in the clone that made them.
    run_tool(clone, "snakemake", "--cores", "1", "all", "--touch", "--forceall", "--quiet")
    assert_up_to_date(clone)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["training"]["learning_rate"] = 1.0e-3
    write_params(clone, params)
    status = run_tool(clone, "dvc", "status").stdout
    assert "train:" in status and "embeddings:" not in status
    planned = run_tool(clone, "snakemake", "--cores", "1", "phase_train", "-n", "--quiet", "rules").stdout
    assert "train_model" in planned and "build_word_embeddings" not in planned


def test_push_then_pull_through_s3(reproduced, tmp_path):
    pytest.importorskip("dvc_s3", reason="dvc-s3 is not installed (pip install dvc-s3)")
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install 'moto[server]')")
    boto3 = pytest.importorskip("boto3")

    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "NO_PROXY": "127.0.0.1",
    }
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, **{
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"
        })
        s3.create_bucket(Bucket="sgm-mlc")

        def use_s3(project: Path) -> None:
            run_tool(project, "dvc", "remote", "add", "--local", "s3", "s3://sgm-mlc/dvc")
            run_tool(project, "dvc", "remote", "modify", "--local", "s3", "endpointurl", endpoint)

        origin = reproduced.project
        use_s3(origin)
        try:
            run_tool(origin, "dvc", "push", "-r", "s3", env=credentials)
        finally:
            run_tool(origin, "dvc", "remote", "remove", "--local", "s3")
        stored = s3.list_objects_v2(Bucket="sgm-mlc", Prefix="dvc/files/md5/")
        assert stored["KeyCount"] > 0

        clone = tmp_path / "clone"  # away from the origin: the committed local remote is not there
        run_tool(tmp_path, "git", "clone", "-q", str(origin), str(clone))
        use_s3(clone)
        run_tool(clone, "dvc", "pull", "-r", "s3", env=credentials)
    finally:
        server.stop()
    assert_pulled_equal(origin, clone)


def test_an_experiment_reruns_only_what_its_params_touch_and_is_listed_with_its_params_and_metrics(
    reproduced, tmp_path
):
    project = copy_workspace(reproduced.project, tmp_path / "experiments")
    linear_model = project / "results/models/synthetic/br/default/frequency/seed13/model.joblib"
    before = linear_model.stat().st_mtime_ns

    output = run_tool(
        project, "dvc", "exp", "run", "-n", "faster", "-S", "training.epochs=3", "-S", "training.learning_rate=1.0e-2"
    ).stdout
    # The training recipe reaches train and what follows it, not the word vectors nor the label orders; inside
    # the stage, Snakemake retrains the neural run only (the linear models read no training recipe).
    assert stages_run(output) == {"train", "evaluate", "cross_dataset", "summarize", "tracking", "report"}
    history = json.loads((project / "results/models/synthetic/cnn/default/frequency/seed13/history.json").read_text())
    assert len(history) == 3 and linear_model.stat().st_mtime_ns == before
    diff = json.loads(run_tool(project, "dvc", "metrics", "diff", "HEAD", "--json").stdout)
    assert set(diff) == {f"results/summary/metrics/{RUNS[1]}.json"}

    rows = json.loads(run_tool(project, "dvc", "exp", "show", "--json").stdout)
    baseline = next(row for row in rows if row["name"] == "main")
    assert baseline["data"]["params"]["params.yaml"]["data"]["training"]["epochs"] == 2
    (experiment,) = baseline["experiments"]
    assert experiment["name"] == "faster"
    data = experiment["revs"][0]["data"]
    training = data["params"]["params.yaml"]["data"]["training"]
    assert training["epochs"] == 3 and training["learning_rate"] == 1.0e-2
    metrics = data["metrics"][f"results/summary/metrics/{RUNS[1]}.json"]["data"]
    assert metrics == json.loads((project / f"results/summary/metrics/{RUNS[1]}.json").read_text())
