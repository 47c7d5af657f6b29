"""Every script under benchmarks/ runs on today's code: each is run once on tiny settings (the built synthetic
project of the workflow tests, one repeat; the image scripts on the shared COCO subset) and must print its
figures. Speed is not checked here: the scripts print it, on the machine they run on."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.workflow import PROJECT_ROOT, tool_environment

pytestmark = pytest.mark.integration

BENCHMARKS = PROJECT_ROOT / "benchmarks"
SGM_RUN = "results/models/synthetic/sgm/default/frequency/seed13"
SMOKE_RUN = {
    "image_features.py", "coco_subset.py",
    "quality_table.py", "time_to_quality.py", "first_run.py", "linear_baselines.py", "decision_rules.py",
    "determinism_cost.py", "sgm_throughput.py", "sgm_paper_run.py", "yelp_streaming.py", "reproducibility_spread.py",
    "train_to_quality.py", "run_all.py", "eval_precision.py",
}
# Imported by the scripts, or (tables.py) tested below.
MODULES = {"paper_setting.py", "run_settings.py", "tables.py"}


def run_benchmark(project: Path, script: str, *arguments: str) -> str:
    """The standard output of ``benchmarks/<script> arguments…`` run in ``project`` with the project's tools."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments], cwd=project, env=tool_environment(project),
        capture_output=True, text=True,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_every_benchmark_script_is_smoke_run_somewhere():
    scripts = {path.name for path in BENCHMARKS.glob("*.py")}
    assert scripts == SMOKE_RUN | MODULES


def test_quality_and_time_to_quality_read_the_runs(built_project):
    table = run_benchmark(built_project, "quality_table.py", "--dataset", "synthetic").splitlines()
    assert table[0].startswith("dataset | model | variant | order | seed")
    assert any(line.startswith("synthetic | sgm | default | frequency | seed13 | 0.") for line in table)
    curve = run_benchmark(built_project, "time_to_quality.py", SGM_RUN, "--thresholds", "0.0", "1.01")
    assert "0.00: " in curve and " min (epoch 1)" in curve and "1.01: not reached" in curve and "best 0." in curve


def test_first_run_accounts_for_every_job(built_project, tmp_path):
    out = tmp_path / "first_run.json"
    printed = run_benchmark(built_project, "first_run.py", str(built_project), "--json", str(out))
    (figures,) = json.loads(out.read_text())
    assert "train_model" in printed and "all jobs" in printed
    assert figures["kinds"]["train_model"]["jobs"] == len(list((built_project / "results/models").glob("*/*/*/*/seed*")))
    assert figures["jobs"] == sum(kind["jobs"] for kind in figures["kinds"].values()) and figures["wall_seconds"] > 0


def test_train_to_quality_scores_the_test_split_of_each_better_epoch(built_project, tmp_path):
    out = tmp_path / "curve"
    printed = run_benchmark(built_project, "train_to_quality.py", "--dataset", "synthetic", "--model", "sgm",
                            "--threads", "1", "--thresholds", "0.0", "1.01", "--out", str(out))
    curve = json.loads((out / "curve.json").read_text())
    epochs = curve["epochs"]
    assert [row["epoch"] for row in epochs] == list(range(1, len(epochs) + 1)) and len(epochs) >= 2
    assert all(0 <= row["test_micro_f1"] <= 1 for row in epochs)
    minutes = [row["training_cpu_minutes"] for row in epochs]
    assert minutes == sorted(minutes) and minutes[0] > 0
    assert curve["reached"]["0.0"]["epoch"] == 1 and curve["reached"]["1.01"] is None
    assert curve["machine"]["threads"] == 1 and curve["machine"]["torch"].startswith("2.")
    assert "test micro-F1 ≥ 0.00: " in printed and "test micro-F1 ≥ 1.01: not reached" in printed
    # The run trained as the pipeline's (same settings, one thread): its delivered model scores what evaluation did.
    evaluated = json.loads((built_project / "results/evaluation/synthetic/sgm/default/frequency/seed13/metrics.json").read_text())
    assert epochs[-1]["test_micro_f1"] == pytest.approx(evaluated["test"]["micro_f1"], abs=1e-12)


