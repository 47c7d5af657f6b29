"""Reuters-21578 parser: SGML records, ModApte filtering, malformed records, validation split, the real corpus."""

from __future__ import annotations

import hashlib
import logging
import tarfile
import time
from collections import Counter
from pathlib import Path

import pytest

from sgm_mlc.data.reuters import Reuters21578, parse_sgml
from sgm_mlc.data.splits import carve_split
from tests.support.split_guarantees import broken_guarantees, label_counts

LOGGER = "sgm_mlc.data.reuters"
PARAMS = {"validation_fraction": 0.25, "seed": 13}
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_ARCHIVE = SHARED_DATA / "reuters21578.tar.gz"


def record(
    newid: int | None,
    split: str = "TRAIN",
    topics: tuple[str, ...] = ("earn",),
    flag: str = "YES",
    title: str | None = "Title",
    body: str | None = "Body text.",
) -> str:
    """One ``<REUTERS>`` block laid out as in the real files."""
    newid_attribute = "" if newid is None else f' NEWID="{newid}"'
    title_element = "" if title is None else f"<TITLE>{title}</TITLE>\n"
    body_element = "" if body is None else f"<DATELINE>    CITY, March 1 - </DATELINE><BODY>{body}</BODY>"
    return (
        f'<REUTERS TOPICS="{flag}" LEWISSPLIT="{split}" CGISPLIT="TRAINING-SET" OLDID="5544"{newid_attribute}>\n'
        "<DATE>26-FEB-1987 15:01:01.79</DATE>\n"
        f"<TOPICS>{''.join(f'<D>{topic}</D>' for topic in topics)}</TOPICS>\n"
        "<PLACES><D>usa</D></PLACES>\n<PEOPLE></PEOPLE>\n<ORGS></ORGS>\n<EXCHANGES></EXCHANGES>\n"
        "<COMPANIES></COMPANIES>\n<UNKNOWN> \n&#5;&#5;&#5;C T\n&#22;&#22;&#1;f0704&#31;reute</UNKNOWN>\n"
        f"<TEXT>&#2;\n{title_element}{body_element}</TEXT>\n</REUTERS>\n"
    )


def sgml(*records: str) -> str:
    """A file's text: the doctype line, then the records."""
    return '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n' + "".join(records)


def write_corpus(raw_dir: Path, *files: str) -> Path:
    """Write each text as ``raw_dir/extracted/reut2-NNN.sgm`` (latin-1); return ``raw_dir``."""
    folder = raw_dir / "extracted"
    folder.mkdir(parents=True)
    for number, text in enumerate(files):
        (folder / f"reut2-{number:03d}.sgm").write_bytes(text.encode("latin-1"))
    return raw_dir


def split_of(examples) -> dict[str, str]:
    """Example id → split."""
    return {example.id: example.split for example in examples}


def test_parse_sgml_reads_the_attributes_and_fields():
    documents, skipped = parse_sgml(sgml(record(42, split="TEST", flag="BYPASS", topics=("cocoa",))), "x.sgm")
    assert not skipped
    [document] = documents
    assert (document.newid, document.lewissplit, document.topics_flag) == (42, "TEST", "BYPASS")
    assert document.topics == ("cocoa",)
    assert (document.title, document.body, document.source) == ("Title", "Body text.", "x.sgm")
    assert document.text == "Title\nBody text."


def test_topics_keep_source_order_without_repeats():
    [document], _ = parse_sgml(sgml(record(1, topics=("wheat", "grain", "wheat", "corn", "grain"))), "x.sgm")
    assert document.topics == ("wheat", "grain", "corn")


def test_character_references_are_decoded_and_control_characters_removed():
    body = "Profit &lt;up&gt; 5 &amp; 6\n\tnet\x05 gain\r\n Reuter\n&#3;"
    [document], _ = parse_sgml(sgml(record(1, title="A &amp; B&#127;", body=body)), "x.sgm")
    assert document.title == "A & B"
    assert document.body == "Profit <up> 5 & 6\n\tnet gain\n Reuter\n"


def test_missing_title_or_body_leaves_the_other_alone():
    documents, _ = parse_sgml(
        sgml(record(1, title=None, body="  only body\n"), record(2, title="Only title", body=None)), "x.sgm"
    )
    assert [(d.title, d.body, d.text) for d in documents] == [
        (None, "  only body\n", "  only body\n"),
        ("Only title", None, "Only title"),
    ]


def test_unprocessed_story_keeps_its_whole_text():
    unprocessed = record(7, title=None, body=None).replace(
        "<TEXT>&#2;\n", '<TEXT TYPE="UNPROC">&#2;\nFED WEEKLY REPORT\n Reserves....644 vs 1,337\n'
    )
    [document], _ = parse_sgml(sgml(unprocessed), "x.sgm")
    assert (document.title, document.text) == (None, "\nFED WEEKLY REPORT\n Reserves....644 vs 1,337\n")


