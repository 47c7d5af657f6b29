"""Yelp reviews labelled with their business's categories, read as a stream.

The Yelp Open Dataset cannot be fetched automatically: Yelp's terms require each user to download it by hand
from https://www.yelp.com/dataset ("Download JSON"). ``datasets.yelp.path`` in ``params.yaml`` points at the
downloaded ``yelp_dataset.tar`` or at a folder holding it or its two extracted files, which are all this dataset
reads (JSON lines, one record a line):

* ``yelp_academic_dataset_business.json`` — ``business_id`` and ``categories``, one comma-separated string such
  as ``"Restaurants, Pizza"`` (null for some businesses);
* ``yelp_academic_dataset_review.json`` — ``review_id``, ``business_id`` and ``text`` (about 7 M reviews, 5 GB).

A review's labels are its business's categories restricted to the ``top_k_categories`` most frequent ones.
Frequencies are counted over reviews — each review counts every category of its business — and over the
reviews the dataset can keep: reviews of a known business, after the ``max_reviews_per_business`` cap. The
top K are the first K in order of descending frequency, ties broken by category name; a review's labels keep
that same order (its "natural" order), whatever the order in the business's ``categories`` string.

Reviews are dropped, and counted in :attr:`Yelp.skipped` by reason, in this order: a malformed line (not JSON,
not an object, or a missing or empty ``review_id``, ``business_id`` or ``text``); a business absent from the
business file; no category left in the top K (this includes businesses whose ``categories`` is null); beyond
the first ``max_reviews_per_business`` kept reviews of its business, in file order. Malformed lines of either
file are tolerated up to ``max_malformed_fraction`` of the file's non-blank lines; beyond it the parse fails,
quoting the first malformed line. Each file is checked once its first reading ends, so before any example is
yielded. Blank lines are ignored.

Each review's split depends only on its id and the seed (see :func:`sgm_mlc.data.splits.hashed_split`), so it does not depend on file
order or on the other reviews, and is the same on every run.

Memory: the business file becomes a dict business_id → categories, then business_id → labels, which grow with
the number of businesses (about 150,000 in the full dataset: a few tens of MB, category names being interned),
as do the per-business counts of the cap; category counts grow with the number of categories (about 1,300).
Nothing grows with the number of reviews: the review file is read twice, line by line — once to count
categories, once to yield the examples. Duplicate review ids are therefore not detected (that would need a set
of every id); two reviews with one id fall in the same split.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from sgm_mlc.atomic import atomic_path
from sgm_mlc.data.base import Example
from sgm_mlc.data.splits import hashed_split
from sgm_mlc.data.download import (
    CORRUPT_ARCHIVE_ERRORS,
    CorruptArchiveError,
    UnsafeArchiveError,
    check_extraction_size,
    check_tar_member,
)

log = logging.getLogger(__name__)

ARCHIVE_NAME = "yelp_dataset.tar"
BUSINESS_FILE = "yelp_academic_dataset_business.json"
REVIEW_FILE = "yelp_academic_dataset_review.json"
DOWNLOAD_PAGE = "https://www.yelp.com/dataset"
QUOTE_LENGTH = 200
_CHUNK = 1 << 20

MALFORMED_BUSINESS = "malformed_business_line"
DUPLICATE_BUSINESS = "duplicate_business_id"
MALFORMED_REVIEW = "malformed_review_line"
UNKNOWN_BUSINESS = "unknown_business"
NO_TOP_CATEGORY = "no_top_category"
OVER_CAP = "over_max_reviews_per_business"


# ------------------------------------------------------------------------------------------------ raw files


def locate_yelp_files(path: Path, extract_dir: Path | None = None) -> tuple[Path, Path]:
    """The business and review files found at ``path``, extracted from the tar first if need be.

    ``path`` is a folder holding both JSON files (returned as they are), a folder holding ``yelp_dataset.tar``,
    or the tar itself. The tar's two JSON members are extracted into ``extract_dir`` (by default the tar's own
    folder) by :func:`extract_yelp_files`. Raises FileNotFoundError, saying how to download the dataset, when
    none of these is there.
    """
    path = Path(path)
    archive = path
    if path.is_dir():
        files = (path / BUSINESS_FILE, path / REVIEW_FILE)
        if all(file.is_file() for file in files):
            return files
        archive = path / ARCHIVE_NAME
    if archive.is_file():
        return extract_yelp_files(archive, archive.parent if extract_dir is None else Path(extract_dir))
    raise FileNotFoundError(
        f"Yelp Open Dataset not found at {path}: Yelp's terms require a manual download. Fix: get it from "
        f'{DOWNLOAD_PAGE} ("Download JSON", accept the terms; unzip it if it comes as a .zip) and put '
        f"{ARCHIVE_NAME}, or a folder holding {BUSINESS_FILE} and {REVIEW_FILE}, at {path} "
        f"(datasets.yelp.path in params.yaml)."
    )


def extract_yelp_files(archive: Path, destination: Path) -> tuple[Path, Path]:
    """Extract only the business and review members of the tar ``archive`` into ``destination``; return them.

    Members are matched by file name in whichever folder of the archive they sit, checked with the project's
    archive safety checks (no absolute path, nothing leaving ``destination``; only regular files), and copied in
    chunks, each into a temporary file renamed onto its target once complete. A target that already has the
    member's size is kept as it is, so a second call does not copy 5 GB again. A truncated or corrupt archive
    raises :class:`CorruptArchiveError`, an unsafe member :class:`UnsafeArchiveError`, a missing one ValueError.
    """
    archive, destination = Path(archive), Path(destination)
    wanted = (BUSINESS_FILE, REVIEW_FILE)
    extracted: dict[str, Path] = {}
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = PurePosixPath(member.name).name
                if name in wanted and name not in extracted:
                    extracted[name] = _extract_member(archive, tar, member, destination / name)
                    if len(extracted) == len(wanted):
                        break
    except CORRUPT_ARCHIVE_ERRORS as error:
        raise CorruptArchiveError(
            f"{archive} is truncated or corrupt ({type(error).__name__}: {error}). Fix: delete it and download it "
            f"again from {DOWNLOAD_PAGE}."
        ) from error
    missing = [name for name in wanted if name not in extracted]
    if missing:
        raise ValueError(
            f"{archive} holds no {' or '.join(missing)}: it is truncated, or not the Yelp Open Dataset's JSON "
            f'archive. Fix: download "Download JSON" from {DOWNLOAD_PAGE} again and point datasets.yelp.path at '
            f"its {ARCHIVE_NAME}."
        )
    return extracted[BUSINESS_FILE], extracted[REVIEW_FILE]


def _extract_member(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> Path:
    """Copy the regular-file ``member`` of ``tar`` to ``target`` in chunks, unless ``target`` already has its size."""
    check_tar_member(archive, member, target.parent)
    check_extraction_size(archive, [member.size])
    if not member.isfile():
        raise UnsafeArchiveError(f"{archive}: refusing to extract member {member.name!r}: not a regular file")
    if target.is_file() and target.stat().st_size == member.size:
        log.info("%s already extracted (%d bytes); not extracting it again", target, member.size)
        return target
    with atomic_path(target) as temporary, tar.extractfile(member) as source, temporary.open("wb") as sink:
        shutil.copyfileobj(source, sink, _CHUNK)
    log.info("extracted %s from %s", target, archive)
    return target


def link_into(source: Path, folder: Path) -> Path:
    """Make ``folder/<source name>`` the file ``source`` without copying it; return that path.

    A hard link is made where possible (it outlives a move of the source and costs no space); across file
    systems, or where the system refuses to hard-link a file we do not own, a symbolic link to the absolute
    source is made instead. An existing entry is replaced atomically; nothing is done if it already is ``source``.
    """
    target = folder / source.name
    if target.exists() and target.samefile(source):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{source.name}.link"
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
        kind = "hard link"
    except OSError:
        temporary.symlink_to(source.resolve())
        kind = "symbolic link"
    os.replace(temporary, target)
    log.info("%s is a %s to %s", target, kind, source)
    return target


# ------------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class YelpSettings:
    """The parse settings of ``datasets.yelp`` in ``params.yaml``, checked (see :meth:`from_params`)."""

    top_k_categories: int
    max_reviews_per_business: int | None
    test_fraction: float
    validation_fraction: float
    seed: int
    max_malformed_fraction: float

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> YelpSettings:
        """Read and check the settings; ValueError naming the key and the accepted values otherwise."""
        settings = cls(
            top_k_categories=_positive_int(params, "top_k_categories"),
            max_reviews_per_business=(
                None if params.get("max_reviews_per_business") is None
                else _positive_int(params, "max_reviews_per_business")
            ),
            test_fraction=_fraction(params, "test_fraction"),
            validation_fraction=_fraction(params, "validation_fraction"),
            seed=_integer(params, "seed"),
            max_malformed_fraction=_fraction(params, "max_malformed_fraction"),
        )
        if settings.test_fraction + settings.validation_fraction >= 1:
            raise ValueError(
                "datasets.yelp.test_fraction + validation_fraction must be below 1 to leave training reviews, got "
                f"{settings.test_fraction} + {settings.validation_fraction}; lower them in params.yaml"
            )
        return settings


def _integer(params: Mapping[str, Any], key: str) -> int:
    """``params[key]``, which must be an integer (not a bool)."""
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"datasets.yelp.{key} must be an integer, got {value!r}; set it in params.yaml")
    return value


def _positive_int(params: Mapping[str, Any], key: str) -> int:
    """``params[key]``, which must be an integer of at least 1."""
    value = _integer(params, key)
    if value < 1:
        raise ValueError(f"datasets.yelp.{key} must be at least 1, got {value}; set it in params.yaml")
    return value


def _fraction(params: Mapping[str, Any], key: str) -> float:
    """``params[key]``, which must be a number in [0, 1]."""
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"datasets.yelp.{key} must be a number from 0 to 1, got {value!r}; set it in params.yaml")
    return float(value)


# ------------------------------------------------------------------------------------------------ JSON lines


class Review(NamedTuple):
    """The fields of one review line that the dataset uses."""

    review_id: str
    business_id: str
    text: str


class MalformedLines:
    """Tally of one file's non-blank lines and malformed ones, keeping the first malformed line to quote it.

    Each malformed line is also counted in ``skipped`` under ``reason``.
    """

    def __init__(self, path: Path, max_fraction: float, skipped: Counter[str], reason: str) -> None:
        self.path = path
        self.max_fraction = max_fraction
        self.skipped = skipped
        self.reason = reason
        self.total = 0
        self.malformed = 0
        self.first: tuple[int, bytes] | None = None

    def add(self, number: int, line: bytes, malformed: bool) -> None:
        """Count line ``number``; remember and log it if it is the first malformed one."""
        self.total += 1
        if malformed:
            self.malformed += 1
            self.skipped[self.reason] += 1
            if self.first is None:
                self.first = (number, line)
                log.warning("%s: line %d is malformed: %s", self.path, number, _quote(line))

    def check(self) -> None:
        """Raise ValueError, quoting the first malformed line, if too large a fraction of the lines is malformed."""
        if self.first is None:
            return
        number, line = self.first
        fraction = self.malformed / self.total
        if fraction > self.max_fraction:
            raise ValueError(
                f"{self.path}: {self.malformed} of {self.total} lines are malformed ({fraction:.4%}, more than "
                f"datasets.yelp.max_malformed_fraction = {self.max_fraction:.4%}); the first is line {number}: "
                f"{_quote(line)}. Fix: download the Yelp dataset again from {DOWNLOAD_PAGE}, or raise "
                f"max_malformed_fraction in params.yaml to skip these lines."
            )
        log.warning("%s: skipped %d malformed line(s) of %d", self.path, self.malformed, self.total)


def _quote(line: bytes) -> str:
    """A line decoded for a message, cut to :data:`QUOTE_LENGTH` characters, between double quotes."""
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return f'"{text[:QUOTE_LENGTH]}…"' if len(text) > QUOTE_LENGTH else f'"{text}"'


def read_json_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each non-blank line of ``path`` with its 1-based line number, read one line at a time (bytes)."""
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _json_object(line: bytes) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None if the line is not valid UTF-8 JSON or not an object."""
    try:
        record = json.loads(line)
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError
        return None
    return record if isinstance(record, dict) else None


def _nonempty_string(record: Mapping[str, Any], key: str) -> str | None:
    """``record[key]`` if it is a string with something other than whitespace in it, else None."""
    value = record.get(key)
    return value if isinstance(value, str) and value.strip() else None


def parse_categories(categories: str | None) -> tuple[str, ...]:
    """The categories of a comma-separated string, stripped, without empties or repeats; () for None.

    Names are interned: the business dict then holds each category name once, however many businesses share it.
    """
    if categories is None:
        return ()
    return tuple(dict.fromkeys(sys.intern(part.strip()) for part in categories.split(",") if part.strip()))


def parse_business(line: bytes) -> tuple[str, tuple[str, ...]] | None:
    """``(business_id, categories)`` of a business line, or None if it is malformed."""
    record = _json_object(line)
    if record is None:
        return None
    business_id = _nonempty_string(record, "business_id")
    categories = record.get("categories")
    if business_id is None or not (categories is None or isinstance(categories, str)):
        return None
    return business_id, parse_categories(categories)


def parse_review(line: bytes) -> Review | None:
    """The :class:`Review` of a review line, or None if it is malformed (missing or empty id, business or text)."""
    record = _json_object(line)
    if record is None:
        return None
    fields = [_nonempty_string(record, key) for key in Review._fields]
    return None if None in fields else Review(*fields)


def read_business_categories(
    path: Path, max_malformed_fraction: float, skipped: Counter[str]
) -> dict[str, tuple[str, ...]]:
    """business_id → categories for every business line of ``path``; the first line of a repeated id wins.

    Malformed lines and repeated ids are counted in ``skipped``; ValueError if more than
    ``max_malformed_fraction`` of the lines are malformed.
    """
    categories_of: dict[str, tuple[str, ...]] = {}
    tally = MalformedLines(path, max_malformed_fraction, skipped, MALFORMED_BUSINESS)
    for number, line in read_json_lines(path):
        business = parse_business(line)
        tally.add(number, line, malformed=business is None)
        if business is None:
            continue
        business_id, categories = business
        if business_id in categories_of:
            skipped[DUPLICATE_BUSINESS] += 1
        else:
            categories_of[business_id] = categories
    tally.check()
    return categories_of


def read_reviews(path: Path, tally: MalformedLines | None = None) -> Iterator[Review]:
    """The well-formed reviews of ``path`` in file order, one line at a time.

    With a ``tally``, every line is counted in it and it is checked once the file ends (raising if too many lines
    are malformed); without one, malformed lines are passed over silently (a second pass over a checked file).
    """
    for number, line in read_json_lines(path):
        review = parse_review(line)
        if tally is not None:
            tally.add(number, line, malformed=review is None)
        if review is not None:
            yield review
    if tally is not None:
        tally.check()


# ------------------------------------------------------------------------------------------------ labels and splits


class ReviewCap:
    """Admits the first ``limit`` reviews of each business, in the order asked; no limit when it is None."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.admitted: Counter[str] = Counter()

    def admits(self, business_id: str) -> bool:
        """Whether one more review of ``business_id`` is within the limit (counting it if so)."""
        if self.limit is None:
            return True
        if self.admitted[business_id] >= self.limit:
            return False
        self.admitted[business_id] += 1
        return True


