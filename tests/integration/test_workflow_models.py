"""Models through the real workflow: training, evaluation, summaries and MLflow runs, in a temporary copy."""

import json
import statistics

import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from tests.integration.workflow import copy_project, snakemake, write_params
from tests.support.http_server import unused_loopback_url

pytestmark = pytest.mark.integration

MODELS = ["br", "lp", "cc", "br_neural", "cnn", "seq2seq", "sgm"]


def runs_by_name(client):
    experiment = client.get_experiment_by_name("sgm-mlc")
    return {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}


def test_every_model_trains_evaluates_and_is_tracked(tmp_path, small_params):
    small_params["run"].update(models=MODELS, seeds=[13, 14])
    small_params["experiments"]["label_orders"] = {"models": ["cc", "seq2seq", "sgm"], "orders": ["frequency", "natural"]}
    project = copy_project(tmp_path / "project", small_params)
    snakemake(project, "all", "--cores", "4")  # parallel jobs share one SQLite store

    order_dependent = {"cc", "seq2seq", "sgm"}
    neural = {"br_neural", "cnn", "seq2seq", "sgm"}
    # The linear models are deterministic: trained once, with the first seed.
    expected = {f"synthetic-{m}-default-frequency-13" for m in MODELS} | {
        f"synthetic-{m}-default-natural-13" for m in order_dependent
    }
    expected |= {f"synthetic-{m}-default-frequency-14" for m in neural}
    expected |= {f"synthetic-{m}-default-natural-14" for m in order_dependent & neural}
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = runs_by_name(client)
    recipes = {name.rsplit("-", 1)[0] for name in expected}  # each a parent run over its seeds
    assert set(runs) == expected | recipes | {"dataset-synthetic"}

    sgm = runs["synthetic-sgm-default-frequency-13"]
    assert sgm.data.params["models.sgm.hidden_size"] == "16"
    assert sgm.data.params["training.epochs"] == "2" and sgm.data.params["run.order"] == "frequency"
    assert sgm.data.tags["sgm_mlc.model"] == "sgm" and len(sgm.data.tags["sgm_mlc.dataset_sha256"]) == 64
    assert len(client.get_metric_history(sgm.info.run_id, "epoch.train_loss")) == 2
    # The UI opens on training runs, and a run lasts as long as its training (not its logging job).
    assert client.get_experiment(sgm.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    trained = json.loads((project / "results/models/synthetic/sgm/default/frequency/seed13/train_summary.json").read_text())
    assert (sgm.info.end_time - sgm.info.start_time) / 1000 >= trained["train_seconds"] - 0.002
    assert 0 <= sgm.data.metrics["test.micro_f1"] <= 1
    artifacts = {a.path for a in client.list_artifacts(sgm.info.run_id)}
    assert {"model.pt", "history.json", "metrics.json", "predictions.parquet", "train_summary.json"} <= artifacts
    assert "model.joblib" in {a.path for a in client.list_artifacts(runs["synthetic-br-default-frequency-13"].info.run_id)}
    # The run's parameters cover everything it depends on; decoding only where it is read.
    assert sgm.data.params["embeddings.epochs"] == "1" and sgm.data.params["decoding.beam_size"] == "2"
    assert "embeddings.epochs" not in runs["synthetic-br-default-frequency-13"].data.params

    # Each recipe's seeds are nested under its parent run, which carries their mean and std.
    parent = runs["synthetic-sgm-default-frequency"]
    seeds = [runs[f"synthetic-sgm-default-frequency-{seed}"] for seed in (13, 14)]
    assert all(seed.data.tags["mlflow.parentRunId"] == parent.info.run_id for seed in seeds)
    scores = [seed.data.metrics["test.micro_f1"] for seed in seeds]
    assert parent.data.metrics["test.micro_f1"] == pytest.approx(statistics.fmean(scores))
    assert parent.data.metrics["test.micro_f1.std"] == pytest.approx(statistics.stdev(scores))
    # The best model by validation (the recipe with the best seed mean, then its best seed) is registered.
    by_recipe = {recipe: [runs[name] for name in expected if name.startswith(f"{recipe}-")] for recipe in recipes}
    best_recipe = max(by_recipe, key=lambda r: statistics.fmean(run.data.metrics["valid.micro_f1"] for run in by_recipe[r]))
    best_seed = max(by_recipe[best_recipe], key=lambda run: (run.data.metrics["valid.micro_f1"], -int(run.data.params["run.seed"])))
    version = client.get_model_version_by_alias("sgm-mlc-synthetic", "best")
    assert version.run_id == best_seed.info.run_id
    organised = json.loads((project / "results/tracking/synthetic/run_groups.json").read_text())
    assert organised["registered_model"]["uri"] == "models:/sgm-mlc-synthetic@best"
    assert {group["name"] for group in organised["groups"]} == recipes

    for name in expected:
        _, model, variant, order, seed = name.split("-")
        folder = project / "results/evaluation/synthetic" / model / variant / order / f"seed{seed}"
        metrics = json.loads((folder / "metrics.json").read_text())
        assert set(metrics) == {"valid", "test"} and "position_deviation" in metrics["test"]
        predictions = pq.read_table(folder / "predictions.parquet")
        assert predictions.column_names == ["id", "split", "true_labels", "predicted_labels", "step_probabilities"]
        assert predictions.num_rows == sum(1 for split in predictions["split"].to_pylist() if split in ("valid", "test"))
        decision = json.loads((folder / "decision.json").read_text())
        scores_labels = model not in ("seq2seq", "sgm")  # whose loss here is the sequence loss only
        assert decision["applied"] is scores_labels and ("decision" in metrics["test"]) is scores_labels
    # One summary file per run (dvc metrics show), its timings apart.
    summary_names = {f"{name.rsplit('-', 1)[0]}-seed{name.rsplit('-', 1)[1]}.json" for name in expected}
    assert {path.name for path in (project / "results/summary/metrics").iterdir()} == summary_names
    assert {path.name for path in (project / "results/timings").iterdir()} == summary_names
    assert len(list((project / "results/summary/curves").glob("*.json"))) == 12  # the neural runs

    # Evaluation-only settings re-evaluate and retrain nothing; word vectors retrain only the neural models.
    small_params["decoding"]["beam_size"] = 3
    write_params(project, small_params)
    planned = snakemake(project, "all", "-n", "--quiet", "rules").stdout
    assert "train_model" not in planned and "evaluate_model" in planned
    small_params["decoding"]["beam_size"] = 2
    small_params["decision"]["min_positives"] = 2
    write_params(project, small_params)
    planned = snakemake(project, "all", "-n", "--quiet", "rules").stdout
    assert "train_model" not in planned and "evaluate_model" in planned
    small_params["decision"]["min_positives"] = 5
    small_params["embeddings"]["epochs"] = 2
    write_params(project, small_params)
    linear = "results/evaluation/synthetic/br/default/frequency/seed13/metrics.json"
    assert "Nothing to be done" in snakemake(project, linear, "-n").stdout
    neural = "results/evaluation/synthetic/cnn/default/frequency/seed13/metrics.json"
    assert "train_model" in snakemake(project, neural, "-n", "--quiet", "rules").stdout
    small_params["embeddings"]["epochs"] = 1
    write_params(project, small_params)

    # A retried logging job resumes its own MLflow run instead of adding one.
    record = project / "results/tracking/synthetic/training_runs.json"
    first_ids = {run: logged["run_id"] for run, logged in json.loads(record.read_text()).items()}
    first_id = first_ids["synthetic/sgm/default/frequency/seed13"]
    record.unlink()
    snakemake(project, str(record.relative_to(project)))
    assert {run: logged["run_id"] for run, logged in json.loads(record.read_text()).items()} == first_ids
    assert len(runs_by_name(client)) == len(expected) + len(recipes) + 1
    assert len(client.get_metric_history(first_id, "epoch.train_loss")) == 2


def test_tracking_outage_keeps_results_and_one_command_relogs(tmp_path, small_params):
    small_params["run"]["models"] = ["br", "cnn"]
    project = copy_project(tmp_path / "project", small_params)
    outage = {
        "MLFLOW_TRACKING_URI": unused_loopback_url(""),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
    result = snakemake(project, "all", "--keep-going", env=outage, check=False)
    assert result.returncode != 0
    for model in ("br", "cnn"):
        assert (project / f"results/evaluation/synthetic/{model}/default/frequency/seed13/metrics.json").is_file()
    assert not (project / "results/tracking/synthetic/training_runs.json").exists()
    assert (project / "results/summary/metrics/synthetic-cnn-default-frequency-seed13.json").is_file()

    snakemake(project, "phase_tracking")  # the store is back: one command logs what is missing
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    assert {"synthetic-br-default-frequency-13", "synthetic-cnn-default-frequency-13"} <= set(runs_by_name(client))
