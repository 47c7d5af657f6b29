"""The report's content, independent of its format: sections of paragraphs, tables, facts and figures.

Every number of a table is a :class:`Value` read from a results file (its path and JSON key path, and the
MLflow run that made it); a :class:`MetricCell` shows the mean ± standard deviation of its values (one per
seed) and links each of them to its run. ``report.html`` and ``report.md`` render the same document, and
``numbers.json`` lists every value and cell of its tables.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Union

from sgm_mlc.metrics.significance import SeedAwareTest

DASH = "—"
SIGNIFICANT = "†"
# What a comparison cell shows: the difference with its confidence interval, the raw or the corrected p.
EFFECT, RAW_P, ADJUSTED_P = "effect", "p", "p_adjusted"


@dataclass(frozen=True)
class Value:
    """One number of a results file: ``file`` (relative to the project), the JSON ``key`` path to it, and the
    run (``seed``, MLflow ``run_id`` and UI ``link``) that made it. ``value`` is ``None`` where the file holds
    ``null``."""

    value: float | None
    file: str
    key: tuple[str, ...]
    seed: int
    run_id: str
    link: str


@dataclass
class MetricCell:
    """The mean ± sample standard deviation of ``values`` (one per seed run), with ``digits`` decimals."""

    values: list[Value]
    digits: int = 3
    bold: bool = False

    @property
    def numbers(self) -> list[float]:
        return [value.value for value in self.values if value.value is not None]

    @property
    def n(self) -> int:
        return len(self.numbers)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.numbers) if self.numbers else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.numbers) if self.n > 1 else None

    @property
    def text(self) -> str:
        if self.mean is None:
            return DASH
        text = f"{self.mean:.{self.digits}f}"
        return text if self.std is None else f"{text} ± {self.std:.{self.digits}f}"

    @property
    def links(self) -> list[tuple[str, str]]:
        """``(label, url)`` of each seed's MLflow run."""
        return [(f"s{value.seed}", value.link) for value in self.values]


@dataclass(frozen=True)
class Comparison:
    """A row's test against its table's reference row on one metric (the row is system ``a`` of ``test``):
    ``p_adjusted`` is its p-value corrected (``correction``) over the ``family_size`` comparisons of ``family``,
    significant below ``alpha``; ``files`` are the predictions the test read."""

    test: SeedAwareTest
    p_adjusted: float
    correction: str
    alpha: float
    family: str
    family_size: int
    files: list[str]

    @property
    def significant(self) -> bool:
        return self.p_adjusted < self.alpha


@dataclass
class ComparisonCell:
    """One column of a :class:`Comparison`: its ``part`` is :data:`EFFECT` (the difference with its confidence
    interval, ``digits`` decimals), :data:`RAW_P` or :data:`ADJUSTED_P` (marked :data:`SIGNIFICANT` when
    significant)."""

    comparison: Comparison
    part: str
    digits: int = 3
    bold: bool = False
    links: tuple = ()

    @property
    def text(self) -> str:
        test = self.comparison.test
        if self.part == EFFECT:
            low, high = test.interval
            return f"{test.difference:+.{self.digits}f} [{low:+.{self.digits}f}, {high:+.{self.digits}f}]"
        if self.part == RAW_P:
            return format_p(test.p_value)
        return format_p(self.comparison.p_adjusted) + (SIGNIFICANT if self.comparison.significant else "")


@dataclass
class TextCell:
    text: str
    bold: bool = False
    links: tuple = ()


Cell = Union[MetricCell, ComparisonCell, TextCell]


@dataclass
class Row:
    """One table row; ``group`` rows compete among themselves for the best value of a column."""

    label: str
    cells: dict[str, Cell]
    group: str = ""

    @property
    def seed_links(self) -> list[tuple[str, str]]:
        """``(label, url)`` of each of the row's seeds' MLflow runs: those of its first metric cell."""
        return next((cell.links for cell in self.cells.values() if isinstance(cell, MetricCell)), [])


@dataclass
class Table:
    """``name`` identifies the table within its ``dataset`` (in ``numbers.json``); ``headers`` maps each
    column key to its heading, in order."""

    name: str
    dataset: str
    title: str
    headers: dict[str, str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)


@dataclass
class Paragraph:
    """Text, then each ``(label, url)`` of ``links`` as a link."""

    text: str
    links: tuple[tuple[str, str], ...] = ()


@dataclass
class Facts:
    """A titled list of ``(name, text)`` items."""

    title: str
    items: list[tuple[str, str]]


@dataclass
class Figure:
    """A PNG image; ``name`` is its file stem, unique within the report."""

    name: str
    caption: str
    png: bytes


Block = Union[Paragraph, Table, Facts, Figure]


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)


@dataclass
class Document:
    title: str
    sections: list[Section]

    def walk(self) -> list[Block]:
        """Every block, sections first to last, depth first."""
        blocks: list[Block] = []
        pending = list(reversed(self.sections))
        while pending:
            section = pending.pop()
            blocks += section.blocks
            pending += reversed(section.subsections)
        return blocks


def format_p(p_value: float) -> str:
    """``< 0.001`` below 0.001, else three decimals."""
    return "< 0.001" if p_value < 0.001 else f"{p_value:.3f}"


def p_clause(p_value: float) -> str:
    """``p < 0.001`` or ``p = 0.012``, for sentences."""
    text = format_p(p_value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
