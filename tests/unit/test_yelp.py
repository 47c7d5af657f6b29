"""Yelp reader: top-K labels and their order, drops by reason, the cap, splits, malformed lines, the manual
download, the tar, streaming and memory, and the real sample."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tracemalloc
import types
from collections import Counter
from pathlib import Path

import pytest

from sgm_mlc.data import yelp
from sgm_mlc.data.download import CorruptArchiveError, UnsafeArchiveError
from sgm_mlc.data.splits import hashed_split
from sgm_mlc.data.yelp import (
    BUSINESS_FILE,
    REVIEW_FILE,
    Yelp,
    extract_yelp_files,
    locate_yelp_files,
    parse_categories,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_ARCHIVE = SHARED_DATA / "yelp-sample" / "yelp_dataset.tar"
PARAMS = {
    "path": "unused",
    "top_k_categories": 2,
    "max_reviews_per_business": None,
    "test_fraction": 0.2,
    "validation_fraction": 0.1,
    "seed": 7,
    "max_malformed_fraction": 0.001,
}


def business(business_id: str, categories: str | None) -> dict:
    """A business record with every field of Yelp's schema."""
    return {
        "business_id": business_id, "name": f"Business {business_id}", "address": "1616 Chapala St, Ste 2",
        "city": "Santa Barbara", "state": "CA", "postal_code": "93101", "latitude": 34.4266787,
        "longitude": -119.7111968, "stars": 4.5, "review_count": 7, "is_open": 1,
        "attributes": {"ByAppointmentOnly": "True"}, "categories": categories,
        "hours": {"Monday": "8:0-18:30", "Tuesday": "8:0-18:30"},
    }  # fmt: skip


def review(review_id: str, business_id: str, text: str | None = None) -> dict:
    """A review record with every field of Yelp's schema."""
    return {
        "review_id": review_id, "user_id": "mh_-eMZ6K5RLWhZyISBhwA", "business_id": business_id, "stars": 3.0,
        "useful": 0, "funny": 0, "cool": 0, "text": f"Review {review_id}.\n\nGood food." if text is None else text,
        "date": "2018-07-07 22:09:11",
    }  # fmt: skip


def json_lines(records) -> bytes:
    """Records as JSON lines (as Yelp writes them: compact, one a line); a str is written as the raw line."""
    lines = (record if isinstance(record, str) else json.dumps(record, separators=(",", ":")) for record in records)
    return "".join(line + "\n" for line in lines).encode()


