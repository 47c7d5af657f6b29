"""The report's tuned rows: a tuned main table, the settings-and-budgets table and the tuning studies."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
import yaml

from sgm_mlc.report.build import build_report
from tests.unit.test_report import PARAMS, _fabricate, _tracked, _write

EXAMPLES_SHA256 = hashlib.sha256(b"synthetic").hexdigest()  # what _fabricate writes as the examples file
SPACES = {"br": {"C": {"low": 0.1, "high": 10.0, "log": True}}, "sgm": {"hidden_size": {"choices": [4, 8]}}}


def best_yaml(model: str, validation: float) -> dict:
    return {
        "dataset": "synthetic", "model": model, "settings": {"models": {model: {"C": 2.5} if model == "br" else {"hidden_size": 4}}},
        "order": None,
        "provenance": {
            "study": f"synthetic-{model}", "sampler": "TPE (seed 13, 4 random start-up trials)",
            "pruner": "Hyperband", "metric": "validation micro_f1", "budget": {"trials": 12, "cpu_minutes": 20.0},
            "seed": 13, "examples_sha256": EXAMPLES_SHA256, "used": {"finished": 12, "complete": 5, "pruned": 7, "fail": 0, "cpu_minutes": 7.25},
            "best": {"trial": 3, "validation": validation, "epochs_run": 3, "best_epoch": 3},
        },
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuned")
    params = copy.deepcopy(PARAMS)
    params["tuning"] = {"enabled": True, "spaces": SPACES}
    params["training"] = {"learning_rate": 0.002}
    _fabricate(root, params)
    for model, validation in (("br", 0.61), ("sgm", 0.83)):
        path = root / f"results/tuning/synthetic/{model}/best.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump(best_yaml(model, validation)), encoding="utf-8")
        _write(root / f"results/tracking/tuning/synthetic/{model}/run.json", _tracked(f"study-{model}"))
    build_report(params, root, root / "results/report")
    out = root / "results/report"
    return {"numbers": json.loads((out / "numbers.json").read_text()), "markdown": (out / "report.md").read_text()}


def cells(numbers, table):
    return {(cell["row"], cell["column"]): cell for cell in numbers["cells"] if cell["table"] == table}


def test_the_tuned_main_table_sits_beside_the_default_one(built):
    tuned, default = cells(built["numbers"], "main_tuned"), cells(built["numbers"], "main")
    assert {row for row, _ in tuned} == {"br", "sgm"} == {row for row, _ in default}
    assert "Main results on synthetic, tuned settings" in built["markdown"]
    tuned_values = [v for v in built["numbers"]["values"] if v["table"] == "main_tuned"]
    assert tuned_values and all("/tuned/" in value["file"] for value in tuned_values)


def test_the_budget_table_marks_tuned_rows_and_runs_the_epoch_cap_ended(built):
    budgets = cells(built["numbers"], "budgets")
    rows = {row for row, _ in budgets}
    assert rows == {"br", "br (tuned)", "sgm", "sgm (tuned)"}
    # Fabricated sgm runs: seeds 1 and 2 stop at epoch 3 of 3, best at 3 (seed 1) or 2 (seed 2), never early.
    assert budgets[("sgm", "best_epoch")]["mean"] == pytest.approx(2.5)
    assert budgets[("sgm (tuned)", "train_cpu_minutes")]["mean"] == pytest.approx(2.0)
    markdown = built["markdown"]
    assert "tuned: 12/12 trials (7 pruned), 7.2/20 CPU-min |" in markdown
    assert "1 of 2 ⚑" in markdown


def test_the_study_table_shows_each_studys_best_score_and_choice(built):
    studies = cells(built["numbers"], "tuning")
    assert studies[("sgm", "best")]["mean"] == pytest.approx(0.83)
    (value,) = [v for v in built["numbers"]["values"] if v["table"] == "tuning" and v["row"] == "br"]
    assert value["file"] == "results/tuning/synthetic/br/best.yaml" and value["key"] == ["provenance", "best", "validation"]
    assert "C=2.5" in built["markdown"] and "hidden\\_size=4" in built["markdown"]  # markdown escapes "_"


def test_settings_tuned_on_other_examples_are_flagged(tmp_path):
    root = tmp_path / "project"
    params = copy.deepcopy(PARAMS)
    params["tuning"] = {"enabled": True, "spaces": SPACES}
    params["training"] = {"learning_rate": 0.002}
    _fabricate(root, params)
    for model in ("br", "sgm"):
        best = best_yaml(model, 0.5)
        best["provenance"]["examples_sha256"] = "0" * 64
        path = root / f"results/tuning/synthetic/{model}/best.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump(best), encoding="utf-8")
        _write(root / f"results/tracking/tuning/synthetic/{model}/run.json", _tracked(f"study-{model}"))
    build_report(params, root, root / "results/report")
    markdown = (root / "results/report/report.md").read_text()
    assert markdown.count("tuned on other examples than these: run the study again") == 2
