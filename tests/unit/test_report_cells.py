"""What the report prints: every table cell of report.md and index.html, parsed back and checked against the
results files it comes from (means, standard deviations and n recomputed from the metrics JSON files), and every
comparison against its table's reference row and its family's Holm correction."""

from __future__ import annotations

import copy
import json
import re
import statistics
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sgm_mlc.experiment.plan import DEFAULT_VARIANT, experiment_plan
from sgm_mlc.metrics.significance import SeedAwareTest, holm
from sgm_mlc.report.build import build_report
from sgm_mlc.report.document import ADJUSTED_P, EFFECT, RAW_P, Comparison, ComparisonCell
from sgm_mlc.report.tables import ALL_METRICS
from tests.unit.test_report import PARAMS, _fabricate

ALPHA = 0.05
# Three seeds, two ablation variants and three label orders: families of two comparisons to correct.
CELL_PARAMS = copy.deepcopy(PARAMS)
CELL_PARAMS["run"]["seeds"] = [1, 2, 3]
CELL_PARAMS["experiments"]["ablations"]["variants"] = {"no_ge": {"hidden_size": 4}, "small": {"hidden_size": 2}}
CELL_PARAMS["experiments"]["label_orders"]["orders"] = ["frequency", "random", "alphabetical"]
COMPARED_PARTS = ("effect", "p_adjusted", "p")  # column key prefixes of a comparison, longest match first


class TableParser(HTMLParser):
    """Every ``<table>`` of a page: its caption, its header cells and its body rows (label and cell texts). The
    text inside ``<sup>`` (the links to each seed's run) is not part of a cell's text."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self._text: list[str] | None = None
        self._row: list[str] = []
        self._in_head = False
        self._in_sup = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"title": "", "headers": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("caption", "th", "td"):
            self._text = []
        elif tag == "sup":
            self._in_sup += 1

    def handle_endtag(self, tag):
        table = self.tables[-1] if self.tables else None
        if tag == "sup":
            self._in_sup -= 1
        elif tag == "caption":
            table["title"] = "".join(self._text)
        elif tag in ("th", "td"):
            self._row.append("".join(self._text))
            self._text = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "tr" and table is not None:
            if self._in_head:
                table["headers"] = self._row[1:]
            else:
                table["rows"].append((self._row[0], self._row[1:]))

    def handle_data(self, data):
        if self._text is not None and not self._in_sup:
            self._text.append(data)


def html_tables(html: str) -> list[dict]:
    parser = TableParser()
    parser.feed(html)
    return parser.tables


_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)\]\([^)]*\)")
_RUN_LINKS = re.compile(r" \((?:\[s\d+\]\([^)]*\) ?)+\)$")


def _markdown_text(cell: str) -> str:
    """A Markdown cell as read: links reduced to their text, bold marks dropped, escapes undone."""
    text = _LINK.sub(r"\1", cell.strip().removeprefix("**").removesuffix("**"))
    return re.sub(r"\\(.)", r"\1", text).replace("&lt;", "<")


def markdown_tables(markdown: str) -> list[dict]:
    """Every pipe table of a Markdown page, with the bold title line above it."""
    lines = markdown.splitlines()
    tables = []
    for index, line in enumerate(lines):
        if not (line.startswith("| |") and index + 1 < len(lines) and lines[index + 1].startswith("|---|")):
            continue
        title = next(text for text in reversed(lines[:index]) if text.strip())
        body = []
        for row in lines[index + 2:]:
            if not row.startswith("|"):
                break
            label, *rest = re.split(r"(?<!\\)\|", row.strip())[1:-1]
            body.append((_markdown_text(_RUN_LINKS.sub("", label.strip())), [_markdown_text(cell) for cell in rest]))
        headers = [_markdown_text(cell) for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]][1:]
        tables.append({"title": _markdown_text(title), "headers": headers, "rows": body})
    return tables


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("cells")
    params = copy.deepcopy(CELL_PARAMS)
    _fabricate(root, params)
    build_report(params, root, root / "results/report")
    out = root / "results/report"
    return {
        "root": root,
        "numbers": json.loads((out / "numbers.json").read_text(encoding="utf-8")),
        "html": html_tables((out / "index.html").read_text(encoding="utf-8")),
        "markdown": markdown_tables((out / "report.md").read_text(encoding="utf-8")),
    }


def _read(root: Path, file: str, key: list[str]) -> float | None:
    node = json.loads((root / file).read_text(encoding="utf-8"))
    for part in key:
        node = node[part]
    return node


def _metrics_files(table: str, row: str) -> list[str] | None:
    """The metrics files behind a row of a table that reports metrics, from the experiment plan (``None`` for
    other tables)."""
    tables = experiment_plan(CELL_PARAMS).tables["synthetic"]
    if table == "main":
        runs = tables.main[row]
    elif table == "ablations":
        runs = tables.ablations[DEFAULT_VARIANT if row.endswith("(full)") else row.split(" ")[-1]]
    elif table == "label_orders":
        model, order = row.split(" / ")
        runs = tables.orders[model][order]
    elif table.startswith("cross:"):
        return [f"{cross.folder}/metrics.json" for cross in tables.cross[table.removeprefix("cross:")][row]]
    else:
        return None
    return [f"results/evaluation/{run.path}/metrics.json" for run in runs]


def _reference_row(table: str, row: str) -> str:
    """The row a comparison is made against: sgm, the full model, or the same model's run.order row."""
    if table == "label_orders":
        return f"{row.split(' / ')[0]} / {CELL_PARAMS['run']['order']}"
    return {"main": "sgm", "ablations": "sgm (full)"}[table]


