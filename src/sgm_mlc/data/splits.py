"""Seeded, order-independent split carving: over a known set of ids (at random, or stratified on their labels), or
one example at a time (streams)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

import numpy as np
from iterstrat.ml_stratifiers import IterativeStratification


def carve_split(ids: Sequence[str], fraction: float, seed: int) -> set[str]:
    """Pick ``round(fraction * len(ids))`` of ``ids`` at random, reproducibly.

    The draw depends only on the set of ids, the fraction and the seed (ids are sorted first), so the same
    corpus gives the same split whatever order its files were read in.
    """
    _check_fraction(fraction)
    ordered = sorted(ids)
    if len(set(ordered)) != len(ordered):
        raise ValueError("carve_split needs unique ids")
    count = int(round(fraction * len(ordered)))
    chosen = np.random.default_rng(seed).permutation(len(ordered))[:count]
    return {ordered[i] for i in chosen}


def stratified_split(ids: Sequence[str], label_sets: Sequence[Collection[str]], fraction: float, seed: int) -> set[str]:
    """About ``fraction`` of ``ids`` (``label_sets[i]`` holds the labels of ``ids[i]``), carved so that every label
    keeps its share on both sides, then repaired so that no label is left out of either side where that can be
    helped.

    1. **Stratification**: the iterative stratification of Sechidis et al. (2011), as the ``iterative-stratification``
       package runs it in its ``MultilabelStratifiedShuffleSplit``: the rows shuffled, then the label with the fewest
       documents left first, each of its documents to the side that still wants the most of that label. The pairs
       (id, labels) are sorted by id first and one ``numpy.random.RandomState`` seeded with ``seed`` shuffles the
       rows and breaks the algorithm's ties, so the split depends only on the pairs, the fraction and the seed,
       not on the order the files were read in.
    2. **Repair** (:func:`repair_split`): a label with two documents wants 0.2 of one at ``fraction=0.1``, so the
       stratification leaves it uncarved; the repair carves one of its documents unless that would take some
       label's last document from the rest, never leaves a label without a document in the rest, and brings the
       carved side to ``round(fraction * len(ids))`` documents unless the labels forbid it (a small pool with many
       rare labels may need more).

    Memory: a boolean matrix of documents × labels.
    """
    _check_fraction(fraction)
    if len(ids) != len(label_sets):
        raise ValueError(f"stratified_split got {len(ids)} ids but {len(label_sets)} label sets; give one per id")
    pairs = sorted(zip(ids, label_sets), key=lambda pair: pair[0])
    for (first, _), (second, _) in zip(pairs, pairs[1:]):
        if first == second:
            raise ValueError(f"stratified_split needs unique ids; {first!r} occurs more than once")
    for identifier, labels in pairs:
        if isinstance(labels, str):
            raise TypeError(f"the labels of id {identifier!r} are one string, {labels!r}; give a collection of names")
    names = sorted(set().union(*(labels for _, labels in pairs)))
    column = {name: index for index, name in enumerate(names)}
    indicator = np.zeros((len(pairs), len(names)), dtype=bool)
    for row, (_, labels) in enumerate(pairs):
        indicator[row, [column[name] for name in labels]] = True

    generator = np.random.RandomState(np.random.PCG64(seed))
    shuffled = generator.permutation(len(pairs))
    sides = IterativeStratification(indicator[shuffled], r=np.array([1.0 - fraction, fraction]), random_state=generator)
    carved = np.zeros(len(pairs), dtype=bool)
    carved[shuffled[sides == 1]] = True
    carved = repair_split(indicator, carved, fraction, priority=generator.permutation(len(pairs)))
    return {pairs[row][0] for row in np.flatnonzero(carved)}


def repair_split(indicator: np.ndarray, carved: np.ndarray, fraction: float, priority: np.ndarray) -> np.ndarray:
    """``carved`` after the repair that gives every label a document on each side where it can be given one.

    ``indicator`` is ``(documents, labels)`` (``True`` where the document has the label); ``carved`` and
    ``priority`` are ``(documents,)``: the carved side (validation or test; the rest is train) and distinct ranks
    that break ties (lower first). Three steps, the first two visiting the labels rarest first (fewest documents,
    then column):

    1. a label with every document carved gets one back: the one whose return leaves the fewest labels without a
       carved document, then the lowest rank;
    2. a label with at least two documents and none carved gets one carved: among its documents each of whose
       labels keeps another document in the rest, the one that serves the most labels still without a carved
       document, then the lowest rank;
    3. while the carved side holds more (fewer) than ``round(fraction * documents)``, one document goes back
       (is carved): among those each of whose labels keeps another document on the side it leaves, the one that
       brings the labels' carved counts closest to their shares (``sum |carved - fraction * documents|`` over
       the labels), then the lowest rank.

    Hence no label loses all its documents to the carved side (step 1 leaves each label one; steps 2 and 3 never
    take a label's last document from either side); a label with at least two documents ends without a carved
    document only when each of its documents is the last one in the rest of some other label (a conflict the rest
    wins); and the carved side holds ``round(fraction * documents)`` documents unless every further move would
    break one of these. Returns a new ``(documents,)`` boolean array.
    """
    carved = _keep_a_document_in_the_rest(indicator, carved, priority)
    carved = _carve_a_document_of_each_label(indicator, carved, priority)
    return _match_size(indicator, carved, fraction, priority)


def _rarest_first(indicator: np.ndarray) -> np.ndarray:
    """``(labels,)``: the label columns by number of documents, then column."""
    return np.lexsort((np.arange(indicator.shape[1]), indicator.sum(axis=0)))


def _keep_a_document_in_the_rest(indicator: np.ndarray, carved: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Step 1 of :func:`repair_split`."""
    carved = carved.copy()
    documents, carved_count = indicator.sum(axis=0), indicator[carved].sum(axis=0)
    for label in _rarest_first(indicator):
        if documents[label] and carved_count[label] == documents[label]:
            candidates = np.flatnonzero(indicator[:, label] & carved)
            stranded = (indicator[candidates] & (carved_count == 1)).sum(axis=1)
            chosen = candidates[np.lexsort((priority[candidates], stranded))[0]]
            carved[chosen] = False
            carved_count[indicator[chosen]] -= 1
    return carved


def _carve_a_document_of_each_label(indicator: np.ndarray, carved: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Step 2 of :func:`repair_split`."""
    carved = carved.copy()
    documents, carved_count = indicator.sum(axis=0), indicator[carved].sum(axis=0)
    for label in _rarest_first(indicator):
        if documents[label] >= 2 and not carved_count[label]:
            candidates = np.flatnonzero(indicator[:, label] & ~carved)
            spare_in_rest = documents - carved_count >= 2
            candidates = candidates[(spare_in_rest | ~indicator[candidates]).all(axis=1)]
            if candidates.size:
                served = (indicator[candidates] & (documents >= 2) & (carved_count == 0)).sum(axis=1)
                chosen = candidates[np.lexsort((priority[candidates], -served))[0]]
                carved[chosen] = True
                carved_count[indicator[chosen]] += 1
    return carved


def _match_size(indicator: np.ndarray, carved: np.ndarray, fraction: float, priority: np.ndarray) -> np.ndarray:
    """Step 3 of :func:`repair_split`."""
    carved = carved.copy()
    target = round(fraction * len(carved))
    documents = indicator.sum(axis=0)
    share = fraction * documents
    carved_count = indicator[carved].sum(axis=0)
    while carved.sum() != target:
        grow = bool(carved.sum() < target)
        step = 1 if grow else -1
        left_behind = documents - carved_count if grow else carved_count  # per label, on the side a move leaves
        candidates = np.flatnonzero(carved != grow)
        candidates = candidates[((left_behind >= 2) | ~indicator[candidates]).all(axis=1)]
        if not candidates.size:
            break
        # The change in sum(|carved_count - share|) over the labels if the candidate moved.
        change = (np.abs(carved_count + step - share) - np.abs(carved_count - share)) * indicator[candidates]
        chosen = candidates[np.lexsort((priority[candidates], change.sum(axis=1)))[0]]
        carved[chosen] = grow
        carved_count[indicator[chosen]] += step
    return carved


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must lie strictly between 0 and 1, got {fraction}")


def hashed_split(example_id: str, seed: int, test_fraction: float, validation_fraction: float) -> str:
    """The split of one example, from its id and the seed alone (for a stream, whose ids are not known ahead).

    ``blake2b("{seed}:{example_id}")`` (8-byte digest, read as a big-endian integer and divided by 2**64) is a
    number u uniform in [0, 1): the example is "test" if u < test_fraction, "valid" if u < test_fraction +
    validation_fraction, else "train". The split does not depend on the order the examples come in. It is not
    stratified: stratification needs every example's labels before it assigns the first, which a single pass over a
    stream does not have, so a rare label may miss a split (the dataset card lists the labels each split lacks).
    """
    digest = hashlib.blake2b(f"{seed}:{example_id}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    if u < test_fraction:
        return "test"
    return "valid" if u < test_fraction + validation_fraction else "train"
