"""The one small interface every dataset implements, and the record it parses into."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

SPLITS = ("train", "valid", "test")
MODALITIES = ("text", "image")


@dataclass(frozen=True)
class Example:
    """One document (or image) with its labels.

    ``labels`` keep the source's own order (the "natural" label order) without repeats; ``split`` is one of
    :data:`SPLITS`. An image example has an empty ``text`` and ``image``, the image file's path relative to the
    dataset's raw folder; a text example has no ``image``.
    """

    id: str
    text: str
    labels: tuple[str, ...]
    split: str
    image: str | None = None


class Dataset(Protocol):
    """A dataset: a name, a modality, a way to fetch its raw files, and a parser from those files to examples.

    ``download`` fills ``raw_dir`` (an empty folder the caller owns) with the dataset's raw files and returns
    nothing; ``parse`` reads ``raw_dir`` and yields every example with its final split (train, valid, test): a
    stream, so that a corpus larger than memory goes through (a generator need not hold what it has yielded).
    Both receive the dataset's own section of ``params.yaml`` (``datasets.<name>``). ``modality`` (one of
    :data:`MODALITIES`) decides the feature phase: word vectors for text, image features for images.

    A dataset with a fixed set of labels, some of which a corpus may lack (VOC's 20 classes, COCO's 80), says so
    with ``label_names(params, raw_dir)``; the card then lists them all (``label_names``), else the labels seen.

    A dataset read from user files may also say where things are, for preprocessing's errors:
    ``describe_split(params, raw_dir, split)`` (where an empty split's examples would come from) and
    ``locate(params, raw_dir, example_id)`` (``file:line`` of each record with that id).
    """

    name: str
    modality: str

    def download(self, params: dict[str, Any], raw_dir: Path) -> None: ...

    def parse(self, params: dict[str, Any], raw_dir: Path) -> Iterable[Example]: ...
