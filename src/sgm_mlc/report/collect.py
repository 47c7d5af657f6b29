"""Read the files the report is made from, each once, with errors that name the file and the rule making it.

Every path is relative to the project folder, as the workflow writes it (a run's ``path`` is
``<dataset>/<model>/<variant>/<order>/seed<seed>``):

==========================================================================  ==========================
file                                                                        made by rule
==========================================================================  ==========================
``results/evaluation/<run>/metrics.json``, ``predictions.parquet``          ``evaluate_model``
``results/models/<run>/train_summary.json``, ``history.json`` (neural)      ``train_model``
``results/tracking/<dataset>/training_runs.json`` (MLflow run ids)          ``log_training_runs``
``results/tracking/experiment.json``                                        ``init_tracking``
``results/cross_dataset/<source>__<target>/<model>/…/metrics.json``         ``evaluate_cross_dataset``
``results/tracking/cross_dataset/<source>__<target>/<model>/…/run.json``    ``log_cross_dataset_run``
``results/interpret/<dataset>/examples.json`` (when a sequence model runs)  ``explain_examples``
``data/processed/<dataset>/card.json``, ``examples.parquet``                ``preprocess_to_parquet``
``results/tuning/<dataset>/<model>/best.yaml`` (tuned rows)                 ``write_tuned_settings``
``results/tracking/tuning/<dataset>/<model>/run.json`` (tuned rows)         ``log_tuning_study``
==========================================================================  ==========================

:func:`report_inputs` lists every one of them for a params dict (the inputs of the report rule).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sgm_mlc.experiment.plan import (
    NEURAL_MODELS,
    CrossRun,
    Plan,
    Run,
    experiment_plan,
    explained_runs,
    training_runs_file,
    tuned_settings_file,
)
from sgm_mlc.verify import VERIFICATION_FILE

EXPERIMENT_FILE = "results/tracking/experiment.json"


class MissingInputs(FileNotFoundError):
    """Input files of the report are absent; the message names each one and the rule that makes it."""


MODEL_TRAINING_VIEW = "workflowType=machine_learning"  # MLflow 3's UI: the model-training view, not GenAI's


def metrics_file(run: Run | CrossRun) -> str:
    """The metrics file of a run or of a cross-dataset evaluation, relative to the project."""
    return f"{run.folder}/metrics.json" if isinstance(run, CrossRun) else f"{run.folder('evaluation')}/metrics.json"


def predictions_file(run: Run | CrossRun) -> str:
    """The predictions table of a run or of a cross-dataset evaluation, relative to the project."""
    folder = run.folder if isinstance(run, CrossRun) else run.folder("evaluation")
    return f"{folder}/predictions.parquet"


def run_files(run: Run) -> dict[str, str]:
    """The files of ``run`` the report reads → the rule that makes each."""
    files = {
        metrics_file(run): "evaluate_model",
        predictions_file(run): "evaluate_model",
        f"{run.folder('models')}/train_summary.json": "train_model",
        training_runs_file(run.dataset): "log_training_runs",
    }
    return files


def history_files(plan: Plan) -> dict[str, str]:
    """The training history of every neural run → the rule that writes it. Not a declared output of that rule
    (it is rewritten every epoch, beside the checkpoint a killed job resumes from): ``train_summary.json``,
    written last, stands for it in the workflow."""
    return {f"{run.folder('models')}/history.json": "train_model" for run in plan.runs if run.model in NEURAL_MODELS}


def cross_files(cross: CrossRun) -> dict[str, str]:
    """The files of a cross-dataset evaluation the report reads → the rule that makes each."""
    return {
        metrics_file(cross): "evaluate_cross_dataset",
        predictions_file(cross): "evaluate_cross_dataset",
        f"{tracking_folder(cross)}/run.json": "log_cross_dataset_run",
    }


def study_tracking_file(dataset: str, model: str) -> str:
    return f"results/tracking/tuning/{dataset}/{model}/run.json"


def tracking_folder(cross: CrossRun) -> str:
    """``results/tracking/cross_dataset/<source>__<target>/<model>/<variant>/<order>/seed<seed>``."""
    return "results/tracking/" + cross.folder.removeprefix("results/")


def report_inputs(params: dict[str, Any]) -> dict[str, str]:
    """Every file the report of ``params`` reads (relative to the project) → the rule that makes it."""
    plan = experiment_plan(params)
    files = {EXPERIMENT_FILE: "init_tracking"}
    for dataset in plan.datasets:
        files[f"data/processed/{dataset}/examples.parquet"] = "preprocess_to_parquet"
    for dataset in plan.tables:
        files[f"data/processed/{dataset}/card.json"] = "preprocess_to_parquet"
    for dataset in explained_datasets(params, plan):
        files[f"results/interpret/{dataset}/examples.json"] = "explain_examples"
    for run in plan.runs:
        files.update(run_files(run))
    if plan.runs:
        files[VERIFICATION_FILE] = "verify_against_record"
    for cross in plan.cross_runs:
        files.update(cross_files(cross))
    for dataset, table in plan.tables.items():
        for model in table.tuned:
            files[tuned_settings_file(dataset, model)] = "write_tuned_settings"
            files[study_tracking_file(dataset, model)] = "log_tuning_study"
    return files


def explained_datasets(params: dict[str, Any], plan: Plan) -> list[str]:
    """Datasets with interpretability examples (see :func:`~sgm_mlc.experiment.plan.explained_runs`)."""
    return list(explained_runs(params, plan))


class Results:
    """The project's result files, read on demand and once each; links to each run's MLflow page."""

    def __init__(self, params: dict[str, Any], project_dir: Path):
        self.params = params
        self.project_dir = Path(project_dir)
        self.plan: Plan = experiment_plan(params)
        self.inputs = report_inputs(params)
        self.explained = explained_datasets(params, self.plan)
        expected = {**self.inputs, **history_files(self.plan)}
        missing = [(path, rule) for path, rule in expected.items() if not (self.project_dir / path).is_file()]
        if missing:
            lines = "\n".join(f"  {path}  (made by rule {rule})" for path, rule in missing)
            raise MissingInputs(f"the report needs {len(missing)} missing file(s) under {self.project_dir}:\n{lines}")
        self.ui_url = params["tracking"]["ui_url"].rstrip("/")
        self.json = cache(self._read_json)
        self.predictions = cache(self._read_predictions)

    def path(self, relative: str) -> Path:
        """``relative`` (to the project) as a path."""
        return self.project_dir / relative

    def _read_json(self, relative: str) -> Any:
        try:
            return json.loads(self.path(relative).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            rule = self.inputs.get(relative, "the rule that writes it")
            raise ValueError(f"{relative} is not valid JSON ({error}); re-run {rule}") from error

    def _read_predictions(self, run: Run | CrossRun, split: str = "test") -> pd.DataFrame:
        """``run``'s predictions on ``split``, indexed by document id."""
        frame = pd.read_parquet(self.path(predictions_file(run)))
        return frame[frame["split"] == split].set_index("id")

    def metrics(self, run: Run | CrossRun) -> dict[str, Any]:
        return self.json(metrics_file(run))

    def history(self, run: Run) -> list[dict[str, Any]]:
        return self.json(f"{run.folder('models')}/history.json")

    def train_summary(self, run: Run) -> dict[str, Any]:
        return self.json(f"{run.folder('models')}/train_summary.json")

    def tuned(self, dataset: str, model: str) -> dict[str, Any]:
        """The ``best.yaml`` of ``model``'s study on ``dataset``."""
        return yaml.safe_load(self.path(tuned_settings_file(dataset, model)).read_text(encoding="utf-8"))

    def study_link(self, dataset: str, model: str) -> tuple[str, str]:
        """The MLflow run id and UI page of ``model``'s tuning study on ``dataset``."""
        tracked = self.json(study_tracking_file(dataset, model))
        return tracked["run_id"], self.run_page(tracked)

    def card(self, dataset: str) -> dict[str, Any]:
        return self.json(f"data/processed/{dataset}/card.json")

    def examples(self, dataset: str) -> dict[str, Any]:
        return self.json(f"results/interpret/{dataset}/examples.json")

    def tracked(self, run: Run | CrossRun) -> dict[str, Any]:
        """What logging ``run`` recorded: its MLflow ``run_id``, ``run_key``, ``tracking_uri`` and ``experiment``."""
        if isinstance(run, CrossRun):
            return self.json(f"{tracking_folder(run)}/run.json")
        records = training_runs_file(run.dataset)
        logged = self.json(records)
        if run.path not in logged:
            raise MissingInputs(f"{records} has no run {run.path}: rerun rule log_training_runs ({records})")
        return logged[run.path]

    def link(self, run: Run | CrossRun) -> str:
        """The MLflow UI page of ``run``."""
        return self.run_page(self.tracked(run))

    def run_page(self, tracked: dict[str, Any]) -> str:
        """The MLflow UI page of the run a logging step recorded in ``tracked`` (its ``run.json``)."""
        experiment_id = tracked.get("experiment_id") or self.json(EXPERIMENT_FILE)["experiment_id"]
        return f"{self.ui_url}/#/experiments/{experiment_id}/runs/{tracked['run_id']}"

    def experiment_page(self) -> str:
        """The MLflow UI page of the experiment, in MLflow 3's model-training view (its runs table; the UI opens
        on the GenAI view unless told, whatever the experiment's kind)."""
        experiment_id = self.json(EXPERIMENT_FILE)["experiment_id"]
        return f"{self.ui_url}/#/experiments/{experiment_id}?{MODEL_TRAINING_VIEW}"
