"""The report as Markdown (GitHub flavour); figures are PNG files in a folder beside it, linked relatively."""

from __future__ import annotations

from sgm_mlc.report.document import Block, Cell, Document, Facts, Figure, Paragraph, Section, Table


def render(document: Document, figure_folder: str) -> str:
    """``document`` as Markdown; each figure is ``<figure_folder>/<name>.png``."""
    parts = [f"# {document.title}\n"]
    for section in document.sections:
        parts += section_markdown(section, 2, figure_folder)
    return "\n".join(parts)


def section_markdown(section: Section, level: int, figure_folder: str) -> list[str]:
    parts = [f"{'#' * level} {_escaped(section.title)}\n"]
    parts += [block_markdown(block, figure_folder) for block in section.blocks]
    for child in section.subsections:
        parts += section_markdown(child, min(level + 1, 6), figure_folder)
    return [part for part in parts if part]


def block_markdown(block: Block, figure_folder: str) -> str:
    if isinstance(block, Paragraph):
        links = "".join(f" [{_escaped(label)}]({url})" for label, url in block.links)
        return f"{_escaped(block.text)}{links}\n" if block.text else ""
    if isinstance(block, Table):
        return table_markdown(block)
    if isinstance(block, Facts):
        items = "".join(f"- {_escaped(name)}: {_escaped(text)}\n" for name, text in block.items)
        return f"**{_escaped(block.title)}**\n\n{items}"
    if isinstance(block, Figure):
        caption = _escaped(block.caption)
        return f"![{caption}]({figure_folder}/{block.name}.png)\n\n*{caption}*\n"
    raise TypeError(f"cannot render {type(block).__name__}")


def table_markdown(table: Table) -> str:
    """A pipe table; each number links to its first seed's MLflow run, and the row label to every seed's."""
    lines = [
        f"**{_escaped(table.title)}**\n",
        "| | " + " | ".join(_escaped(heading) for heading in table.headers.values()) + " |",
        "|---|" + "---|" * len(table.headers),
    ]
    for row in table.rows:
        runs = row.seed_links
        label = _escaped(row.label) + (" (" + " ".join(f"[{seed}]({url})" for seed, url in runs) + ")" if runs else "")
        cells = " | ".join(cell_markdown(row.cells[column]) for column in table.headers)
        lines.append(f"| {label} | {cells} |")
    lines.append("")
    lines += [f"*{_escaped(note)}*\n" for note in table.notes]
    return "\n".join(lines)


def cell_markdown(cell: Cell) -> str:
    text = _escaped(cell.text)
    if cell.links:
        text = f"[{text}]({cell.links[0][1]})"
    return f"**{text}**" if cell.bold else text


def _escaped(text: str) -> str:
    """``text`` shown as written: backslashes, pipes, emphasis marks and angle brackets escaped."""
    for character in "\\|*_[]":
        text = text.replace(character, "\\" + character)
    return text.replace("<", "&lt;")