def count_categories(
    reviews: Iterable[Review], categories_of: Mapping[str, tuple[str, ...]], cap: ReviewCap
) -> Counter[str]:
    """The number of reviews in each category, over the reviews of a known business that ``cap`` admits.

    A review counts once in each of its business's categories.
    """
    counts: Counter[str] = Counter()
    for review in reviews:
        categories = categories_of.get(review.business_id)
        if categories is not None and cap.admits(review.business_id):
            counts.update(categories)
    return counts


def top_categories(counts: Mapping[str, int], k: int) -> tuple[str, ...]:
    """The ``k`` most frequent categories, by descending count then by name — also the labels' natural order."""
    return tuple(name for name, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k])


def labels_by_business(
    categories_of: Mapping[str, tuple[str, ...]], top: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """business_id → its categories that are in ``top``, in ``top``'s order (possibly none)."""
    rank = {name: position for position, name in enumerate(top)}
    return {
        business_id: tuple(sorted((c for c in categories if c in rank), key=rank.__getitem__))
        for business_id, categories in categories_of.items()
    }


def to_examples(
    reviews: Iterable[Review],
    labels_of: Mapping[str, tuple[str, ...]],
    cap: ReviewCap,
    settings: YelpSettings,
    skipped: Counter[str],
) -> Iterator[Example]:
    """The examples of ``reviews``, as they come; dropped reviews are counted in ``skipped`` by reason."""
    for review in reviews:
        labels = labels_of.get(review.business_id)
        if labels is None:
            skipped[UNKNOWN_BUSINESS] += 1
        elif not labels:
            skipped[NO_TOP_CATEGORY] += 1
        elif not cap.admits(review.business_id):
            skipped[OVER_CAP] += 1
        else:
            split = hashed_split(review.review_id, settings.seed, settings.test_fraction, settings.validation_fraction)
            yield Example(id=review.review_id, text=review.text, labels=labels, split=split)


# ------------------------------------------------------------------------------------------------ dataset


class Yelp:
    """Yelp reviews labelled with their business's top-K categories, parsed as a stream of examples."""

    name = "yelp"
    modality = "text"

    def __init__(self) -> None:
        self.skipped: dict[str, int] = Counter()

    def download(self, params: dict[str, Any], raw_dir: Path) -> None:
        """Put the two JSON files found at ``params["path"]`` into ``raw_dir``, without copying them.

        A tar's members are extracted straight into ``raw_dir``; files found in a folder are linked in by
        :func:`link_into` (hard link, else symbolic link).
        """
        raw_dir = Path(raw_dir)
        for source in locate_yelp_files(Path(params["path"]), extract_dir=raw_dir):
            link_into(source, raw_dir)

    def parse(self, params: dict[str, Any], raw_dir: Path) -> Iterator[Example]:
        """A generator of the examples of ``raw_dir``'s two files, in review-file order.

        Settings and files are checked at once; the files are read only as the generator is iterated. The first
        example comes after the business file and one counting pass over the review file; :attr:`skipped` is
        complete once the generator is exhausted.
        """
        settings = YelpSettings.from_params(params)
        files = tuple(Path(raw_dir) / name for name in (BUSINESS_FILE, REVIEW_FILE))
        missing = [file.name for file in files if not file.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{raw_dir}: {', '.join(missing)} missing; run the download step, which takes the Yelp files from "
                f"datasets.yelp.path ({params.get('path')})"
            )
        return self._stream(settings, *files)

    def _stream(self, settings: YelpSettings, business_file: Path, review_file: Path) -> Iterator[Example]:
        """Read the businesses, count the categories over the reviews, then yield the examples."""
        started = time.perf_counter()
        skipped: Counter[str] = Counter()
        self.skipped = skipped
        categories_of = read_business_categories(business_file, settings.max_malformed_fraction, skipped)
        tally = MalformedLines(review_file, settings.max_malformed_fraction, skipped, MALFORMED_REVIEW)
        counts = count_categories(
            read_reviews(review_file, tally), categories_of, ReviewCap(settings.max_reviews_per_business)
        )
        if not counts:
            raise ValueError(
                f"{review_file}: no review of a business of {business_file} with categories; the two files do not "
                f"belong together. Fix: re-run the download step with the files of one download from {DOWNLOAD_PAGE}."
            )
        top = top_categories(counts, settings.top_k_categories)
        log.info("%s: %d categories over the reviews; top %d: %s", review_file, len(counts), len(top), ", ".join(top))
        labels_of = labels_by_business(categories_of, top)
        del categories_of
        splits: Counter[str] = Counter()
        cap = ReviewCap(settings.max_reviews_per_business)
        for example in to_examples(read_reviews(review_file), labels_of, cap, settings, skipped):
            splits[example.split] += 1
            yield example
        log.info(
            "%s: %d examples (train %d, valid %d, test %d), %d labels, skipped %s, in %.1f s",
            review_file, sum(splits.values()), splits["train"], splits["valid"], splits["test"], len(top),
            dict(sorted(skipped.items())), time.perf_counter() - started,
        )
