"""`dvc repro` drives the Snakemake phases and reruns exactly what a params.yaml edit touches."""

import json
import re
import shutil

import pytest

from tests.integration.workflow import copy_project, run_tool, write_params

pytestmark = pytest.mark.integration


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.mark.skipif(shutil.which("git") is None, reason="DVC needs git, which is not installed")
def test_dvc_repro_reruns_what_an_embedding_edit_touches_and_shows_metrics_and_plots(tmp_path, small_params):
    small_params["run"]["models"] = ["br", "cnn"]
    project = copy_project(tmp_path / "project", small_params)
    run_tool(project, "git", "init", "-q")
    run_tool(project, "dvc", "init", "-q")
    run_tool(project, "dvc", "config", "core.autostage", "true")

    first = run_tool(project, "dvc", "repro").stdout
    assert stages_run(first) == {
        "download", "preprocess", "embeddings", "image_features", "label_orders", "train", "evaluate", "cross_dataset",
        "summarize", "tracking", "report",
    }
    assert (project / "dvc.lock").is_file()
    tracked = (project / "data" / ".gitignore").read_text()
    assert "/raw" in tracked and "/processed" in tracked

    assert stages_run(run_tool(project, "dvc", "repro").stdout) == set()

    metrics = json.loads(run_tool(project, "dvc", "metrics", "show", "--json").stdout)
    table = next(iter(metrics.values()))["data"]["results/summary/metrics.json"]["data"]
    assert set(table) == {"synthetic/br/default/frequency/seed13", "synthetic/cnn/default/frequency/seed13"}
    assert 0 < table["synthetic/cnn/default/frequency/seed13"]["test"]["micro_f1"] <= 1
    plots = json.loads(run_tool(project, "dvc", "plots", "show", "--json").stdout)
    assert "errors" not in plots
    assert list(plots["data"]) == ["results/summary/curves/synthetic-cnn-default-frequency-seed13.json"]

    small_params["embeddings"]["epochs"] = 2
    write_params(project, small_params)
    status = run_tool(project, "dvc", "status").stdout
    assert "embeddings" in status and "download" not in status and "preprocess:" not in status
    vectors = project / "results/embeddings/synthetic/vectors.npy"
    examples = project / "data/processed/synthetic/examples.parquet"
    before = vectors.stat().st_mtime_ns, examples.stat().st_mtime_ns
    # embeddings and what follows it rerun; nothing before it (nor the label orders, which do not use it)
    assert stages_run(run_tool(project, "dvc", "repro").stdout) == {
        "embeddings", "train", "evaluate", "cross_dataset", "summarize", "tracking", "report"
    }
    assert vectors.stat().st_mtime_ns != before[0]  # Snakemake rebuilt the vectors inside the stage
    assert examples.stat().st_mtime_ns == before[1]  # and left the processed data alone
