"""Log a tuning study as MLflow runs: one parent run per study, one child run per trial (nested in the UI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from mlflow import MlflowClient

from sgm_mlc.git import git_commit
from sgm_mlc.tracking.runs import get_or_create_run, log_run, reports_unavailable_store, run_key
from sgm_mlc.tuning.settings import BEST_FILE, TRIALS_FILE

RULE = "tune_model"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests a run under this one


def study_metrics(best: dict[str, Any]) -> dict[str, float]:
    """The study's outcome as metrics: the best validation score and what the study used of its budget."""
    provenance = best["provenance"]
    used = provenance["used"]
    return {
        "best_validation": provenance["best"]["validation"],
        "trials_finished": used["finished"],
        "trials_complete": used["complete"],
        "trials_pruned": used["pruned"],
        "trials_failed": used["fail"],
        "cpu_minutes": used["cpu_minutes"],
    }


def trial_metrics(trial: dict[str, Any], metric: str) -> list[tuple[str, float, int]]:
    """A trial's per-epoch validation scores (step = epoch), its value, and the CPU seconds it took."""
    points = [(f"epoch.valid_{metric}", value, int(epoch)) for epoch, value in trial["intermediate_values"].items()]
    if trial["value"] is not None:
        points.append((f"valid_{metric}", trial["value"], 0))
    points += [(name, value, 0) for name, value in trial["user_attrs"].items() if isinstance(value, (int, float))]
    return points


@reports_unavailable_store
def log_tuning_study(
    uri: str, experiment: str, dataset: str, model: str, params: dict[str, Any], study_dir: Path, project_dir: Path
) -> dict[str, Any]:
    """Get or create the study's run and its trials' child runs, and log them from ``best.yaml`` and
    ``trials.json`` in ``study_dir``; return the parent's ids and each trial's run id."""
    best = yaml.safe_load((study_dir / BEST_FILE).read_text(encoding="utf-8"))
    trials = json.loads((study_dir / TRIALS_FILE).read_text(encoding="utf-8"))
    client = MlflowClient(tracking_uri=uri)
    wildcards = {"dataset": dataset, "model": model}
    key = run_key(RULE, wildcards, params)
    parent = get_or_create_run(client, experiment, key, run_name=f"tune-{dataset}-{model}")
    tags = {"sgm_mlc.rule": RULE, "sgm_mlc.dataset": dataset, "sgm_mlc.model": model,
            "sgm_mlc.tuned_order": str(best["order"]), "mlflow.source.git.commit": git_commit(project_dir)}
    metric = params["tuning"]["metric"]
    children = {}
    for trial in trials:
        child = get_or_create_run(client, experiment, f"{key}/trial={trial['number']}",
                                  run_name=f"tune-{dataset}-{model}-trial{trial['number']}")
        trial_tags = tags | {PARENT_TAG: parent, "sgm_mlc.trial_state": trial["state"]}
        log_run(client, child, {"trial": trial["params"]}, trial_metrics(trial, metric), trial_tags)
        children[trial["number"]] = child
    tuned = {"tuned": best["settings"], "tuned_order": best["order"]}
    log_run(client, parent, params | tuned, study_metrics(best), tags,
            artifacts=[study_dir / BEST_FILE, study_dir / TRIALS_FILE])
    return {"run_id": parent, "run_key": key, "tracking_uri": uri, "experiment": experiment, "trials": children}
