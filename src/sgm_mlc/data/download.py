"""Fetch raw dataset files (verified by sha256, atomically, with retries and resume) and unpack archives safely.

:func:`fetch` downloads into ``<target>.partial`` beside the target, checks the sha256, and only then renames the
file onto the target, so the target is either absent or verified. The partial file survives between attempts
(and an interrupted run), so a dropped connection resumes with an HTTP ``Range`` request; it is deleted when the
download finally fails or the checksum is wrong.

:func:`extract_archive` refuses any archive member that would land outside the destination, and unpacks into a
temporary sibling folder that replaces the destination only when everything was extracted.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm import tqdm

from sgm_mlc.atomic import atomic_directory

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
_USER_AGENT = "sgm-mlc-downloader"
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_ZIP_SUFFIXES = (".zip",)
# Errors after which another attempt may succeed. HTTPError (a URLError) is sorted out by _is_permanent.
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)
CORRUPT_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error)


@dataclass(frozen=True)
class ExtractionLimits:
    """The most an archive may unpack to (``downloads`` in params.yaml): larger is refused before anything is
    written, as a decompression bomb would be."""

    max_extracted_bytes: int = 64 << 30
    max_extracted_files: int = 1_000_000


_LIMITS: ContextVar[ExtractionLimits] = ContextVar("extraction_limits", default=ExtractionLimits())
_PARTIAL_DIR: ContextVar[Path | None] = ContextVar("partial_downloads", default=None)


@contextmanager
def partial_downloads(folder: Path) -> Iterator[None]:
    """Downloads inside the block accumulate in ``folder`` (named by their sha256), where a download cut short
    stays for the next attempt to resume, even after the step that started it failed."""
    token = _PARTIAL_DIR.set(Path(folder))
    try:
        yield
    finally:
        _PARTIAL_DIR.reset(token)


@contextmanager
def extraction_limits(limits: ExtractionLimits) -> Iterator[None]:
    """Extractions inside the block are held to ``limits``."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def check_extraction_size(archive: Path, sizes: Iterable[int]) -> None:
    """Raise :class:`UnsafeArchiveError` if the files of ``archive`` (their declared uncompressed ``sizes``)
    exceed the limits in force."""
    limits, sizes = _LIMITS.get(), list(sizes)
    total = sum(sizes)
    if len(sizes) > limits.max_extracted_files or total > limits.max_extracted_bytes:
        raise UnsafeArchiveError(
            f"{archive}: refusing to extract {len(sizes):,} files, {total:,} bytes uncompressed: over "
            f"downloads.max_extracted_files ({limits.max_extracted_files:,}) or downloads.max_extracted_bytes "
            f"({limits.max_extracted_bytes:,}) in params.yaml (a decompression bomb, or raise the limits)"
        )


class DownloadError(RuntimeError):
    """A file could not be downloaded; the message names the URL, the target file and the fix."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the sha256 given in ``params.yaml``."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the destination folder (``..``, absolute path, escaping link)."""


class CorruptArchiveError(RuntimeError):
    """An archive is truncated or damaged; the message says to delete it and download it again."""


class _ShortRead(Exception):
    """The server sent fewer bytes than it announced, or refused to resume; worth another attempt."""


# --------------------------------------------------------------------------------------------------- download