def test_linear_baselines_and_decision_rules_fit_on_the_processed_split(built_project):
    processed = str(built_project / "data/processed/synthetic")
    linear = run_benchmark(built_project, "linear_baselines.py", "--processed", processed, "--models", "br")
    header, row = linear.splitlines()[-2:]
    assert "labels; params defaults" in linear and "fit_s" in header and row.split()[0] == "br"
    rules = run_benchmark(built_project, "decision_rules.py", "--processed", processed, "--models", "br",
                          "--params", str(built_project / "params.yaml"))
    assert "per_label" in rules and "rank_cut" in rules and "*: the rule chosen on validation" in rules


def test_determinism_cost_trains_with_and_without_deterministic_kernels(built_project):
    printed = run_benchmark(built_project, "determinism_cost.py", "--project", str(built_project), "--model", "cnn",
                            "--threads", "1", "--repeats", "1")
    rows = [line.split() for line in printed.splitlines() if line.split()[:1] == ["1"]]
    assert [row[1] for row in rows] == ["True", "False"]


def test_sgm_throughput_and_paper_run_train_and_decode(built_project, tmp_path):
    record, weights = tmp_path / "figures/sgm_speed/paper-bf16.json", tmp_path / "paper.pt"
    options = ("--dataset", "synthetic", "--setting", "paper", "--max-source-length", "20", "--repeats", "1",
               "--threads", "1")
    speed = run_benchmark(built_project, "sgm_throughput.py", *options, "--eval-precision", "bf16",
                          "--record", str(record), "--save-weights", str(weights))
    for figure in ("train examples/s", "greedy documents/s", "beam-5 documents/s", "peak memory"):
        assert f"{figure}: " in speed or f"{figure}:" in speed, speed
    assert "decoding in bf16" in speed
    measured = json.loads(record.read_text())
    assert measured["label"] == "paper, decoding in bf16" and measured["source_length"] == 20
    assert set(measured["medians"]) == {"train examples/s", "greedy documents/s", "beam-5 documents/s"}
    assert all(value > 0 for value in measured["medians"].values()) and measured["machine"]["threads"] == 1
    assert 0 < measured["parameters_without_word_embeddings"] < measured["parameters"]
    # The weights it trained, decoded alone.
    decoded = run_benchmark(built_project, "sgm_throughput.py", *options, "--checkpoint", str(weights),
                            "--decoding-only", "--record", str(record), "--label", "trained weights")
    assert "train examples/s" not in decoded and f"fp32 with trained weights {weights}" in decoded
    assert set(json.loads(record.read_text())["medians"]) == {"greedy documents/s", "beam-5 documents/s"}
    run = run_benchmark(built_project, "sgm_paper_run.py", "--dataset", "synthetic", "--setting", "default",
                        "--epochs", "1", "--threads", "1", "--out", str(tmp_path / "sgm"))
    assert "epochs run 1" in run and "test micro_f1: 0." in run
    assert (tmp_path / "sgm/history.json").is_file()


def test_yelp_streaming_measures_a_small_file(tmp_path):
    printed = run_benchmark(tmp_path, "yelp_streaming.py", "--sizes-mb", "1", "--repeats", "1",
                            "--workdir", str(tmp_path / "yelp"))
    assert "reviews/s" in printed


def test_reproducibility_spread_reruns_committed_runs_in_a_clone(tmp_path):
    """The linear runs alone, rerun in a fresh clone of this commit, give the committed record's numbers."""
    printed = run_benchmark(
        tmp_path, "reproducibility_spread.py", "--environments", "same", "--workdir", str(tmp_path / "spread"),
        "--cores", "1", "--config", "run={models: [br, lp]}", "tuning={enabled: false}",
        "experiments={ablations: null, label_orders: null, cross_dataset: []}",
    )
    assert "same: 2 runs rerun" in printed and "0 metrics moved" in printed


