"""A loopback HTTP server for tests: serves a folder, with switches to fail, drop connections or refuse ranges.

Usage::

    with serve_directory(tmp_path, fail_first=2) as base_url:
        fetch(base_url + "file.bin", ...)
        assert [r.status for r in base_url.requests] == [503, 503, 200]

The yielded value is a ``str`` (the base URL, ending in ``/``) that also carries ``.requests``: one
:class:`Request` per request received, in order.
"""

from __future__ import annotations

import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_CHUNK = 1 << 16
_POLL_SECONDS = 0.02  # how quickly shutdown() is noticed
_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass(frozen=True)
class Request:
    """What the server saw and answered: the path, the ``Range`` header (or ``None``) and the status sent."""

    path: str
    range: str | None
    status: int


class ServedDirectory(str):
    """The base URL of a running :func:`serve_directory`, plus the log of requests it has answered."""

    requests: list[Request]


@dataclass
class _Behaviour:
    """The server's switches and counters, shared by every request thread (guarded by ``lock``)."""

    root: Path
    fail_first: int
    fail_status: int
    support_range: bool
    truncate_to: int | None
    truncate_times: int
    send_length: bool
    log: list[Request]
    lock: threading.Lock

    def take_failure(self) -> bool:
        """Consume one of the ``fail_first`` forced failures; True if this request must fail."""
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return True
            return False

    def take_truncation(self) -> int | None:
        """Consume one truncation; the body length to cut the response at, or None to send it whole."""
        with self.lock:
            if self.truncate_to is not None and self.truncate_times > 0:
                self.truncate_times -= 1
                return self.truncate_to
            return None

    def record(self, request: Request) -> None:
        """Append ``request`` to the log."""
        with self.lock:
            self.log.append(request)


def _handler_for(behaviour: _Behaviour) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``behaviour``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (name fixed by http.server)
            """Answer ``fail_status`` (forced failure), 404, 416, 206 (range) or 200."""
            if behaviour.take_failure():
                return self._send_empty(behaviour.fail_status)
            file = self._resolve()
            if file is None:
                return self._send_empty(404)
            size = file.stat().st_size
            match = _RANGE.match(self.headers.get("Range") or "") if behaviour.support_range else None
            start = int(match.group(1)) if match else 0
            if start and start >= size:
                return self._send_empty(416, {"Content-Range": f"bytes */{size}"})
            self.send_response(206 if match else 200)
            self.send_header("Content-Type", "application/octet-stream")
            if behaviour.send_length:
                self.send_header("Content-Length", str(size - start))
            else:
                self.close_connection = True  # HTTP/1.0 style: the end of the body is the end of the connection
            if match:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            self._send_body(file, start, behaviour.take_truncation())

        def send_response(self, code: int, message: str | None = None) -> None:
            """Log the request (before the client can see the answer), then start the response."""
            behaviour.record(Request(self.path, self.headers.get("Range"), code))
            super().send_response(code, message)

        def _resolve(self) -> Path | None:
            """The served file for the request path, or None if missing or outside the root."""
            relative = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
            root = behaviour.root.resolve()
            candidate = (root / relative).resolve()
            if not candidate.is_relative_to(root) or not candidate.is_file():
                return None
            return candidate

        def _send_body(self, file: Path, start: int, limit: int | None) -> None:
            """Stream ``file`` from ``start``; stop after ``limit`` bytes and drop the connection if given."""
            remaining = limit
            with file.open("rb") as source:
                source.seek(start)
                while chunk := source.read(_CHUNK if remaining is None else min(_CHUNK, remaining)):
                    self.wfile.write(chunk)
                    if remaining is not None:
                        remaining -= len(chunk)
            if limit is not None:
                self.close_connection = True

        def _send_empty(self, status: int, headers: dict[str, str] | None = None) -> None:
            """Send a body-less response with ``status``."""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (signature fixed by http.server)
            """Keep test output quiet."""

    return Handler


@contextmanager
def serve_directory(
    root: Path,
    *,
    fail_first: int = 0,
    fail_status: int = 503,
    support_range: bool = True,
    truncate_to: int | None = None,
    truncate_times: int = 1,
    send_length: bool = True,
) -> Iterator[ServedDirectory]:
    """Serve the files under ``root`` on ``http://127.0.0.1:<free port>/`` while the block runs.

    ``fail_first``: the first N requests get ``fail_status`` (by default ``503 Service Unavailable``).
    ``support_range``: answer ``Range: bytes=N-`` with ``206`` and ``Content-Range``; otherwise ignore it
    (``200``, whole file). A range starting at or past the end gets ``416``.
    ``truncate_to``: the first ``truncate_times`` responses with a body announce the full ``Content-Length``
    but send only ``truncate_to`` bytes, then close the connection (a dropped download).
    ``send_length``: announce ``Content-Length``; without it the body ends when the connection closes, so a
    dropped connection looks like the end of the file.
    """
    behaviour = _Behaviour(
        Path(root), fail_first, fail_status, support_range, truncate_to, truncate_times, send_length, [], threading.Lock()
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(behaviour))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": _POLL_SECONDS}, name="test-http-server", daemon=True
    )
    thread.start()
    base_url = ServedDirectory(f"http://127.0.0.1:{server.server_address[1]}/")
    base_url.requests = behaviour.log
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def unused_loopback_url(path: str = "file.bin") -> str:
    """A URL on a loopback port nobody listens on (bound, then released), so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"