def test_latin1_byte_is_decoded(tmp_path):
    raw_dir = tmp_path / "raw"
    text = sgml(record(1, body="M\xfcnchen bank"), record(2, split="TEST"))
    write_corpus(raw_dir, text)
    assert b"M\xfcnchen" in (raw_dir / "extracted" / "reut2-000.sgm").read_bytes()
    dataset = Reuters21578()
    examples = dataset.parse({"validation_fraction": 0.5, "seed": 1}, raw_dir)
    assert examples[0].text == "Title\nM\u00fcnchen bank" and dataset.flagged == {}


def test_a_utf8_file_read_as_latin1_is_flagged(tmp_path, caplog):
    raw_dir = tmp_path / "raw"
    folder = raw_dir / "extracted"
    folder.mkdir(parents=True)
    text = sgml(record(1, body="M\u00fcnchen bank"), record(2, split="TEST"))
    (folder / "reut2-000.sgm").write_bytes(text.encode("utf-8"))
    dataset = Reuters21578()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        dataset.parse({"validation_fraction": 0.5, "seed": 1}, raw_dir)
    assert dataset.flagged == {"text that looks like UTF-8 read as latin-1": 1}
    assert "reut2-000.sgm NEWID=1" in caplog.text


def test_modapte_keeps_yes_train_and_test_and_topics_seen_in_both(tmp_path):
    raw_dir = write_corpus(
        tmp_path / "raw",
        sgml(
            record(1, topics=("earn", "only-train")),
            record(2, topics=("only-train",)),
            record(3, split="TEST", topics=("only-test", "earn")),
            record(4, split="TEST", topics=("only-test",)),
            record(5, split="NOT-USED", topics=("earn",)),
            record(6, flag="NO", topics=("earn",)),
        ),
        sgml(
            record(7, flag="BYPASS", topics=("earn",)),
            record(8, split="TEST", topics=("acq", "earn")),
            record(9, topics=()),
            record(10, topics=("acq",)),
        ),
    )
    dataset = Reuters21578()
    examples = dataset.parse({"validation_fraction": 0.5, "seed": 3}, raw_dir)
    assert [e.id for e in examples] == ["1", "3", "8", "10"]
    assert [e.labels for e in examples] == [("earn",), ("earn",), ("acq", "earn"), ("acq",)]
    assert [e.split for e in examples if e.id in {"3", "8"}] == ["test", "test"]
    assert dataset.skipped == {}


def test_malformed_records_are_skipped_counted_and_logged(tmp_path, caplog):
    no_newid = record(None)
    unknown_split = record(3, split="DEV")
    unclosed_body = record(4).replace("</BODY>", "")
    never_closed = record(5).replace("</REUTERS>", "")
    no_text = record(7, title=None, body="  ")
    raw_dir = write_corpus(
        tmp_path / "raw",
        sgml(record(1), no_newid, record(2, split="TEST"), unknown_split, unclosed_body, never_closed, record(6), no_text),
        sgml(record(2, split="TEST", topics=("duplicate",)), record(11, split="TEST")),
    )
    dataset = Reuters21578()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        examples = dataset.parse({"validation_fraction": 0.5, "seed": 3}, raw_dir)
    assert sorted(e.id for e in examples) == ["1", "11", "2", "6"]
    assert next(e for e in examples if e.id == "2").labels == ("earn",)
    assert dataset.skipped == {
        "duplicate NEWID": 1,
        "missing NEWID": 1,
        "no text": 1,
        "unbalanced tags": 2,
        "unknown LEWISSPLIT": 1,
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 6
    assert any("reut2-000.sgm" in m and "NEWID=7" in m and "no text" in m for m in warnings)
    assert any("reut2-000.sgm" in m and "at line" in m and "missing NEWID" in m for m in warnings)
    assert any("reut2-000.sgm" in m and "NEWID=3" in m and "unknown LEWISSPLIT" in m for m in warnings)
    assert any("reut2-000.sgm" in m and "NEWID=4" in m and "<BODY>" in m for m in warnings)
    assert any("reut2-000.sgm" in m and "NEWID=5" in m and "unbalanced tags" in m for m in warnings)
    assert any("reut2-001.sgm" in m and "NEWID=2" in m and "duplicate NEWID" in m for m in warnings)
    summaries = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("skipped" in m and "duplicate NEWID" in m for m in summaries)


def test_parse_sgml_counts_its_own_skips():
    documents, skipped = parse_sgml(sgml(record(None), "</REUTERS>\n", record(2, split="PROD"), record(3)), "x.sgm")
    assert [d.newid for d in documents] == [3]
    assert skipped == Counter({"missing NEWID": 1, "unbalanced tags": 1, "unknown LEWISSPLIT": 1})


def test_file_without_a_readable_record_is_an_error_naming_it(tmp_path):
    raw_dir = write_corpus(tmp_path / "raw", sgml(record(1), record(2, split="TEST")), "<REUTERS NEWID=\"3\">\n")
    with pytest.raises(ValueError, match="reut2-001.sgm"):
        Reuters21578().parse(PARAMS, raw_dir)


def test_missing_files_name_the_folder_and_the_download_step(tmp_path):
    (tmp_path / "extracted").mkdir()
    with pytest.raises(ValueError, match=r"extracted.*re-run the download step"):
        Reuters21578().parse(PARAMS, tmp_path)


def _split_corpus(tmp_path: Path) -> Path:
    """40 TRAIN and 5 TEST stories sharing one topic."""
    records = [record(newid) for newid in range(1, 41)] + [record(n, split="TEST") for n in range(41, 46)]
    return write_corpus(tmp_path / "raw", sgml(*records))


def test_validation_split_is_seeded_and_carved_from_train(tmp_path):
    raw_dir = _split_corpus(tmp_path)
    first = split_of(Reuters21578().parse(PARAMS, raw_dir))
    again = split_of(Reuters21578().parse(PARAMS, raw_dir))
    other = split_of(Reuters21578().parse({**PARAMS, "seed": 14}, raw_dir))
    assert first == again
    assert first != other
    for splits in (first, other):
        valid = {i for i, s in splits.items() if s == "valid"}
        train = {i for i, s in splits.items() if s == "train"}
        assert len(valid) == 10 and not valid & train
        assert valid | train == {str(n) for n in range(1, 41)}
        assert {i for i, s in splits.items() if s == "test"} == {str(n) for n in range(41, 46)}


def test_download_fetches_and_extracts_then_parses(tmp_path):
    pytest.importorskip("sgm_mlc.data.download", reason="sgm_mlc.data.download is not written yet")
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "reut2-000.sgm").write_bytes(sgml(record(1), record(2, split="TEST")).encode("latin-1"))
    (sources / "reut2-001.sgm").write_bytes(sgml(record(3), record(4, split="TEST", body="Z\xfcrich")).encode("latin-1"))
    archive = tmp_path / "reuters21578.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(sources.iterdir()):
            tar.add(path, arcname=path.name)
    params = {
        "url": archive.as_uri(),
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        "filename": "reuters21578.tar.gz",
        "validation_fraction": 0.5,
        "seed": 13,
    }
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    dataset = Reuters21578()
    dataset.download(params, raw_dir)
    assert (raw_dir / "reuters21578.tar.gz").is_file()
    examples = dataset.parse(params, raw_dir)
    assert [(e.id, e.split) for e in examples if e.split == "test"] == [("2", "test"), ("4", "test")]
    assert sorted(e.split for e in examples if e.id in {"1", "3"}) == ["train", "valid"]
    assert examples[-1].text == "Title\nZ\u00fcrich"


