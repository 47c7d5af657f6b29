"""The best model of a dataset in MLflow's model registry, as ``models:/sgm-mlc-<dataset>@best``.

The best model is chosen on validation only: the recipe (a run group, see :mod:`sgm_mlc.tracking.run_groups`)
with the highest mean validation score over its seeds, then that recipe's seed with the highest validation
score (ties: the lower seed). Choosing the recipe on the seed mean keeps one lucky seed of a weaker recipe from
winning. Only runs that logged a servable pyfunc model take part (models on image features are logged as files).

Registering is idempotent: when the alias already points at a version of the chosen run, nothing changes;
otherwise a new version is registered and the alias moves to it, so the registry keeps the history of bests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from sgm_mlc.tracking.pyfunc_model import MODEL_NAME, tracking_store
from sgm_mlc.tracking.run_groups import SEED_PARAM, RunGroup, recipe
from sgm_mlc.tracking.runs import with_lock_retries

ALIAS = "best"


def registered_model_name(dataset: str) -> str:
    return f"sgm-mlc-{dataset}"


def best_run(groups: Sequence[RunGroup], metric: str, servable: set[str]) -> tuple[RunGroup, Any] | None:
    """The best recipe of ``groups`` by mean ``valid.<metric>`` and its best seed, among the runs in ``servable``
    (run ids with a logged pyfunc model); None when no run is servable."""
    candidates = []
    for group in groups:
        runs = [run for run in group.runs if run.info.run_id in servable and f"valid.{metric}" in run.data.metrics]
        if runs:
            candidates.append(RunGroup(group.identity, group.params, runs))
    if not candidates:
        return None
    group = max(candidates, key=lambda candidate: candidate.mean(f"valid.{metric}"))
    run = max(group.runs, key=lambda run: (run.data.metrics[f"valid.{metric}"], -int(run.data.params[SEED_PARAM])))
    return group, run


def version_of_alias(client: MlflowClient, name: str) -> Any | None:
    try:
        return with_lock_retries(lambda: client.get_model_version_by_alias(name, ALIAS))
    except MlflowException:
        return None


def register_best_model(
    client: MlflowClient, dataset: str, groups: Sequence[RunGroup], metric: str, servable: set[str]
) -> dict[str, Any] | None:
    """Register ``dataset``'s best servable run (see the module's docstring) and point the alias ``best`` at it;
    return the registered model's name, version, run and URI (None when no run is servable)."""
    chosen = best_run(groups, metric, servable)
    if chosen is None:
        return None
    group, run = chosen
    name = registered_model_name(dataset)
    seed = run.data.params[SEED_PARAM]
    description = (f"The best model on {dataset} by validation {metric}: {recipe(group.identity)}, seed {seed} "
                   f"(recipe chosen on the mean over its seeds, then its best seed).")
    if with_lock_retries(lambda: client.search_registered_models(f"name = '{name}'")) == []:
        with_lock_retries(lambda: client.create_registered_model(name, description=description))
    version = version_of_alias(client, name)
    if version is None or version.run_id != run.info.run_id:
        tags = {**{f"sgm_mlc.{part}": value for part, value in group.identity.items()}, "sgm_mlc.seed": seed,
                f"valid.{metric}": str(run.data.metrics[f"valid.{metric}"])}
        source = f"runs:/{run.info.run_id}/{MODEL_NAME}"  # resolved to the run's logged model
        with tracking_store(client.tracking_uri):
            version = with_lock_retries(lambda: mlflow.register_model(source, name, tags=tags))
        with_lock_retries(lambda: client.set_registered_model_alias(name, ALIAS, version.version))
        with_lock_retries(lambda: client.update_registered_model(name, description=description))
    return {
        "name": name,
        "version": str(version.version),
        "alias": ALIAS,
        "run_id": run.info.run_id,
        "group": group.name,
        "seed": seed,
        f"valid.{metric}": run.data.metrics[f"valid.{metric}"],
        "uri": f"models:/{name}@{ALIAS}",
    }


def servable_runs(records: Sequence[Mapping[str, Any]]) -> set[str]:
    """The run ids of the logging records (``run.json``) that logged a pyfunc model."""
    return {record["run_id"] for record in records if record.get("model_uri")}