def write_raw(folder: Path, businesses, reviews) -> Path:
    """Write the business and review files into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BUSINESS_FILE).write_bytes(json_lines(businesses))
    (folder / REVIEW_FILE).write_bytes(json_lines(reviews))
    return folder


def parse(raw_dir: Path, **overrides) -> tuple[list, dict[str, int]]:
    """All examples of ``raw_dir`` with ``PARAMS`` and ``overrides``, and the skipped counts."""
    dataset = Yelp()
    examples = list(dataset.parse({**PARAMS, **overrides}, raw_dir))
    return examples, dict(dataset.skipped)


def labels_of(examples) -> dict[str, tuple[str, ...]]:
    """Example id → labels."""
    return {example.id: example.labels for example in examples}


# Restaurants 3, Pizza 3, Bars 2, Italian 2 reviews: Pizza precedes Restaurants (tie, by name), Bars precedes Italian.
SHOP_BUSINESSES = [
    business("b1", "Restaurants, Pizza, Italian"),
    business("b2", "Pizza, Bars"),
    business("b3", "Bars, Restaurants"),
]
SHOP_REVIEWS = [review("r1", "b1"), review("r2", "b1"), review("r3", "b2"), review("r4", "b3")]


def test_categories_are_split_on_commas_stripped_without_empties_or_repeats():
    assert parse_categories(" Pizza ,Bars,, Pizza, ") == ("Pizza", "Bars")
    assert parse_categories("Doctors, Naturopathic/Holistic") == ("Doctors", "Naturopathic/Holistic")
    assert parse_categories(None) == ()


def test_labels_are_the_top_k_categories_by_review_frequency_then_name(tmp_path):
    raw = write_raw(tmp_path, SHOP_BUSINESSES, SHOP_REVIEWS)

    examples, skipped = parse(raw, top_k_categories=2)
    assert labels_of(examples) == {
        "r1": ("Pizza", "Restaurants"),  # the business lists Restaurants first: labels follow the global order
        "r2": ("Pizza", "Restaurants"),
        "r3": ("Pizza",),
        "r4": ("Restaurants",),
    }
    assert skipped == {}

    examples, _ = parse(raw, top_k_categories=3)
    assert labels_of(examples)["r3"] == ("Pizza", "Bars")
    assert labels_of(examples)["r4"] == ("Restaurants", "Bars")  # "Bars, Restaurants" in the source

    examples, _ = parse(raw, top_k_categories=100)  # more than there are: every category, same order
    assert labels_of(examples)["r1"] == ("Pizza", "Restaurants", "Italian")


def test_examples_keep_review_id_text_and_file_order(tmp_path):
    raw = write_raw(tmp_path, SHOP_BUSINESSES, SHOP_REVIEWS)
    examples, _ = parse(raw)
    assert [example.id for example in examples] == ["r1", "r2", "r3", "r4"]
    assert examples[0].text == "Review r1.\n\nGood food."
    assert {example.split for example in examples} <= {"train", "valid", "test"}


def test_dropped_reviews_are_counted_by_reason(tmp_path):
    businesses = [*SHOP_BUSINESSES, business("b4", None), business("b5", "Shoes"), business("b1", "Bars")]
    reviews = [*SHOP_REVIEWS, review("r5", "nowhere"), review("r6", "b4"), review("r7", "b5"), review("r8", "b5")]
    examples, skipped = parse(write_raw(tmp_path, businesses, reviews), top_k_categories=2)

    assert sorted(labels_of(examples)) == ["r1", "r2", "r3", "r4"]
    assert labels_of(examples)["r1"] == ("Pizza", "Restaurants")  # the first line of a repeated business wins
    assert skipped == {"duplicate_business_id": 1, "unknown_business": 1, "no_top_category": 3}


def test_cap_keeps_the_first_reviews_of_a_business_and_applies_before_counting(tmp_path):
    businesses = [business("a", "Alpha"), business("b", "Beta"), business("c", "Aardvark")]
    reviews = [review(f"a{i}", "a") for i in range(5)] + [review(f"b{i}", "b") for i in range(3)]
    reviews += [review(f"c{i}", "c") for i in range(2)]
    raw = write_raw(tmp_path, businesses, reviews)

    examples, skipped = parse(raw, top_k_categories=2)  # uncapped: Alpha 5, Beta 3, Aardvark 2
    assert Counter(label for example in examples for label in example.labels) == {"Alpha": 5, "Beta": 3}
    assert skipped == {"no_top_category": 2}

    examples, skipped = parse(raw, top_k_categories=2, max_reviews_per_business=2)  # all at 2: by name
    assert [example.id for example in examples] == ["a0", "a1", "c0", "c1"]
    assert [example.labels for example in examples] == [("Alpha",)] * 2 + [("Aardvark",)] * 2
    assert skipped == {"over_max_reviews_per_business": 3, "no_top_category": 3}


def many_reviews(count: int, businesses: int = 20) -> list[dict]:
    """``count`` reviews spread over businesses ``b0`` … (each with category ``Cat<n % 3>``)."""
    return [review(f"review-{i:06d}", f"b{i % businesses}", text=f"text {i}") for i in range(count)]


def many_businesses(count: int = 20) -> list[dict]:
    """Businesses ``b0`` … with a category each."""
    return [business(f"b{i}", f"Cat{i % 3}") for i in range(count)]


def test_split_depends_on_id_and_seed_only_and_honours_the_fractions(tmp_path):
    reviews = many_reviews(2000)
    examples, _ = parse(write_raw(tmp_path / "a", many_businesses(), reviews), top_k_categories=3)
    again, _ = parse(write_raw(tmp_path / "b", many_businesses(), reversed(reviews)), top_k_categories=3)
    other_seed, _ = parse(tmp_path / "a", top_k_categories=3, seed=8)

    splits = {example.id: example.split for example in examples}
    assert len(splits) == 2000
    assert {example.id: example.split for example in again} == splits  # same seed, any file order
    changed = sum(example.split != splits[example.id] for example in other_seed)
    assert changed > 500  # another seed draws another split (about 46 % differ)
    shares = Counter(splits.values())
    assert abs(shares["test"] / 2000 - 0.2) < 0.03
    assert abs(shares["valid"] / 2000 - 0.1) < 0.025
    assert hashed_split("review-000001", 7, 0.2, 0.1) == splits["review-000001"]
    assert hashed_split("x", 7, 0.0, 0.0) == "train"


BAD_LINES = [
    "this is not JSON",
    json.dumps({k: v for k, v in review("no-id", "b0").items() if k != "review_id"}),
    json.dumps({k: v for k, v in review("no-text", "b0").items() if k != "text"}),
    json.dumps(review("empty-text", "b0", text="  ")),
    json.dumps(["a", "list"]),
]


def test_malformed_lines_under_the_limit_are_skipped_and_counted(tmp_path):
    reviews = many_reviews(995) + BAD_LINES + [""]  # the blank line is not a record
    raw = write_raw(tmp_path, many_businesses(), reviews)
    examples, skipped = parse(raw, top_k_categories=3, max_malformed_fraction=0.005)
    assert len(examples) == 995
    assert skipped == {"malformed_review_line": 5}


def test_too_many_malformed_lines_fail_quoting_the_first_with_file_and_line(tmp_path):
    long_bad_line = "{not json " + "x" * 400
    reviews = [*many_reviews(2), long_bad_line, *many_reviews(996), "also bad"]
    stream = Yelp().parse({**PARAMS, "max_malformed_fraction": 0.001}, write_raw(tmp_path, many_businesses(), reviews))
    with pytest.raises(ValueError) as error:
        next(stream)  # before any example: the counting pass checks the fraction
    message = str(error.value)
    assert f"{tmp_path / REVIEW_FILE}: 2 of 1000 lines are malformed" in message
    assert f'line 3: "{long_bad_line[:200]}…"' in message
    assert long_bad_line[:201] not in message
    assert "max_malformed_fraction" in message


def test_malformed_business_lines_count_against_the_limit_too(tmp_path):
    raw = write_raw(tmp_path, [*SHOP_BUSINESSES, '{"business_id": null}'], SHOP_REVIEWS)
    with pytest.raises(ValueError, match=rf'{BUSINESS_FILE}: 1 of 4 lines .* line 4: "{{"business_id": null}}"'):
        parse(raw)
    examples, skipped = parse(raw, max_malformed_fraction=0.25)
    assert len(examples) == 4
    assert skipped == {"malformed_business_line": 1}


def test_bad_settings_are_refused_when_parse_is_called(tmp_path):
    raw = write_raw(tmp_path, SHOP_BUSINESSES, SHOP_REVIEWS)
    with pytest.raises(ValueError, match="datasets.yelp.top_k_categories must be at least 1, got 0"):
        Yelp().parse({**PARAMS, "top_k_categories": 0}, raw)
    with pytest.raises(ValueError, match="test_fraction \\+ validation_fraction must be below 1"):
        Yelp().parse({**PARAMS, "test_fraction": 0.5, "validation_fraction": 0.5}, raw)
    with pytest.raises(FileNotFoundError, match=f"{REVIEW_FILE} missing; run the download step"):
        Yelp().parse(PARAMS, tmp_path / "empty")


def test_a_missing_download_says_where_to_get_it_and_where_to_put_it(tmp_path):
    target = tmp_path / "manual" / "yelp"
    with pytest.raises(FileNotFoundError) as error:
        Yelp().download({**PARAMS, "path": str(target)}, tmp_path / "raw")
    message = str(error.value)
    assert "\n" not in message
    assert "Yelp's terms require a manual download" in message
    assert 'https://www.yelp.com/dataset ("Download JSON"' in message
    assert f"at {target} (datasets.yelp.path in params.yaml)" in message


def write_tar(archive: Path, members: dict[str, bytes]) -> Path:
    """A tar holding ``members`` (name → content)."""
    with tarfile.open(archive, "w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return archive


def yelp_tar(archive: Path) -> Path:
    """A tar laid out like Yelp's: the two files used here, another JSON file and the terms."""
    return write_tar(archive, {
        "Dataset_User_Agreement.pdf": b"%PDF-1.4",
        BUSINESS_FILE: json_lines(SHOP_BUSINESSES),
        "yelp_academic_dataset_checkin.json": b'{"business_id":"b1","date":"2016-04-26 19:49:16"}\n',
        REVIEW_FILE: json_lines(SHOP_REVIEWS),
    })  # fmt: skip