def sha256_of(path: Path, chunk_size: int = _CHUNK) -> str:
    """The lowercase hex sha256 of the file at ``path``, read in chunks of ``chunk_size`` bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    target: Path,
    sha256: str,
    *,
    retries: int = 4,
    backoff_seconds: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` (``file://``, ``http://`` or ``https://``) to ``target``, verified against ``sha256``.

    Nothing is fetched if ``target`` already has the expected sha256; a target with another sha256 is fetched
    again. Network errors, HTTP 5xx/429 and short reads are retried ``retries`` times after the first attempt,
    waiting ``backoff_seconds * 2**attempt`` before each retry and resuming the partial file where the server
    allows it; other HTTP errors (404, 403, ...) and a missing local file fail at once. ``timeout`` applies to
    each blocking socket operation. A body sent without ``Content-Length`` ends when the connection closes,
    which a dropped connection looks like too: its end is checked by asking for the bytes after it (a server
    that answers ``416`` has no more; one that sends more had been cut short, and the download resumes).
    Returns ``target``.

    Raises :class:`ChecksumError` if the downloaded bytes have another sha256 (the partial file is deleted), and
    :class:`DownloadError` if the download fails (bytes already received stay in the partial file, which the
    next attempt resumes; see :func:`partial_downloads`).
    """
    target = Path(target)
    expected = _normalise_sha256(sha256)
    if target.exists():
        if sha256_of(target) == expected:
            log.info("%s is already present with the expected sha256; not downloading it again", target)
            return target
        log.warning("%s exists but its sha256 is not %s; downloading it again from %s", target, expected, url)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(target, expected)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        length_known = _download_with_retries(url, target, partial, retries, backoff_seconds, timeout, progress)
        _verify(url, target, partial, expected, length_known)
    except ChecksumError:
        partial.unlink(missing_ok=True)
        raise
    except DownloadError:
        if partial.exists() and partial.stat().st_size:
            log.warning("kept the %d bytes received in %s: the next attempt resumes from there",
                        partial.stat().st_size, partial)
        else:
            partial.unlink(missing_ok=True)
        raise
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    log.info("downloaded %s to %s (sha256 verified)", url, target)
    return target


def _normalise_sha256(sha256: str) -> str:
    """``sha256`` as lowercase hex; ValueError if it is not 64 hex digits."""
    normalised = sha256.strip().lower()
    if not _SHA256.fullmatch(normalised):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}; set the sha256 in params.yaml")
    return normalised


def _partial_path(target: Path, sha256: str) -> Path:
    """Where the download of ``target`` accumulates until it is verified: beside it, or in the folder of
    :func:`partial_downloads` (named by the expected sha256, so another file never resumes it)."""
    folder = _PARTIAL_DIR.get()
    if folder is None:
        return target.with_name(target.name + ".partial")
    return folder / f"{target.name}.{sha256[:16]}.partial"


def _download_with_retries(
    url: str, target: Path, partial: Path, retries: int, backoff_seconds: float, timeout: float, progress: bool
) -> bool:
    """Fill ``partial`` with the bytes at ``url``, retrying transient failures with exponential backoff; whether
    the file's length is known to be complete (announced, or confirmed by the server)."""
    attempts = retries + 1
    for attempt in range(attempts):
        try:
            return _download_once(url, partial, timeout, progress)
        except (*_TRANSIENT, _ShortRead) as error:
            if _is_permanent(error) or attempt == retries:
                raise _failure(url, target, error, attempt + 1) from error
            delay = backoff_seconds * 2**attempt
            log.warning("attempt %d/%d to download %s failed (%s); retrying in %.2f s",
                        attempt + 1, attempts, url, _reason(error), delay)
            time.sleep(delay)


def _download_once(url: str, partial: Path, timeout: float, progress: bool) -> bool:
    """One attempt: request ``url`` (from the end of ``partial`` if it has bytes) and write the body to ``partial``;
    whether the length is known to be complete.

    Appends when the server answers the ``Range`` request with 206; starts over when it sends the whole file.
    Raises :class:`_ShortRead` if the body is shorter than its ``Content-Length``. A body without one is
    followed by a request for the bytes after it (:func:`_confirm_end`).
    """
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()  # its code and reason stay readable; the connection is released now
        _discard_unresumable(error, partial, offset)
        raise
    with response:
        resumed = bool(offset) and response.status == 206
        if resumed:
            log.info("resuming %s at byte %d", url, offset)
        elif offset:
            log.info("%s sent the whole file instead of resuming at byte %d; starting over", url, offset)
        announced = _content_length(response.headers)
        start = offset if resumed else 0
        with partial.open("ab" if resumed else "wb") as sink:
            received = _copy(response, sink, start, announced, partial.name, progress)
    if announced is not None and received < announced:
        raise _ShortRead(f"connection closed after {received} of {announced} bytes")
    return announced is not None or _confirm_end(url, partial, timeout)


