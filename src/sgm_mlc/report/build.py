"""Build the report from the result files of the experiment plan: ``index.html``, ``report.md`` with
``figures/``, and ``numbers.json``. The report reads files only: it never trains, decodes or asks MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sgm_mlc.atomic import atomic_directory, write_json, write_text
from sgm_mlc.report import html, markdown
from sgm_mlc.report.claims import claims_section, dataset_tables
from sgm_mlc.report.collect import Results
from sgm_mlc.report.comparisons import Comparisons
from sgm_mlc.report.document import DASH, Document, Figure, Paragraph, Row, Section, Table, TextCell
from sgm_mlc.report.numbers import numbers
from sgm_mlc.report.provenance import provenance, provenance_section
from sgm_mlc.report.sections import dataset_section

FIGURES = "figures"


def build_report(params: dict[str, Any], project_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Write the report of ``params``'s experiment plan, read from ``project_dir``, into ``out_dir``.

    Raises :class:`~sgm_mlc.report.collect.MissingInputs` naming every absent input and the rule making it.
    Returns the paths written and how many values, tests and figures the report holds.
    """
    project_dir, out_dir = Path(project_dir), Path(out_dir)
    results = Results(params, project_dir)
    comparisons = Comparisons(results)
    facts = provenance(results)
    sections = {dataset: dataset_section(results, comparisons, dataset) for dataset in results.plan.tables}
    side_by_side = [datasets_side_by_side(sections)] if len(sections) > 1 else []
    document = Document("sgm-mlc: multi-label classification benchmark", [
        claims_section(results.params, sections),
        *side_by_side,
        overview(results),
        *sections.values(),
        provenance_section(facts),
    ])
    figures = [block for block in document.walk() if isinstance(block, Figure)]
    with atomic_directory(out_dir / FIGURES) as folder:
        for figure in figures:
            (folder / f"{figure.name}.png").write_bytes(figure.png)
    write_text(out_dir / "report.md", markdown.render(document, FIGURES))
    write_text(out_dir / "index.html", html.render(document))
    payload = numbers(document, facts, results.experiment_page())
    write_json(out_dir / "numbers.json", payload)
    return {
        "html": str(out_dir / "index.html"),
        "markdown": str(out_dir / "report.md"),
        "numbers": str(out_dir / "numbers.json"),
        "figures": [str(out_dir / FIGURES / f"{figure.name}.png") for figure in figures],
        "values": len(payload["values"]),
        "tests": len(payload["tests"]),
    }


def overview(results: Results) -> Section:
    """What the report covers, and where its numbers come from."""
    plan, run = results.plan, results.params["run"]
    text = (
        f"{len(plan.runs)} trained runs and {len(plan.cross_runs)} cross-dataset evaluations on "
        f"{', '.join(plan.tables)}: models {', '.join(run['models'])}, label order {run['order']}, seeds "
        f"{', '.join(map(str, run['seeds']))}. Every number below is read from the files under results/ and "
        f"links to its MLflow run ({results.ui_url}); numbers.json gives each one's file and key. In MLflow, each "
        "row of a table is a parent run with its seeds nested under it:"
    )
    return Section("Overview", [Paragraph(text, links=(("the experiment's runs", results.experiment_page()),))])


def datasets_side_by_side(sections: dict[str, Section]) -> Section:
    """Every model's test micro-F1 on every dataset, from each dataset's main table (its cells, links and all)."""
    mains = {dataset: dataset_tables(section)["main"] for dataset, section in sections.items()}
    models = list(dict.fromkeys(row.label for main in mains.values() for row in main.rows))
    rows = []
    for model in models:
        cells = {}
        for dataset, main in mains.items():
            row = next((row for row in main.rows if row.label == model), None)
            cells[dataset] = row.cells["micro_f1"] if row is not None else TextCell(DASH)
        rows.append(Row(model, cells))
    notes = ["Test micro-F1, mean ± sample standard deviation over each model's seeds, as in each dataset's main "
             "results (bold: the best of that dataset); — where the model was not run on the dataset."]
    table = Table("datasets", "all", "Test micro-F1 on every dataset", {dataset: dataset for dataset in mains},
                  rows, notes)
    return Section("Datasets side by side", [table])
