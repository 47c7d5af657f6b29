"""A dataset's training runs organised for the MLflow UI: one parent run per benchmark row (dataset × model ×
variant × order) with its seeds nested under it as child runs.

A child keeps every metric of its seed; the parent carries, for each final metric (``valid.*``, ``test.*``),
the mean over its seeds under the metric's own name and the sample standard deviation as ``<metric>.std``
(from two seeds on), so that the top level of the runs table reads as the benchmark's table and each row
unfolds into its seeds. Each run also gets a one-line description (``mlflow.note.content``).

Runs are grouped by their parameters less the seed, so a group is a recipe: a run logged with other settings
(an edited ``params.yaml``) lands under a new parent. Re-organising is idempotent: the parent is found again
by its ``run_key``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities import Run

from sgm_mlc.tracking.runs import RUN_KEY_TAG, get_or_create_run, log_run, run_key, with_lock_retries

RULE = "run_group"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests a run under this one
DESCRIPTION_TAG = "mlflow.note.content"  # MLflow's own tag: the run's description
GROUP_PARTS = ("dataset", "model", "variant", "order")
SEED_PARAM = "run.seed"
FINAL_SPLITS = ("valid.", "test.")
HEADLINE_METRIC = "test.micro_f1"


@dataclass(frozen=True)
class RunGroup:
    """The seeds of one recipe: ``identity`` (dataset, model, variant, order), the parameters they share, and
    their finished MLflow runs, ordered by seed."""

    identity: Mapping[str, str]
    params: Mapping[str, str]
    runs: Sequence[Run]

    @property
    def name(self) -> str:
        return "-".join(self.identity[part] for part in GROUP_PARTS)

    @property
    def seeds(self) -> list[str]:
        return [run.data.params[SEED_PARAM] for run in self.runs]

    def mean(self, metric: str) -> float:
        return statistics.fmean(run.data.metrics[metric] for run in self.runs)


def group_runs(runs: Iterable[Run]) -> list[RunGroup]:
    """``runs`` grouped by their parameters less the seed, each group's runs ordered by seed, the groups by name."""
    grouped: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        shared = {name: value for name, value in run.data.params.items() if name != SEED_PARAM}
        grouped[tuple(sorted(shared.items()))].append(run)
    groups = [
        RunGroup(
            identity={part: members[0].data.tags[f"sgm_mlc.{part}"] for part in GROUP_PARTS},
            params=dict(shared),
            runs=sorted(members, key=lambda run: int(run.data.params[SEED_PARAM])),
        )
        for shared, members in grouped.items()
    ]
    return sorted(groups, key=lambda group: (group.name, group.params.get("run.label_order", "")))


def final_metric_names(runs: Sequence[Run]) -> list[str]:
    """The final metrics (``valid.*``, ``test.*``) every one of ``runs`` has."""
    names = set.intersection(*(set(run.data.metrics) for run in runs))
    return sorted(name for name in names if name.startswith(FINAL_SPLITS))


def seed_statistics(runs: Sequence[Run]) -> dict[str, float]:
    """Each final metric's mean over ``runs``, and from two runs on its sample standard deviation
    (``<metric>.std``)."""
    aggregated = {}
    for name in final_metric_names(runs):
        values = [run.data.metrics[name] for run in runs]
        aggregated[name] = statistics.fmean(values)
        if len(values) > 1:
            aggregated[f"{name}.std"] = statistics.stdev(values)
    return aggregated


def recipe(identity: Mapping[str, str]) -> str:
    """``sgm (variant default, order frequency) on synthetic``."""
    return f"{identity['model']} (variant {identity['variant']}, order {identity['order']}) on {identity['dataset']}"


def group_description(group: RunGroup, statistics_: Mapping[str, float]) -> str:
    seeds = ", ".join(group.seeds)
    headline = ""
    if HEADLINE_METRIC in statistics_:
        spread = statistics_.get(f"{HEADLINE_METRIC}.std")
        headline = f"; test micro-F1 {statistics_[HEADLINE_METRIC]:.3f}" + (f" ± {spread:.3f} (std)" if spread else "")
    plural = "s" if len(group.runs) > 1 else ""
    return f"{recipe(group.identity)}: mean of {len(group.runs)} seed{plural} ({seeds}){headline}"


def seed_description(group: RunGroup, run: Run) -> str:
    score = run.data.metrics.get(HEADLINE_METRIC)
    headline = "" if score is None else f"; test micro-F1 {score:.3f}"
    return f"{recipe(group.identity)}, seed {run.data.params[SEED_PARAM]}{headline}"


def organise_group(client: MlflowClient, experiment: str, group: RunGroup) -> str:
    """Get or create ``group``'s parent run, log the seeds' statistics to it, nest the seeds under it and describe
    them all; return the parent's run id. The parent spans its seeds' runs, from the first start to the last end."""
    first = min(run.info.start_time for run in group.runs)
    last = max(run.info.end_time or run.info.start_time for run in group.runs)
    key = run_key(RULE, dict(group.identity), dict(group.params))
    parent = get_or_create_run(client, experiment, key, run_name=group.name, start_time=first)
    aggregated = seed_statistics(group.runs)
    own = (RUN_KEY_TAG, "sgm_mlc.seed", "sgm_mlc.rule")
    shared_tags = {name: value for name, value in group.runs[0].data.tags.items()
                   if name.startswith("sgm_mlc.") and name not in own}
    tags = shared_tags | {
        "sgm_mlc.rule": RULE,
        "sgm_mlc.seeds": ",".join(group.seeds),
        "mlflow.source.git.commit": group.runs[0].data.tags.get("mlflow.source.git.commit", ""),
        DESCRIPTION_TAG: group_description(group, aggregated),
    }
    inputs = group.runs[0].inputs.dataset_inputs if group.runs[0].inputs else []
    if inputs:
        with_lock_retries(lambda: client.log_inputs(parent, datasets=list(inputs)))
    for run in group.runs:
        child_tags = [(PARENT_TAG, parent), (DESCRIPTION_TAG, seed_description(group, run))]
        for name, value in child_tags:
            with_lock_retries(lambda: client.set_tag(run.info.run_id, name, value))
    log_run(client, parent, group.params, aggregated, tags, end_time=last)
    return parent
