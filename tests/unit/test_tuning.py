"""Tuning studies: the search space, the study's budget, pruning and resumption, best.yaml, and tuned runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest
import yaml

from sgm_mlc.cli import main
from sgm_mlc.config import ParamsError, validate_params
from sgm_mlc.experiment.plan import TUNED_ORDER, TUNED_VARIANT, Run, experiment_plan, tune_sections
from sgm_mlc.tuning.job import open_dataset_study, tune_worker, tuned_settings
from sgm_mlc.tuning.settings import apply_best, read_best
from sgm_mlc.tuning.space import check_space, draw, split_values
from sgm_mlc.tuning.study import redacted
from tests.support.trained_runs import DATASET, tiny_params, trained_runs


class RecordingSuggest:
    """A stand-in for an Optuna trial: returns the lower bound (or first choice) and records each call."""

    def __init__(self):
        self.calls = []

    def suggest_float(self, name, low, high, *, log=False):
        self.calls.append(("float", name, low, high, log))
        return low

    def suggest_int(self, name, low, high, *, log=False):
        self.calls.append(("int", name, low, high, log))
        return low

    def suggest_categorical(self, name, choices):
        self.calls.append(("categorical", name, choices))
        return choices[0]


def test_a_space_draws_floats_ints_and_choices_and_routes_each_value(default_params):
    space = {
        "learning_rate": {"low": 1.0e-4, "high": 1.0e-2, "log": True},
        "hidden_size": {"low": 16, "high": 64},
        "dropout": {"low": 0.0, "high": 0.5},
        "order": {"choices": ["natural", "frequency"]},
    }
    suggest = RecordingSuggest()
    values = draw(space, suggest)
    assert suggest.calls == [
        ("float", "learning_rate", 1.0e-4, 1.0e-2, True),
        ("int", "hidden_size", 16, 64, False),
        ("float", "dropout", 0.0, 0.5, False),
        ("categorical", "order", ["natural", "frequency"]),
    ]
    routed = split_values(values, default_params["models"]["sgm"], default_params["training"])
    assert routed == {
        "models": {"hidden_size": 16, "dropout": 0.0},
        "training": {"learning_rate": 1.0e-4},
        "order": "natural",
    }


@pytest.mark.parametrize(
    "model, space, message",
    [
        ("sgm", {"hidden_sise": {"choices": [64]}}, "tuning.spaces.sgm.hidden_sise: 'hidden_sise' is not a setting"),
        ("br", {"order": {"choices": ["natural"]}}, "br does not depend on the label order"),
        ("br", {"C": {"low": 2.0, "high": 1.0}}, "low (2.0) must be below high (1.0)"),
    ],
)
def test_a_wrong_space_is_refused_naming_the_setting(default_params, model, space, message):
    with pytest.raises(ValueError, match="tuning.spaces") as error:
        check_space(model, space, default_params["models"][model], default_params["training"], model == "sgm")
    assert message in str(error.value)


def test_the_plan_checks_every_space(params):
    params["tuning"]["spaces"]["cnn"]["kernel_size"] = {"choices": [3]}
    with pytest.raises(ValueError, match="tuning.spaces.cnn.kernel_size"):
        experiment_plan(params)


def test_the_schema_refuses_a_malformed_domain(params):
    params["tuning"]["spaces"]["br"]["C"] = {"low": 0.1}
    with pytest.raises(ParamsError, match="tuning.spaces.br.C"):
        validate_params(params)


def test_the_plan_adds_tuned_rows_only_when_enabled(params):
    params["run"].update(datasets=["synthetic"], models=["br", "cc", "sgm"], seeds=[13, 14], order="frequency")
    tables = experiment_plan(params).tables["synthetic"]
    assert tables.tuned["br"] == [Run("synthetic", "br", TUNED_VARIANT, "frequency", 13)]
    # cc and sgm tune their label order: the run's order segment is `tuned` (best.yaml says which one).
    assert tables.tuned["cc"] == [Run("synthetic", "cc", TUNED_VARIANT, TUNED_ORDER, 13)]
    assert tables.tuned["sgm"] == [Run("synthetic", "sgm", TUNED_VARIANT, TUNED_ORDER, seed) for seed in (13, 14)]
    assert TUNED_ORDER not in experiment_plan(params).label_orders
    params["tuning"]["enabled"] = False
    assert experiment_plan(params).tables["synthetic"].tuned == {}


def test_a_study_reads_its_own_space_and_not_the_table_switches(params):
    sections = tune_sections(params, "synthetic", "cnn")
    assert set(sections) == {"models", "training", "tuning"}
    assert set(sections["tuning"]["spaces"]) == {"cnn"}
    assert {"enabled", "run_studies", "workers"}.isdisjoint(sections["tuning"])
    assert set(tune_sections(params, "synthetic", "br")) == {"models", "tuning"}  # linear: no training recipe


def test_redacted_storage_hides_the_password():
    assert redacted("postgresql://optuna:s3cret@db.example:5432/studies") == "postgresql://optuna:***@db.example:5432/studies"
    assert redacted("sqlite:///results/tuning/x/study.db") == "sqlite:///results/tuning/x/study.db"


@pytest.fixture(scope="module")
def project(tmp_path_factory, default_params):
    """A tiny synthetic project (examples, the frequency and natural label orders, word vectors)."""
    from sgm_mlc.labels.build import build_label_order

    root = tmp_path_factory.mktemp("tuning")
    params = json.loads(json.dumps(default_params))
    trained_runs(root, params, models=[])
    processed = root / "data" / "processed" / DATASET
    build_label_order(processed / "examples.parquet", "natural", 13, root / "results" / "label_orders" / DATASET / "natural")
    return root


def study_params(default_params, model, trials, **tuning):
    params = tiny_params(json.loads(json.dumps(default_params)))
    sections = tune_sections(params, DATASET, model)
    sections["tuning"]["budget"] = {"trials": trials, "cpu_minutes": 60.0}
    sections["tuning"].update(tuning)
    space = sections["tuning"]["spaces"][model]
    if "order" in space:  # the orders the tiny project has
        space["order"] = {"choices": ["frequency", "natural"]}
    return sections | {"run": {"order": "frequency"}}


def run_study(project, params, model, study_dir, processed=None):
    processed = processed or project / "data" / "processed" / DATASET
    features = project / "results" / "embeddings" / DATASET
    return tune_worker(DATASET, model, params, 0, processed, project / "results" / "label_orders" / DATASET,
                       features, study_dir)


def trials_of(study_dir, params, model):
    study = open_dataset_study(DATASET, model, params, study_dir, worker=0)
    return [(t.number, t.state.name, t.params, t.value) for t in study.get_trials()]


def test_a_linear_study_spends_its_budget_writes_best_yaml_and_resumes(project, default_params, tmp_path):
    study_dir = tmp_path / "br"
    params = study_params(default_params, "br", trials=3)
    record = run_study(project, params, "br", study_dir)
    assert record["used"]["finished"] == 3
    first = trials_of(study_dir, params, "br")
    assert [state for _, state, _, _ in first] == ["COMPLETE"] * 3
    # A stopped study resumes: a larger budget runs only the missing trials, and the finished ones are kept.
    run_study(project, study_params(default_params, "br", trials=5), "br", study_dir)
    resumed = trials_of(study_dir, params, "br")
    assert resumed[:3] == first and len(resumed) == 5
    assert len({json.dumps(p, sort_keys=True) for _, _, p, _ in resumed}) == 5  # no start-up draw replayed

    best = tuned_settings(DATASET, "br", study_params(default_params, "br", trials=5), project / "data" / "processed" / DATASET, study_dir)
    written = yaml.safe_load((study_dir / "best.yaml").read_text())
    assert written == best
    best_trial = max(resumed, key=lambda trial: trial[3])
    assert written["settings"]["models"]["br"] == best_trial[2]
    assert written["provenance"]["best"] == {"trial": best_trial[0], "validation": best_trial[3],
                                             "epochs_run": None, "best_epoch": None}
    assert written["provenance"]["used"]["finished"] == 5
    assert written["provenance"]["budget"] == {"trials": 5, "cpu_minutes": 60.0}
    trials = json.loads((study_dir / "trials.json").read_text())
    assert [trial["number"] for trial in trials] == [0, 1, 2, 3, 4]
    assert all(trial["user_attrs"]["cpu_seconds"] > 0 for trial in trials)


def test_the_same_seed_gives_the_same_study(project, default_params, tmp_path):
    params = study_params(default_params, "lp", trials=3)
    runs = []
    for name in ("a", "b"):
        run_study(project, params, "lp", tmp_path / name)
        runs.append(trials_of(tmp_path / name, params, "lp"))
    assert runs[0] == runs[1]


def test_a_study_never_reads_the_test_split(project, default_params, tmp_path):
    """The same study on a copy of the examples without their test rows gives the same trials."""
    processed = project / "data" / "processed" / DATASET
    without_test = tmp_path / "processed"
    shutil.copytree(processed, without_test)
    table = pq.read_table(processed / "examples.parquet")
    kept = table.filter(pq.ParquetFile(processed / "examples.parquet").read(columns=["split"]).column("split").to_numpy() != "test")
    assert kept.num_rows < table.num_rows
    pq.write_table(kept.replace_schema_metadata(table.schema.metadata), without_test / "examples.parquet")
    params = study_params(default_params, "cc", trials=3)
    run_study(project, params, "cc", tmp_path / "full")
    run_study(project, params, "cc", tmp_path / "no_test", processed=without_test)
    assert trials_of(tmp_path / "full", params, "cc") == trials_of(tmp_path / "no_test", params, "cc")


def test_a_neural_trial_reports_each_epoch_and_is_pruned_where_the_pruner_says(project, default_params, tmp_path, monkeypatch):
    # A pruner that prunes any score below 2 stops every trial after its first epoch.
    import sgm_mlc.tuning.job as job

    def opened_with_threshold_pruner(*args, **kwargs):
        study = open_study(*args, **kwargs)
        study.pruner = optuna.pruners.ThresholdPruner(lower=2.0)
        return study

    open_study = job.open_study
    monkeypatch.setattr(job, "open_study", opened_with_threshold_pruner)
    params = study_params(default_params, "cnn", trials=2)
    run_study(project, params, "cnn", tmp_path / "cnn")
    trials = open_dataset_study(DATASET, "cnn", params, tmp_path / "cnn", worker=0).get_trials()
    assert [trial.state for trial in trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(list(trial.intermediate_values) == [1] and trial.user_attrs["epochs_run"] == 1 for trial in trials)
    assert not (tmp_path / "cnn" / "trials").exists() or not any((tmp_path / "cnn" / "trials").iterdir())
    with pytest.raises(RuntimeError, match="no complete trial"):
        tuned_settings(DATASET, "cnn", params, project / "data" / "processed" / DATASET, tmp_path / "cnn")


def test_a_complete_neural_trial_records_its_epochs(project, default_params, tmp_path):
    params = study_params(default_params, "cnn", trials=1)
    run_study(project, params, "cnn", tmp_path / "cnn")
    (trial,) = open_dataset_study(DATASET, "cnn", params, tmp_path / "cnn", worker=0).get_trials()
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == list(range(1, trial.user_attrs["epochs_run"] + 1))
    assert trial.value == max(trial.intermediate_values.values())


def write_best(path: Path, **best) -> Path:
    content = {"dataset": DATASET, "model": "sgm", "settings": {}, "order": None, "provenance": {}} | best
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def test_tuned_settings_merge_over_a_runs_params(tmp_path, default_params):
    path = write_best(tmp_path / "best.yaml", settings={"models": {"sgm": {"dropout": 0.4}}, "training": {"learning_rate": 1.0e-3}})
    best = read_best(path, DATASET, "sgm")
    params = {"models": {"sgm": dict(default_params["models"]["sgm"])}, "training": dict(default_params["training"])}
    tuned = apply_best(params, best)
    assert tuned["models"]["sgm"] == default_params["models"]["sgm"] | {"dropout": 0.4}
    assert tuned["training"]["learning_rate"] == 1.0e-3 and params["training"]["learning_rate"] != 1.0e-3
    with pytest.raises(ValueError, match="no tuned settings of br on synthetic"):
        read_best(path, DATASET, "br")


def run_train_cli(tmp_path, default_params, tuned, variant, order, caplog):
    params = tiny_params(json.loads(json.dumps(default_params)))
    run = Run(DATASET, "sgm", variant, order, 13)
    from sgm_mlc.experiment.plan import train_sections

    config = json.dumps(train_sections(params, run))
    argv = ["train", "--dataset", DATASET, "--model", "sgm", "--variant", variant, "--order", order, "--seed", "13",
            "--processed", str(tmp_path / "missing"), "--features", str(tmp_path), "--label-order",
            str(tmp_path / "orders" / order), "--out", str(tmp_path / "out"), "--config", config]
    if tuned:
        argv += ["--tuned", str(tuned)]
    return main(argv)


def test_a_tuned_run_refuses_settings_outside_the_schema_and_a_missing_order(tmp_path, default_params, caplog):
    bad = write_best(tmp_path / "bad.yaml", settings={"models": {"sgm": {"dropout": 1.5}}})
    assert run_train_cli(tmp_path, default_params, bad, TUNED_VARIANT, "frequency", caplog) == 2
    assert "merged over the run's params is not valid" in caplog.text and "dropout" in caplog.text
    no_order = write_best(tmp_path / "no_order.yaml")
    assert run_train_cli(tmp_path, default_params, no_order, TUNED_VARIANT, TUNED_ORDER, caplog) == 2
    assert "chose no label order" in caplog.text
    assert run_train_cli(tmp_path, default_params, None, TUNED_VARIANT, "frequency", caplog) == 2
    assert "--tuned best.yaml is given exactly when --variant is tuned" in caplog.text
