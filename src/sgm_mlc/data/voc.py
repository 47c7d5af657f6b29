"""PASCAL VOC 2007 annotations: images, their objects and their labels, as the official archives lay them out.

The two archives, ``VOCtrainval_06-Nov-2007.tar`` (the train, val and trainval image sets, 5,011 images) and
``VOCtest_06-Nov-2007.tar`` (the test set, 4,952 images), each extract to ``VOCdevkit/VOC2007/`` with
``Annotations/<id>.xml`` (one XML file an image), ``ImageSets/Main/<image set>.txt`` (the image ids of a set,
one a line) and ``JPEGImages/<id>.jpg``. ``root`` below is the folder an archive was extracted into, the one
holding ``VOCdevkit/``.

An image's labels are its distinct classes, in its natural label order: descending total bounding-box area of
the class in the image, ties broken by :data:`VOC_CLASSES` order (the rule the project uses for COCO too, with
instance areas). Box coordinates are 1-based pixel indices, both ends included, so a box covers
``(xmax - xmin + 1) * (ymax - ymin + 1)`` pixels, as in the devkit's own code.

Difficult objects: the VOC classification benchmark neither rewards nor punishes a class an image shows only
as objects marked ``difficult=1``. Here an image has a class as a label only if at least one instance of it is
not difficult, and only those instances count towards the class's area; a class present only as difficult
objects is dropped (:attr:`VocImage.difficult_only`, counted in :attr:`VocCounts.dropped_labels`). An image left
without labels is skipped and counted (:attr:`VocCounts.skipped_images`).

XML is read with the standard library's ``xml.etree.ElementTree`` (``defusedxml`` is not installed here): it
fetches no external entity, and the expat it runs on (2.4 and later) refuses entity-expansion ("billion
laughs") attacks; the files come from checksum-verified archives anyway.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgm_mlc.data.base import Example
from sgm_mlc.data.download import extract_archive, fetch

log = logging.getLogger(__name__)

# The 20 classes in the order of the VOC 2007 devkit (VOCdevkit/VOCcode/VOCinit.m, VOCopts.classes).
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

# The official archives (their URLs and sha256 are in params.yaml's datasets.voc2007.files). The sha256 are those
# of tensorflow/datasets, tensorflow_datasets/url_checksums/voc.txt, also pinned for the host.robots.ox.ac.uk
# URLs in pytorch/vision, torchvision/prototype/datasets/_builtin/voc.py.
TRAINVAL_ARCHIVE = "VOCtrainval_06-Nov-2007.tar"
TEST_ARCHIVE = "VOCtest_06-Nov-2007.tar"

# Image set -> the archive that holds it.
ARCHIVE_OF_IMAGE_SET = {
    "train": TRAINVAL_ARCHIVE,
    "val": TRAINVAL_ARCHIVE,
    "trainval": TRAINVAL_ARCHIVE,
    "test": TEST_ARCHIVE,
}
VOC2007_DIR = Path("VOCdevkit", "VOC2007")
_EITHER_ARCHIVE = f"{TRAINVAL_ARCHIVE} or {TEST_ARCHIVE}"
_BOX_SIDES = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class VocObject:
    """One annotated object: its class, whether it is marked difficult, and its box ``(xmin, ymin, xmax, ymax)``."""

    name: str
    difficult: bool
    bbox: tuple[float, float, float, float]

    @property
    def area(self) -> float:
        """Pixels covered by the box, both ends included."""
        xmin, ymin, xmax, ymax = self.bbox
        return (xmax - xmin + 1) * (ymax - ymin + 1)


@dataclass(frozen=True)
class VocImage:
    """One image's annotation: its id (the ``<filename>`` stem), file name, size and objects in file order."""

    id: str
    file_name: str
    width: int
    height: int
    objects: tuple[VocObject, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The classes with a non-difficult object, by descending total area of those objects (ties: VOC order)."""
        area: dict[str, float] = {}
        for obj in self.objects:
            if not obj.difficult:
                area[obj.name] = area.get(obj.name, 0.0) + obj.area
        return tuple(sorted(area, key=lambda name: (-area[name], VOC_CLASSES.index(name))))

    @property
    def difficult_only(self) -> tuple[str, ...]:
        """The classes present only as difficult objects, dropped from :attr:`labels`, in VOC order."""
        kept = set(self.labels)
        present = {obj.name for obj in self.objects}
        return tuple(name for name in VOC_CLASSES if name in present and name not in kept)


@dataclass
class VocCounts:
    """What :func:`iter_voc_images` read: ids listed, images yielded and skipped, labels dropped as difficult-only."""

    listed: int = 0
    kept: int = 0
    skipped_images: int = 0  # images without a non-difficult object
    dropped_labels: int = 0  # (image, class) pairs present only as difficult objects, over every listed image


def _fix(archive: str) -> str:
    """The fix every error about the extracted files ends with."""
    return f"re-download {archive} and extract it again"


def _text(element: ElementTree.Element, path: str, where: str, archive: str) -> str:
    """The stripped text of ``element``'s child at ``path``; a ValueError naming ``where`` if it is missing or empty."""
    text = element.findtext(path)
    if text is None or not text.strip():
        raise ValueError(f"{where}: missing <{path}>; {_fix(archive)}")
    return text.strip()


def _number(element: ElementTree.Element, path: str, where: str, archive: str) -> float:
    """The number in ``element``'s child at ``path``; a ValueError naming ``where`` if it is not one."""
    text = _text(element, path, where, archive)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: <{path}> is {text!r}, not a number; {_fix(archive)}") from None


def _object(element: ElementTree.Element, where: str, archive: str) -> VocObject:
    """One ``<object>`` element; errors for an unknown class, a difficult flag not 0/1, or a missing or inverted box."""
    name = _text(element, "name", where, archive)
    if name not in VOC_CLASSES:
        raise ValueError(f"{where}: unknown class {name!r} (not one of the 20 VOC 2007 classes); {_fix(archive)}")
    difficult = (element.findtext("difficult") or "0").strip()  # absent means not difficult, as in the devkit
    if difficult not in ("0", "1"):
        raise ValueError(f"{where}: <difficult> is {difficult!r}, expected 0 or 1; {_fix(archive)}")
    xmin, ymin, xmax, ymax = (_number(element, f"bndbox/{side}", where, archive) for side in _BOX_SIDES)
    if xmax < xmin or ymax < ymin:
        raise ValueError(f"{where}: inverted box {(xmin, ymin, xmax, ymax)}; {_fix(archive)}")
    return VocObject(name, difficult == "1", (xmin, ymin, xmax, ymax))


def parse_annotation(path: Path, archive: str = _EITHER_ARCHIVE) -> VocImage:
    """Read one ``Annotations/<id>.xml`` file.

    Raises ValueError naming the file (and the object, counted from 1) for a missing or unparsable file, a
    root other than ``<annotation>``, a missing or non-numeric ``<filename>``, size or box coordinate, an
    unknown class or a difficult flag other than 0/1; the message says to re-download ``archive``.
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such annotation file; {_fix(archive)}") from None
    except ElementTree.ParseError as error:
        raise ValueError(f"{path}: not well-formed XML ({error}); {_fix(archive)}") from None
    if root.tag != "annotation":
        raise ValueError(f"{path}: root element is <{root.tag}>, expected <annotation>; {_fix(archive)}")
    file_name = _text(root, "filename", str(path), archive)
    width, height = (_number(root, f"size/{side}", str(path), archive) for side in ("width", "height"))
    if not (width.is_integer() and height.is_integer()):
        raise ValueError(f"{path}: image size {width} x {height} is not whole pixels; {_fix(archive)}")
    objects = tuple(
        _object(element, f"{path}: object {number}", archive)
        for number, element in enumerate(root.iterfind("object"), start=1)
    )
    return VocImage(Path(file_name).stem, file_name, int(width), int(height), objects)


def iter_voc_images(root: Path, image_set: str, counts: VocCounts | None = None) -> Iterator[VocImage]:
    """The annotated images of ``ImageSets/Main/<image_set>.txt`` under ``root/VOCdevkit/VOC2007``, in file order.

    ``image_set`` is train, val, trainval or test. Images without a non-difficult object are skipped; ``counts``,
    when given, is updated as images are read (see :class:`VocCounts`). Raises ValueError, naming the file and
    the fix, for a missing image-set file, an id listed twice, an id without an annotation file, an annotation
    whose ``<filename>`` is another image's, and the problems :func:`parse_annotation` reports.
    """
    if image_set not in ARCHIVE_OF_IMAGE_SET:
        expected = ", ".join(ARCHIVE_OF_IMAGE_SET)
        raise ValueError(f"unknown VOC 2007 image set {image_set!r}; expected one of {expected}")
    archive = ARCHIVE_OF_IMAGE_SET[image_set]
    folder = Path(root) / VOC2007_DIR
    list_path = folder / "ImageSets" / "Main" / f"{image_set}.txt"
    try:
        lines = list_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ValueError(
            f"{list_path}: no such image-set file; download {archive} and extract it into {root}"
        ) from None
    counts = VocCounts() if counts is None else counts
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        image_id = line.strip()
        if not image_id:
            continue
        where = f"{list_path}:{number}"
        if image_id in first_line:
            first = first_line[image_id]
            raise ValueError(f"{where}: image {image_id} listed again (first on line {first}); {_fix(archive)}")
        first_line[image_id] = number
        annotation_path = folder / "Annotations" / f"{image_id}.xml"
        if not annotation_path.is_file():
            raise ValueError(
                f"{annotation_path}: no annotation for image {image_id} listed at {where}; {_fix(archive)}"
            )
        image = parse_annotation(annotation_path, archive)
        if image.id != image_id:
            raise ValueError(
                f"{annotation_path}: <filename> {image.file_name!r} is not image {image_id} listed at {where}; "
                f"{_fix(archive)}"
            )
        counts.listed += 1
        counts.dropped_labels += len(image.difficult_only)
        if image.labels:
            counts.kept += 1
            yield image
        else:
            counts.skipped_images += 1
    log.info(
        "VOC 2007 %s: %d images listed, %d kept, %d skipped (no non-difficult object), "
        "%d difficult-only labels dropped",
        image_set, counts.listed, counts.kept, counts.skipped_images, counts.dropped_labels,
    )  # fmt: skip


# Split → (the archive of params.yaml's files it comes from, its image set): VOC's own train / val / test.
SPLIT_SOURCES = {"train": ("trainval", "train"), "valid": ("trainval", "val"), "test": ("test", "test")}


class Voc2007:
    """PASCAL VOC 2007 as an image-tagging dataset: VOC's train, val and test image sets as the train, valid and
    test splits; an example's id is the image id, its ``image`` ``<archive>/VOCdevkit/VOC2007/JPEGImages/<file>``.
    Skipped images and difficult-only labels are counted in :attr:`skipped`."""

    name = "voc2007"
    modality = "image"

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()

    def download(self, params: dict[str, Any], raw_dir: Path) -> None:
        """Fetch each archive of ``params["files"]`` (sha256-verified), extract it into ``raw_dir/<key>``, delete it."""
        for key, spec in params["files"].items():
            archive = fetch(spec["url"], raw_dir / spec["filename"], spec["sha256"])
            extract_archive(archive, raw_dir / key)
            archive.unlink()

    def label_names(self, params: dict[str, Any], raw_dir: Path) -> tuple[str, ...]:
        return VOC_CLASSES

    def parse(self, params: dict[str, Any], raw_dir: Path) -> Iterator[Example]:
        self.skipped.clear()
        for split, (key, image_set) in SPLIT_SOURCES.items():
            counts = VocCounts()
            for image in iter_voc_images(raw_dir / key, image_set, counts):
                path = Path(key) / VOC2007_DIR / "JPEGImages" / image.file_name
                yield Example(image.id, "", image.labels, split, image=path.as_posix())
            self.skipped["no_label"] += counts.skipped_images
            self.skipped["difficult_only_label"] += counts.dropped_labels