def test_download_extracts_only_the_two_files_of_the_tar_into_raw_dir(tmp_path):
    (tmp_path / "manual").mkdir()
    archive = yelp_tar(tmp_path / "manual" / "yelp_dataset.tar")
    raw = tmp_path / "raw"
    Yelp().download({**PARAMS, "path": str(archive)}, raw)
    assert sorted(path.name for path in raw.iterdir()) == [BUSINESS_FILE, REVIEW_FILE]
    assert (raw / REVIEW_FILE).read_bytes() == json_lines(SHOP_REVIEWS)
    assert sorted(path.name for path in archive.parent.iterdir()) == ["yelp_dataset.tar"]  # nothing next to it
    examples, _ = parse(raw)
    assert len(examples) == 4


def test_a_tar_in_a_folder_is_extracted_next_to_it_once(tmp_path):
    yelp_tar(tmp_path / "yelp_dataset.tar")
    files = locate_yelp_files(tmp_path)
    assert files == (tmp_path / BUSINESS_FILE, tmp_path / REVIEW_FILE)
    modified = files[1].stat().st_mtime_ns
    assert locate_yelp_files(tmp_path / "yelp_dataset.tar") == files  # same size: kept, not extracted again
    assert files[1].stat().st_mtime_ns == modified
    assert not (tmp_path / "yelp_academic_dataset_checkin.json").exists()


