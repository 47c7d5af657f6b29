"""A corpus of hostile inputs, each run through the real command (``sgm-mlc …``): every one ends in a clear error
naming the file, the record and the fix (exit code 2, nothing half-written, nothing outside the target folder),
or in a counted skip."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from sgm_mlc.cli import main

PROJECT_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@dataclass(frozen=True)
class Case:
    """``build(folder)`` writes the hostile input and returns the command's arguments; ``expected`` is a part
    of the one error line (exit 2), or ``None`` for a command that succeeds and counts what it skipped."""

    build: Callable[[Path], list[str]]
    expected: str | None


def params() -> dict:
    return yaml.safe_load(PROJECT_PARAMS.read_text(encoding="utf-8"))


def config(**sections) -> str:
    return json.dumps(sections)


def table_dataset(folder: Path, content: str | bytes, suffix: str = "csv", **changes) -> list[str]:
    """``preprocess`` of a table dataset whose single file holds ``content`` (downloaded into raw first)."""
    source = folder / f"data.{suffix}"
    source.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    section = {"kind": "table", "files": {"all": {"path": str(source)}}, "text_column": "text",
               "labels_column": "labels", "label_delimiter": "|", "test_fraction": 0.3, "validation_fraction": 0.3,
               "seed": 1, **changes}
    sections = {"datasets": {"mine": section}, "preprocess": params()["preprocess"], "downloads": params()["downloads"]}
    assert main(["download", "--dataset", "mine", "--out", str(folder / "raw"), "--config", config(**sections)]) == 0
    return ["preprocess", "--dataset", "mine", "--raw", str(folder / "raw"), "--out", str(folder / "out"),
            "--config", config(**sections)]


def rows(n: int, text: str = "some words here", labels: str = "a|b") -> str:
    return "text,labels\n" + "".join(f"{text} {i},{labels}\n" for i in range(n))


def archive_download(folder: Path, name: str, build: Callable[[Path], None], limits: dict | None = None) -> list[str]:
    """``download`` of Reuters from a ``file://`` URL of the archive ``build`` writes (its true sha256 pinned)."""
    archive = folder / name
    build(archive)
    section = dict(params()["datasets"]["reuters21578"], url=archive.as_uri(), filename=name,
                   sha256=hashlib.sha256(archive.read_bytes()).hexdigest())
    sections = {"datasets": {"reuters21578": section}, "downloads": limits or params()["downloads"]}
    return ["download", "--dataset", "reuters21578", "--out", str(folder / "raw"), "--config", config(**sections)]


def tar_with(member: tarfile.TarInfo, data: bytes = b"") -> Callable[[Path], None]:
    def build(path: Path) -> None:
        with tarfile.open(path, "w:gz") as tar:
            member.size = len(data) if member.isfile() else 0
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return build


