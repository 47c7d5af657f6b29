"""Dataset name → implementation."""

from __future__ import annotations

from sgm_mlc.data.base import Dataset
from sgm_mlc.data.reuters import Reuters21578
from sgm_mlc.data.synthetic import SyntheticDataset
from sgm_mlc.data.synthetic_shift import ShiftedSyntheticDataset

DATASETS: dict[str, type] = {cls.name: cls for cls in (SyntheticDataset, ShiftedSyntheticDataset, Reuters21578)}


def get_dataset(name: str) -> Dataset:
    """The dataset called ``name``; a clear error lists the known names."""
    try:
        return DATASETS[name]()
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None
