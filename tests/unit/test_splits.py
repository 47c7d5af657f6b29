"""Split carving: the stratified split of a labelled pool (sizes, shares, the repair's guarantees) and its errors."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from sgm_mlc.data.splits import carve_split, repair_split, stratified_split
from tests.support.split_guarantees import broken_guarantees, label_counts


def random_pool(documents: int, probabilities: np.ndarray, rng: np.random.Generator) -> dict[str, set[str]]:
    """Id → labels: document i has label ``l<j>`` with probability ``probabilities[j]``, independently."""
    return {
        f"d{i:05d}": {f"l{j:02d}" for j in np.flatnonzero(rng.random(len(probabilities)) < probabilities)}
        for i in range(documents)
    }


def skewed_pool(documents: int, labels: int, seed: int) -> dict[str, set[str]]:
    """A :func:`random_pool` with labels of falling frequency (the first in about 30 % of the documents, most of
    the others rare); some documents get none."""
    rng = np.random.default_rng(seed)
    return random_pool(documents, 0.3 * np.sort(rng.power(0.3, labels))[::-1], rng)


def split(pool: dict[str, set[str]], fraction: float, seed: int) -> set[str]:
    return stratified_split(list(pool), list(pool.values()), fraction, seed)


def share_error(pool: dict[str, set[str]], carved: set[str], fraction: float) -> float:
    """``sum |carved documents of a label - fraction × its documents|`` over the labels."""
    total, got = label_counts(pool, pool), label_counts(pool, carved)
    return sum(abs(got[label] - fraction * total[label]) for label in total)


def test_the_same_pool_and_seed_give_the_same_split_whatever_the_order() -> None:
    pool = skewed_pool(500, 20, seed=0)
    carved = split(pool, 0.1, seed=13)
    shuffled = list(pool.items())
    random.Random(1).shuffle(shuffled)
    assert stratified_split([i for i, _ in shuffled], [sorted(ls) for _, ls in shuffled], 0.1, 13) == carved
    assert split(pool, 0.1, seed=14) != carved


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.25, 0.5])
def test_the_carved_side_holds_the_fraction_of_the_pool(fraction: float) -> None:
    pool = random_pool(1000, np.linspace(0.1, 0.4, 8), np.random.default_rng(1))  # no rare label forces the size
    for seed in range(3):
        assert len(split(pool, fraction, seed)) == round(fraction * 1000)


def test_labels_of_disjoint_documents_are_carved_exactly_in_proportion() -> None:
    sizes = {"a": 50, "b": 30, "c": 20, "d": 10, "e": 5}
    pool = {f"{label}{k}": {label} for label, size in sizes.items() for k in range(size)}
    for seed in range(10):
        carved = split(pool, 0.2, seed)
        assert label_counts(pool, carved) == {"a": 10, "b": 6, "c": 4, "d": 2, "e": 1}


def test_label_shares_are_closer_than_in_a_random_split() -> None:
    pool = skewed_pool(600, 30, seed=2)
    stratified = [share_error(pool, split(pool, 0.2, seed), 0.2) for seed in range(5)]
    at_random = [share_error(pool, carve_split(list(pool), 0.2, seed), 0.2) for seed in range(5)]
    assert max(stratified) < min(at_random)


def test_a_label_with_two_documents_gets_one_carved_and_one_kept() -> None:
    pool = {f"c{k:03d}": {"common"} for k in range(98)} | {"r1": {"common", "rare"}, "r2": {"rare"}}
    for seed in range(10):
        carved = split(pool, 0.1, seed)
        assert len(carved & {"r1", "r2"}) == 1 and len(carved) == 10
        assert broken_guarantees(pool, carved) == []


def test_a_label_with_one_document_keeps_it_even_when_most_of_the_pool_is_carved() -> None:
    pool = {f"c{k}": {"common"} for k in range(9)} | {"only": {"common", "single"}}
    for seed in range(10):
        carved = split(pool, 0.9, seed)
        assert "only" not in carved and len(carved) == 9


def test_a_document_that_is_another_labels_last_is_not_carved_for_a_rare_label() -> None:
    # "shared" has two documents; the first is also the only document of "single", so the second is carved.
    pool = {"first": {"shared", "single"}, "second": {"shared"}} | {f"c{k:02d}": {"common"} for k in range(18)}
    for seed in range(10):
        carved = split(pool, 0.1, seed)
        assert "second" in carved and "first" not in carved


def test_when_every_document_of_a_label_is_another_labels_last_the_rest_wins() -> None:
    # Each document of "shared" is the only one of another label: carving either would empty that label's rest.
    pool = {"first": {"shared", "x"}, "second": {"shared", "y"}} | {f"c{k:02d}": {"common"} for k in range(18)}
    for seed in range(10):
        carved = split(pool, 0.1, seed)
        assert not carved & {"first", "second"} and len(carved) == 2
        assert broken_guarantees(pool, carved) == []


def test_an_odd_cycle_of_two_document_labels_leaves_one_label_uncarved() -> None:
    # a: {1, 2}, b: {2, 3}, c: {1, 3}: one document carved serves two labels and leaves the third's documents
    # both the last in the rest of another label.
    pool = {"1": {"a", "c"}, "2": {"a", "b"}, "3": {"b", "c"}}
    for seed in range(10):
        carved = split(pool, 0.3, seed)
        assert len(carved) == 1 and broken_guarantees(pool, carved) == []


@pytest.mark.parametrize(
    ("priority", "expected"), [([0, 1, 2, 3], [True, False, False, True]), ([3, 2, 1, 0], [False, True, True, False])]
)
def test_the_repair_undoes_a_split_that_carves_every_document_of_a_label(priority, expected) -> None:
    # (documents, labels): a = documents 0-3, b = documents 2-3, and the split carved both documents of b. Step 1
    # returns the one of lower rank (neither return leaves a label without a carved document); step 3 then
    # carves one of documents 0 and 1 (the other document of b is b's last in the rest), again by rank.
    indicator = np.array([[1, 0], [1, 0], [1, 1], [1, 1]], dtype=bool)
    carved = repair_split(indicator, np.array([False, False, True, True]), 0.5, priority=np.array(priority))
    assert carved.tolist() == expected


def test_random_pools_keep_the_guarantees_and_the_size_where_the_labels_allow() -> None:
    rng = np.random.default_rng(7)
    conflicts = off_size = 0
    for case in range(300):
        documents, labels = int(rng.integers(2, 60)), int(rng.integers(1, 15))
        fraction = float(rng.uniform(0.05, 0.6))
        probabilities = rng.uniform(0.0, 0.25, labels)
        pool = {
            f"d{i:02d}": {f"l{j}" for j in np.flatnonzero(rng.random(labels) < probabilities)}
            for i in range(documents)
        }
        carved = split(pool, fraction, seed=case)
        assert broken_guarantees(pool, carved) == [], (case, pool, carved)
        total, in_carved = label_counts(pool, pool), label_counts(pool, carved)
        conflicts += sum(total[label] >= 2 and not in_carved[label] for label in total)
        in_rest = total - in_carved
        target = round(fraction * documents)
        if len(carved) > target:  # no carved document can go back without emptying a label's carved side
            assert all(any(in_carved[label] == 1 for label in pool[i]) for i in carved), (case, pool, carved)
        elif len(carved) < target:  # no document of the rest can be carved without emptying a label's rest
            assert all(any(in_rest[label] == 1 for label in pool[i]) for i in pool if i not in carved), case
        off_size += len(carved) != target
    assert conflicts and off_size  # the cases reach both kinds of limit


def test_an_empty_pool_gives_an_empty_split() -> None:
    assert stratified_split([], [], 0.1, 0) == set()


def test_documents_without_labels_are_carved_like_the_others() -> None:
    pool = {f"n{k:02d}": set() for k in range(20)}
    assert len(split(pool, 0.25, 3)) == 5


@pytest.mark.parametrize(
    ("ids", "label_sets", "fraction", "error", "message"),
    [
        (["a", "b"], [{"x"}, {"y"}], 1.0, ValueError, r"strictly between 0 and 1, got 1\.0"),
        (["a", "b"], [{"x"}, {"y"}], 0.0, ValueError, r"strictly between 0 and 1, got 0\.0"),
        (["a", "b"], [{"x"}], 0.1, ValueError, r"got 2 ids but 1 label sets; give one per id"),
        (["a", "b", "a"], [{"x"}, {"y"}, {"z"}], 0.1, ValueError, r"needs unique ids; 'a' occurs more than once"),
        (["a", "b"], [{"x"}, "xy"], 0.1, TypeError, r"the labels of id 'b' are one string, 'xy'"),
    ],
)
def test_bad_input_is_a_clear_error(ids, label_sets, fraction, error, message) -> None:
    with pytest.raises(error, match=message):
        stratified_split(ids, label_sets, fraction, 0)


def test_carve_split_is_unchanged_a_seeded_random_draw_of_the_sorted_ids() -> None:
    ids = [f"x{k}" for k in range(40)]
    carved = carve_split(ids, 0.25, 5)
    ordered = sorted(ids)
    assert carved == {ordered[i] for i in np.random.default_rng(5).permutation(40)[:10]}
    assert carve_split(list(reversed(ids)), 0.25, 5) == carved
    assert Counter(i in carved for i in ids) == {True: 10, False: 30}