def test_the_image_benchmarks_run_on_the_coco_subset(tmp_path, shared_data):
    """coco_subset.py runs the workflow on the shared COCO mirror (one model, one seed, a small random ResNet);
    image_features.py then measures the feature extraction on the images it downloaded."""
    mirror = shared_data / "coco2017-subset"
    if not mirror.is_dir():
        pytest.skip(f"{mirror} is absent: the COCO 2017 subset comes with the shared data")
    workdir = tmp_path / "coco"
    table = run_benchmark(tmp_path, "coco_subset.py", "--mirror", str(mirror), "--workdir", str(workdir), "--models",
                          "br_neural", "--seeds", "13", "--depth", "18", "--image-size", "64", "--cores", "2")
    assert "features: ResNet-18 at 64 px, weights none" in table and "\n| br_neural | 1 | 0." in table
    assert "mAP of image-independent scores" in table
    speed = run_benchmark(workdir, "image_features.py", "--dataset", "coco2017", "--depth", "18", "--image-size", "64",
                          "--repeats", "1", "--threads", "1")
    assert speed.splitlines()[-1].startswith("| 18 | 64 | 318 | ")


def test_the_docs_tables_are_written_from_the_records(tmp_path):
    """tables.py fills each marked table from its JSON records, and --check fails once a record changes."""
    record = {"label": "default", "machine": {"threads": 2, "cpu": "CPU X", "torch": "2.14.1"}, "commit": "abcdef0123",
              "ended": "stopped before its end",
              "epochs": [{"epoch": 1, "test_micro_f1": 0.84}, {"epoch": 2, "test_micro_f1": 0.86}],
              "reached": {"0.85": {"epoch": 2, "training_cpu_minutes": 3.25, "training_wall_minutes": 1.75}, "0.87": None}}
    figures = tmp_path / "figures/time_to_quality"
    figures.mkdir(parents=True)
    (figures / "a-default.json").write_text(json.dumps(record))
    docs = tmp_path / "benchmarks.md"
    docs.write_text("Intro.\n<!-- table: time_to_quality -->\nold\n<!-- end table -->\nAfter.\n")
    options = ("--docs", str(docs), "--figures", str(tmp_path / "figures"))
    run_benchmark(tmp_path, "tables.py", *options)
    assert docs.read_text().splitlines()[2:5] == [
        "| recipe | threads | test micro-F1 ≥ 0.85 | test micro-F1 ≥ 0.87 | best test micro-F1 | epochs run | how it ended"
        " | machine | commit |",
        "|---|---|---|---|---|---|---|---|---|",
        "| `default` | 2 | 3.2 CPU-min, 1.8 min (epoch 2) | not reached | 0.860 (epoch 2) | 2 | stopped before its end"
        " | CPU X, torch 2.14.1 | abcdef0 |",
    ]
    assert "every generated table matches" in run_benchmark(tmp_path, "tables.py", "--check", *options)
    record["reached"]["0.87"] = record["reached"]["0.85"]
    (figures / "a-default.json").write_text(json.dumps(record))
    result = subprocess.run([sys.executable, str(BENCHMARKS / "tables.py"), "--check", *options], capture_output=True, text=True)
    assert result.returncode == 1 and "differs from its records" in result.stdout


