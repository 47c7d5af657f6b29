"""The report built from tiny fabricated results: every number traceable to its file, self-contained HTML."""

from __future__ import annotations

import copy
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sgm_mlc.data.download import sha256_of
from sgm_mlc.experiment.plan import experiment_plan, training_runs_file
from sgm_mlc.metrics.multilabel import multilabel_report, to_multi_hot
from sgm_mlc.report.build import build_report
from sgm_mlc.report.collect import MissingInputs, history_files, report_inputs
from sgm_mlc.report.provenance import params_sha256

UI_URL = "http://127.0.0.1:5000"
EXPERIMENT_ID = "7"
LABELS = [f"l{j}" for j in range(6)]
TEST_DOCUMENTS = 60
# How often each system flips a label (lower is better); seeds shift it a little.
NOISE = {"br": 0.25, "sgm": 0.04, "no_ge": 0.12}
BENCHMARK_SECONDS = {"train_model": [1.5, 2.25], "evaluate_model": [0.5]}
DETERMINISM = {"deterministic_algorithms": True, "torch_threads": 1, "torch_interop_threads": 2, "cpu_capability": "AVX512",
               "cudnn_deterministic": True, "torch": "2.14.1"}
VERIFICATION = {
    "record": "git 0123abc results/summary/metrics", "passed": True,
    "counts": {"identical": 5, "within": 1, "outside": 0, "new": 0, "missing": 0},
    "tolerances": {"default": 0.02, "metrics": {"micro_f1": 0.01}, "source": "measured spread"},
    "runs": {"synthetic-sgm-default-frequency-seed1": {"status": "within", "differing": [
        {"split": "test", "metric": "micro_f1", "recorded": 0.8, "current": 0.803, "tolerance": 0.01, "difference": 0.003},
        {"split": "valid", "metric": "hamming_loss", "recorded": 0.1, "current": 0.099, "tolerance": 0.02, "difference": -0.001},
    ]}, "synthetic-br-default-frequency-seed1": {"status": "identical", "differing": []}},
}

PARAMS = {
    "run": {"datasets": ["synthetic"], "models": ["br", "sgm"], "order": "frequency", "seeds": [1, 2]},
    "experiments": {
        "ablations": {"model": "sgm", "variants": {"no_ge": {"hidden_size": 4}}},
        "label_orders": {"models": ["sgm"], "orders": ["frequency", "random"]},
        "cross_dataset": [{"train": "synthetic", "test": "reuters21578", "models": ["sgm"]}],
        "significance": {"alpha": 0.05, "correction": "holm"},
        "interpretability": {"examples": 1, "top_words": 2},
    },
    "models": {"br": {"C": 1.0}, "sgm": {"hidden_size": 8}},
    "tuning": {"enabled": False, "spaces": {}},
    "tracking": {"uri": "sqlite:///mlflow.db", "experiment": "sgm-mlc", "ui_url": UI_URL},
}


def _write(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload), encoding="utf-8")


def _noisy(rng, truth, flip):
    return [[label for label in LABELS if (label in labels) != (rng.random() < flip)] for labels in truth]


def _tracked(run_id: str) -> dict:
    return {"run_id": run_id, "run_key": run_id, "tracking_uri": "sqlite:///mlflow.db", "experiment": "sgm-mlc"}