needs_real_archive = pytest.mark.skipif(
    not REAL_ARCHIVE.is_file(), reason=f"real Reuters-21578 archive not found at {REAL_ARCHIVE}"
)


@pytest.fixture(scope="module")
def real_raw_dir(tmp_path_factory) -> Path:
    """The real archive extracted as the download step leaves it: ``<raw_dir>/extracted``."""
    raw_dir = tmp_path_factory.mktemp("reuters21578")
    with tarfile.open(REAL_ARCHIVE) as tar:
        tar.extractall(raw_dir / "extracted", filter="data")
    return raw_dir


@needs_real_archive
def test_real_corpus_gives_the_modapte_90_topic_split(real_raw_dir):
    dataset = Reuters21578()
    started = time.perf_counter()
    examples = dataset.parse({"validation_fraction": 0.1, "seed": 13}, real_raw_dir)
    elapsed = time.perf_counter() - started
    counts = Counter(e.split for e in examples)
    assert counts["train"] + counts["valid"] == 7770
    assert counts["test"] == 3019
    assert counts["valid"] == round(0.1 * 7770)
    assert len({label for e in examples for label in e.labels}) == 90
    assert dataset.skipped == {"no text": 1}  # NEWID 12793 (reut2-012.sgm): an empty <TEXT>, not a ModApte record
    assert all(e.labels and e.text.strip() for e in examples)
    assert [int(e.id) for e in examples] == sorted(int(e.id) for e in examples)
    assert elapsed < 20


@needs_real_archive
def test_real_corpus_validation_split_has_every_topic_with_two_training_stories(real_raw_dir):
    examples = Reuters21578().parse({"validation_fraction": 0.1, "seed": 13}, real_raw_dir)
    pool = {e.id: e.labels for e in examples if e.split != "test"}
    stories = label_counts(pool, pool)
    assert len(stories) == 90

    def topics_missing(carved: set[str]) -> tuple[set[str], set[str]]:
        """The topics with no story in ``carved``, and those with none left in train."""
        rest = set(pool) - carved
        return set(stories) - set(label_counts(pool, carved)), set(stories) - set(label_counts(pool, rest))

    valid = {e.id for e in examples if e.split == "valid"}
    without_valid, without_train = topics_missing(valid)
    assert without_valid == {topic for topic, count in stories.items() if count == 1} and len(without_valid) == 7
    assert without_train == set() and broken_guarantees(pool, valid) == []
    # A random 10 % of the same stories (the split before stratification) has no story of 30 topics and takes
    # the one training story of cotton-oil.
    without_valid, without_train = topics_missing(carve_split(list(pool), 0.1, 13))
    assert len(without_valid) == 30 and without_train == {"cotton-oil"}
