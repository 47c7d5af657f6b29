"""The guarantees of ``stratified_split``, checked from the labels and the carved ids alone (not from its code)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping


def label_counts(label_sets: Mapping[str, Collection[str]], ids: Collection[str]) -> Counter:
    """Label → number of the documents of ``ids`` that have it."""
    return Counter(label for example_id in ids for label in label_sets[example_id])


def broken_guarantees(label_sets: Mapping[str, Collection[str]], carved: Collection[str]) -> list[str]:
    """One line per broken guarantee of a split of ``label_sets`` (id → labels) into ``carved`` and the rest;
    empty when (1) every label keeps a document in the rest, and (2) every label with at least two documents
    has a carved one, unless each of its documents is the last one in the rest of some other label."""
    pool = label_counts(label_sets, label_sets)
    rest = label_counts(label_sets, [example_id for example_id in label_sets if example_id not in carved])
    broken = [f"{label}: all {pool[label]} documents carved" for label in sorted(pool) if not rest[label]]
    for label in sorted(pool):
        if pool[label] < 2 or pool[label] != rest[label]:
            continue
        free = [
            example_id
            for example_id, labels in sorted(label_sets.items())
            if label in labels and all(rest[other] >= 2 for other in labels)
        ]
        if free:
            broken.append(f"{label}: none of its {pool[label]} documents carved, though {free[0]} could have been")
    return broken
