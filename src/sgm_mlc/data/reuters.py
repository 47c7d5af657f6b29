"""Reuters-21578 (Distribution 1.0) with the ModApte split restricted to its 90 topics.

The corpus is 21,578 Reuters newswire stories of 1987 in 22 SGML files (``reut2-000.sgm`` … ``reut2-021.sgm``),
each story a ``<REUTERS ...>`` block whose attributes say whether it was indexed for topics (``TOPICS``: YES,
NO or BYPASS) and where Lewis's split puts it (``LEWISSPLIT``: TRAIN, TEST or NOT-USED).

The "Modified Apte" (ModApte) split keeps the stories with ``TOPICS="YES"`` and ``LEWISSPLIT`` TRAIN (9,603) or
TEST (3,299); NOT-USED stories and those never indexed for topics are dropped. The usual multi-label benchmark
then keeps only the topics with at least one training and one test story — 90 of the topic categories (the
"90-topic rule") — and drops the stories left with none of them: 7,770 training and 3,019 test stories remain
(often quoted as 7,769 / 3,019). A validation split (about ``validation_fraction`` of the training stories) is
then carved from them, seeded and stratified on the topics (:func:`~sgm_mlc.data.splits.stratified_split`: every
topic with two training stories has one in validation, none loses its last training story); the test split is
Lewis's TEST as is.

A story's text is its ``<TITLE>`` and ``<BODY>`` joined by a newline (either may be missing; a
``<TEXT TYPE="UNPROC">`` story, which has neither, keeps its whole text — 61 of the kept stories), with SGML
character references decoded and control characters but newline and tab removed; its labels are its
``<TOPICS>`` in source order without repeats, restricted to the 90 topics. Malformed records are skipped, each
logged with its file and position and counted in :attr:`Reuters21578.skipped`.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgm_mlc.data.base import Example
from sgm_mlc.data.download import extract_archive, fetch
from sgm_mlc.data.splits import stratified_split

log = logging.getLogger(__name__)

EXTRACTED_DIR = "extracted"
FILE_PATTERN = "reut2-*.sgm"
ENCODING = "latin-1"  # reut2-017.sgm holds a byte (0xFC) that is not UTF-8
LEWIS_SPLITS = ("TRAIN", "TEST", "NOT-USED")
SPLIT_OF = {"TRAIN": "train", "TEST": "test"}

_REUTERS_TAG = re.compile(r"<(/?)REUTERS\b([^>]*)>")
_ATTRIBUTE = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*"([^"]*)"')
_TAG_NAME = re.compile(r"</?([A-Za-z]+)\b[^>]*>")
_D_ELEMENT = re.compile(r"<D>(.*?)</D>", re.S)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A UTF-8 multi-byte sequence read as latin-1 ("Ã¼" for "ü"): a sign that a file is not the latin-1 original.
_UTF8_READ_AS_LATIN1 = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]")
LOOKS_UTF8 = "text that looks like UTF-8 read as latin-1"
# The elements whose content is read: each must be balanced and occur at most once in a record.
_FIELDS = ("TOPICS", "TEXT", "TITLE", "BODY")


@dataclass(frozen=True)
class RawDocument:
    """One well-formed ``<REUTERS>`` record as it stands in the source, before any filtering."""

    newid: int
    lewissplit: str
    topics_flag: str
    topics: tuple[str, ...]
    title: str | None
    body: str | None
    source: str

    @property
    def text(self) -> str:
        """Title and body joined by a newline, leaving out whichever is missing."""
        return "\n".join(part for part in (self.title, self.body) if part is not None)


class MalformedRecord(ValueError):
    """A record that cannot be read: ``reason`` is the short key it is counted under, ``detail`` says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail


def clean_text(raw: str) -> str:
    """Decode SGML character references (``&lt;``, ``&#3;`` …) and drop control characters but newline and tab."""
    return _CONTROL_CHARACTERS.sub("", html.unescape(raw))