def _confirm_end(url: str, partial: Path, timeout: float) -> bool:
    """After a body without ``Content-Length``: True if the server says nothing follows the bytes in
    ``partial`` (416 to a range from its end); :class:`_ShortRead` if it sends more (the connection had dropped);
    False if it cannot say (it ignores ranges)."""
    size = partial.stat().st_size
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, "Range": f"bytes={size}-"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status == 206 and response.read(1):
                raise _ShortRead(f"connection closed after {size} bytes; the server has more")
            return response.status == 206
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416:
            return True
        raise


def _discard_unresumable(error: urllib.error.HTTPError, partial: Path, offset: int) -> None:
    """On ``416 Range Not Satisfiable`` the partial file is unusable: delete it and retry from zero."""
    if error.code == 416 and offset:
        partial.unlink()
        raise _ShortRead(f"server cannot resume at byte {offset}; starting over") from error


def _content_length(headers: Message) -> int | None:
    """The announced body length, or None if the response does not say."""
    value = headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _copy(
    response: IO[bytes], sink: IO[bytes], start: int, announced: int | None, name: str, progress: bool
) -> int:
    """Stream ``response`` into ``sink`` with a progress bar; return the number of body bytes received."""
    total = None if announced is None else start + announced
    received = 0
    with tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
              file=sys.stderr, leave=False, disable=None if progress else True) as bar:
        while chunk := response.read(_CHUNK):
            sink.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return received


def _is_permanent(error: BaseException) -> bool:
    """True for failures that retrying cannot fix: HTTP errors other than 5xx/429, and a missing local file."""
    if isinstance(error, urllib.error.HTTPError):
        return not (error.code == 429 or error.code >= 500)
    return isinstance(error, urllib.error.URLError) and isinstance(error.reason, FileNotFoundError)


