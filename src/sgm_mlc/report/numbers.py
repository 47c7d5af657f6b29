"""``numbers.json``: every number the report's tables show, traceable to its file.

* ``values``: one entry per number read from a results file: ``file`` (relative to the project), ``key`` (the
  JSON key path in it), ``value``, and the ``seed``, ``run_id`` and MLflow ``link`` of the run that wrote it;
* ``cells``: each table cell that aggregates values: its ``text``, ``mean``, ``std`` (sample), ``n`` and
  ``bold``; its values are the ``values`` entries with the same ``dataset``, ``table``, ``row`` and ``column``;
* ``tests``: each p-value shown, with the test's settings, both systems' pooled scores and the prediction
  files it read;
* ``provenance``: the facts of the provenance section.
"""

from __future__ import annotations

from typing import Any

from sgm_mlc.report.document import Document, MetricCell, PValueCell, Table


def numbers(document: Document, provenance: dict[str, Any]) -> dict[str, Any]:
    """The ``numbers.json`` payload of ``document`` (see the module docstring)."""
    values: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    for table in (block for block in document.walk() if isinstance(block, Table)):
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
                elif isinstance(cell, PValueCell):
                    test = cell.test
                    tests.append({
                        **where, "text": cell.text, "p_value": test.p_value, "significant": cell.significant,
                        "alpha": cell.alpha, "metric": test.metric, "method": test.method,
                        "resamples": test.resamples, "score_reference": test.score_a, "score_row": test.score_b,
                        "files": cell.files,
                    })
    return {"values": values, "cells": cells, "tests": tests, "provenance": provenance}
