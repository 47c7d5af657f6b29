"""results/summary: one file per run of quality metrics and of training curves; results/timings: its timings."""

import json
from pathlib import Path

from sgm_mlc.atomic import write_json
from sgm_mlc.report.summary import summarize

NEURAL = "synthetic/sgm/default/frequency/seed13"
LINEAR = "synthetic/br/default/frequency/seed13"


def split_metrics(micro_f1: float, documents_per_second: float) -> dict:
    return {
        "micro_f1": micro_f1,
        "hamming_loss": 0.05,
        "documents_per_second": documents_per_second,
        "per_label_f1": {"a": 0.5, "b": 0.7},
    }


def finished_run(root: Path, path: str, history: list[dict] | None) -> tuple[Path, Path]:
    """The evaluation and model folders of a run, as evaluate_model and train_model leave them."""
    evaluation, model = root / "results/evaluation" / path, root / "results/models" / path
    write_json(evaluation / "metrics.json", {"test": split_metrics(0.8, 900.0), "valid": split_metrics(0.9, 800.0)})
    write_json(model / "train_summary.json", {"model": path.split("/")[1], "train_seconds": 12.5, "best_epoch": 2})
    if history is not None:
        write_json(model / "history.json", history)
    return evaluation, model


def read(path: Path):
    return json.loads(path.read_text())


def test_each_run_gets_its_quality_metrics_its_timings_and_its_curve_in_separate_files(tmp_path):
    history = [
        {"epoch": 1, "train_loss": 2.0, "valid_micro_f1": 0.5, "epoch_seconds": 3.1},
        {"epoch": 2, "train_loss": 1.0, "valid_micro_f1": 0.7, "epoch_seconds": 2.9},
    ]
    neural = finished_run(tmp_path, NEURAL, history)
    linear = finished_run(tmp_path, LINEAR, None)
    out, timings = tmp_path / "results/summary", tmp_path / "results/timings"

    summarize([neural[0], linear[0]], [linear[1], neural[1]], out, timings)

    names = {"synthetic-sgm-default-frequency-seed13.json", "synthetic-br-default-frequency-seed13.json"}
    assert {path.name for path in (out / "metrics").iterdir()} == names
    assert {path.name for path in timings.iterdir()} == names
    assert sorted(path.name for path in out.iterdir()) == ["curves", "metrics"]  # no wall time in the record
    metrics = read(out / "metrics/synthetic-sgm-default-frequency-seed13.json")
    assert metrics == {"test": {"micro_f1": 0.8, "hamming_loss": 0.05}, "valid": {"micro_f1": 0.9, "hamming_loss": 0.05}}
    assert read(timings / "synthetic-br-default-frequency-seed13.json") == {
        "test": {"documents_per_second": 900.0},
        "valid": {"documents_per_second": 800.0},
        "train_seconds": 12.5,
    }
    # Curves of the neural runs only, without the wall times.
    assert [path.name for path in (out / "curves").iterdir()] == ["synthetic-sgm-default-frequency-seed13.json"]
    assert read(out / "curves/synthetic-sgm-default-frequency-seed13.json") == [
        {"epoch": 1, "train_loss": 2.0, "valid_micro_f1": 0.5},
        {"epoch": 2, "train_loss": 1.0, "valid_micro_f1": 0.7},
    ]


def test_a_run_that_left_the_plan_leaves_no_file_behind(tmp_path):
    neural = finished_run(tmp_path, NEURAL, [{"epoch": 1, "valid_micro_f1": 0.5}])
    linear = finished_run(tmp_path, LINEAR, None)
    out, timings = tmp_path / "summary", tmp_path / "timings"
    summarize([neural[0], linear[0]], [neural[1], linear[1]], out, timings)

    summarize([linear[0]], [linear[1]], out, timings)

    for folder in (out / "metrics", timings):
        assert [path.name for path in folder.iterdir()] == ["synthetic-br-default-frequency-seed13.json"]
    assert list((out / "curves").iterdir()) == []
    assert not list(out.glob("**/*.partial"))