def _reason(error: BaseException) -> str:
    """A short human-readable cause of a failed attempt."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, _ShortRead):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _failure(url: str, target: Path, error: BaseException, attempts: int) -> DownloadError:
    """The error to raise when downloading ``url`` gave up after ``attempts`` attempts."""
    return DownloadError(
        f"could not download {url} to {target} ({attempts} attempt{'s' if attempts > 1 else ''}): "
        f"{_reason(error)}. Fix: download it yourself and place it at {target}, or point the url in params.yaml "
        f"at a working source or a local mirror (file:// or http://127.0.0.1:...)."
    )


def _verify(url: str, target: Path, partial: Path, expected: str, length_known: bool) -> None:
    """Raise :class:`ChecksumError` unless the downloaded ``partial`` has the sha256 ``expected``. The advice to
    trust the other checksum is given only for a file whose length is known to be complete."""
    actual = sha256_of(partial)
    if actual == expected:
        return
    size = partial.stat().st_size
    if length_known:
        fix = f"check the url in params.yaml; if you trust this source, set the sha256 in params.yaml to {actual}."
    else:
        fix = (
            f"the server did not say how long the file is, so these {size:,} bytes may be cut short: run the step "
            "again, or fetch the file from a mirror that does; do not pin the checksum of this download."
        )
    raise ChecksumError(
        f"sha256 mismatch for {url} (downloading to {target}): expected {expected}, got {actual} ({size:,} bytes); "
        f"the download was deleted. Fix: {fix}"
    )


# ---------------------------------------------------------------------------------------------------- extract


def extract_archive(archive: Path, target_dir: Path) -> list[Path]:
    """Safely extract a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` archive into ``target_dir``.

    Every member is checked before anything is written: an absolute path, a path leaving ``target_dir`` (``..``),
    a link pointing outside it, or a device/FIFO raises :class:`UnsafeArchiveError`. Members are unpacked into a
    temporary sibling folder that replaces ``target_dir`` (and anything in it) only once all succeeded, so a
    truncated or corrupt archive raises :class:`CorruptArchiveError` and leaves ``target_dir`` untouched.
    Returns the extracted files (and links), sorted. An unsupported file type raises ValueError.
    """
    archive, target_dir = Path(archive), Path(target_dir)
    extract = _extractor_for(archive)
    try:
        with atomic_directory(target_dir) as staging:
            extract(archive, staging)
    except CORRUPT_ARCHIVE_ERRORS as error:
        raise CorruptArchiveError(
            f"{archive} is truncated or corrupt ({type(error).__name__}: {error}); nothing was extracted to "
            f"{target_dir}. Fix: delete {archive} and download it again."
        ) from error
    log.info("extracted %s into %s", archive, target_dir)
    return sorted(path for path in target_dir.rglob("*") if path.is_symlink() or not path.is_dir())


def _extractor_for(archive: Path) -> Callable[[Path, Path], None]:
    """The extraction function for ``archive``'s type, judged by its suffix; ValueError if unsupported."""
    name = archive.name.lower()
    if name.endswith(_TAR_SUFFIXES):
        return _extract_tar
    if name.endswith(_ZIP_SUFFIXES):
        return _extract_zip
    raise ValueError(
        f"cannot extract {archive}: unsupported archive type (expected one of "
        f"{', '.join(_TAR_SUFFIXES + _ZIP_SUFFIXES)})"
    )


def _extract_tar(archive: Path, destination: Path) -> None:
    """Check every member of the tar ``archive``, then extract it into ``destination`` with the data filter.

    The stream is read to its end afterwards, so a compressed archive missing only its trailer (which tarfile
    never reaches) is still reported as truncated.
    """
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            check_tar_member(archive, member, destination)
        check_extraction_size(archive, (member.size for member in members if member.isfile()))
        try:
            tar.extractall(destination, members=members, filter="data")
        except tarfile.FilterError as error:
            name = error.tarinfo.name
            raise UnsafeArchiveError(f"{archive}: refusing to extract member {name!r}: {error}") from error
        while tar.fileobj.read(_CHUNK):
            pass


def check_tar_member(archive: Path, member: tarfile.TarInfo, destination: Path) -> None:
    """Raise :class:`UnsafeArchiveError` if ``member`` or the link it holds would leave ``destination``."""
    _check_inside(archive, member.name, destination, member.name)
    if member.issym():
        _check_inside(archive, member.name, destination, str(PurePosixPath(member.name).parent / member.linkname))
    elif member.islnk():
        _check_inside(archive, member.name, destination, member.linkname)
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"{archive}: refusing to extract member {member.name!r}: not a file, folder or link")


def _extract_zip(archive: Path, destination: Path) -> None:
    """Check every entry name of the zip ``archive``, then extract it into ``destination``."""
    with zipfile.ZipFile(archive) as zipped:
        for name in zipped.namelist():
            _check_inside(archive, name, destination, name)
        # The declared sizes bound the extraction: zipfile reads no more than an entry's declared size.
        check_extraction_size(archive, (entry.file_size for entry in zipped.infolist() if not entry.is_dir()))
        zipped.extractall(destination)


def _check_inside(archive: Path, member: str, destination: Path, path: str) -> None:
    """Raise :class:`UnsafeArchiveError` if ``path`` (relative to ``destination``) is absolute or leaves it."""
    if PurePosixPath(path).is_absolute():
        raise UnsafeArchiveError(f"{archive}: refusing to extract member {member!r}: absolute path {path!r}")
    root = destination.resolve()
    if not (root / path).resolve().is_relative_to(root):
        raise UnsafeArchiveError(
            f"{archive}: refusing to extract member {member!r}: {path!r} points outside the destination folder"
        )
