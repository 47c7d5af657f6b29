"""A label map from one dataset's labels onto another's, read from ``workflow/label_maps/<A>__<B>.tsv``.

The file name names the two datasets: ``<A>__<B>.tsv`` maps labels of dataset ``A`` (the one a model was
trained on) onto labels of dataset ``B`` (the one it is tested on). The file is UTF-8 text, one item a line:

* a line starting with ``#`` is part of the source note, which says where the mapping comes from; at least one
  such line must start with ``# source:`` and say something after it;
* a blank line is skipped;
* any other line is a row ``label_in_A<TAB>label_in_B``: exactly two fields, neither empty nor padded with
  spaces.

A label of ``A`` is on one row at most (the map is a function); several labels of ``A`` may map onto one
label of ``B``, which is then predicted when any of them is. Labels on neither side of the map are not
dropped silently: the cross-dataset evaluation reports them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

DATASET_SEPARATOR = "__"
SUFFIX = ".tsv"
SOURCE_NOTE = "# source:"


@dataclass(frozen=True)
class LabelMap:
    """The rows of one label map file, in file order, with its source note and the datasets it joins."""

    path: Path
    source_dataset: str
    target_dataset: str
    notes: tuple[str, ...]  # the ``#`` lines as written, in file order
    pairs: tuple[tuple[str, str], ...]  # (label in the source dataset, label in the target dataset)

    @property
    def to_target(self) -> dict[str, str]:
        """Source label -> target label."""
        return dict(self.pairs)

    @property
    def source_labels(self) -> tuple[str, ...]:
        """The mapped labels of the source dataset, in file order."""
        return tuple(source for source, _ in self.pairs)

    @property
    def target_labels(self) -> tuple[str, ...]:
        """The mapped labels of the target dataset, distinct, in order of first appearance."""
        return tuple(dict.fromkeys(target for _, target in self.pairs))

    def map_sequence(self, labels: Sequence[str]) -> list[int]:
        """Positions in ``labels`` (source labels, in order) of the labels that map onto a target label not
        mapped already by an earlier position; ``[self.to_target[labels[i]] for i in result]`` is then the
        sequence in the target's labels, without repeats."""
        to_target = self.to_target
        seen: set[str] = set()
        kept = []
        for position, label in enumerate(labels):
            target = to_target.get(label)
            if target is not None and target not in seen:
                seen.add(target)
                kept.append(position)
        return kept


def datasets_of(path: str | Path) -> tuple[str, str]:
    """``(A, B)`` from a file named ``<A>__<B>.tsv``; a clear error otherwise."""
    path = Path(path)
    parts = path.name[: -len(SUFFIX)].split(DATASET_SEPARATOR) if path.name.endswith(SUFFIX) else []
    if len(parts) != 2 or not all(parts):
        raise ValueError(
            f"{path}: a label map file is named <source dataset>{DATASET_SEPARATOR}<target dataset>{SUFFIX}"
        )
    return parts[0], parts[1]


def read_label_map(
    path: str | Path,
    source_labels: Collection[str] | None = None,
    target_labels: Collection[str] | None = None,
) -> LabelMap:
    """Read and check a label map file (see the module docstring).

    When ``source_labels`` (the labels of dataset ``A``) or ``target_labels`` (of ``B``) are given, every
    label on that side of the map must be among them. Errors name the file and, for a row, its line.
    """
    path = Path(path)
    source_dataset, target_dataset = datasets_of(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such label map file") from None
    notes: list[str] = []
    pairs: list[tuple[str, str]] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            notes.append(line)
            continue
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or any(not field or field != field.strip() for field in fields):
            raise ValueError(
                f"{path}:{number}: malformed row {line!r}: expected label_in_{source_dataset}<TAB>"
                f"label_in_{target_dataset} (two non-empty fields, no spaces around them)"
            )
        source, target = fields
        if source in first_line:
            raise ValueError(
                f"{path}:{number}: label {source!r} of {source_dataset} is mapped again (first on line "
                f"{first_line[source]}); a label maps onto one label at most"
            )
        for label, known, dataset in ((source, source_labels, source_dataset), (target, target_labels, target_dataset)):
            if known is not None and label not in known:
                raise ValueError(f"{path}:{number}: {label!r} is not a label of {dataset}")
        first_line[source] = number
        pairs.append((source, target))
    if not any(note.startswith(SOURCE_NOTE) and note[len(SOURCE_NOTE) :].strip() for note in notes):
        raise ValueError(f"{path}: no '{SOURCE_NOTE} …' line saying where the mapping comes from")
    if not pairs:
        raise ValueError(f"{path}: no mapping rows (label_in_{source_dataset}<TAB>label_in_{target_dataset})")
    return LabelMap(path, source_dataset, target_dataset, tuple(notes), tuple(pairs))
