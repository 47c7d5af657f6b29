"""Dataset name (and ``kind``) → implementation."""

from __future__ import annotations

from typing import Any

from sgm_mlc.data.base import Dataset
from sgm_mlc.data.coco import Coco2017
from sgm_mlc.data.reuters import Reuters21578
from sgm_mlc.data.synthetic import SyntheticDataset
from sgm_mlc.data.synthetic_shift import ShiftedSyntheticDataset
from sgm_mlc.data.table import TableDataset
from sgm_mlc.data.voc import Voc2007
from sgm_mlc.data.yelp import Yelp

BUILT_IN: dict[str, type] = {
    cls.name: cls for cls in (SyntheticDataset, ShiftedSyntheticDataset, Reuters21578, Yelp, Coco2017, Voc2007)
}
# Kinds of user datasets: the class is built with the dataset's name.
KINDS: dict[str, type] = {"table": TableDataset}


def get_dataset(name: str, params: dict[str, Any] | None = None) -> Dataset:
    """The dataset called ``name``, whose section of ``params.yaml`` is ``params`` (a user dataset's ``kind``
    says which implementation reads it); a clear error lists the known names and kinds."""
    kind = (params or {}).get("kind")
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"dataset {name!r}: unknown kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
        return KINDS[kind](name)
    if name not in BUILT_IN:
        raise ValueError(
            f"unknown dataset {name!r}; built-in datasets: {', '.join(sorted(BUILT_IN))} "
            f"(your own data: kind: {', '.join(sorted(KINDS))})"
        )
    return BUILT_IN[name]()
