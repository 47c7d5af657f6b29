"""The real Snakemake workflow on the embedded synthetic dataset, in a temporary copy of the project."""

import json

import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from tests.integration.workflow import copy_project, snakemake, write_params

pytestmark = pytest.mark.integration


def test_workflow_builds_data_embeddings_orders_and_mlflow_runs(tmp_path, small_params):
    project = copy_project(tmp_path / "project", small_params)
    snakemake(project, "all")

    examples = pq.read_table(project / "data/processed/synthetic/examples.parquet")
    assert examples.num_rows == 400
    assert {"id", "text", "labels", "split", "tokens"} <= set(examples.column_names)
    card = json.loads((project / "data/processed/synthetic/card.json").read_text())
    assert sum(card["splits"][split]["documents"] for split in ("train", "valid", "test")) == 400

    coverage = json.loads((project / "results/embeddings/synthetic/coverage.json").read_text())
    assert coverage["dimension"] == 16 and coverage["word_coverage"] > 0.9
    for order in [small_params["run"]["order"]]:
        sequences = pq.read_table(project / f"results/label_orders/synthetic/{order}/sequences.parquet")
        assert sequences.num_rows == 400

    record = json.loads((project / "results/tracking/synthetic/dataset_card_run.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    run = client.get_run(record["run_id"])
    assert run.data.metrics["documents"] == 400
    assert run.data.params["datasets.synthetic.n_documents"] == "400"
    assert run.data.tags["sgm_mlc.dataset"] == "synthetic"
    assert [artifact.path for artifact in client.list_artifacts(record["run_id"])] == ["card.json"]

    # Nothing left to do; editing an embedding parameter reruns embeddings only (Snakemake's params trigger).
    assert "Nothing to be done" in snakemake(project, "all", "-n").stdout
    small_params["embeddings"]["epochs"] = 2
    write_params(project, small_params)
    plan = snakemake(project, "all", "-n", "--quiet", "rules").stdout
    assert "build_word_embeddings" in plan
    assert "download_dataset" not in plan and "preprocess_to_parquet" not in plan and "build_label_order" not in plan


def test_workflow_stops_at_once_on_invalid_params(tmp_path, small_params):
    small_params["run"]["datasets"] = ["synthetic", "imdb"]
    small_params["embeddings"]["dimenson"] = 3
    project = copy_project(tmp_path / "project", small_params)
    result = snakemake(project, "all", "-n", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "run.datasets.1: 'imdb' is not a dataset of the datasets section; known datasets: coco2017, " in output
    assert "embeddings: unknown key(s) 'dimenson'" in output
