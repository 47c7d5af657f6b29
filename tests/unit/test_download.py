"""Tests for sgm_mlc.data.download: verified, atomic, retrying, resumable fetch; safe archive extraction."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from sgm_mlc.data import download
from sgm_mlc.data.download import (
    ChecksumError,
    CorruptArchiveError,
    DownloadError,
    ExtractionLimits,
    UnsafeArchiveError,
    extract_archive,
    extraction_limits,
    fetch,
    partial_downloads,
    sha256_of,
)
from tests.support.http_server import serve_directory, unused_loopback_url

PAYLOAD = bytes(range(256)) * 1024  # 256 KiB: several read chunks, distinct bytes at every offset
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
FAST = {"backoff_seconds": 0.01, "timeout": 5.0, "progress": False}


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A folder holding ``data.bin`` (:data:`PAYLOAD`), to serve over file:// or HTTP."""
    root = tmp_path / "served"
    root.mkdir()
    (root / "data.bin").write_bytes(PAYLOAD)
    return root


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff delays instead of sleeping."""
    delays: list[float] = []
    monkeypatch.setattr(download.time, "sleep", delays.append)
    return delays


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` (non-recursive), sorted."""
    return sorted(path.name for path in folder.iterdir())


# ------------------------------------------------------------------------------------------------- sha256_of