def test_eval_precision_scores_one_run_in_fp32_and_bf16(built_project, tmp_path):
    record = tmp_path / "figures/eval_precision/sgm.json"
    printed = run_benchmark(built_project, "eval_precision.py", "--dataset", "synthetic", "--model-dir",
                            str(built_project / SGM_RUN), "--repeats", "1", "--threads", "1", "--record", str(record))
    fp32, bf16 = json.loads(record.read_text())["precisions"]
    # fp32 is the evaluation's own arithmetic: the pipeline's test micro-F1, and no document changed.
    evaluated = json.loads((built_project / "results/evaluation/synthetic/sgm/default/frequency/seed13/metrics.json").read_text())
    assert fp32["micro_f1"] == pytest.approx(evaluated["test"]["micro_f1"], abs=1e-12) and fp32["documents_changed"] == 0
    assert bf16["precision"] == "bf16" and 0 <= bf16["micro_f1"] <= 1 and bf16["documents_per_second"] > 0
    assert "bf16: test micro-F1 " in printed and "documents with another label set than in fp32" in printed
    docs = tmp_path / "benchmarks.md"
    docs.write_text("<!-- table: eval_precision -->\n<!-- end table -->\n")
    run_benchmark(tmp_path, "tables.py", "--docs", str(docs), "--figures", str(tmp_path / "figures"))
    rows = docs.read_text().splitlines()[3:5]
    assert rows[0].startswith("| sgm (default recipe) | fp32 | ") and rows[1].startswith("| sgm (default recipe) | bf16 | ")
    assert "×) | 1 |" in rows[1]


def test_the_speed_table_compares_each_setting_with_the_original_at_its_source_length(tmp_path):
    machine = {"threads": 2, "cpu": "CPU X", "torch": "2.14.1"}
    original = {"label": "original implementation", "source_length": None, "parameters": 8_440_000,
                "parameters_without_word_embeddings": 5_860_000, "machine": {**machine, "torch": "its own"},
                "commit": "dc062d4", "medians": {"train examples/s": 2.4, "greedy documents/s": 92.0}}
    paper = {**original, "label": "paper", "machine": machine, "commit": "abcdef0123",
             "medians": {"train examples/s": 24.0, "greedy documents/s": 276.0, "beam-5 documents/s": 200.0}}
    short = {**paper, "source_length": 100}  # no original record at 100 tokens: no ratio
    figures = tmp_path / "figures/sgm_speed"
    figures.mkdir(parents=True)
    for name, record in (("0-original", original), ("1-paper", paper), ("2-paper-100-tokens", short)):
        (figures / f"{name}.json").write_text(json.dumps(record))
    docs = tmp_path / "benchmarks.md"
    docs.write_text("<!-- table: sgm_speed -->\n<!-- end table -->\n")
    run_benchmark(tmp_path, "tables.py", "--docs", str(docs), "--figures", str(tmp_path / "figures"))
    rows = docs.read_text().splitlines()[3:6]
    assert rows[0].startswith("| original implementation | whole documents | 8.44 M (5.86 M) | 2.4 | 92.0 | - | 2 |")
    assert rows[1].startswith("| paper | whole documents | 8.44 M (5.86 M) | 24.0 (10.0×) | 276.0 (3.0×) | 200.0 | 2 |")
    assert rows[2].startswith("| paper | 100 tokens | 8.44 M (5.86 M) | 24.0 | 276.0 | 200.0 | 2 | CPU X, torch 2.14.1 |")


def test_run_all_records_each_measurement_and_writes_the_tables(built_project, tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("<!-- table: time_to_quality -->\n<!-- end table -->\n")
    printed = run_benchmark(built_project, "run_all.py", "--only", "time_to_quality", "--dataset", "synthetic",
                            "--root", str(built_project), "--figures", str(tmp_path / "figures"), "--docs", str(docs),
                            "--work", str(tmp_path / "work"))
    record = json.loads((tmp_path / "figures/time_to_quality/default-1-thread.json").read_text())
    assert record["label"] == "default recipe, 1 thread" and record["machine"]["threads"] == 1
    assert "train_to_quality.py --dataset synthetic" in printed
    assert "| `default recipe, 1 thread` | 1 |" in docs.read_text()


def test_the_committed_docs_match_the_committed_records():
    assert "every generated table matches" in run_benchmark(PROJECT_ROOT, "tables.py", "--check")