def tar_info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def zip_with(name: str, data: bytes = b"x") -> Callable[[Path], None]:
    def build(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as zipped:
            zipped.writestr(name, data)
    return build


def sgml_raw(folder: Path, text: str) -> list[str]:
    """``preprocess`` of Reuters from a raw folder holding one ``reut2-000.sgm`` with ``text``."""
    (folder / "raw" / "extracted").mkdir(parents=True)
    (folder / "raw" / "extracted" / "reut2-000.sgm").write_bytes(text.encode("latin-1"))
    sections = {"datasets": {"reuters21578": params()["datasets"]["reuters21578"]}, "preprocess": params()["preprocess"]}
    return ["preprocess", "--dataset", "reuters21578", "--raw", str(folder / "raw"), "--out", str(folder / "out"),
            "--config", config(**sections)]


def params_file(folder: Path, text: str) -> list[str]:
    (folder / "params.yaml").write_text(text, encoding="utf-8")
    return ["validate-params", "--params", str(folder / "params.yaml")]


def params_with(change: Callable[[dict], None]) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        values = params()
        change(values)
        return params_file(folder, yaml.safe_dump(values))
    return build


def wrong_schema_parquet(folder: Path) -> list[str]:
    (folder / "processed").mkdir()
    pq.write_table(pa.table({"id": ["1"], "words": [["x"]]}), folder / "processed" / "examples.parquet")
    sections = {"label_orders": params()["label_orders"]}
    return ["build-label-order", "--processed", str(folder / "processed"), "--order", "frequency",
            "--out", str(folder / "out"), "--config", config(**sections)]


def reuters_record(newid: int, body: str = "Body", extra: str = "") -> str:
    return (f'<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" NEWID="{newid}"{extra}><TOPICS><D>earn</D></TOPICS>'
            f"<TEXT><TITLE>T</TITLE><BODY>{body}</BODY></TEXT></REUTERS>\n")


def coco_naming_missing_images(folder: Path) -> list[str]:
    """``preprocess`` of COCO whose annotations name images that are not on disk."""
    annotations = folder / "raw" / "extracted" / "annotations"
    annotations.mkdir(parents=True)
    for split in ("train2017", "val2017"):
        (folder / "raw" / "extracted" / split).mkdir()
        images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": 10, "height": 10} for i in range(1, 11)]
        boxes = [{"id": i, "image_id": i, "category_id": 1, "area": 5.0, "bbox": [0, 0, 2, 2], "iscrowd": 0}
                 for i in range(1, 11)]
        document = {"images": images, "annotations": boxes, "categories": [{"id": 1, "name": "person"}]}
        (annotations / f"instances_{split}.json").write_text(json.dumps(document), encoding="utf-8")
    sections = {"datasets": {"coco2017": params()["datasets"]["coco2017"]}, "preprocess": params()["preprocess"]}
    return ["preprocess", "--dataset", "coco2017", "--raw", str(folder / "raw"), "--out", str(folder / "out"),
            "--config", config(**sections)]


def truncated_jpeg(folder: Path) -> list[str]:
    """``build-image-features`` over three images, one a JPEG cut in half (skipped and counted)."""
    from PIL import Image

    from sgm_mlc.data.base import Example
    from sgm_mlc.data.parquet import write_examples

    (folder / "raw").mkdir()
    for name in ("a", "b", "c"):
        Image.new("RGB", (40, 40), (10, 200, 30)).save(folder / "raw" / f"{name}.jpg")
    cut = (folder / "raw" / "c.jpg").read_bytes()
    (folder / "raw" / "c.jpg").write_bytes(cut[: len(cut) // 2])
    examples = [Example(name, "", ("x",), split, image=f"{name}.jpg") for name, split in zip("abc", SPLIT_NAMES)]
    write_examples(examples, [[]] * 3, [[]] * 3, folder / "processed" / "examples.parquet", modality="image")
    sections = {"image_features": dict(params()["image_features"], depth=18, image_size=32, weights="none")}
    return ["build-image-features", "--processed", str(folder / "processed"), "--raw", str(folder / "raw"),
            "--out", str(folder / "features"), "--config", config(**sections)]


SPLIT_NAMES = ("train", "valid", "test")

CASES = {
    # Files of your own (kind: table)
    "csv missing its labels column": Case(
        lambda f: table_dataset(f, "text,tags\nhello,a\n"), "all.csv:1: no column 'labels'; the header has 'text', 'tags'"),
    "csv row with an empty text": Case(
        lambda f: table_dataset(f, rows(10) + ",a\n"), "all.csv:12: empty text"),
    "csv row cut short": Case(
        lambda f: table_dataset(f, rows(10) + "lonely\n"), "all.csv:12: 1 fields, no column 1"),
    "json lines with labels of the wrong type": Case(
        lambda f: table_dataset(f, '{"text": "hi", "labels": 3}\n', "jsonl", label_delimiter=None),
        "all.jsonl:1: labels 3 are not a list"),
    "json lines that are not JSON": Case(
        lambda f: table_dataset(f, '{"text": "hi", "labels": ["a"]}\n{oops\n', "jsonl", label_delimiter=None),
        "all.jsonl:2: not a JSON object"),
    "an unknown label id": Case(
        lambda f: table_dataset(f, '{"text": "hi", "labels": [7]}\n', "jsonl", label_delimiter=None,
                                label_names={"path": str(write(f / "names.txt", "a\nb\n"))}),
        "all.jsonl:1: label id 7 is not one of 0 … 1"),
    "a duplicate id": Case(
        lambda f: table_dataset(f, "id,text,labels\n" + "".join(f"{i % 40},t {i},a\n" for i in range(41)),
                                id_column="id"),
        "example id '0' occurs 2 times"),
    "a split left without examples": Case(  # each label's only example stays in train
        lambda f: table_dataset(f, "text,labels\nx 1,a\nx 2,b\nx 3,c\n"), "split has no examples"),
    "labels with unicode, commas and spaces (kept as written)": Case(
        lambda f: table_dataset(f, "text,labels\n" + "".join(f'doc {i},"café, bar| Zürich  |naïve"\n' for i in range(40))),
        None),
    "a 1 MB document and an almost empty one (processed)": Case(
        lambda f: table_dataset(f, "text,labels\n" + "word " * 200_000 + ",a\n" + rows(40)[len("text,labels\n"):] + "x,b\n"),
        None),
    "a file that is not UTF-8": Case(
        lambda f: table_dataset(f, b"text,labels\n\xff\xfe bad,a\n"), "all.csv: not UTF-8 after record 0 (byte b'\\xff'"),
    # Archives
    "zip entry with ../": Case(
        lambda f: archive_download(f, "evil.zip", zip_with("../escape.txt")), "points outside the destination folder"),
    "tar entry with an absolute path": Case(
        lambda f: archive_download(f, "evil.tar.gz", tar_with(tar_info("/etc/evil"), b"x")), "absolute path"),
    "tar symbolic link leaving the folder": Case(
        lambda f: archive_download(f, "evil.tar.gz", tar_with(tar_info("link", tarfile.SYMTYPE, "../../outside"))),
        "points outside the destination folder"),
    "tar hard link leaving the folder": Case(
        lambda f: archive_download(f, "evil.tar.gz", tar_with(tar_info("link", tarfile.LNKTYPE, "../outside"))),
        "points outside the destination folder"),
    "tar device file": Case(
        lambda f: archive_download(f, "evil.tar.gz", tar_with(tar_info("dev", tarfile.CHRTYPE))),
        "not a file, folder or link"),
    "a decompression bomb": Case(
        lambda f: archive_download(f, "bomb.zip", zip_with("zeros.bin", b"\0" * 5_000_000),
                                   {"max_extracted_bytes": 1_000_000, "max_extracted_files": 10}),
        "a decompression bomb"),
    "a truncated archive": Case(
        lambda f: archive_download(f, "cut.tar.gz", lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + b"\0" * 20)),
        "is truncated or corrupt"),
    # Reuters SGML
    "sgml with no record": Case(lambda f: sgml_raw(f, "<html>not reuters</html>"), "no <REUTERS> record"),
    "sgml records never closed or without NEWID (skipped and counted)": Case(
        lambda f: sgml_raw(f, "".join(reuters_record(i) for i in range(1, 21))
                           + reuters_record(21).replace("</REUTERS>", "") + reuters_record(22).replace(' NEWID="22"', "")
                           + "".join(reuters_record(i).replace('"TRAIN"', '"TEST"') for i in range(23, 26))),
        None),
    # Images
    "COCO annotations naming missing images": Case(coco_naming_missing_images, "images listed in"),
    "a truncated JPEG (skipped and counted)": Case(truncated_jpeg, None),
    # Processed files
    "a Parquet file with the wrong schema": Case(wrong_schema_parquet, "missing column(s) ['labels', 'split']"),
    # params.yaml
    "params: an unknown key": Case(params_with(lambda p: p["training"].update(epoch=3)), "training: unknown key(s) 'epoch'"),
    "params: a float for an integer": Case(
        params_with(lambda p: p["training"].update(batch_size=32.0)), "should be of type integer (write it without"),
    "params: not a number": Case(params_with(lambda p: p["training"].update(learning_rate=float("nan"))),
                                 "training.learning_rate: nan is not a finite number"),
    "params: a key written twice": Case(lambda f: params_file(f, "run:\n  seeds: [1]\n  seeds: [2]\n"),
                                        "key 'seeds' appears twice (lines 2 and 3)"),
    "params: an unknown dataset": Case(params_with(lambda p: p["run"].update(datasets=["imdb"])),
                                       "'imdb' is not a dataset of the datasets section"),
    "params: not YAML": Case(lambda f: params_file(f, "run: [unclosed\n"), "not valid YAML"),
    "params: no such file": Case(lambda f: ["validate-params", "--params", str(f / "missing.yaml")], "no such params file"),
}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_ends_in_a_clear_error_or_a_counted_skip(name, tmp_path, caplog):
    case = CASES[name]
    folder = tmp_path / "work"
    folder.mkdir()
    arguments = case.build(folder)
    code = main(arguments)
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    if case.expected is None:
        assert code == 0, errors
    else:
        assert code == 2 and len(errors) == 1 and case.expected in errors[0], errors
        assert not (folder / "out" / "examples.parquet").exists()
        assert not [path for path in folder.rglob("*") if path.name.endswith(".partial")]
    # Nothing escaped the working folder.
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "outside").exists()
    assert len(CASES) >= 25


def test_the_skips_are_counted(tmp_path):
    folder = tmp_path / "sgml"
    folder.mkdir()
    assert main(CASES["sgml records never closed or without NEWID (skipped and counted)"].build(folder)) == 0
    card = json.loads((folder / "out" / "card.json").read_text())
    assert card["skipped_records"] == {"missing NEWID": 1, "unbalanced tags": 1}
    folder = tmp_path / "images"
    folder.mkdir()
    assert main(CASES["a truncated JPEG (skipped and counted)"].build(folder)) == 0
    features = json.loads((folder / "features" / "features.json").read_text())
    assert [skipped["id"] for skipped in features["skipped_images"]] == ["c"]
