"""Image features computed once per image dataset and reused by every model; the reader of the stored features.

The file names and the reader are here, not in :mod:`sgm_mlc.features.images`, so that the models that read
the features need neither torchvision nor torch (numpy and pyarrow only). Layout of a features folder:

* ``features.npy``: float16, shape ``(n_examples, grid·grid, channels)``, row ``i`` = row ``i`` of the
  processed ``examples.parquet`` (the base view); position ``p`` of a row is cell ``(p // grid, p % grid)`` of
  the ResNet's last feature map (row-major, top left first). Open with ``np.load(..., mmap_mode="r")``;
* ``index.parquet``: ``id``, ``split``, ``row`` of every example whose image was read. An example whose image
  could not be read (listed under ``skipped`` in ``features.json``) is NOT in the index; its row in
  ``features.npy`` stays all zeros and must not be used: the models skip examples without features;
* ``augmented.npy``: float16, shape ``(n_train·augment_views, grid·grid, channels)``: the extra random views
  of the train images, train image ``k`` (in the order of the examples) at rows
  ``k·augment_views … k·augment_views + augment_views - 1``; absent when ``augment_views`` is 0;
* ``augmented_index.parquet``: ``id``, ``view`` (1 … augment_views; view 0 is the base view in
  ``features.npy``) and ``row`` of every stored augmented view;
* ``features.json``: how the features were made (network, weights and their sha256, image size, grid,
  channels), the counts, the skipped images and the time taken.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

FEATURES_FILE = "features.npy"
INDEX_FILE = "index.parquet"
AUGMENTED_FILE = "augmented.npy"
AUGMENTED_INDEX_FILE = "augmented_index.parquet"
META_FILE = "features.json"


class ImageFeatures:
    """Memory-mapped image features of one dataset: ``ImageFeatures.open(folder)``.

    ``grid(id)`` is one example's ``(grid·grid, channels)`` float16 array (a view into the mapped file);
    ``rows(ids)`` stacks several (a copy); ``views(id)`` are a train example's augmented views. An id without
    features (its image was skipped, or it is not in the dataset) raises ``KeyError``: check ``id in features``
    first to skip such examples.
    """

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        features: np.ndarray,
        index: dict[str, int],
        splits: dict[str, str],
        augmented: np.ndarray | None,
        augmented_index: dict[str, list[int]],
    ) -> None:
        self.folder = folder
        self.meta = meta
        self.features = features
        self.index = index
        self.splits = splits
        self.augmented = augmented
        self.augmented_index = augmented_index

    @classmethod
    def open(cls, folder: str | Path) -> ImageFeatures:
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} not found; run the image-features step first")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        features = np.load(folder / FEATURES_FILE, mmap_mode="r")
        table = pq.read_table(folder / INDEX_FILE).to_pydict()
        index = dict(zip(table["id"], table["row"], strict=True))
        splits = dict(zip(table["id"], table["split"], strict=True))
        augmented = None
        augmented_index: dict[str, list[int]] = {}
        if (folder / AUGMENTED_FILE).is_file():
            augmented = np.load(folder / AUGMENTED_FILE, mmap_mode="r")
            views = pq.read_table(folder / AUGMENTED_INDEX_FILE).to_pydict()
            for image_id, view, row in sorted(zip(views["id"], views["view"], views["row"], strict=True)):
                augmented_index.setdefault(image_id, []).append(row)
        return cls(folder, meta, features, index, splits, augmented, augmented_index)

    @property
    def grid_size(self) -> int:
        return int(self.meta["grid"])

    @property
    def channels(self) -> int:
        return int(self.meta["channels"])

    @property
    def ids(self) -> list[str]:
        """The ids with features, in the order of their rows."""
        return list(self.index)

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self.index

    def split_ids(self, split: str) -> list[str]:
        return [image_id for image_id, name in self.splits.items() if name == split]

    def grid(self, image_id: str) -> np.ndarray:
        """``(grid·grid, channels)`` float16 features of ``image_id``'s base view (memory-mapped, read-only)."""
        return self.features[self.index[image_id]]

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """``(len(ids), grid·grid, channels)`` float16 features of ``ids`` in that order (an in-memory copy)."""
        rows = [self.index[image_id] for image_id in ids]
        return np.asarray(self.features[np.asarray(rows, dtype=np.int64)])

    def views(self, image_id: str) -> np.ndarray:
        """``(augment_views, grid·grid, channels)`` augmented views of a train example (``KeyError`` for others)."""
        if self.augmented is None:
            raise KeyError(f"{image_id}: these features have no augmented views (image_features.augment_views: 0)")
        rows: Sequence[int] = self.augmented_index[image_id]
        return np.asarray(self.augmented[np.asarray(rows, dtype=np.int64)])