def _fabricate(root: Path, params: dict) -> None:
    """Every file the report reads, for ``params``'s plan, with metrics computed from the predictions."""
    rng = np.random.default_rng(0)
    truth = [[label for label in LABELS if rng.random() < 0.35] for _ in range(TEST_DOCUMENTS)]
    ids = [f"d{i:03d}" for i in range(TEST_DOCUMENTS)]
    plan = experiment_plan(params)
    _write(root / "results/tracking/experiment.json", {**_tracked("-"), "experiment_id": EXPERIMENT_ID})
    for dataset in plan.datasets:
        (root / f"data/processed/{dataset}").mkdir(parents=True)
        (root / f"data/processed/{dataset}/examples.parquet").write_bytes(dataset.encode())
    frequencies = {label: 5 * (j + 1) for j, label in enumerate(LABELS)}
    for dataset in plan.tables:
        _write(root / f"data/processed/{dataset}/card.json", {
            "dataset": dataset, "documents": 200, "labels": len(LABELS), "label_cardinality": 2.1,
            "splits": {"train": {"documents": 120, "label_frequencies": frequencies},
                       "valid": {"documents": 20}, "test": {"documents": TEST_DOCUMENTS}},
            "labels_missing": {"train": {"count": 0, "names": []}, "valid": {"count": 6, "names": LABELS},
                               "test": {"count": 1, "names": ["l5"]}},
        })
    for run in plan.runs:
        noise = NOISE[run.variant if run.variant in NOISE else run.model] + 0.01 * run.seed
        predicted = _noisy(rng, truth, noise + (0.03 if run.order == "random" else 0))
        report = multilabel_report(
            to_multi_hot(truth, LABELS), to_multi_hot(predicted, LABELS), LABELS, truth, predicted
        )
        evaluation, models = root / run.folder("evaluation"), root / run.folder("models")
        _write(evaluation / "metrics.json", {"valid": report, "test": {**report, "documents_per_second": 100.0}})
        pd.DataFrame({
            "id": ids, "split": "test", "true_labels": truth, "predicted_labels": predicted,
            "step_probabilities": [[0.9] * len(labels) for labels in predicted],
        }).to_parquet(evaluation / "predictions.parquet")
        _write(models / "train_summary.json", {"model": run.model, "device": "cpu", "train_cpu_minutes": 0.5 + run.seed,
                                                "epochs_run": 3, "best_epoch": 2 + run.seed % 2, "max_epochs": 3,
                                                "stopped_early": False} | ({"determinism": DETERMINISM} if run.model == "sgm" else {}))
        if run.model == "sgm":
            _write(models / "history.json", [
                {"epoch": epoch, "train_loss": 1 / epoch, "learning_rate": 0.002, "valid_micro_f1": 0.5 + 0.1 * epoch}
                for epoch in (1, 2, 3)
            ])
    for dataset in {run.dataset for run in plan.runs}:
        _write(root / training_runs_file(dataset),
               {run.path: _tracked(f"id-{run.name}") for run in plan.runs if run.dataset == dataset})
    for cross in plan.cross_runs:
        mapped = LABELS[:4]
        predicted = [[label for label in labels if label in mapped] for labels in _noisy(rng, truth, 0.2)]
        target = [[label for label in labels if label in mapped] for labels in truth]
        report = multilabel_report(to_multi_hot(target, mapped), to_multi_hot(predicted, mapped), mapped)
        _write(root / cross.folder / "metrics.json", {"test": report, "label_map": {
            "mapped_labels": {label: label.upper() for label in mapped},
            "target_labels_outside_map": {"grain": 5, "crude": 2},
        }})
        pd.DataFrame({
            "id": ids, "split": "test", "true_labels": target, "predicted_labels": predicted,
            "step_probabilities": [[0.9] * len(labels) for labels in predicted],
        }).to_parquet(root / cross.folder / "predictions.parquet")
        tracking = root / "results/tracking" / cross.folder.removeprefix("results/")
        _write(tracking / "run.json", _tracked(f"id-cross-{cross.run.seed}"))
    _write(root / "results/interpret/synthetic/examples.json", {
        "run": plan.tables["synthetic"].main["sgm"][0].path,
        "examples": [{
            "id": "d000", "tokens": ["wheat", "price", "rose"], "true_labels": ["l0", "l2"],
            "steps": [{"label": "l0", "probability": 0.91, "attention": [0.7, 0.2, 0.1]},
                      {"label": "l2", "probability": 0.55, "attention": [0.1, 0.3, 0.6]}],
        }],
    })
    _write(root / "results/verify/verification.json", VERIFICATION)
    for rule, seconds in BENCHMARK_SECONDS.items():
        for index, value in enumerate(seconds):
            path = root / f"results/benchmarks/{rule}/synthetic/job{index}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"s\th:m:s\tmax_rss\n{value}\t0:00:01\t10.0\n", encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    params = copy.deepcopy(PARAMS)
    _fabricate(root, params)
    summary = build_report(params, root, root / "results/report")
    out = root / "results/report"
    return {
        "root": root,
        "summary": summary,
        "numbers": json.loads((out / "numbers.json").read_text(encoding="utf-8")),
        "html": (out / "index.html").read_text(encoding="utf-8"),
        "markdown": (out / "report.md").read_text(encoding="utf-8"),
        "out": out,
    }


def _cell(numbers, table, row, column, dataset=None):
    (cell,) = [c for c in numbers["cells"] if (c["table"], c["row"], c["column"]) == (table, row, column)
               and dataset in (None, c["dataset"])]
    return cell


def test_every_number_equals_its_source(built):
    root, numbers = built["root"], built["numbers"]
    assert len(numbers["values"]) > 50
    for entry in numbers["values"]:
        payload = json.loads((root / entry["file"]).read_text(encoding="utf-8"))
        for key in entry["key"]:
            payload = payload[key]
        assert payload == entry["value"], entry
        assert entry["link"] == f"{UI_URL}/#/experiments/{EXPERIMENT_ID}/runs/{entry['run_id']}"
    where = ("dataset", "table", "row", "column")
    for cell in numbers["cells"]:
        values = [v["value"] for v in numbers["values"] if all(v[key] == cell[key] for key in where)]
        assert cell["n"] == len(values)
        assert cell["mean"] == pytest.approx(statistics.fmean(values))
        mean, _, spread = cell["text"].partition(" ± ")  # the HTML puts the spread on a second line
        assert mean in built["html"] and (not spread or f' <span class="spread">± {spread}</span>' in built["html"])