def test_unsafe_or_incomplete_tars_are_refused(tmp_path):
    unsafe = write_tar(tmp_path / "unsafe.tar", {f"../{REVIEW_FILE}": b"{}\n", BUSINESS_FILE: b"{}\n"})
    with pytest.raises(UnsafeArchiveError, match="points outside the destination folder"):
        extract_yelp_files(unsafe, tmp_path / "out")
    partial = write_tar(tmp_path / "partial.tar", {BUSINESS_FILE: b"{}\n"})
    with pytest.raises(ValueError, match=f"holds no {REVIEW_FILE}"):
        extract_yelp_files(partial, tmp_path / "out")
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(yelp_tar(tmp_path / "whole.tar").read_bytes()[:1700])  # in the business file's data
    with pytest.raises(CorruptArchiveError, match="truncated.tar is truncated or corrupt"):
        extract_yelp_files(truncated, tmp_path / "fresh")
    assert list((tmp_path / "fresh").iterdir()) == []  # nothing half-written


def test_download_links_files_of_a_folder_instead_of_copying_them(tmp_path):
    source = write_raw(tmp_path / "manual", SHOP_BUSINESSES, SHOP_REVIEWS)
    raw = tmp_path / "raw"
    Yelp().download({**PARAMS, "path": str(source)}, raw)
    for name in (BUSINESS_FILE, REVIEW_FILE):
        assert os.path.samefile(raw / name, source / name)  # a hard link here, a symbolic link across file systems
    Yelp().download({**PARAMS, "path": str(source)}, raw)  # again: still linked, nothing left behind
    assert sorted(path.name for path in raw.iterdir()) == [BUSINESS_FILE, REVIEW_FILE]


