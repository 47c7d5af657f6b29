"""MS-COCO 2017 as an image-tagging dataset: each image labelled with the object categories it shows.

Raw files. Three official archives (``files`` in params.yaml), each fetched checksum-verified and unpacked into
``raw_dir/extracted``: ``annotations_trainval2017.zip`` gives ``annotations/instances_{train,val}2017.json``,
``train2017.zip`` gives ``train2017/*.jpg`` (118,287 images) and ``val2017.zip`` gives ``val2017/*.jpg``
(5,000). Each archive is deleted once it is extracted: a failed download step discards its whole raw folder,
so a kept archive would never serve as a cache, and the train archive alone is 19 GB.

Splits. val2017 is the test split. The validation split is carved from train2017, seeded and stratified on the
categories (about ``validation_fraction`` of its kept images, by :func:`~sgm_mlc.data.splits.stratified_split`
over their ids as strings); the rest is train.

Labels. The annotation files are read with pycocotools (its console messages go to this module's logger at
DEBUG level). An image's labels are the names of the distinct categories of its instance annotations, in its
natural order: descending total area of the category in the image (the sum of its annotations' ``area``), ties
broken by ascending category id. Crowd annotations (``iscrowd=1``) count like the others, both as labels and
towards the area.

Skipped images, counted in :attr:`Coco2017.skipped` (each image under the first reason that applies):

* ``missing_image``: listed in the annotations but its file is not on disk; each is logged as a warning. More
  than 1% of a split's listed images missing is an error (the archive was not extracted completely);
* ``no_annotation``: no instance annotation (1,021 train2017 and 48 val2017 images in the official files). A
  train2017 image without annotation is always dropped, since an empty target breaks the sequence models.
  ``keep_unannotated: true`` keeps those of val2017 in the test split with no label (evaluation then sees
  images with nothing to tag); ``false``, the default, drops them too.

Examples come out by split (train, valid, test), then by ascending image id. An example's id is the COCO image
id as a string (ids are checked to be unique across both files), its ``text`` is empty and its ``image`` is the
file's path relative to the raw folder, such as ``extracted/train2017/000000391895.jpg``.

Errors (ValueError), each naming the file and the archive to download again: a missing or unreadable annotation
file, one without its ``images``, ``annotations`` or ``categories``, an image id listed twice, an image record
without a plain ``file_name``, an annotation of an unknown image or category or without a numeric ``area``.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pycocotools.coco import COCO

from sgm_mlc.data.base import SPLITS, Example
from sgm_mlc.data.download import extract_archive, fetch
from sgm_mlc.data.splits import stratified_split

log = logging.getLogger(__name__)

# Archive → the folder it holds, in download order: the small archives first, so that a wrong URL or checksum
# fails before the 19 GB one is fetched.
ARCHIVE_FOLDERS = {"annotations": "annotations", "val": "val2017", "train": "train2017"}

EXTRACTED_DIR = "extracted"
# COCO split → the archive holding its images; the annotations of both are in annotations_trainval2017.zip.
IMAGE_ARCHIVES = {"train2017": "train2017.zip", "val2017": "val2017.zip"}
ANNOTATION_ARCHIVE = "annotations_trainval2017.zip"
MAX_MISSING_FRACTION = 0.01
MISSING_IMAGE = "missing_image"
NO_ANNOTATION = "no_annotation"


@dataclass(frozen=True)
class CocoImage:
    """One image of a COCO split: its id, its path relative to the raw folder, and its labels in natural order."""

    id: int
    image: str
    labels: tuple[str, ...]


def _fix(archive: str) -> str:
    """The fix every error about the raw files ends with."""
    return f"re-download {archive} (delete the dataset's raw folder and re-run the download step)"


# ---------------------------------------------------------------------------------------------------- download


def unpack(archive: Path, folder: str, destination: Path) -> None:
    """Extract ``archive`` safely and move the ``folder`` it holds into ``destination``; ignore anything else in it."""
    staging = destination.parent / f".{archive.name}.unpacked"
    try:
        extract_archive(archive, staging)
        if not (staging / folder).is_dir():
            raise ValueError(
                f"{archive} holds no {folder}/ folder, so it is not the official archive; "
                "check its url and sha256 in params.yaml"
            )
        destination.mkdir(parents=True, exist_ok=True)
        os.replace(staging / folder, destination / folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- annotations


def annotation_file(raw_dir: Path, coco_split: str) -> Path:
    """Where the download step puts the instance annotations of ``coco_split`` (train2017 or val2017)."""
    return Path(raw_dir) / EXTRACTED_DIR / "annotations" / f"instances_{coco_split}.json"


def load_annotations(path: Path) -> COCO:
    """The annotation file at ``path`` read and indexed by pycocotools, after checking it is consistent.

    pycocotools' console messages are logged at DEBUG level instead of printed. Raises ValueError naming the
    file for the problems listed in the module docstring.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such annotation file; {_fix(ANNOTATION_ARCHIVE)}")
    printed = io.StringIO()
    try:
        with redirect_stdout(printed):
            coco = COCO(str(path))
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as error:
        raise ValueError(
            f"{path}: pycocotools cannot read it ({type(error).__name__}: {error}); {_fix(ANNOTATION_ARCHIVE)}"
        ) from None
    finally:
        for line in printed.getvalue().splitlines():
            log.debug("pycocotools: %s", line)
    _check_annotations(coco, path)
    return coco