def _element(content: str, tag: str) -> str | None:
    """The raw content of the first ``<tag ...>`` element in ``content``, or None when there is none."""
    match = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", content, re.S)
    return None if match is None else match.group(1)


def _check_balanced(content: str) -> None:
    """Raise :class:`MalformedRecord` unless every element is closed and each of :data:`_FIELDS` occurs at most once."""
    opened: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    depth: Counter[str] = Counter()
    for match in _TAG_NAME.finditer(content):
        tag = match.group(1)
        if match.group(0).startswith("</"):
            closed[tag] += 1
            depth[tag] -= 1
            if depth[tag] < 0:
                raise MalformedRecord("unbalanced tags", f"</{tag}> before <{tag}>")
        else:
            opened[tag] += 1
            depth[tag] += 1
    unbalanced = sorted(tag for tag in opened | closed if opened[tag] != closed[tag])
    if unbalanced:
        raise MalformedRecord("unbalanced tags", ", ".join(f"<{tag}>" for tag in unbalanced))
    repeated = sorted(tag for tag in _FIELDS if opened[tag] > 1)
    if repeated:
        raise MalformedRecord("unbalanced tags", "repeated " + ", ".join(f"<{tag}>" for tag in repeated))


def _topics(content: str) -> tuple[str, ...]:
    """The ``<D>`` entries of the record's ``<TOPICS>``, in source order without repeats."""
    element = _element(content, "TOPICS")
    if element is None:
        return ()
    topics = (clean_text(entry).strip() for entry in _D_ELEMENT.findall(element))
    return tuple(dict.fromkeys(topic for topic in topics if topic))


def _unprocessed_text(content: str) -> str | None:
    """The text of a ``<TEXT TYPE="UNPROC">`` story, which has no TITLE or BODY, without its inner markup."""
    text = _element(content, "TEXT")
    return None if text is None else re.sub(r"<[^>]*>", "", text)


def parse_record(attributes: str, content: str, source: str) -> RawDocument:
    """Read one ``<REUTERS>`` record from its opening tag's attribute text and its content.

    The body is the ``<BODY>``; a record with neither TITLE nor BODY takes its whole ``<TEXT>`` as body. Raises
    :class:`MalformedRecord` for a missing or non-integer NEWID, an unknown LEWISSPLIT, unbalanced tags or no
    text at all (no TITLE, BODY or TEXT with words in it).
    """
    attrs = dict(_ATTRIBUTE.findall(attributes))
    if "NEWID" not in attrs:
        raise MalformedRecord("missing NEWID")
    if not attrs["NEWID"].strip().isdigit():
        raise MalformedRecord("invalid NEWID", repr(attrs["NEWID"]))
    lewissplit = attrs.get("LEWISSPLIT")
    if lewissplit not in LEWIS_SPLITS:
        raise MalformedRecord("unknown LEWISSPLIT", repr(lewissplit))
    _check_balanced(content)
    title, body = (_element(content, tag) for tag in ("TITLE", "BODY"))
    if title is None and body is None:
        body = _unprocessed_text(content)
    if not "".join(clean_text(part) for part in (title, body) if part is not None).strip():
        raise MalformedRecord("no text", "no TITLE, BODY or TEXT with words in it")
    return RawDocument(
        newid=int(attrs["NEWID"]),
        lewissplit=lewissplit,
        topics_flag=attrs.get("TOPICS", ""),
        topics=_topics(content),
        title=None if title is None else clean_text(title),
        body=None if body is None else clean_text(body),
        source=source,
    )


def _skip(skipped: Counter[str], source: str, where: str, reason: str, detail: str = "") -> None:
    """Count a skipped record under ``reason`` and log it with its file and position."""
    skipped[reason] += 1
    log.warning("%s: skipping record %s: %s%s", source, where, reason, f" ({detail})" if detail else "")


