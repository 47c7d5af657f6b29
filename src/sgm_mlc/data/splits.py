"""Seeded, order-independent split carving."""

from __future__ import annotations

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
