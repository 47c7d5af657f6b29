"""sgm-mlc verify: every run's summary metrics against the committed record, within stated tolerances."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from sgm_mlc.cli import main
from sgm_mlc.verify import (
    RecordError, Tolerances, compare, compare_run, format_table, load_tolerances, passed, read_committed,
    read_folder, verification,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOLERANCES = Tolerances(default=0.02, metrics={"micro_f1": 0.005, "valid.micro_f1": 0.01, "map_skipped_classes": 0.0})
RECORDED = {
    "test": {"micro_f1": 0.80, "hamming_loss": 0.05, "map_skipped_classes": 0},
    "valid": {"micro_f1": 0.82, "hamming_loss": 0.04, "map_skipped_classes": 0},
}


def moved(split: str, metric: str, by: float) -> dict:
    figures = json.loads(json.dumps(RECORDED))
    figures[split][metric] += by
    return figures


def test_identical_figures_are_identical():
    run = compare_run("r", RECORDED, json.loads(json.dumps(RECORDED)), TOLERANCES)
    assert run.status == "identical" and run.differing == [] and len(run.checks) == 6


@pytest.mark.parametrize(("split", "metric", "by", "status"), [
    ("test", "micro_f1", 0.004, "within"),
    ("test", "micro_f1", -0.0049, "within"),
    ("test", "micro_f1", 0.006, "outside"),
    ("valid", "micro_f1", 0.006, "within"),  # the split's own tolerance
    ("valid", "hamming_loss", 0.019, "within"),  # the default tolerance
    ("valid", "hamming_loss", -0.021, "outside"),
    ("test", "map_skipped_classes", 1, "outside"),  # a zero tolerance: exact
])
def test_each_metric_is_held_to_its_own_tolerance(split, metric, by, status):
    run = compare_run("r", RECORDED, moved(split, metric, by), TOLERANCES)
    assert run.status == status
    [check] = run.differing
    assert (check.split, check.metric) == (split, metric)
    assert check.difference == pytest.approx(by)
    assert check.tolerance == TOLERANCES.of(split, metric)


def test_a_metric_only_one_side_has_is_outside_and_nan_on_both_sides_is_identical():
    lacking = json.loads(json.dumps(RECORDED))
    del lacking["test"]["hamming_loss"]
    assert compare_run("r", RECORDED, lacking, TOLERANCES).status == "outside"
    assert compare_run("r", lacking, RECORDED, TOLERANCES).status == "outside"
    undefined = {"test": {"macro_f1": math.nan}}
    assert compare_run("r", undefined, {"test": {"macro_f1": math.nan}}, TOLERANCES).status == "identical"


def test_new_runs_pass_and_missing_runs_fail():
    record = {"a": RECORDED, "b": RECORDED}
    runs = compare(record, {"a": RECORDED, "c": RECORDED}, TOLERANCES)
    assert [(run.run, run.status) for run in runs] == [("a", "identical"), ("b", "missing"), ("c", "new")]
    assert not passed(runs)
    assert passed(compare({"a": RECORDED}, {"a": RECORDED, "c": RECORDED}, TOLERANCES))


def test_the_document_counts_statuses_and_lists_every_metric_that_moved():
    runs = compare({"a": RECORDED, "b": RECORDED}, {"a": RECORDED, "b": moved("test", "micro_f1", 0.01)}, TOLERANCES)
    document = verification(runs, TOLERANCES, "git abc")
    assert document["passed"] is False
    assert document["counts"] == {"identical": 1, "within": 0, "outside": 1, "new": 0, "missing": 0}
    [check] = document["runs"]["b"]["differing"]
    assert check == {"split": "test", "metric": "micro_f1", "recorded": 0.80, "current": pytest.approx(0.81),
                     "tolerance": 0.005, "difference": pytest.approx(0.01)}
    lines = format_table(runs)
    assert lines[0] == "IDENTICAL a"
    assert lines[1].startswith("OUTSIDE   b  largest: test micro_f1 +0.010000")
    assert lines[2].endswith("tolerance 0.0050  OUTSIDE")
    assert len(format_table(runs, every_metric=True)) == 2 + 12


def test_tolerances_file(tmp_path):
    path = tmp_path / "tolerances.yaml"
    path.write_text(
        "source: measured\ndefault: 0.01\nmetrics:\n  micro_f1: 0.002\n  valid.micro_f1: 0.004\n  map_skipped_classes: 0\n"
    )
    tolerances = load_tolerances(path)
    assert [tolerances.of("test", metric) for metric in ("micro_f1", "map_skipped_classes", "macro_f1")] == [0.002, 0, 0.01]
    assert tolerances.of("valid", "micro_f1") == 0.004
    assert tolerances.source == "measured"
    path.write_text("default: 0.01\nmetrics:\n  micro_f1: -1\n  macro_f1: yes\n")
    with pytest.raises(RecordError, match="the tolerance of macro_f1, micro_f1 is not a non-negative number"):
        load_tolerances(path)
    path.write_text("metrics: {}\n")
    with pytest.raises(RecordError, match="needs `default:`"):
        load_tolerances(path)
    with pytest.raises(RecordError, match="no tolerances file"):
        load_tolerances(tmp_path / "absent.yaml")


def test_the_committed_tolerances_file_is_valid_and_says_where_its_numbers_come_from():
    tolerances = load_tolerances(PROJECT_ROOT / "tolerances.yaml")
    assert "measured" in tolerances.source and tolerances.default > 0
    assert {f"{split}.micro_f1" for split in ("test", "valid")} <= set(tolerances.metrics)


def git(project: Path, *arguments: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *arguments], cwd=project, check=True,
        capture_output=True,
    )


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A git repository whose committed record holds runs a and b; the working tree then moves b."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    summary = tmp_path / "results/summary/metrics"
    summary.mkdir(parents=True)
    for run in ("a", "b"):
        (summary / f"{run}.json").write_text(json.dumps(RECORDED))
    (tmp_path / "tolerances.yaml").write_text("default: 0.02\nmetrics:\n  micro_f1: 0.005\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "record")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_record_is_read_from_git_not_from_the_working_tree(project):
    (project / "results/summary/metrics/b.json").write_text(json.dumps(moved("test", "micro_f1", 0.5)))
    assert read_committed(project) == {"a": RECORDED, "b": RECORDED}
    assert read_folder(project / "results/summary/metrics")["b"]["test"]["micro_f1"] == 1.3
    with pytest.raises(RecordError, match="pass --reference"):
        read_committed(project, "no-such-revision")


def test_the_command_exits_1_outside_a_tolerance_and_0_within(project, capsys):
    summary = project / "results/summary/metrics"
    (summary / "b.json").write_text(json.dumps(moved("test", "micro_f1", 0.004)))
    assert main(["verify", "--out", "results/verify/verification.json"]) == 0
    printed = capsys.readouterr().out
    assert "WITHIN    b  largest: test micro_f1 +0.004000" in printed and "PASSED: 1 identical, 1 within" in printed
    assert json.loads((project / "results/verify/verification.json").read_text())["passed"] is True

    (summary / "b.json").write_text(json.dumps(moved("test", "micro_f1", 0.006)))
    assert main(["verify"]) == 1
    assert "FAILED: 1 identical, 1 outside" in capsys.readouterr().out
    assert main(["verify", "--no-fail"]) == 0


def test_the_command_takes_a_folder_as_the_record_and_names_what_it_cannot_read(project, tmp_path, capsys):
    reference = tmp_path / "other-machine"
    shutil.copytree(project / "results/summary/metrics", reference)
    (reference / "a.json").unlink()
    assert main(["verify", "--reference", str(reference)]) == 0
    assert "NEW       a" in capsys.readouterr().out
    assert main(["verify", "--reference", str(tmp_path / "absent")]) == 2
    assert main(["verify", "--tolerances", "absent.yaml"]) == 2
    # Without a record (outside git), the workflow's own check still writes its document: every run is new.
    assert main(["verify", "--revision", "no-such-revision", "--no-fail", "--out", "check.json"]) == 0
    document = json.loads((project / "check.json").read_text())
    assert document["record"].startswith("none (") and document["counts"]["new"] == 2
