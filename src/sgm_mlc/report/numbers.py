"""``numbers.json``: every number the report's tables show, traceable to its file.

* ``tables``: each table's ``dataset``, ``table`` name, ``title`` and ``columns`` (``key`` and ``heading`` of
  each, in order), as the report shows them;
* ``values``: one entry per number read from a results file: ``file`` (relative to the project), ``key`` (the
  JSON key path in it), ``value``, and the ``seed``, ``run_id`` and MLflow ``link`` of the run that wrote it;
* ``cells``: each table cell that aggregates values: its ``text``, ``mean``, ``std`` (sample), ``n`` and
  ``bold``; its values are the ``values`` entries with the same ``dataset``, ``table``, ``row`` and ``column``;
* ``tests``: each comparison of a row with its table's reference row on one metric: the text of its
  ``columns`` (difference with confidence interval, raw p, corrected p), the numbers behind them (both rows'
  seed-mean scores, runs and seed variances, the document variance, the degrees of freedom, ``null`` for a
  normal reference), its family and the prediction files it read;
* ``provenance``: the facts of the provenance section;
* ``experiment_url``: the experiment's runs in the MLflow UI.
"""

from __future__ import annotations

import math
from typing import Any

from sgm_mlc.metrics.significance import SEED_AWARE_METHOD
from sgm_mlc.report.document import Comparison, ComparisonCell, Document, MetricCell, Table


def numbers(document: Document, provenance: dict[str, Any], experiment_url: str) -> dict[str, Any]:
    """The ``numbers.json`` payload of ``document`` (see the module docstring)."""
    tables: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    tests: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for table in (block for block in document.walk() if isinstance(block, Table)):
        columns = [{"key": key, "heading": heading} for key, heading in table.headers.items()]
        tables.append({"dataset": table.dataset, "table": table.name, "title": table.title, "columns": columns})
        for row in table.rows:
            for column, cell in row.cells.items():
                where = {"dataset": table.dataset, "table": table.name, "row": row.label, "column": column}
                if isinstance(cell, MetricCell):
                    values += [
                        {**where, "file": value.file, "key": list(value.key), "value": value.value, "seed": value.seed,
                         "run_id": value.run_id, "link": value.link}
                        for value in cell.values
                    ]
                    cells.append({**where, "text": cell.text, "mean": cell.mean, "std": cell.std, "n": cell.n,
                                  "bold": cell.bold})
                elif isinstance(cell, ComparisonCell):
                    comparison = cell.comparison
                    key = (table.dataset, table.name, row.label, comparison.test.metric)
                    entry = tests.setdefault(key, test_entry(table, row.label, comparison))
                    entry["columns"][column] = cell.text
    return {"tables": tables, "values": values, "cells": cells, "tests": list(tests.values()), "provenance": provenance,
            "experiment_url": experiment_url}


def test_entry(table: Table, row: str, comparison: Comparison) -> dict[str, Any]:
    """One ``tests`` entry (its ``columns`` filled by the caller)."""
    test = comparison.test
    return {
        "dataset": table.dataset, "table": table.name, "row": row, "metric": test.metric, "columns": {},
        "method": SEED_AWARE_METHOD, "difference": test.difference, "interval": list(test.interval),
        "p_value": test.p_value, "p_adjusted": comparison.p_adjusted, "correction": comparison.correction,
        "significant": comparison.significant,
        "alpha": comparison.alpha, "family": comparison.family, "family_size": comparison.family_size,
        "mean_row": test.mean_a, "mean_reference": test.mean_b, "runs_row": test.runs_a,
        "runs_reference": test.runs_b, "seed_variance_row": test.seed_variance_a,
        "seed_variance_reference": test.seed_variance_b, "document_variance": test.document_variance,
        "degrees_of_freedom": None if math.isinf(test.degrees_of_freedom) else test.degrees_of_freedom,
        "files": comparison.files,
    }
