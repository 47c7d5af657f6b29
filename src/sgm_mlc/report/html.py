"""The report as one self-contained HTML page: CSS inline, figures as base64 PNG data URIs, no script and no
font or style from the network; the only links out are to each run's page in the MLflow UI."""

from __future__ import annotations

import base64
from html import escape

from sgm_mlc.report.document import (
    ADJUSTED_P,
    RAW_P,
    Block,
    Cell,
    ComparisonCell,
    Document,
    Facts,
    Figure,
    MetricCell,
    Paragraph,
    Section,
    Table,
    TextCell,
)

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 80rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
div.table { overflow-x: auto; margin: 1rem 0 0.3rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #c8c8cc; padding: 0.25rem 0.35rem; text-align: right; white-space: nowrap; }
th { background: #f2f2f5; white-space: normal; }
th[scope=row], td.text { text-align: left; }
td.text { white-space: normal; }
sup a { font-size: 0.7rem; margin-left: 0.15rem; color: #5a5a9c; }
span.spread { display: block; font-size: 0.75rem; color: #55555a; }
p.note { font-size: 0.82rem; color: #55555a; margin: 0.2rem 0; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e0e0e4; }
figcaption { font-size: 0.85rem; color: #55555a; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.1rem 1rem; font-size: 0.88rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
"""


def render(document: Document) -> str:
    """``document`` as one HTML page."""
    contents = "".join(f'<li><a href="#{anchor(section.title)}">{escape(section.title)}</a></li>'
                       for section in document.sections)
    body = "".join(section_html(section, 2) for section in document.sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(document.title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{escape(document.title)}</h1>\n"
        f"<nav><ul>{contents}</ul></nav>\n{body}</body>\n</html>\n"
    )


def anchor(title: str) -> str:
    """The id of a section heading."""
    return "".join(character if character.isalnum() else "-" for character in title.lower())


def section_html(section: Section, level: int) -> str:
    heading = f'<h{level} id="{anchor(section.title)}">{escape(section.title)}</h{level}>\n'
    blocks = "".join(block_html(block) for block in section.blocks)
    return heading + blocks + "".join(section_html(child, min(level + 1, 6)) for child in section.subsections)


def block_html(block: Block) -> str:
    if isinstance(block, Paragraph):
        links = "".join(f' <a href="{escape(url)}">{escape(label)}</a>' for label, url in block.links)
        return f"<p>{escape(block.text)}{links}</p>\n" if block.text else ""
    if isinstance(block, Table):
        return table_html(block)
    if isinstance(block, Facts):
        items = "".join(f"<dt>{escape(name)}</dt><dd>{escape(text)}</dd>" for name, text in block.items)
        return f"<h4>{escape(block.title)}</h4>\n<dl>{items}</dl>\n"
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(block.caption)}">'
                f"<figcaption>{escape(block.caption)}</figcaption></figure>\n")
    raise TypeError(f"cannot render {type(block).__name__}")


def table_html(table: Table) -> str:
    """The table, each row's label followed by a link to each of its seeds' MLflow runs."""
    head = "<th></th>" + "".join(f"<th>{escape(heading)}</th>" for heading in table.headers.values())
    rows = "".join(
        f'<tr><th scope="row">{breakable(row.label)}{superscript_links(row.seed_links)}</th>'
        + "".join(cell_html(row.cells[column]) for column in table.headers)
        + "</tr>\n"
        for row in table.rows
    )
    notes = "".join(f'<p class="note">{escape(note)}</p>\n' for note in table.notes)
    return (f'<div class="table" id="{anchor(table.title)}"><table><caption>{escape(table.title)}</caption>\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{rows}</tbody></table></div>\n{notes}")


def breakable(label: str) -> str:
    """``label`` escaped, with a line-break opportunity after each underscore (long variant names wrap)."""
    return escape(label).replace("_", "_<wbr>")


def superscript_links(pairs: list[tuple[str, str]]) -> str:
    """A superscript link for each ``(label, url)``: a seed's MLflow run, or the table a claim comes from."""
    if not pairs:
        return ""
    return "<sup>" + "".join(f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in pairs) + "</sup>"


def cell_html(cell: Cell) -> str:
    """A cell's text, bold when best. A mean's standard deviation and a difference's interval go on a second,
    smaller line (so that wide tables fit a 1280-pixel window); a corrected p shows the raw p on hover. The
    seeds' links are on the row's label."""
    if isinstance(cell, TextCell):
        text = f"<strong>{escape(cell.text)}</strong>" if cell.bold else escape(cell.text)
        return f'<td class="text">{text}{superscript_links(list(cell.links))}</td>'
    first, _, second = cell.text.partition(" ± " if isinstance(cell, MetricCell) else " [")
    if isinstance(cell, ComparisonCell) and second:
        second = "[" + second
    elif second:
        second = "± " + second
    text = f"<strong>{escape(first)}</strong>" if cell.bold else escape(first)
    spread = f' <span class="spread">{escape(second)}</span>' if second else ""  # the space: for text extraction
    title = ""
    if isinstance(cell, ComparisonCell) and cell.part == ADJUSTED_P:
        title = f' title="p (uncorrected) {escape(ComparisonCell(cell.comparison, RAW_P).text)}"'
    return f"<td{title}>{text}{spread}</td>"