def _check_mean_and_std(text: str, numbers: list[float], digits: int | None) -> None:
    """``text`` is ``mean`` (one number) or ``mean ± std`` (sample std), both with the same decimals, which are
    ``digits`` when given."""
    if not numbers:
        assert text == "—"
        return
    mean, *std = text.split(" ± ")
    decimals = len(mean.partition(".")[2])
    assert digits is None or decimals == digits, text
    assert mean == f"{statistics.fmean(numbers):.{decimals}f}", (text, numbers)
    assert std == ([f"{statistics.stdev(numbers):.{decimals}f}"] if len(numbers) > 1 else []), (text, numbers)


def _scores(root: Path, entries: list[dict]) -> list[float]:
    """The numbers the ``values`` entries point at, read again from their files (``null`` left out)."""
    scores = [_read(root, entry["file"], entry["key"]) for entry in entries]
    return [score for score in scores if score is not None]


def _check_table(shown: dict, report: dict) -> int:
    """Check every cell of one printed table: aggregated cells (mean, std) and n against the files they come
    from, comparison cells against numbers.json and the files' means; return how many aggregated cells it
    holds."""
    numbers, root = report["numbers"], report["root"]
    (meta,) = [meta for meta in numbers["tables"] if meta["title"] == shown["title"]]
    name = meta["table"]
    assert shown["headers"] == [column["heading"] for column in meta["columns"]]
    keys = [column["key"] for column in meta["columns"]]

    def here(entry: dict) -> bool:
        return entry["dataset"] == meta["dataset"] and entry["table"] == name

    cells = {(cell["row"], cell["column"]) for cell in numbers["cells"] if here(cell)}
    sources = defaultdict(list)
    for value in filter(here, numbers["values"]):
        sources[(value["row"], value["column"])].append(value)
    tests = {(test["row"], test["metric"]): test for test in numbers["tests"] if here(test)}
    checked = 0
    for row, texts in shown["rows"]:
        assert len(texts) == len(keys), (shown["title"], row)
        metrics_files = _metrics_files(name, row)
        for key, text in zip(keys, texts):
            if (row, key) in cells:
                entries = sources[(row, key)]
                if metrics_files is not None:
                    assert [entry["file"] for entry in entries] == metrics_files
                    assert all(entry["key"] == ["test", key] for entry in entries)
                digits = ALL_METRICS[key][2] if metrics_files is not None else None
                _check_mean_and_std(text, _scores(root, entries), digits)
                checked += 1
            elif key == "n":
                runs = int(text.split(" ")[0])
                assert runs == max(len(entries) for (other, _), entries in sources.items() if other == row)
                assert metrics_files is None or runs == len(metrics_files)
            elif key.startswith(COMPARED_PARTS) and text != "—":
                part = next(part for part in COMPARED_PARTS if key.startswith(f"{part}_"))
                metric = key.removeprefix(f"{part}_")
                test = tests[(row, metric)]
                assert text == test["columns"][key]
                if part == "effect":
                    reference = _reference_row(name, row)
                    means = [statistics.fmean(_scores(root, sources[(line, metric)])) for line in (row, reference)]
                    assert text.split(" ")[0] == f"{means[0] - means[1]:+.3f}", (row, key, text)
                elif part == "p_adjusted":
                    assert text.endswith("†") == (test["p_adjusted"] < ALPHA)
    return checked


@pytest.mark.parametrize("page", ["markdown", "html"])
def test_every_printed_cell_matches_its_files(report, page):
    shown = report[page]
    assert sorted(table["title"] for table in shown) == sorted(meta["title"] for meta in report["numbers"]["tables"])
    checked = sum(_check_table(table, report) for table in shown)
    assert checked == len(report["numbers"]["cells"])


def test_tested_rows_and_families(report):
    """Every row other than the reference is tested on both metrics, and within each family (dataset, table,
    metric) the adjusted p-values are the Holm correction of the raw ones."""
    tests = report["numbers"]["tests"]
    rows = {(test["table"], test["row"]) for test in tests}
    assert rows == {("main", "br"), ("ablations", "sgm no_ge"), ("ablations", "sgm small"),
                    ("label_orders", "sgm / random"), ("label_orders", "sgm / alphabetical")}
    families = defaultdict(list)
    for test in tests:
        families[(test["dataset"], test["table"], test["metric"])].append(test)
    assert len(families) == 6
    for family in families.values():
        assert {test["family_size"] for test in family} == {len(family)}
        assert [test["p_adjusted"] for test in family] == pytest.approx(holm([test["p_value"] for test in family]))
        assert all(test["significant"] == (test["p_adjusted"] < ALPHA) for test in family)


def test_the_mark_follows_the_corrected_p():
    """Raw p 0.03 in a family of two: Holm doubles it to 0.06, so the difference is not marked significant."""
    test = SeedAwareTest("micro_f1", 0.80, 0.85, 3, 3, 4e-4, 4e-4, 1e-5, 4.2, 0.03, (-0.094, -0.006))
    comparison = Comparison(test, holm([0.03, 0.6])[0], "holm", ALPHA, "each baseline against sgm", 2, [])
    texts = [ComparisonCell(comparison, part).text for part in (EFFECT, RAW_P, ADJUSTED_P)]
    assert texts == ["-0.050 [-0.094, -0.006]", "0.030", "0.060"]
    significant = Comparison(test, 0.03, "holm", ALPHA, "each baseline against sgm", 1, [])
    assert ComparisonCell(significant, ADJUSTED_P).text == "0.030†"