def _check_annotations(coco: COCO, path: Path) -> None:
    """Raise ValueError unless ``coco`` has its three sections, unique image ids and well-formed records."""
    missing = [name for name in ("images", "annotations", "categories") if name not in coco.dataset]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} section; {_fix(ANNOTATION_ARCHIVE)}")
    if len(coco.imgs) != len(coco.dataset["images"]):
        repeated = Counter(image["id"] for image in coco.dataset["images"]).most_common(1)[0][0]
        raise ValueError(f"{path}: image id {repeated} is listed more than once; {_fix(ANNOTATION_ARCHIVE)}")
    for image in coco.dataset["images"]:
        name = image.get("file_name")
        if not isinstance(name, str) or name in ("", ".", "..") or PurePosixPath(name).name != name:
            raise ValueError(
                f"{path}: image {image['id']} has file_name {name!r}, not a plain file name; {_fix(ANNOTATION_ARCHIVE)}"
            )
    for annotation in coco.dataset["annotations"]:
        _check_annotation(coco, annotation, path)


def _check_annotation(coco: COCO, annotation: dict[str, Any], path: Path) -> None:
    """Raise ValueError unless ``annotation`` refers to a listed image and category and has a numeric area."""
    where = f"{path}: annotation {annotation['id']} (image {annotation['image_id']})"
    if annotation["image_id"] not in coco.imgs:
        raise ValueError(f"{where}: the image is not in 'images'; {_fix(ANNOTATION_ARCHIVE)}")
    if annotation["category_id"] not in coco.cats:
        raise ValueError(
            f"{where}: category_id {annotation['category_id']!r} is not in 'categories'; {_fix(ANNOTATION_ARCHIVE)}"
        )
    area = annotation.get("area")
    if isinstance(area, bool) or not isinstance(area, (int, float)):
        raise ValueError(f"{where}: area {area!r} is not a number; {_fix(ANNOTATION_ARCHIVE)}")


def coco_categories(annotation_file: Path) -> list[str]:
    """The category names of a COCO annotation file by ascending id (for COCO 2017: person … toothbrush, 80)."""
    coco = load_annotations(annotation_file)
    return [coco.cats[category_id]["name"] for category_id in sorted(coco.cats)]


def natural_labels(
    annotations: Sequence[Mapping[str, Any]], categories: Mapping[int, Mapping[str, Any]]
) -> tuple[str, ...]:
    """The names of the annotations' distinct categories by descending total area, ties by ascending category id.

    ``categories`` maps a category id to its record (pycocotools' ``COCO.cats``); crowd annotations count.
    """
    area: defaultdict[int, float] = defaultdict(float)
    for annotation in annotations:
        area[annotation["category_id"]] += annotation["area"]
    return tuple(categories[c]["name"] for c in sorted(area, key=lambda c: (-area[c], c)))


def read_split(raw_dir: Path, coco_split: str, skipped: Counter[str]) -> list[CocoImage]:
    """Every image of ``coco_split`` whose file exists, by ascending id, with its labels (empty if unannotated).

    Images whose file is missing are logged and counted in ``skipped``; more than
    :data:`MAX_MISSING_FRACTION` of them is a ValueError naming the image archive to download again.
    """
    path = annotation_file(raw_dir, coco_split)
    coco = load_annotations(path)
    images, missing = [], []
    for image_id in sorted(coco.imgs):
        image = PurePosixPath(EXTRACTED_DIR, coco_split, coco.imgs[image_id]["file_name"]).as_posix()
        if (Path(raw_dir) / image).is_file():
            images.append(CocoImage(image_id, image, natural_labels(coco.imgToAnns[image_id], coco.cats)))
        else:
            missing.append(image)
    if len(missing) > MAX_MISSING_FRACTION * len(coco.imgs):
        raise ValueError(
            f"{Path(raw_dir) / EXTRACTED_DIR / coco_split}: {len(missing)} of the {len(coco.imgs)} images listed in "
            f"{path} are missing (more than {MAX_MISSING_FRACTION:.0%}), such as {missing[0]}; "
            f"{_fix(IMAGE_ARCHIVES[coco_split])}"
        )
    for image in missing:
        log.warning("%s: skipping an image: %s is missing", path.name, Path(raw_dir) / image)
    skipped[MISSING_IMAGE] += len(missing)
    return images


