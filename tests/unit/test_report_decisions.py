"""The report's "Decision rules" table, from fabricated metrics: one row per model whose runs fitted a rule, every
number a value of its run's metrics.json."""

from __future__ import annotations

import copy

import pytest

from sgm_mlc.experiment.plan import Run, experiment_plan
from sgm_mlc.report.decisions import decision_table
from sgm_mlc.report.document import DASH, MetricCell

# model → per seed: (rule, applied, micro-F1 before, after, macro-F1 before, after); None: no decision block
BLOCKS = {
    "br": [("per_label", True, 0.80, 0.84, 0.40, 0.52)],
    "cnn": [("per_label", True, 0.60, 0.70, 0.30, 0.35), ("global", True, 0.62, 0.66, 0.32, 0.30)],
    "sgm": [("global", False, 0.75, 0.73, 0.45, 0.50), ("global", False, 0.77, 0.74, 0.47, 0.49)],
    "seq2seq": [None, None],
}


class FabricatedResults:
    """What the table reads of :class:`~sgm_mlc.report.collect.Results`: the plan, each run's metrics and its
    MLflow run."""

    def __init__(self, params: dict):
        self.params = params
        self.plan = experiment_plan(params)

    def metrics(self, run: Run) -> dict:
        block = BLOCKS[run.model][self.params["run"]["seeds"].index(run.seed)]
        if block is None:
            return {"test": {"micro_f1": 0.7}}
        rule, applied, micro_before, micro_after, macro_before, macro_after = block
        return {"test": {"decision": {
            "rule": rule, "applied": applied,
            "before": {"micro_f1": micro_before, "macro_f1": macro_before},
            "after": {"micro_f1": micro_after, "macro_f1": macro_after},
        }}}

    def tracked(self, run: Run) -> dict:
        return {"run_id": f"id-{run.name}"}

    def link(self, run: Run) -> str:
        return f"http://ui/{run.name}"


@pytest.fixture
def table(default_params):
    params = copy.deepcopy(default_params)
    params["run"].update(datasets=["synthetic"], models=list(BLOCKS), seeds=[13, 14])
    params["tuning"]["enabled"] = False
    return decision_table(FabricatedResults(params), "synthetic")


def test_tuned_rows_follow_their_default_rows(default_params):
    params = copy.deepcopy(default_params)
    params["run"].update(datasets=["synthetic"], models=["br", "cnn"], seeds=[13, 14])
    rows = decision_table(FabricatedResults(params), "synthetic").rows
    assert [row.label for row in rows] == ["br", "br (tuned)", "cnn", "cnn (tuned)"]
    assert rows[1].cells["n"].text == "1 (deterministic)"


def test_one_row_per_model_that_fitted_a_rule(table):
    assert [row.label for row in table.rows] == ["br", "cnn", "sgm"]
    rules = {row.label: row.cells["rule"].text for row in table.rows}
    assert rules == {"br": "per_label (1)", "cnn": "per_label (1), global (1)", "sgm": "global (2); not applied"}
    assert table.rows[0].cells["n"].text == "1 (deterministic)"


def test_every_number_is_its_runs_before_or_after_value(table):
    cnn = {column: cell for column, cell in table.rows[1].cells.items() if isinstance(cell, MetricCell)}
    assert sorted(cnn) == ["macro_f1_after", "macro_f1_before", "micro_f1_after", "micro_f1_before"]
    assert cnn["micro_f1_after"].mean == pytest.approx(0.68)
    assert cnn["micro_f1_after"].std == pytest.approx(0.04 / 2**0.5)
    values = cnn["macro_f1_before"].values
    assert [value.value for value in values] == [0.30, 0.32]
    assert values[0].file == "results/evaluation/synthetic/cnn/default/frequency/seed13/metrics.json"
    assert values[0].key == ("test", "decision", "before", "macro_f1")
    assert [value.seed for value in values] == [13, 14]
    assert values[1].link == "http://ui/synthetic-cnn-default-frequency-14"


def test_the_better_side_of_each_pair_is_bold(table):
    cells = {row.label: row.cells for row in table.rows}
    assert cells["br"]["micro_f1_after"].bold and not cells["br"]["micro_f1_before"].bold
    assert cells["sgm"]["micro_f1_before"].bold and cells["sgm"]["macro_f1_after"].bold
    assert DASH not in [cell.text for row in table.rows for cell in row.cells.values()]


def test_no_table_when_no_run_fitted_a_rule(default_params):
    params = copy.deepcopy(default_params)
    params["run"].update(datasets=["synthetic"], models=["seq2seq"], seeds=[13, 14])
    assert decision_table(FabricatedResults(params), "synthetic") is None


def test_the_notes_name_the_selection_metric_and_explain_rules_not_applied(table, default_params):
    assert any("best cross-fitted validation micro-F1 is chosen" in note for note in table.notes)
    assert any(note.startswith("Not applied: a sequence model trained with a set loss") for note in table.notes)
    params = copy.deepcopy(default_params)
    params["run"].update(datasets=["synthetic"], models=["br", "cnn"], seeds=[13, 14])
    applied_only = decision_table(FabricatedResults(params), "synthetic")
    assert not any(note.startswith("Not applied") for note in applied_only.notes)
