"""PASCAL VOC 2007 archives in the official layout, made from real COCO 2017 images (no VOC copy is at hand):
each chosen COCO image with its instances of the 20 VOC classes written as a VOC annotation XML."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

from sgm_mlc.labels.label_map import read_label_map

VOC_DIR = "VOCdevkit/VOC2007"


def coco_to_voc_names(label_map: Path) -> dict[str, str]:
    """COCO category name → VOC class, from the project's label map."""
    return dict(read_label_map(label_map).pairs)


def annotation_xml(image_id: str, width: int, height: int, objects: list[tuple[str, list[float]]]) -> str:
    """A VOC annotation: ``objects`` are (VOC class, COCO bbox [x, y, w, h]) in 1-based inclusive pixels."""
    parts = [f"<annotation><folder>VOC2007</folder><filename>{image_id}.jpg</filename>"
             f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size><segmented>0</segmented>"]
    for name, (x, y, w, h) in objects:
        xmin, ymin = int(x) + 1, int(y) + 1
        xmax, ymax = max(xmin, int(x + w)), max(ymin, int(y + h))
        parts.append(f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
                     f"<difficult>0</difficult><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
                     f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")
    return "".join(parts) + "</annotation>\n"


def write_voc_archives(coco_subset: Path, label_map: Path, out: Path, image_sets: dict[str, int]) -> dict[str, dict]:
    """``VOCtrainval_06-Nov-2007.tar`` (image sets train, val) and ``VOCtest_06-Nov-2007.tar`` (test) in ``out``,
    with ``image_sets[name]`` COCO val2017 images each; returns params.yaml's ``files`` for them (file URLs)."""
    names = coco_to_voc_names(label_map)
    with zipfile.ZipFile(coco_subset / "annotations_trainval2017.zip") as archive:
        coco = json.loads(archive.read("annotations/instances_val2017.json"))
    categories = {category["id"]: category["name"] for category in coco["categories"]}
    objects: dict[int, list] = {}
    for annotation in coco["annotations"]:
        name = names.get(categories[annotation["category_id"]])
        if name is not None:
            objects.setdefault(annotation["image_id"], []).append((name, annotation["bbox"]))
    images = [image for image in sorted(coco["images"], key=lambda image: image["id"]) if image["id"] in objects]
    chosen, start = {}, 0
    for image_set, count in image_sets.items():
        chosen[image_set] = images[start:start + count]
        start += count
    files = {}
    with zipfile.ZipFile(coco_subset / "val2017.zip") as pictures:
        for key, sets, archive_name in (("trainval", ("train", "val"), "VOCtrainval_06-Nov-2007.tar"),
                                        ("test", ("test",), "VOCtest_06-Nov-2007.tar")):
            path = out / archive_name
            with tarfile.open(path, "w") as tar:
                for image_set in sets:
                    ids = [f"{image['id']:06d}" for image in chosen[image_set]]
                    _add(tar, f"{VOC_DIR}/ImageSets/Main/{image_set}.txt", "".join(f"{i}\n" for i in ids).encode())
                    for image, image_id in zip(chosen[image_set], ids):
                        xml = annotation_xml(image_id, image["width"], image["height"], objects[image["id"]])
                        _add(tar, f"{VOC_DIR}/Annotations/{image_id}.xml", xml.encode())
                        _add(tar, f"{VOC_DIR}/JPEGImages/{image_id}.jpg", pictures.read(f"val2017/{image['file_name']}"))
            files[key] = {"url": path.as_uri(), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                          "filename": archive_name}
    return files


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
