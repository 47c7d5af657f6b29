"""The two steps of the tuning phase: a worker that runs trials of a study, and the study's outcome."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sgm_mlc.data.download import sha256_of
from sgm_mlc.tuning.objective import TrialContext, objective
from sgm_mlc.tuning.settings import best_settings, write_outcome
from sgm_mlc.tuning.study import Budget, open_study, redacted, run_worker, study_usage

log = logging.getLogger(__name__)

STUDY_FILE = "study.db"


def storage_url(tuning: dict[str, Any], study_dir: Path) -> str:
    """``tuning.storage``, else a SQLite file in the study's folder."""
    return tuning["storage"] or f"sqlite:///{study_dir / STUDY_FILE}"


def study_name(dataset: str, model: str) -> str:
    return f"{dataset}-{model}"


def open_dataset_study(dataset: str, model: str, params: dict[str, Any], study_dir: Path, worker: int):
    """The study of ``model`` on ``dataset`` as ``params`` (``tuning`` and, for neural models, ``training``)
    configure it."""
    tuning = params["tuning"]
    max_epochs = params["training"]["epochs"] if "training" in params else 1
    study_dir.mkdir(parents=True, exist_ok=True)
    return open_study(
        study_name(dataset, model), storage_url(tuning, study_dir), tuning["seed"], worker,
        tuning["pruning"]["min_epochs"], max_epochs, tuning["pruning"]["reduction_factor"],
        tuning["sampler"]["startup_trials"],
    )


def tune_worker(
    dataset: str, model: str, params: dict[str, Any], worker: int, processed_dir: Path, label_orders_dir: Path,
    features_dir: Path | None, study_dir: Path,
) -> dict[str, Any]:
    """Run trials of the study until its budget is spent (shared with the study's other workers); what the
    study has used when this worker stops."""
    from sgm_mlc.training.loop import TrainingDiverged

    tuning = params["tuning"]
    study = open_dataset_study(dataset, model, params, study_dir, worker)
    context = TrialContext(
        model=model, params=params, space=tuning["spaces"][model], metric=tuning["metric"], seed=tuning["seed"],
        default_order=params["run"]["order"], processed_dir=processed_dir, label_orders_dir=label_orders_dir,
        features_dir=features_dir, trials_dir=study_dir / "trials",
    )
    run_worker(study, objective(context), Budget(**tuning["budget"]), catch=(TrainingDiverged,))
    return {"worker": worker, "study": study.study_name, "used": study_usage(study)}


def tuned_settings(dataset: str, model: str, params: dict[str, Any], processed_dir: Path, study_dir: Path) -> dict[str, Any]:
    """Write ``best.yaml`` and ``trials.json`` of the finished study into ``study_dir``; the best settings."""
    tuning = params["tuning"]
    study = open_dataset_study(dataset, model, params, study_dir, worker=0)
    pruning = tuning["pruning"]
    provenance = {
        "study": study.study_name,
        "storage": redacted(storage_url(tuning, study_dir)),
        "sampler": f"TPE (seed {tuning['seed']}, {tuning['sampler']['startup_trials']} random start-up trials)",
        "pruner": (
            f"Hyperband on each epoch's validation score, epochs {pruning['min_epochs']}–"
            f"{params['training']['epochs']}, reduction factor {pruning['reduction_factor']}"
            if "training" in params else "none (linear models have no epochs)"
        ),
        "metric": f"validation {tuning['metric']}",
        "budget": tuning["budget"],
        "space": tuning["spaces"][model],
        "seed": tuning["seed"],
        "examples_sha256": sha256_of(processed_dir / "examples.parquet"),
    }
    best = best_settings(study, dataset, model, params, provenance)
    write_outcome(study, best, study_dir)
    log.info("%s on %s: best validation %s %.4f (trial %d); used %s", model, dataset, tuning["metric"],
             best["provenance"]["best"]["validation"], best["provenance"]["best"]["trial"], best["provenance"]["used"])
    return best