def _position(text: str, offset: int) -> str:
    """Where ``offset`` lies in ``text``, as a human-readable line and byte offset."""
    return f"at line {text.count(chr(10), 0, offset) + 1} (offset {offset})"


def _newid_label(attributes: str) -> str | None:
    """The NEWID written in an opening tag's attributes, if any, to name a record in messages."""
    match = re.search(r'NEWID\s*=\s*"([^"]*)"', attributes)
    return None if match is None else f"NEWID={match.group(1)}"


def parse_sgml(text: str, source: str) -> tuple[list[RawDocument], Counter[str]]:
    """Every well-formed ``<REUTERS>`` record of one file's text, and the count of skipped records per reason.

    A record opened again before it is closed, or never closed, or a closing tag without an opening one, is
    skipped as "unbalanced tags"; so are the problems :func:`parse_record` raises. Each skip is logged with
    ``source`` and the record's NEWID or position. Duplicate NEWIDs are left to the caller, which sees the corpus.
    """
    documents: list[RawDocument] = []
    skipped: Counter[str] = Counter()
    open_tag: re.Match[str] | None = None
    for tag in _REUTERS_TAG.finditer(text):
        closing = tag.group(1) == "/"
        if open_tag is not None and not closing:
            where = _newid_label(open_tag.group(2)) or _position(text, open_tag.start())
            _skip(skipped, source, where, "unbalanced tags", "<REUTERS> opened again before </REUTERS>")
        elif open_tag is None and closing:
            _skip(skipped, source, _position(text, tag.start()), "unbalanced tags", "</REUTERS> without <REUTERS>")
        elif open_tag is not None:
            attributes = open_tag.group(2)
            try:
                documents.append(parse_record(attributes, text[open_tag.end() : tag.start()], source))
            except MalformedRecord as error:
                where = _newid_label(attributes) or _position(text, open_tag.start())
                _skip(skipped, source, where, error.reason, error.detail)
        open_tag = None if closing else tag
    if open_tag is not None:
        where = _newid_label(open_tag.group(2)) or _position(text, open_tag.start())
        _skip(skipped, source, where, "unbalanced tags", "<REUTERS> never closed")
    return documents, skipped


def read_sgml_file(path: Path) -> tuple[list[RawDocument], Counter[str]]:
    """Parse one ``reut2-*.sgm`` file (latin-1); an error naming the file if it holds no readable record."""
    text = path.read_bytes().decode(ENCODING)
    documents, skipped = parse_sgml(text, path.name)
    if not documents:
        problem = f"all {sum(skipped.values())} record(s) malformed" if skipped else "no <REUTERS> record"
        raise ValueError(f"{path}: unreadable Reuters-21578 file ({problem}); re-run the download step")
    return documents, skipped


def drop_duplicates(documents: Iterable[RawDocument], skipped: Counter[str]) -> list[RawDocument]:
    """Keep the first record of each NEWID; count and log the others as "duplicate NEWID"."""
    first: dict[int, RawDocument] = {}
    for document in documents:
        if document.newid in first:
            where = f"NEWID={document.newid}"
            _skip(skipped, document.source, where, "duplicate NEWID", f"first seen in {first[document.newid].source}")
        else:
            first[document.newid] = document
    return list(first.values())


def read_corpus(folder: Path) -> tuple[list[RawDocument], Counter[str]]:
    """Every record of the ``reut2-*.sgm`` files in ``folder`` (sorted by name), without duplicate NEWIDs."""
    paths = sorted(folder.glob(FILE_PATTERN))
    if not paths:
        raise ValueError(f"{folder}: no {FILE_PATTERN} file found; re-run the download step")
    documents: list[RawDocument] = []
    skipped: Counter[str] = Counter()
    for path in paths:
        file_documents, file_skipped = read_sgml_file(path)
        documents.extend(file_documents)
        skipped.update(file_skipped)
    return drop_duplicates(documents, skipped), skipped


