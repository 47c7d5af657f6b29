"""Label orders: the sequence in which a document's labels are presented to (and emitted by) a decoder.

* ``frequency``: descending train-split frequency, ties alphabetical (the SGM paper's order);
* ``rare_first``: ascending train-split frequency, ties alphabetical (labels absent from train first): the
  reverse of ``frequency``, so a decoder must commit to the rare labels before the common ones;
* ``alphabetical``: by label name;
* ``natural``: each document keeps its labels in the source's own order;
* ``random``: one seeded random permutation of the label set, applied to every document.

For every order but ``natural``, a global ranking of the labels sorts each document's label set; the label
vocabulary is listed in that ranking. For ``natural`` the vocabulary is listed by first appearance in the
train split (then in the other splits), and each document's sequence is its source order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

ORDERS = ("frequency", "alphabetical", "natural", "random", "rare_first")


def label_ranking(
    order: str, label_sets: Sequence[Sequence[str]], splits: Sequence[str], random_seed: int
) -> list[str]:
    """Every label of the dataset, ranked for ``order``.

    ``label_sets[i]`` are document ``i``'s labels in source order and ``splits[i]`` its split; frequencies are
    counted on the train split only (labels absent from it rank last, alphabetically).
    """
    all_labels = sorted({label for labels in label_sets for label in labels})
    if order == "alphabetical":
        return all_labels
    if order in ("frequency", "rare_first"):
        train = Counter(label for labels, split in zip(label_sets, splits) if split == "train" for label in labels)
        direction = -1 if order == "frequency" else 1
        return sorted(all_labels, key=lambda label: (direction * train[label], label))
    if order == "random":
        permutation = np.random.default_rng(random_seed).permutation(len(all_labels))
        return [all_labels[i] for i in permutation]
    if order == "natural":
        ordered_documents = [labels for labels, split in zip(label_sets, splits) if split == "train"]
        ordered_documents += [labels for labels, split in zip(label_sets, splits) if split != "train"]
        return list(dict.fromkeys(label for labels in ordered_documents for label in labels))
    raise ValueError(f"unknown label order {order!r}; known orders: {', '.join(ORDERS)}")


def order_labels(order: str, labels: Sequence[str], ranking: Sequence[str]) -> list[str]:
    """One document's labels as a sequence for ``order`` (``ranking`` from :func:`label_ranking`)."""
    if order == "natural":
        return list(dict.fromkeys(labels))
    position = {label: i for i, label in enumerate(ranking)}
    return sorted(set(labels), key=position.__getitem__)
