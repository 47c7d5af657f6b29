"""The one small interface every dataset implements, and the record it parses into."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Example:
    """One document with its labels.

    ``labels`` keep the source's own order (the "natural" label order) without repeats; ``split`` is one of
    :data:`SPLITS`.
    """

    id: str
    text: str
    labels: tuple[str, ...]
    split: str


class Dataset(Protocol):
    """A dataset: a name, a way to fetch its raw files, and a parser from those files to examples.

    ``download`` fills ``raw_dir`` (an empty folder the caller owns) with the dataset's raw files and returns
    nothing; ``parse`` reads ``raw_dir`` and returns every example with its final split (train, valid, test).
    Both receive the dataset's own section of ``params.yaml`` (``datasets.<name>``).
    """

    name: str

    def download(self, params: dict[str, Any], raw_dir: Path) -> None: ...

    def parse(self, params: dict[str, Any], raw_dir: Path) -> list[Example]: ...
