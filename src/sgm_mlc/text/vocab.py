"""The project's word vocabulary: built on the train split, with padding and unknown-word entries."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sgm_mlc.atomic import write_json

PAD = "<pad>"
UNK = "<unk>"
SPECIALS = (PAD, UNK)
UNK_INDEX = SPECIALS.index(UNK)


@dataclass(frozen=True)
class Vocabulary:
    """Words in index order (``PAD`` is 0, ``UNK`` is 1) and their train-split counts."""

    words: tuple[str, ...]
    counts: tuple[int, ...]

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]], min_count: int, max_size: int) -> Vocabulary:
        """Keep words seen at least ``min_count`` times, most frequent first (ties alphabetical), at most
        ``max_size`` entries including the two special ones."""
        return cls.from_counts(Counter(token for tokens in documents for token in tokens), min_count, max_size)

    @classmethod
    def from_counts(cls, counter: Counter, min_count: int, max_size: int) -> Vocabulary:
        """:meth:`build` from word counts already made."""
        kept = sorted((item for item in counter.items() if item[1] >= min_count), key=lambda item: (-item[1], item[0]))
        kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls(SPECIALS + tuple(word for word, _ in kept), (0, 0) + tuple(count for _, count in kept))

    def __len__(self) -> int:
        return len(self.words)

    @cached_property
    def index(self) -> dict[str, int]:
        """Word → index."""
        return {word: i for i, word in enumerate(self.words)}

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token indices; words outside the vocabulary map to ``UNK``."""
        index = self.index
        return [index.get(token, UNK_INDEX) for token in tokens]

    def save(self, target: str | Path) -> None:
        write_json(target, {"words": list(self.words), "counts": list(self.counts)})

    @classmethod
    def load(cls, source: str | Path) -> Vocabulary:
        payload = json.loads(Path(source).read_text(encoding="utf-8"))
        words, counts = tuple(payload["words"]), tuple(payload["counts"])
        if words[: len(SPECIALS)] != SPECIALS or len(words) != len(counts):
            raise ValueError(f"{source}: not an sgm-mlc vocabulary; re-run the preprocess step")
        return cls(words, counts)