def test_sha256_of_matches_hashlib_for_any_chunk_size(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(PAYLOAD)
    assert sha256_of(file) == sha256_of(file, chunk_size=7) == PAYLOAD_SHA


# ------------------------------------------------------------------------------------------------- fetch


def test_fetch_file_url_verifies_and_returns_target(served: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "data.bin"
    result = fetch((served / "data.bin").as_uri(), target, PAYLOAD_SHA, **FAST)
    assert result == target
    assert target.read_bytes() == PAYLOAD
    assert leftovers(target.parent) == ["data.bin"]


def test_fetch_accepts_uppercase_sha256(served: Path, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    fetch((served / "data.bin").as_uri(), target, PAYLOAD_SHA.upper(), **FAST)
    assert target.read_bytes() == PAYLOAD


def test_fetch_rejects_malformed_sha256_before_downloading(served: Path, tmp_path: Path) -> None:
    with serve_directory(served) as base_url:
        with pytest.raises(ValueError, match="64 hexadecimal digits"):
            fetch(base_url + "data.bin", tmp_path / "data.bin", "abc", **FAST)
        assert base_url.requests == []


def test_fetch_http(served: Path, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    with serve_directory(served) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [(r.path, r.range, r.status) for r in base_url.requests] == [("/data.bin", None, 200)]
    assert target.read_bytes() == PAYLOAD


def test_cached_target_is_not_fetched_again(
    served: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "data.bin"
    with serve_directory(served) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        with caplog.at_level(logging.INFO, logger=download.__name__):
            fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert len(base_url.requests) == 1
    assert "already present" in caplog.text


def test_target_with_wrong_checksum_is_fetched_again(served: Path, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"stale")
    with serve_directory(served) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert len(base_url.requests) == 1
    assert target.read_bytes() == PAYLOAD


def test_wrong_checksum_raises_and_leaves_nothing(served: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    url = (served / "data.bin").as_uri()
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as caught:
        fetch(url, out / "data.bin", wrong, **FAST)
    message = str(caught.value)
    assert isinstance(caught.value, DownloadError)
    for expected_part in (wrong, PAYLOAD_SHA, url, str(out / "data.bin"), "set the sha256 in params.yaml"):
        assert expected_part in message
    assert leftovers(out) == []


def test_retries_after_503_with_exponential_backoff(served: Path, tmp_path: Path, sleeps: list[float]) -> None:
    target = tmp_path / "data.bin"
    with serve_directory(served, fail_first=2) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [r.status for r in base_url.requests] == [503, 503, 200]
    assert sleeps == [0.01, 0.02]
    assert target.read_bytes() == PAYLOAD


def test_gives_up_after_retries_and_removes_partial(served: Path, tmp_path: Path, sleeps: list[float]) -> None:
    target = tmp_path / "data.bin"
    with serve_directory(served, fail_first=100) as base_url:
        with pytest.raises(DownloadError, match="503") as caught:
            fetch(base_url + "data.bin", target, PAYLOAD_SHA, retries=2, **FAST)
        assert len(base_url.requests) == 3
    assert sleeps == [0.01, 0.02]
    assert "3 attempts" in str(caught.value)
    assert leftovers(tmp_path) == ["served"]


def test_a_500_is_retried_and_one_that_persists_names_the_status_and_keeps_nothing(
    served: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    target = tmp_path / "raw" / "data.bin"
    with serve_directory(served, fail_first=1, fail_status=500) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [r.status for r in base_url.requests] == [500, 200]
    assert target.read_bytes() == PAYLOAD
    target.unlink()
    with serve_directory(served, fail_first=100, fail_status=500) as base_url:
        with pytest.raises(DownloadError, match="500") as caught:
            fetch(base_url + "data.bin", target, PAYLOAD_SHA, retries=1, **FAST)
    assert base_url + "data.bin" in str(caught.value) and "2 attempts" in str(caught.value)
    assert leftovers(target.parent) == []


def test_a_server_sending_other_bytes_fails_the_checksum_and_keeps_neither_file_nor_partial(
    served: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    other = bytes(reversed(PAYLOAD))  # same length, other content: a changed or tampered file
    (served / "data.bin").write_bytes(other)
    target = tmp_path / "raw" / "data.bin"
    with serve_directory(served) as base_url:
        with pytest.raises(ChecksumError) as caught:
            fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [r.status for r in base_url.requests] == [200]  # a wrong file is not fetched again and again
    message = str(caught.value)
    assert PAYLOAD_SHA in message and hashlib.sha256(other).hexdigest() in message and str(target) in message
    assert leftovers(target.parent) == []


def test_404_fails_at_once(served: Path, tmp_path: Path, sleeps: list[float]) -> None:
    target = tmp_path / "missing.bin"
    with serve_directory(served) as base_url:
        url = base_url + "missing.bin"
        with pytest.raises(DownloadError) as caught:
            fetch(url, target, PAYLOAD_SHA, **FAST)
        assert [r.status for r in base_url.requests] == [404]
    assert sleeps == []
    message = str(caught.value)
    assert url in message and str(target) in message and "404" in message and "1 attempt)" in message
    assert not target.exists() and not target.with_name("missing.bin.partial").exists()


def test_missing_local_file_fails_at_once(tmp_path: Path, sleeps: list[float]) -> None:
    url = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(DownloadError, match="No such file"):
        fetch(url, tmp_path / "data.bin", PAYLOAD_SHA, **FAST)
    assert sleeps == []


def test_unreachable_server_names_url_target_and_fix(tmp_path: Path, sleeps: list[float]) -> None:
    url = unused_loopback_url("data.bin")
    target = tmp_path / "raw" / "data.bin"
    with pytest.raises(DownloadError) as caught:
        fetch(url, target, PAYLOAD_SHA, retries=1, **FAST)
    message = str(caught.value)
    assert url in message
    assert f"place it at {target}" in message
    assert "refused" in message.lower()
    assert "local mirror" in message
    assert sleeps == [0.01]
    assert leftovers(target.parent) == []


def test_resumes_from_existing_partial(served: Path, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    half = len(PAYLOAD) // 2
    target.with_name("data.bin.partial").write_bytes(PAYLOAD[:half])
    with serve_directory(served) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [(r.range, r.status) for r in base_url.requests] == [(f"bytes={half}-", 206)]
    assert target.read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["data.bin", "served"]


def test_restarts_from_zero_when_server_ignores_range(served: Path, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.with_name("data.bin.partial").write_bytes(b"garbage that must not be kept")
    with serve_directory(served, support_range=False) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [r.status for r in base_url.requests] == [200]
    assert target.read_bytes() == PAYLOAD


def test_restarts_from_zero_when_range_not_satisfiable(
    served: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    target = tmp_path / "data.bin"
    target.with_name("data.bin.partial").write_bytes(PAYLOAD + b"too long")
    with serve_directory(served) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [(r.range, r.status) for r in base_url.requests] == [
            (f"bytes={len(PAYLOAD) + 8}-", 416),
            (None, 200),
        ]
    assert target.read_bytes() == PAYLOAD


def test_truncated_response_is_retried_with_resume(served: Path, tmp_path: Path, sleeps: list[float]) -> None:
    target = tmp_path / "data.bin"
    cut = 100_000
    with serve_directory(served, truncate_to=cut) as base_url:
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [(r.range, r.status) for r in base_url.requests] == [(None, 200), (f"bytes={cut}-", 206)]
    assert sleeps == [0.01]
    assert target.read_bytes() == PAYLOAD


def test_a_download_cut_short_keeps_its_bytes_and_the_next_attempt_resumes(
    served: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    target = tmp_path / "data.bin"
    with serve_directory(served, truncate_to=1000, truncate_times=100) as base_url:
        with pytest.raises(DownloadError, match="connection closed after 1000 of"):
            fetch(base_url + "data.bin", target, PAYLOAD_SHA, retries=2, **FAST)
        assert [r.range for r in base_url.requests] == [None, "bytes=1000-", "bytes=2000-"]
    assert leftovers(tmp_path) == ["data.bin.partial", "served"] and not target.exists()
    with serve_directory(served) as base_url:  # the step run again: it resumes where the last attempt stopped
        fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
        assert [(r.range, r.status) for r in base_url.requests] == [("bytes=3000-", 206)]
    assert target.read_bytes() == PAYLOAD and leftovers(tmp_path) == ["data.bin", "served"]


def test_a_partial_download_survives_a_failed_step_in_the_partial_folder(
    served: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    raw, partials = tmp_path / "raw", tmp_path / ".partial"
    with serve_directory(served, truncate_to=1000, truncate_times=100) as base_url, partial_downloads(partials):
        with pytest.raises(DownloadError):
            fetch(base_url + "data.bin", raw / "data.bin", PAYLOAD_SHA, retries=0, **FAST)
    assert [path.name for path in partials.iterdir()] == [f"data.bin.{PAYLOAD_SHA[:16]}.partial"]
    with serve_directory(served) as base_url, partial_downloads(partials):
        fetch(base_url + "data.bin", raw / "data.bin", PAYLOAD_SHA, **FAST)
        assert [r.range for r in base_url.requests] == ["bytes=1000-"]
    assert (raw / "data.bin").read_bytes() == PAYLOAD and list(partials.iterdir()) == []


@pytest.mark.parametrize("support_range", [True, False])
def test_a_drop_without_content_length_is_detected_or_never_advised_to_be_pinned(
    served: Path, tmp_path: Path, sleeps: list[float], support_range: bool
) -> None:
    target = tmp_path / "data.bin"
    with serve_directory(served, truncate_to=5000, send_length=False, support_range=support_range) as base_url:
        if support_range:  # the end is checked with a range request: the rest comes, the file is complete
            fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
            assert target.read_bytes() == PAYLOAD
            assert [(r.range, r.status) for r in base_url.requests][:2] == [(None, 200), ("bytes=5000-", 206)]
        else:  # nothing can tell the cut from the end: the checksum fails, without advice to pin it
            with pytest.raises(ChecksumError) as caught:
                fetch(base_url + "data.bin", target, PAYLOAD_SHA, **FAST)
            message = str(caught.value)
            assert "5,000 bytes may be cut short" in message and "do not pin the checksum" in message
            assert "set the sha256 in params.yaml to" not in message


def test_progress_bar_is_sized_by_content_length(
    served: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars: list[dict] = []
    real_tqdm = download.tqdm

    def spy(*args, **kwargs):
        bars.append(kwargs)
        return real_tqdm(*args, **kwargs)

    monkeypatch.setattr(download, "tqdm", spy)
    half = len(PAYLOAD) // 2
    (tmp_path / "data.bin.partial").write_bytes(PAYLOAD[:half])
    with serve_directory(served) as base_url:
        fetch(base_url + "data.bin", tmp_path / "data.bin", PAYLOAD_SHA, backoff_seconds=0.01, progress=True)
        fetch(base_url + "data.bin", tmp_path / "quiet.bin", PAYLOAD_SHA, **FAST)
    assert [(bar["total"], bar["initial"], bar["disable"]) for bar in bars] == [
        (len(PAYLOAD), half, None),
        (len(PAYLOAD), 0, True),
    ]


# ------------------------------------------------------------------------------------------------- archives


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """Write a tar (compressed as the suffix says) holding ``members`` (info, data or None for non-files)."""
    mode = "w:gz" if path.name.endswith((".tar.gz", ".tgz")) else "w"
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def link_member(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def test_extract_tar_gz(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "a.tar.gz",
        [file_member("top.txt", b"top"), file_member("sub/inner.txt", b"inner"), link_member("sub/alias", "inner.txt")],
    )
    target = tmp_path / "out"
    files = extract_archive(archive, target)
    assert files == [target / "sub" / "alias", target / "sub" / "inner.txt", target / "top.txt"]
    assert (target / "sub" / "inner.txt").read_bytes() == b"inner"
    assert (target / "sub" / "alias").read_bytes() == b"inner"
    assert leftovers(tmp_path) == ["a.tar.gz", "out"]


def test_extract_plain_tar_replaces_previous_contents(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar", [file_member("new.txt", b"new")])
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    assert extract_archive(archive, target) == [target / "new.txt"]
    assert leftovers(target) == ["new.txt"]


def test_extract_zip(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("top.txt", "top")
        zipped.writestr("sub/inner.txt", "inner")
    target = tmp_path / "out"
    assert extract_archive(archive, target) == [target / "sub" / "inner.txt", target / "top.txt"]
    assert (target / "top.txt").read_text() == "top"


@pytest.mark.parametrize(
    ("members", "offender"),
    [
        pytest.param([file_member("ok.txt", b"ok"), file_member("../evil", b"x")], "../evil", id="dotdot"),
        pytest.param([file_member("a/../../evil", b"x")], "a/../../evil", id="nested-dotdot"),
        pytest.param([file_member("/tmp/evil-absolute", b"x")], "/tmp/evil-absolute", id="absolute"),
        pytest.param([link_member("escape", "../outside")], "escape", id="symlink-relative"),
        pytest.param([link_member("escape", "/etc/passwd")], "escape", id="symlink-absolute"),
        pytest.param([link_member("hard", "../outside", tarfile.LNKTYPE)], "hard", id="hardlink"),
        pytest.param([link_member("fifo", "", tarfile.FIFOTYPE)], "fifo", id="fifo"),
    ],
)
def test_unsafe_tar_is_refused_before_writing(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], offender: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = make_tar(tmp_path / "bad.tar", members)
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_archive(archive, work / "out")
    assert str(archive) in str(caught.value) and repr(offender) in str(caught.value)
    assert leftovers(work) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.tar", "work"]
    assert not Path("/tmp/evil-absolute").exists()


def test_link_escaping_through_an_extracted_symlink_is_refused(tmp_path: Path) -> None:
    """``here -> .`` is harmless alone, but makes ``here/up -> ..`` land one level above the destination."""
    work = tmp_path / "work"
    work.mkdir()
    archive = make_tar(tmp_path / "sneaky.tar", [link_member("here", "."), link_member("here/up", "..")])
    with pytest.raises(UnsafeArchiveError, match="here/up"):
        extract_archive(archive, work / "out")
    assert leftovers(work) == []


def test_zip_with_dotdot_entry_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ok.txt", "ok")
        zipped.writestr("../evil.txt", "evil")
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./evil\.txt'"):
        extract_archive(archive, work / "out")
    assert leftovers(work) == []
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("drop", [100_000, 10], ids=["half", "gzip-trailer"])
def test_truncated_tar_gz_raises_and_leaves_no_target(tmp_path: Path, drop: int) -> None:
    """Dropping the last 10 bytes loses only the gzip trailer: every member is intact, yet it must be refused."""
    archive = make_tar(tmp_path / "big.tar.gz", [file_member(f"f{i}.bin", os.urandom(50_000)) for i in range(4)])
    archive.write_bytes(archive.read_bytes()[:-drop])
    target = tmp_path / "out"
    with pytest.raises(CorruptArchiveError) as caught:
        extract_archive(archive, target)
    message = str(caught.value)
    assert str(archive) in message and "delete" in message and "download it again" in message
    assert leftovers(tmp_path) == ["big.tar.gz"]


def test_truncated_zip_raises_and_keeps_previous_target(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("f.bin", os.urandom(50_000))
    archive.write_bytes(archive.read_bytes()[:-100])
    target = tmp_path / "out"
    target.mkdir()
    (target / "previous.txt").write_text("kept")
    with pytest.raises(CorruptArchiveError, match="download it again"):
        extract_archive(archive, target)
    assert leftovers(target) == ["previous.txt"]
    assert leftovers(tmp_path) == ["a.zip", "out"]


def test_unknown_archive_type(tmp_path: Path) -> None:
    archive = tmp_path / "data.rar"
    archive.write_bytes(b"whatever")
    with pytest.raises(ValueError, match=r"data\.rar.*unsupported archive type"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (ExtractionLimits(max_extracted_bytes=1 << 20, max_extracted_files=100), "3 files, 30,000,000 bytes uncompressed"),
        (ExtractionLimits(max_extracted_bytes=1 << 30, max_extracted_files=2), "3 files, 30,000,000 bytes uncompressed"),
    ],
)
def test_a_decompression_bomb_is_refused_before_anything_is_written(tmp_path, kind, limits, message):
    archive = tmp_path / f"bomb.{kind}"
    zeros = b"\0" * 10_000_000  # compresses about a thousand times
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for i in range(3):
                zipped.writestr(f"part{i}.bin", zeros)
    else:
        with tarfile.open(archive, "w:gz") as tar:
            for i in range(3):
                info = tarfile.TarInfo(f"part{i}.bin")
                info.size = len(zeros)
                tar.addfile(info, io.BytesIO(zeros))
    assert archive.stat().st_size < 200_000
    with extraction_limits(limits), pytest.raises(UnsafeArchiveError, match=message + ": over downloads.max_extracted"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    extract_archive(archive, tmp_path / "out")  # within the default limits
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["part0.bin", "part1.bin", "part2.bin"]
