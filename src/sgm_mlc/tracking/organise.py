"""The organise step of a dataset: its logged training runs nested under one parent per recipe (see
:mod:`sgm_mlc.tracking.run_groups`) and its best model registered with the alias ``best`` (see
:mod:`sgm_mlc.tracking.registry`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlflow import MlflowClient

from sgm_mlc.tracking.registry import register_best_model, servable_runs
from sgm_mlc.tracking.run_groups import group_runs, organise_group, seed_statistics
from sgm_mlc.tracking.runs import reports_unavailable_store, with_lock_retries


@reports_unavailable_store
def organise_dataset_runs(
    uri: str, experiment: str, dataset: str, records: Sequence[Mapping[str, Any]], metric: str
) -> dict[str, Any]:
    """Organise the runs of ``records`` (the ``run.json`` of each logged training run of ``dataset``) and register
    the best by validation ``metric``; return the groups (parent run, seeds' runs, means) and the registered
    model (None when no run logged a servable model)."""
    client = MlflowClient(tracking_uri=uri)
    runs = [with_lock_retries(lambda: client.get_run(record["run_id"])) for record in records]
    groups = group_runs(runs)
    organised = []
    for group in groups:
        parent = organise_group(client, experiment, group)
        means = {name: value for name, value in seed_statistics(group.runs).items() if not name.endswith(".std")}
        seeds = {seed: run.info.run_id for seed, run in zip(group.seeds, group.runs)}
        organised.append({"name": group.name, **group.identity, "run_id": parent, "seeds": seeds, "mean": means})
    registered = register_best_model(client, dataset, groups, metric, servable_runs(records))
    return {"tracking_uri": uri, "experiment": experiment, "groups": organised, "registered_model": registered}
