"""Build the report from the result files of the experiment plan: ``index.html``, ``report.md`` with
``figures/``, and ``numbers.json``. The report reads files only: it never trains, decodes or asks MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sgm_mlc.atomic import atomic_directory, write_json, write_text
from sgm_mlc.report import html, markdown
from sgm_mlc.report.collect import Results
from sgm_mlc.report.comparisons import Comparisons
from sgm_mlc.report.document import Document, Figure, Paragraph, Section
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
    document = Document("sgm-mlc: multi-label classification benchmark", [
        overview(results),
        *(dataset_section(results, comparisons, dataset) for dataset in results.plan.tables),
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
