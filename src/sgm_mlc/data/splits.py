"""Seeded, order-independent split carving: over a known set of ids, or one example at a time (streams)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def carve_split(ids: Sequence[str], fraction: float, seed: int) -> set[str]:
    """Pick ``round(fraction * len(ids))`` of ``ids`` at random, reproducibly.

    The draw depends only on the set of ids, the fraction and the seed (ids are sorted first), so the same
    corpus gives the same split whatever order its files were read in.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must lie strictly between 0 and 1, got {fraction}")
    ordered = sorted(ids)
    if len(set(ordered)) != len(ordered):
        raise ValueError("carve_split needs unique ids")
    count = int(round(fraction * len(ordered)))
    chosen = np.random.default_rng(seed).permutation(len(ordered))[:count]
    return {ordered[i] for i in chosen}


def hashed_split(example_id: str, seed: int, test_fraction: float, validation_fraction: float) -> str:
    """The split of one example, from its id and the seed alone (for a stream, whose ids are not known ahead).

    ``blake2b("{seed}:{example_id}")`` (8-byte digest, read as a big-endian integer and divided by 2**64) is a
    number u uniform in [0, 1): the example is "test" if u < test_fraction, "valid" if u < test_fraction +
    validation_fraction, else "train". The split does not depend on the order the examples come in.
    """
    digest = hashlib.blake2b(f"{seed}:{example_id}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    if u < test_fraction:
        return "test"
    return "valid" if u < test_fraction + validation_fraction else "train"