def test_tables_cover_the_plan(built):
    numbers = built["numbers"]
    tables = {(c["table"], c["row"]) for c in numbers["cells"]}
    assert {("main", "br"), ("main", "sgm"), ("ablations", "sgm (full)"), ("ablations", "sgm no_ge"),
            ("label_orders", "sgm / frequency"), ("label_orders", "sgm / random"),
            ("cross:reuters21578", "sgm")} <= tables
    # position deviation: sequence models only
    assert not [c for c in numbers["cells"] if c["row"] == "br" and c["column"] == "position_deviation"]
    assert _cell(numbers, "main", "sgm", "position_deviation")["n"] == 2


def test_html_is_self_contained(built):
    html = built["html"]
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?(https?://[^"'\s>]*)""", html, flags=re.I)
    assert remote, "the MLflow links are missing"
    experiment = f"{UI_URL}/#/experiments/{EXPERIMENT_ID}"
    assert all(url.startswith(f"{experiment}/runs/") or url == f"{experiment}?workflowType=machine_learning"
               for url in remote)
    assert "<script" not in html.lower() and "@import" not in html and "url(" not in html
    assert html.count('src="data:image/png;base64,') == len(built["summary"]["figures"])


def test_best_values_bold_and_deterministic_model_marked(built):
    numbers, html = built["numbers"], built["html"]
    for column in ("micro_f1", "hamming_loss", "subset_accuracy"):
        sgm, br = _cell(numbers, "main", "sgm", column), _cell(numbers, "main", "br", column)
        assert sgm["bold"] and not br["bold"]
        assert f"<strong>{sgm['text'].partition(' ± ')[0]}</strong>" in html  # the spread on its own line
    assert _cell(numbers, "main", "br", "micro_f1")["n"] == 1
    assert _cell(numbers, "main", "br", "micro_f1")["std"] is None
    assert "1 (deterministic)" in html and "1 (deterministic)" in built["markdown"]
    # each seed of a cell links to its own run
    for seed in (1, 2):
        assert f"/runs/id-synthetic-sgm-default-frequency-{seed}" in html
    # best order per model: one of the two orders, not both
    orders = [_cell(numbers, "label_orders", f"sgm / {o}", "micro_f1")["bold"] for o in ("frequency", "random")]
    assert sorted(orders) == [False, True]


def test_p_values_and_findings(built):
    tests = {(t["table"], t["row"], t["metric"]): t for t in built["numbers"]["tests"]}
    assert set(tests) == {(table, row, metric) for table, row in (("main", "br"), ("ablations", "sgm no_ge"),
                                                                 ("label_orders", "sgm / random"))
                          for metric in ("micro_f1", "subset_accuracy")}
    dominated = tests[("main", "br", "micro_f1")]
    assert dominated["method"] == "seed_and_document_t" and dominated["family_size"] == 1
    assert dominated["significant"] and dominated["p_adjusted"] == dominated["p_value"] < 0.05
    assert dominated["mean_reference"] > dominated["mean_row"] and dominated["interval"][1] < 0
    assert (dominated["runs_row"], dominated["runs_reference"], dominated["seed_variance_row"]) == (1, 2, 0.0)
    assert dominated["columns"]["p_adjusted_micro_f1"].endswith("†")
    assert dominated["files"] and all(f.endswith("predictions.parquet") for f in dominated["files"])
    shown = re.sub(r"<[^>]+>", "", built["html"])
    assert all(text in shown for text in dominated["columns"].values())
    # The claims table opens the report with the same test, in the claim's direction (SGM minus BR).
    low, high = sorted(-bound for bound in dominated["interval"])
    claim = (f"SGM beats BR</th><td class=\"text\">holds: Δ {-dominated['difference']:+.3f} [{low:+.3f}, {high:+.3f}] "
             f"against br, p Holm {dominated['columns']['p_adjusted_micro_f1'].rstrip('†')}")
    assert claim in built["html"] and built["html"].index(claim) < built["html"].index('id="overview"')
    assert "On micro-F1 (α = 0.05), sgm is significantly above br (Holm-adjusted p" in built["html"]
    assert "p Holm: the test&#x27;s p corrected by Holm–Bonferroni" in built["html"]


def test_with_two_datasets_the_report_compares_them_side_by_side(tmp_path):
    params = copy.deepcopy(PARAMS)
    params["run"]["datasets"] = ["synthetic", "reuters21578"]
    params["experiments"].update(ablations={"model": "sgm", "variants": {}},
                                 label_orders={"models": [], "orders": []}, cross_dataset=[])
    params["experiments"]["interpretability"]["examples"] = 0
    _fabricate(tmp_path, params)
    build_report(params, tmp_path, tmp_path / "report")
    numbers = json.loads((tmp_path / "report/numbers.json").read_text())
    side = next(table for table in numbers["tables"] if table["table"] == "datasets")
    assert [column["key"] for column in side["columns"]] == ["synthetic", "reuters21578"]
    for dataset in ("synthetic", "reuters21578"):
        for model in ("br", "sgm"):
            assert (_cell(numbers, "datasets", model, dataset)["text"]
                    == _cell(numbers, "main", model, "micro_f1", dataset)["text"])
    html = (tmp_path / "report/index.html").read_text()
    assert html.index("Claims of the paper") < html.index("Test micro-F1 on every dataset") < html.index('id="overview"')


def test_cross_dataset_and_interpretability(built):
    html = built["html"]
    assert "mapped labels only" in html and "not scored" in html
    assert "grain (5), crude (2)" in html
    assert "generated l0 (0.91), l2 (0.55)" in html
    assert "wheat (0.70), price (0.20)" in html


def test_markdown_and_figures(built):
    out, markdown = built["out"], built["markdown"]
    names = {Path(path).name for path in built["summary"]["figures"]}
    assert {"synthetic-training-curves.png", "synthetic-label-f1.png", "synthetic-label-set-sizes.png",
            "synthetic-orders.png", "synthetic-attention-0.png"} == names
    for name in names:
        assert (out / "figures" / name).read_bytes().startswith(b"\x89PNG")
        assert f"](figures/{name})" in markdown
    assert "| sgm ([s1](" in markdown and "[s2](" in markdown and "†" in markdown


def test_dataset_section_names_the_labels_a_split_lacks(built):
    assert "Labels with no document: 6 in valid (l0, l1, l2, l3, l4, …); 1 in test (l5)." in built["html"]


def test_provenance(built):
    root, facts = built["root"], built["numbers"]["provenance"]
    assert facts["params_sha256"] == params_sha256(PARAMS)
    assert facts["dataset_sha256"]["reuters21578"] == sha256_of(root / "data/processed/reuters21578/examples.parquet")
    assert facts["phase_seconds"]["train_model"] == {"seconds": 3.75, "jobs": 2}
    assert facts["packages"]["numpy"] == np.__version__
    assert facts["training_devices"] == {"cpu": len(experiment_plan(PARAMS).runs)}
    sgm_runs = sum(run.model == "sgm" for run in experiment_plan(PARAMS).runs)
    assert facts["determinism"] == {"deterministic kernels, 1 torch thread(s), AVX512 kernels, torch 2.14.1": sgm_runs}
    assert "Wall-clock time per rule" in built["html"]


def test_provenance_states_the_check_against_the_committed_record_and_the_tolerance_each_moved_run_met(built):
    verification = built["numbers"]["provenance"]["verification"]
    assert verification["passed"] and verification["record"] == VERIFICATION["record"]
    assert verification["moved"] == {
        "synthetic-sgm-default-frequency-seed1": "within: largest move test micro_f1 +0.0030 (tolerance 0.0100)",
    }
    html = built["html"]
    assert "within the stated tolerances: 5 identical, 1 within" in html
    assert "absolute; micro_f1 0.01; other metrics 0.02 (measured spread)" in html


def test_missing_inputs_name_file_and_rule(tmp_path):
    with pytest.raises(MissingInputs) as raised:
        build_report(PARAMS, tmp_path, tmp_path / "report")
    message = str(raised.value)
    metrics = "results/evaluation/synthetic/sgm/default/frequency/seed1/metrics.json"
    assert f"{metrics}  (made by rule evaluate_model)" in message
    assert "results/tracking/experiment.json  (made by rule init_tracking)" in message
    histories = history_files(experiment_plan(PARAMS))
    assert "results/models/synthetic/sgm/default/frequency/seed1/history.json  (made by rule train_model)" in message
    assert len(message.splitlines()) == len(report_inputs(PARAMS)) + len(histories) + 1
    assert not (tmp_path / "report").exists()


def test_inputs_follow_the_plan():
    """Linear models only: no training history and no attention examples are needed."""
    params = copy.deepcopy(PARAMS)
    params["run"]["models"] = ["br"]
    params["experiments"].update(ablations={"model": "sgm", "variants": {}}, label_orders={"models": [], "orders": []},
                                 cross_dataset=[])
    inputs = report_inputs(params)
    assert not [path for path in inputs if path.endswith(("history.json", "examples.json"))]
    assert inputs["results/models/synthetic/br/default/frequency/seed1/train_summary.json"] == "train_model"
    assert inputs["data/processed/synthetic/examples.parquet"] == "preprocess_to_parquet"
    assert "results/interpret/synthetic/examples.json" in report_inputs(PARAMS)
