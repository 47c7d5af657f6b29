"""A study's outcome, ``best.yaml``: the best trial's settings with their provenance, which a ``tuned`` run reads.

``best.yaml`` holds ``dataset``, ``model``, ``settings`` (the tuned values only, as params sections:
``models.<model>`` and ``training``, merged over the run's own), ``order`` (the tuned label order, or null), and ``provenance``: the
study, its storage (password removed), sampler and pruner, the budget and what was used of it (trials by state,
CPU-minutes), the best trial's number, validation score and epochs, the space searched and the sha256 of the
examples it was tuned on. ``trials.json`` beside it lists every trial.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import optuna
import yaml

from sgm_mlc.atomic import atomic_path, write_json
from sgm_mlc.config import deep_merge
from sgm_mlc.tuning.space import ORDER_KEY, split_values
from sgm_mlc.tuning.study import study_usage, trial_record

BEST_FILE = "best.yaml"
TRIALS_FILE = "trials.json"


def best_settings(
    study: optuna.Study, dataset: str, model: str, params: dict[str, Any], provenance: dict[str, Any]
) -> dict[str, Any]:
    """The content of ``best.yaml`` for ``study`` (``params``: the sections a trial merges its values over)."""
    completed = [trial for trial in study.get_trials(deepcopy=False) if trial.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        raise RuntimeError(
            f"the study {study.study_name} has no complete trial (every trial was pruned or failed); "
            "raise tuning.budget or look at trials.json"
        )
    best = study.best_trial
    split = split_values(best.params, params["models"][model], params.get("training", {}))
    settings = {"models": {model: split["models"]}} if split["models"] else {}
    if split["training"]:
        settings["training"] = split["training"]
    return {
        "dataset": dataset,
        "model": model,
        "settings": settings,
        ORDER_KEY: split[ORDER_KEY],
        "provenance": {
            **provenance,
            "used": study_usage(study),
            "best": {
                "trial": best.number,
                "validation": best.value,
                "epochs_run": best.user_attrs.get("epochs_run"),
                "best_epoch": best.user_attrs.get("best_epoch"),
            },
        },
    }


def write_outcome(study: optuna.Study, best: dict[str, Any], out_dir: Path) -> None:
    """``trials.json`` and ``best.yaml`` into ``out_dir``, each atomically."""
    write_json(out_dir / TRIALS_FILE, [trial_record(trial) for trial in study.get_trials(deepcopy=False)])
    with atomic_path(out_dir / BEST_FILE) as temporary:
        temporary.write_text(yaml.safe_dump(best, sort_keys=False), encoding="utf-8")


def read_best(path: Path, dataset: str, model: str) -> dict[str, Any]:
    """``best.yaml`` at ``path``, checked to be the study of ``dataset`` and ``model``."""
    try:
        best = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read the tuned settings ({error}); run the study again (snakemake tune)") from None
    if not isinstance(best, dict) or (best.get("dataset"), best.get("model")) != (dataset, model):
        raise ValueError(f"{path} holds no tuned settings of {model} on {dataset}; run the study again (snakemake tune)")
    return best


def apply_best(params: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """``params`` (a step's sections) with the tuned settings merged over its ``models`` and ``training``."""
    tuned = copy.deepcopy(params)
    for section, values in best["settings"].items():
        if section in tuned:
            tuned[section] = deep_merge(tuned[section], values)
    return tuned
