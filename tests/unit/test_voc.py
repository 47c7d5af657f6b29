"""PASCAL VOC 2007 annotations (labels by area, difficult objects, errors naming the file) and the COCO→VOC map."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from sgm_mlc.data.voc import (
    TEST_ARCHIVE,
    TRAINVAL_ARCHIVE,
    VOC_CLASSES,
    VocCounts,
    iter_voc_images,
    parse_annotation,
)
from sgm_mlc.labels.label_map import read_label_map

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LABEL_MAP = PROJECT_ROOT / "workflow" / "label_maps" / "coco2017__voc2007.tsv"
COCO_ANNOTATIONS = PROJECT_ROOT.parent / "shared" / "data" / "coco2017-subset" / "annotations_trainval2017.zip"

# The 80 COCO 2017 category names, in category-id order (the "categories" of instances_val2017.json).
COCO_2017_CATEGORIES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip


def obj(name: str, box: tuple[int, int, int, int], difficult: int = 0) -> str:
    """One ``<object>`` element as the official files write it (tab-indented, one field a line)."""
    xmin, ymin, xmax, ymax = box
    return (
        f"\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
        f"\t\t<difficult>{difficult}</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{xmin}</xmin>\n\t\t\t<ymin>{ymin}</ymin>\n"
        f"\t\t\t<xmax>{xmax}</xmax>\n\t\t\t<ymax>{ymax}</ymax>\n\t\t</bndbox>\n\t</object>\n"
    )


def annotation(image_id: str, *objects: str, width: int = 500, height: int = 375) -> str:
    """An ``Annotations/<id>.xml`` file laid out like the VOC 2007 ones."""
    return (
        f"<annotation>\n\t<folder>VOC2007</folder>\n\t<filename>{image_id}.jpg</filename>\n\t<source>\n"
        "\t\t<database>The VOC2007 Database</database>\n\t\t<annotation>PASCAL VOC2007</annotation>\n"
        "\t\t<image>flickr</image>\n\t\t<flickrid>325991873</flickrid>\n\t</source>\n\t<owner>\n"
        "\t\t<flickrid>archintent louisville</flickrid>\n\t\t<name>?</name>\n\t</owner>\n\t<size>\n"
        f"\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
        f"\t<segmented>0</segmented>\n{''.join(objects)}</annotation>\n"
    )


def write_voc(root: Path, image_set: str, annotations: dict[str, str], listed: list[str] | None = None) -> Path:
    """Lay out ``root/VOCdevkit/VOC2007`` with the annotations and the image set listing ``listed`` (default: all)."""
    folder = root / "VOCdevkit" / "VOC2007"
    (folder / "Annotations").mkdir(parents=True, exist_ok=True)
    (folder / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for image_id, text in annotations.items():
        (folder / "Annotations" / f"{image_id}.xml").write_text(text, encoding="utf-8")
    ids = list(annotations) if listed is None else listed
    (folder / "ImageSets" / "Main" / f"{image_set}.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return root


CHAIRS = annotation(
    "000005",
    obj("chair", (263, 211, 324, 339)),
    obj("chair", (165, 264, 253, 372)),
    obj("chair", (5, 244, 67, 374), difficult=1),
)


def test_an_annotation_file_is_read_with_its_size_and_objects(tmp_path: Path) -> None:
    path = tmp_path / "000005.xml"
    path.write_text(CHAIRS, encoding="utf-8")
    image = parse_annotation(path)
    assert (image.id, image.file_name, image.width, image.height) == ("000005", "000005.jpg", 500, 375)
    assert [(o.name, o.difficult, o.bbox) for o in image.objects] == [
        ("chair", False, (263, 211, 324, 339)),
        ("chair", False, (165, 264, 253, 372)),
        ("chair", True, (5, 244, 67, 374)),
    ]
    assert image.objects[0].area == 62 * 129  # both ends included, as in the devkit
    assert image.labels == ("chair",) and image.difficult_only == ()


def test_labels_are_distinct_classes_by_descending_total_area_ties_in_voc_order(tmp_path: Path) -> None:
    write_voc(tmp_path, "train", {"000001": annotation(
        "000001",
        obj("sofa", (1, 1, 10, 10)),  # 100 px, ties with cat: cat comes first in VOC order
        obj("person", (1, 1, 20, 10)),  # 3 people of 200 px: 600 px in all, more than the dog's 400
        obj("dog", (1, 1, 20, 20)),
        obj("person", (1, 1, 20, 10)),
        obj("cat", (1, 1, 10, 10)),
        obj("person", (1, 1, 20, 10)),
        obj("sofa", (1, 1, 100, 100), difficult=1),  # a difficult box does not add to its class's area
    )})
    [image] = iter_voc_images(tmp_path, "train")
    assert image.labels == ("person", "dog", "cat", "sofa")


def test_a_class_seen_only_as_difficult_is_dropped_and_an_image_left_without_labels_skipped(tmp_path: Path) -> None:
    write_voc(tmp_path, "val", {
        "000002": annotation("000002", obj("horse", (1, 1, 50, 50)), obj("person", (1, 1, 90, 90), difficult=1)),
        "000003": annotation("000003", obj("bottle", (1, 1, 5, 20), difficult=1)),
        "000004": annotation("000004"),  # no object at all
        "000006": annotation("000006", obj("tvmonitor", (1, 1, 30, 30)), obj("bird", (2, 2, 4, 4), difficult=1)),
    })
    counts = VocCounts()
    images = list(iter_voc_images(tmp_path, "val", counts))
    assert [(image.id, image.labels, image.difficult_only) for image in images] == [
        ("000002", ("horse",), ("person",)),
        ("000006", ("tvmonitor",), ("bird",)),
    ]
    assert counts == VocCounts(listed=4, kept=2, skipped_images=2, dropped_labels=3)


def test_images_come_in_image_set_order_and_only_those_listed(tmp_path: Path) -> None:
    annotations = {i: annotation(i, obj("cow", (1, 1, 9, 9))) for i in ("000010", "000007", "000009")}
    annotations["000008"] = "not even XML"  # not in the image set, so never read
    write_voc(tmp_path, "test", annotations, listed=["000010", "", "000007", "000009"])
    assert [image.id for image in iter_voc_images(tmp_path, "test")] == ["000010", "000007", "000009"]


def expect_error(root: Path, image_set: str, *fragments: str) -> None:
    with pytest.raises(ValueError) as error:
        list(iter_voc_images(root, image_set))
    for fragment in fragments:
        assert fragment in str(error.value)


def test_a_missing_image_set_file_is_named_with_the_archive_to_download(tmp_path: Path) -> None:
    write_voc(tmp_path, "trainval", {"000001": CHAIRS})
    expect_error(tmp_path, "test", str(tmp_path / "VOCdevkit/VOC2007/ImageSets/Main/test.txt"), TEST_ARCHIVE)


def test_an_unknown_image_set_is_refused(tmp_path: Path) -> None:
    expect_error(tmp_path, "validation", "'validation'", "train, val, trainval, test")


def test_a_listed_image_without_annotation_names_the_file_and_the_listing_line(tmp_path: Path) -> None:
    write_voc(tmp_path, "test", {"000005": CHAIRS}, listed=["000005", "000099"])
    listing = tmp_path / "VOCdevkit/VOC2007/ImageSets/Main/test.txt"
    expect_error(
        tmp_path, "test", str(tmp_path / "VOCdevkit/VOC2007/Annotations/000099.xml"), f"{listing}:2",
        f"re-download {TEST_ARCHIVE}",
    )


def test_an_image_listed_twice_is_refused(tmp_path: Path) -> None:
    write_voc(tmp_path, "train", {"000005": CHAIRS}, listed=["000005", "000005"])
    expect_error(tmp_path, "train", "ImageSets/Main/train.txt:2", "first on line 1", TRAINVAL_ARCHIVE)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (CHAIRS[:-30], ("not well-formed XML",)),
        (annotation("000005", obj("chair", (1, 1, 9, 9)), obj("aeroplan", (1, 1, 9, 9))),
         ("object 2", "unknown class 'aeroplan'")),
        (annotation("000005", obj("chair", (1, 1, 9, 9), difficult=2)), ("object 1", "<difficult> is '2'")),
        (CHAIRS.replace("<xmax>324</xmax>", "<xmax>n/a</xmax>"), ("object 1", "<bndbox/xmax> is 'n/a'")),
        (CHAIRS.replace("<ymax>339</ymax>", ""), ("object 1", "missing <bndbox/ymax>")),
        (annotation("000005", obj("chair", (30, 1, 9, 9))), ("object 1", "inverted box")),
        (CHAIRS.replace("<width>500</width>", ""), ("missing <size/width>",)),
        (CHAIRS.replace("000005.jpg", "000006.jpg"), ("'000006.jpg' is not image 000005", "train.txt:1")),
    ],
    ids=["unparsable", "unknown-class", "difficult-flag", "bad-coordinate", "missing-coordinate",
         "inverted-box", "missing-size", "other-image"],
)
def test_a_broken_annotation_names_the_file_the_record_and_the_fix(
    tmp_path: Path, text: str, fragments: tuple[str, ...]
) -> None:
    write_voc(tmp_path, "train", {"000005": text})
    annotation_file = str(tmp_path / "VOCdevkit/VOC2007/Annotations/000005.xml")
    expect_error(tmp_path, "train", annotation_file, *fragments, f"re-download {TRAINVAL_ARCHIVE}")


def test_the_coco_to_voc_map_covers_the_20_voc_classes_with_coco_2017_names() -> None:
    assert len(VOC_CLASSES) == len(set(VOC_CLASSES)) == 20
    assert len(COCO_2017_CATEGORIES) == len(set(COCO_2017_CATEGORIES)) == 80
    label_map = read_label_map(LABEL_MAP, source_labels=COCO_2017_CATEGORIES, target_labels=VOC_CLASSES)
    assert (label_map.source_dataset, label_map.target_dataset) == ("coco2017", "voc2007")
    assert len(label_map.pairs) == 20
    assert label_map.target_labels == VOC_CLASSES  # each VOC class once, in VOC order
    renamed = {(coco, voc) for coco, voc in label_map.pairs if coco != voc}
    assert renamed == {
        ("airplane", "aeroplane"), ("dining table", "diningtable"), ("motorcycle", "motorbike"),
        ("potted plant", "pottedplant"), ("couch", "sofa"), ("tv", "tvmonitor"),
    }


def test_the_hard_coded_coco_names_are_the_official_category_list() -> None:
    if not COCO_ANNOTATIONS.is_file():
        pytest.skip(f"{COCO_ANNOTATIONS} is absent: the real COCO 2017 annotations are not on this machine")
    with zipfile.ZipFile(COCO_ANNOTATIONS) as archive:
        categories = json.loads(archive.read("annotations/instances_val2017.json"))["categories"]
    assert tuple(c["name"] for c in sorted(categories, key=lambda c: c["id"])) == COCO_2017_CATEGORIES


def test_voc2007_downloads_both_archives_and_yields_its_three_image_sets(tmp_path):
    import hashlib
    import tarfile

    from sgm_mlc.data.registry import get_dataset

    trainval = write_voc(tmp_path / "trainval", "train", {"000005": CHAIRS})
    write_voc(trainval, "val", {"000007": annotation("000007", obj("car", (1, 1, 10, 10)))})
    test = write_voc(tmp_path / "test", "test", {
        "000001": annotation("000001", obj("dog", (1, 1, 50, 50)), obj("person", (1, 1, 99, 99))),
        "000002": annotation("000002", obj("cat", (1, 1, 5, 5), difficult=1)),
    })
    files = {}
    for key, root, name in (("trainval", trainval, TRAINVAL_ARCHIVE), ("test", test, TEST_ARCHIVE)):
        archive = tmp_path / name
        with tarfile.open(archive, "w") as tar:
            tar.add(root / "VOCdevkit", arcname="VOCdevkit")
        files[key] = {"url": archive.as_uri(), "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(), "filename": name}
    dataset = get_dataset("voc2007")
    raw = tmp_path / "raw"
    raw.mkdir()
    dataset.download({"files": files}, raw)
    examples = list(dataset.parse({"files": files}, raw))
    assert [(e.id, e.split, e.labels) for e in examples] == [
        ("000005", "train", ("chair",)), ("000007", "valid", ("car",)), ("000001", "test", ("person", "dog")),
    ]
    assert examples[0].image == "trainval/VOCdevkit/VOC2007/JPEGImages/000005.jpg" and examples[0].text == ""
    assert dataset.modality == "image" and dataset.skipped == {"no_label": 1, "difficult_only_label": 1}
    assert dataset.label_names({"files": files}, raw) == VOC_CLASSES  # all 20, though these images show 4
    assert sorted(path.name for path in raw.iterdir()) == ["test", "trainval"]
