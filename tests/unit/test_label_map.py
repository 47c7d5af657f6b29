"""Label map files: the format, the checks (errors name file and line), and the project's own maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from sgm_mlc.data.synthetic import planted_structure
from sgm_mlc.data.synthetic_shift import shifted_corpus
from sgm_mlc.labels.label_map import read_label_map
from tests.support.params import SYNTHETIC_HARD, SYNTHETIC_SHIFT

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTE = "# source: made up for the test\n"


def write(tmp_path: Path, body: str, name: str = "a__b.tsv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_rows_notes_and_datasets_are_read_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, f"{NOTE}# second note\n\nx\tp\ny\tq\n\nz\tp\n")
    label_map = read_label_map(path, source_labels=["x", "y", "z", "w"], target_labels=["p", "q", "r"])
    assert (label_map.source_dataset, label_map.target_dataset) == ("a", "b")
    assert label_map.notes == ("# source: made up for the test", "# second note")
    assert label_map.pairs == (("x", "p"), ("y", "q"), ("z", "p"))
    assert label_map.source_labels == ("x", "y", "z") and label_map.target_labels == ("p", "q")
    assert label_map.to_target == {"x": "p", "y": "q", "z": "p"}


def test_a_sequence_maps_in_order_without_repeats_or_unmapped_labels(tmp_path: Path) -> None:
    label_map = read_label_map(write(tmp_path, f"{NOTE}x\tp\ny\tq\nz\tp\n"))
    sequence = ["w", "z", "y", "x"]
    kept = label_map.map_sequence(sequence)
    assert kept == [1, 2]  # w is unmapped; x reaches p again, after z
    assert [label_map.to_target[sequence[i]] for i in kept] == ["p", "q"]


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (f"{NOTE}x\tp\nx p\n", 3, "malformed row"),
        (f"{NOTE}x\tp\ny\tq\tr\n", 3, "malformed row"),
        (f"{NOTE}x\t\n", 2, "malformed row"),
        (f"{NOTE}x\t p\n", 2, "malformed row"),
        (f"{NOTE}x\tp\ny\tq\nx\tq\n", 4, "'x' of a is mapped again (first on line 2)"),
        (f"{NOTE}x\tp\nx\tp\n", 3, "mapped again"),
        (f"{NOTE}v\tp\n", 2, "'v' is not a label of a"),
        (f"{NOTE}x\tpp\n", 2, "'pp' is not a label of b"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, body: str, line: int, reason: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ValueError) as caught:
        read_label_map(path, source_labels={"x", "y"}, target_labels={"p", "q"})
    assert f"{path}:{line}: " in str(caught.value) and reason in str(caught.value)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("x\tp\n", "# source:"),
        ("# where from? nobody knows\nx\tp\n", "# source:"),
        ("# source:   \nx\tp\n", "# source:"),
        (NOTE, "no mapping rows"),
    ],
)
def test_a_map_needs_a_source_note_and_rows(tmp_path: Path, body: str, reason: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ValueError, match=reason) as caught:
        read_label_map(path)
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize("name", ["a_b.tsv", "a__b__c.tsv", "__b.tsv", "a__b.txt"])
def test_the_file_name_must_name_both_datasets(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="<source dataset>__<target dataset>.tsv"):
        read_label_map(write(tmp_path, f"{NOTE}x\tp\n", name))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="a__b.tsv"):
        read_label_map(tmp_path / "a__b.tsv")


def test_the_synthetic_map_is_the_identity_over_the_shared_labels() -> None:
    source_labels = planted_structure(SYNTHETIC_HARD)["labels"]
    shift_structure = shifted_corpus(dict(SYNTHETIC_SHIFT, n_documents=50))[1]
    label_map = read_label_map(
        PROJECT_ROOT / "workflow/label_maps/synthetic__synthetic_shift.tsv", source_labels, shift_structure["labels"]
    )
    assert label_map.pairs == tuple((label, label) for label in source_labels)
    outside = set(shift_structure["labels"]) - set(label_map.target_labels)
    assert outside == set(shift_structure["shift"]["extra_labels"])