def flag_suspicious_decoding(documents: Sequence[RawDocument]) -> dict[str, int]:
    """Count (and log, naming the first few) the records whose latin-1 text holds UTF-8 byte sequences: the
    official files are latin-1, so such text means a file was re-encoded somewhere."""
    suspicious = [d for d in documents if _UTF8_READ_AS_LATIN1.search(d.text)]
    if not suspicious:
        return {}
    named = ", ".join(f"{d.source} NEWID={d.newid}" for d in suspicious[:5])
    log.warning("%d record(s) hold %s (e.g. %s); is the archive the latin-1 original?", len(suspicious), LOOKS_UTF8, named)
    return {LOOKS_UTF8: len(suspicious)}


def modapte(documents: Sequence[RawDocument]) -> tuple[list[RawDocument], list[str]]:
    """The ModApte documents restricted to the topics with a train and a test document, and those topics.

    Keeps ``TOPICS="YES"`` records split TRAIN or TEST, then the topics seen in both splits (sorted), then the
    documents that still have one of them.
    """
    candidates = [d for d in documents if d.topics_flag == "YES" and d.lewissplit in SPLIT_OF]
    topics_in = {split: {t for d in candidates if d.lewissplit == split for t in d.topics} for split in SPLIT_OF}
    kept = topics_in["TRAIN"] & topics_in["TEST"]
    return [d for d in candidates if kept.intersection(d.topics)], sorted(kept)


def to_examples(documents: Sequence[RawDocument], kept_topics: Iterable[str], valid_ids: set[str]) -> list[Example]:
    """Examples sorted by NEWID, labels restricted to ``kept_topics``, TRAIN records in ``valid_ids`` made valid."""
    kept = set(kept_topics)
    examples = []
    for document in sorted(documents, key=lambda d: d.newid):
        identifier = str(document.newid)
        split = "valid" if identifier in valid_ids else SPLIT_OF[document.lewissplit]
        labels = tuple(topic for topic in document.topics if topic in kept)
        examples.append(Example(id=identifier, text=document.text, labels=labels, split=split))
    return examples


class Reuters21578:
    """Reuters-21578, ModApte split on its 90 topics, with a seeded validation split carved from train."""

    name = "reuters21578"
    modality = "text"

    def __init__(self) -> None:
        self.skipped: dict[str, int] = {}
        self.flagged: dict[str, int] = {}  # records kept, but worth a look (counted in the card)

    def download(self, params: dict[str, Any], raw_dir: Path) -> None:
        """Fetch the archive (checksum-verified) into ``raw_dir`` and extract it into ``raw_dir/extracted``."""
        archive = fetch(params["url"], raw_dir / params["filename"], params["sha256"])
        extract_archive(archive, raw_dir / EXTRACTED_DIR)

    def parse(self, params: dict[str, Any], raw_dir: Path) -> list[Example]:
        """The ModApte examples of ``raw_dir/extracted``; skipped malformed records end up in :attr:`skipped`."""
        started = time.perf_counter()
        documents, skipped = read_corpus(raw_dir / EXTRACTED_DIR)
        self.skipped = dict(sorted(skipped.items()))
        self.flagged = flag_suspicious_decoding(documents)
        selected, topics = modapte(documents)
        train = [d for d in selected if d.lewissplit == "TRAIN"]
        kept = set(topics)
        valid_ids = stratified_split(
            [str(d.newid) for d in train],
            [kept.intersection(d.topics) for d in train],
            params["validation_fraction"],
            params["seed"],
        )
        examples = to_examples(selected, topics, valid_ids)
        log.info(
            "%s: %d records read, %d kept (train %d, valid %d, test %d), %d topics, skipped %s, in %.1f s",
            self.name,
            len(documents),
            len(examples),
            len(train) - len(valid_ids),
            len(valid_ids),
            len(examples) - len(train),
            len(topics),
            self.skipped or "none",
            time.perf_counter() - started,
        )
        return examples