def drop_unannotated(images: Sequence[CocoImage], skipped: Counter[str]) -> list[CocoImage]:
    """``images`` without those that have no label, counted in ``skipped``."""
    kept = [image for image in images if image.labels]
    skipped[NO_ANNOTATION] += len(images) - len(kept)
    return kept


def check_unique_ids(train: Sequence[CocoImage], test: Sequence[CocoImage], raw_dir: Path) -> None:
    """Raise ValueError if an image id is in both train2017 and val2017."""
    shared = {image.id for image in train} & {image.id for image in test}
    if shared:
        raise ValueError(
            f"{annotation_file(raw_dir, 'train2017')} and {annotation_file(raw_dir, 'val2017')} share "
            f"{len(shared)} image id(s), such as {min(shared)}; example ids must be unique: "
            f"{_fix(ANNOTATION_ARCHIVE)}"
        )


def _keep_unannotated(params: Mapping[str, Any]) -> bool:
    """``keep_unannotated`` (false when absent); a ValueError unless it is a boolean."""
    keep = params.get("keep_unannotated", False)
    if not isinstance(keep, bool):
        raise ValueError(f"datasets.coco2017.keep_unannotated must be true or false, got {keep!r}")
    return keep


class Coco2017:
    """MS-COCO 2017 image tagging: train2017 (with a seeded validation split carved out) and val2017 as test."""

    name = "coco2017"
    modality = "image"

    def __init__(self) -> None:
        self.skipped: dict[str, int] = {}

    def download(self, params: dict[str, Any], raw_dir: Path) -> None:
        """Fetch each archive of ``params["files"]`` (sha256-verified), unpack it into ``raw_dir/extracted``, delete it."""
        for key, folder in ARCHIVE_FOLDERS.items():
            spec = params["files"][key]
            archive = fetch(spec["url"], Path(raw_dir) / spec["filename"], spec["sha256"])
            unpack(archive, folder, Path(raw_dir) / EXTRACTED_DIR)
            archive.unlink()
            log.info("unpacked %s into %s and deleted it", archive.name, Path(raw_dir) / EXTRACTED_DIR / folder)

    def label_names(self, params: dict[str, Any], raw_dir: Path) -> list[str]:
        """COCO's 80 categories, by id."""
        return coco_categories(annotation_file(raw_dir, "val2017"))

    def parse(self, params: dict[str, Any], raw_dir: Path) -> Iterator[Example]:
        """The examples of ``raw_dir`` by split, then image id; skipped images end up in :attr:`skipped`.

        Both annotation files are read and checked before the first example is yielded.
        """
        started = time.perf_counter()
        keep_unannotated = _keep_unannotated(params)
        skipped: Counter[str] = Counter()
        train = drop_unannotated(read_split(raw_dir, "train2017", skipped), skipped)
        test = read_split(raw_dir, "val2017", skipped)
        if not keep_unannotated:
            test = drop_unannotated(test, skipped)
        check_unique_ids(train, test, raw_dir)
        valid_ids = stratified_split(
            [str(image.id) for image in train],
            [image.labels for image in train],
            params["validation_fraction"],
            params["seed"],
        )
        self.skipped = {reason: count for reason, count in sorted(skipped.items()) if count}
        log.info(
            "%s: train %d, valid %d, test %d images (%d without label), skipped %s, read in %.1f s",
            self.name,
            len(train) - len(valid_ids),
            len(valid_ids),
            len(test),
            sum(not image.labels for image in test),
            self.skipped or "none",
            time.perf_counter() - started,
        )
        examples = [(("valid" if str(image.id) in valid_ids else "train"), image) for image in train]
        examples += [("test", image) for image in test]
        for split, image in sorted(examples, key=lambda pair: (SPLITS.index(pair[0]), pair[1].id)):
            yield Example(id=str(image.id), text="", labels=image.labels, split=split, image=image.image)