@pytest.fixture(scope="module")
def large_raw(tmp_path_factory) -> Path:
    """A review file of 50,000 lines over 20 businesses."""
    return write_raw(tmp_path_factory.mktemp("large"), many_businesses(), many_reviews(50_000))


def test_parse_is_a_generator_whose_first_example_does_not_need_the_whole_second_pass(large_raw, monkeypatch):
    lines_read: list[int] = []  # lines read by each pass over a file, in order of the passes
    read_json_lines = yelp.read_json_lines

    def counting_reader(path):
        lines_read.append(0)
        for item in read_json_lines(path):
            lines_read[-1] += 1
            yield item

    monkeypatch.setattr(yelp, "read_json_lines", counting_reader)
    stream = Yelp().parse({**PARAMS, "top_k_categories": 3}, large_raw)
    assert isinstance(stream, types.GeneratorType)
    assert lines_read == []  # nothing is read before iterating

    first = next(stream)
    assert first.id == "review-000000"
    assert lines_read == [20, 50_000, 1]  # businesses, the counting pass, one line of the yielding pass
    stream.close()


def test_memory_does_not_grow_with_the_review_file(large_raw):
    tracemalloc.start()
    try:
        count = sum(1 for _ in Yelp().parse({**PARAMS, "top_k_categories": 3}, large_raw))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 50_000
    assert peak < 1_000_000  # holding 50,000 examples would take well over 10 MB


@pytest.fixture(scope="module")
def real_raw(tmp_path_factory) -> Path:
    """The real Yelp sample's two files, extracted from the shared tar."""
    if not REAL_ARCHIVE.is_file():
        pytest.skip(f"the real Yelp sample {REAL_ARCHIVE} is absent (it lives in ../shared/data, never in the repo)")
    folder = tmp_path_factory.mktemp("yelp-real")
    locate_yelp_files(REAL_ARCHIVE, extract_dir=folder)
    return folder


def test_real_sample_has_1724_reviews_of_a_known_business(real_raw):
    examples, skipped = parse(real_raw, top_k_categories=10_000)
    assert skipped == {"unknown_business": 3276}
    assert len(examples) == 1724
    assert len({example.id for example in examples}) == 1724
    frequencies = Counter(label for example in examples for label in example.labels)
    assert len(frequencies) == 465  # the README's facts: 465 categories, 84 of them with 20 reviews or more
    assert sum(count >= 20 for count in frequencies.values()) == 84


def test_real_sample_with_the_top_20_categories(real_raw):
    examples, skipped = parse(real_raw, top_k_categories=20, test_fraction=0.1, validation_fraction=0.1, seed=13)
    assert skipped == {"unknown_business": 3276, "no_top_category": 110}
    assert len(examples) == 1614
    assert Counter(example.split for example in examples) == {"train": 1293, "valid": 163, "test": 158}
    frequencies = Counter(label for example in examples for label in example.labels)
    assert len(frequencies) == 20
    assert frequencies.most_common(4) == [("Restaurants", 1226), ("Food", 500), ("Nightlife", 415), ("Bars", 387)]
    assert examples[0].id == "KU_O5udG6zpxOg-VcAEodg"
    assert examples[0].labels == (
        "Restaurants", "Food", "American (New)", "Breakfast & Brunch", "Sandwiches", "Coffee & Tea",
    )  # fmt: skip

    capped, skipped = parse(real_raw, top_k_categories=20, max_reviews_per_business=10)
    assert skipped == {"unknown_business": 3276, "no_top_category": 110, "over_max_reviews_per_business": 64}
    assert len(capped) == 1550
