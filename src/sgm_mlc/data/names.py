"""The datasets the project knows, by name, and what their examples are (importing this loads no dataset code:
the workflow plans with it, and the steps that never read raw files need none of the datasets' libraries)."""

from __future__ import annotations

from typing import Any

BUILT_IN_MODALITIES = {
    "synthetic": "text",
    "synthetic_shift": "text",
    "reuters21578": "text",
    "yelp": "text",
    "coco2017": "image",
    "voc2007": "image",
}
# Kinds of user datasets (``kind:`` in a dataset's section of params.yaml) and what their examples are.
KIND_MODALITIES = {"table": "text"}


def dataset_modality(name: str, section: dict[str, Any] | None = None) -> str:
    """``text`` or ``image``: what the examples of the dataset ``name`` (with its params.yaml ``section``) are."""
    kind = (section or {}).get("kind")
    if kind is not None:
        return KIND_MODALITIES[kind]
    if name not in BUILT_IN_MODALITIES:
        raise ValueError(f"unknown dataset {name!r}; built-in datasets: {', '.join(sorted(BUILT_IN_MODALITIES))}")
    return BUILT_IN_MODALITIES[name]
