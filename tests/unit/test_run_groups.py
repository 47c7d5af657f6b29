"""Seeds nested under one parent run per recipe, with the seeds' mean and std; the best model chosen on
validation (the recipe by its seed mean, then its best seed)."""

import statistics

import pytest
from mlflow import MlflowClient

from sgm_mlc.tracking.registry import best_run
from sgm_mlc.tracking.run_groups import PARENT_TAG, group_runs, organise_group
from sgm_mlc.tracking.runs import get_or_create_run, init_tracking, log_run


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    init_tracking(uri, "groups")
    return MlflowClient(tracking_uri=uri)


def logged_run(client, model, seed, valid, test, order="frequency", hidden=16):
    """A finished seed's run as log_training_run leaves it (the tags and params that grouping reads)."""
    identity = {"dataset": "synthetic", "model": model, "variant": "default", "order": order, "seed": str(seed)}
    run_id = get_or_create_run(client, "groups", f"train/{model}/{order}/{hidden}/{seed}",
                               run_name="-".join(identity.values()), start_time=1_000_000 + seed * 1000)
    params = {"run": identity, "models": {model: {"hidden_size": hidden}}}
    tags = {f"sgm_mlc.{part}": value for part, value in identity.items()}
    log_run(client, run_id, params, {"valid.micro_f1": valid, "test.micro_f1": test, "epoch.loss": 1.0}, tags,
            end_time=1_000_000 + seed * 1000 + 500)
    return client.get_run(run_id)


def test_seeds_of_a_recipe_share_a_parent_with_their_mean_and_std(store):
    runs = [logged_run(store, "sgm", seed, valid, test)
            for seed, valid, test in [(13, 0.80, 0.70), (14, 0.90, 0.76), (15, 0.85, 0.79)]]
    other_settings = logged_run(store, "sgm", 13, 0.5, 0.5, hidden=32)  # another recipe: another parent
    other_order = logged_run(store, "sgm", 13, 0.6, 0.6, order="natural")
    groups = group_runs(runs + [other_settings, other_order])
    assert [(group.name, group.seeds) for group in groups] == [
        ("synthetic-sgm-default-frequency", ["13", "14", "15"]),
        ("synthetic-sgm-default-frequency", ["13"]),
        ("synthetic-sgm-default-natural", ["13"]),
    ]

    parent_id = organise_group(store, "groups", groups[0])
    parent = store.get_run(parent_id)
    assert parent.data.metrics["test.micro_f1"] == pytest.approx(0.75)
    assert parent.data.metrics["test.micro_f1.std"] == pytest.approx(statistics.stdev([0.70, 0.76, 0.79]))
    assert parent.data.metrics["test.micro_f1.std"] == pytest.approx(0.0458257569, abs=1e-9)
    assert "epoch.loss" not in parent.data.metrics and "run.seed" not in parent.data.params
    assert parent.data.params["models.sgm.hidden_size"] == "16" and parent.data.tags["sgm_mlc.seeds"] == "13,14,15"
    assert parent.info.start_time == 1_013_000 and parent.info.end_time == 1_015_500
    assert "mean of 3 seeds (13, 14, 15); test micro-F1 0.750 ± 0.046" in parent.data.tags["mlflow.note.content"]
    for run in runs:
        child = store.get_run(run.info.run_id)
        assert child.data.tags[PARENT_TAG] == parent_id and "seed" in child.data.tags["mlflow.note.content"]

    # Organising again finds the same parent; one seed alone has no std.
    assert organise_group(store, "groups", groups[0]) == parent_id
    lone = store.get_run(organise_group(store, "groups", groups[2]))
    assert lone.info.run_id != parent_id and "test.micro_f1.std" not in lone.data.metrics
    assert store.get_run(other_settings.info.run_id).data.tags.get(PARENT_TAG) is None


def test_the_best_model_is_the_best_recipe_by_seed_mean_then_its_best_seed(store):
    steady = [logged_run(store, "sgm", seed, valid, 0.7) for seed, valid in [(13, 0.84), (14, 0.86), (15, 0.86)]]
    lucky = [logged_run(store, "cnn", seed, valid, 0.7) for seed, valid in [(13, 0.95), (14, 0.70), (15, 0.71)]]
    groups = group_runs(steady + lucky)
    everything = {run.info.run_id for run in steady + lucky}
    group, run = best_run(groups, "micro_f1", everything)
    # cnn's best seed is the best single run, but sgm's mean (0.853) beats cnn's (0.787); a tie goes to the lower seed.
    assert group.identity["model"] == "sgm" and run.info.run_id == steady[1].info.run_id
    group, run = best_run(groups, "micro_f1", {run.info.run_id for run in lucky})
    assert run.info.run_id == lucky[0].info.run_id
    assert best_run(groups, "micro_f1", set()) is None
