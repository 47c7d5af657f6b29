"""Runs in the MLflow tracking store, found again by a deterministic ``run_key`` tag.

Parallel jobs must not race to create the store or the experiment: :func:`init_tracking` does both once (the
workflow's ``init_tracking`` rule), and every job then gets or creates its own run by ``run_key`` (rule,
wildcards and a hash of the parameters), so a retried job resumes its run instead of adding a duplicate.

A tracking server that cannot be reached fails a logging step with one :class:`TrackingStoreUnavailable` line
naming the server (see :func:`reports_unavailable_store`). How long MLflow's client insists first is set by
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` (default 7, with exponential backoff: minutes) and
``MLFLOW_HTTP_REQUEST_TIMEOUT`` (seconds per request, default 120).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_TIMEOUT
from mlflow.exceptions import MlflowException

T = TypeVar("T")
RUN_KEY_TAG = "sgm_mlc.run_key"
# MLflow 3 opens an experiment on the view its kind names: training runs, not the GenAI traces overview.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
MAX_PARAM_LENGTH = 6000
SQLITE_LOCK_RETRIES = 6
DATASET_INSERT_RETRIES = 3


def tracking_uri(tracking_params: Mapping[str, Any]) -> str:
    """The store to log to: ``MLFLOW_TRACKING_URI`` when set (a shared server), else ``tracking.uri``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or tracking_params["uri"]


class TrackingStoreUnavailable(RuntimeError):
    """The tracking server could not be reached or kept failing; the results files are untouched."""


def request_failure(error: BaseException | None) -> str | None:
    """Why an HTTP request to the tracking server failed, if ``error`` comes from one (else None)."""
    while error is not None:
        if isinstance(error, requests.exceptions.Timeout):
            return f"no answer within {MLFLOW_HTTP_REQUEST_TIMEOUT.get()} s"
        if isinstance(error, requests.exceptions.RetryError):
            return "it answered every attempt with a server error"
        if isinstance(error, requests.exceptions.ConnectionError):
            return "no connection"
        error = error.__cause__ or error.__context__
    return None


def reports_unavailable_store(log: Callable[..., T]) -> Callable[..., T]:
    """Decorate a logging function whose first argument is the tracking URI: a failed request to the tracking
    server becomes one :class:`TrackingStoreUnavailable` that names the server and says to rerun the step,
    instead of MLflow's chain of HTTP tracebacks (the cause stays attached for a debugger)."""

    @functools.wraps(log)
    def logging_step(uri: str, *args: Any, **kwargs: Any) -> T:
        try:
            return log(uri, *args, **kwargs)
        except (MlflowException, requests.exceptions.RequestException) as error:
            reason = request_failure(error)
            if reason is None:
                raise
            raise TrackingStoreUnavailable(
                f"MLflow tracking server {uri} is unavailable ({reason}); the results are on disk: "
                "rerun this step once the server is back to log them"
            ) from error

    return logging_step


@reports_unavailable_store
def init_tracking(uri: str, experiment: str) -> str:
    """Create the store's tables and the experiment (a model-training one) if they do not exist yet; return the
    experiment id."""
    client = MlflowClient(tracking_uri=uri)
    existing = client.get_experiment_by_name(experiment)
    if existing is not None:
        experiment_id = existing.experiment_id
    else:
        try:
            experiment_id = client.create_experiment(experiment)
        except MlflowException:  # created meanwhile by another process
            experiment_id = client.get_experiment_by_name(experiment).experiment_id
    for name, value in EXPERIMENT_KIND.items():  # also on an experiment made before it had a kind
        client.set_experiment_tag(experiment_id, name, value)
    return experiment_id


def run_key(rule: str, wildcards: Mapping[str, str], params: Any) -> str:
    """A stable identity for one job: rule, wildcards, and a short hash of its parameters."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    parts = [rule] + [f"{name}={value}" for name, value in sorted(wildcards.items())] + [digest]
    return "/".join(parts)


def get_or_create_run(
    client: MlflowClient, experiment: str, key: str, run_name: str, start_time: int | None = None
) -> str:
    """The id of the run tagged ``key`` in ``experiment``, created (and tagged) if there is none, starting at
    ``start_time`` (Unix milliseconds; default: now)."""
    experiment_id = with_lock_retries(lambda: client.get_experiment_by_name(experiment))
    if experiment_id is None:
        raise RuntimeError(f"MLflow experiment {experiment!r} does not exist; run the init_tracking step first")
    experiment_id = experiment_id.experiment_id
    escaped = key.replace("'", "\\'")
    found = with_lock_retries(
        lambda: client.search_runs([experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{escaped}'", max_results=1)
    )
    if found:
        return found[0].info.run_id
    run = with_lock_retries(
        lambda: client.create_run(experiment_id, start_time, tags={RUN_KEY_TAG: key}, run_name=run_name)
    )
    return run.info.run_id


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as ``{"a.b.c": "value"}`` strings, the form MLflow stores."""
    flat: dict[str, str] = {}
    for name, value in params.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{key}."))
        else:
            flat[key] = json.dumps(value) if isinstance(value, (list, tuple, type(None), bool)) else str(value)
    return flat


def log_run(
    client: MlflowClient,
    run_id: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float] | Sequence[tuple[str, float, int]],
    tags: Mapping[str, str],
    artifacts: Iterable[Path] = (),
    end_time: int | None = None,
) -> None:
    """Log parameters (flattened), metrics, tags and artifact files to ``run_id``, then mark it finished at
    ``end_time`` (Unix milliseconds; default: now).

    ``metrics`` is ``{name: value}`` (logged at step 0) or ``(name, value, step)`` triples (e.g. one per
    epoch). Logging the same values again (a retried job) is harmless: only parameters the run lacks are
    sent, and metrics carry a fixed timestamp, so a re-log rewrites the same points.
    """
    flat = {name: value[:MAX_PARAM_LENGTH] for name, value in flatten(params).items()}
    existing = with_lock_retries(lambda: client.get_run(run_id)).data.params
    new_params = [Param(name, value) for name, value in sorted(flat.items()) if name not in existing]
    points = sorted((name, value, 0) for name, value in metrics.items()) if isinstance(metrics, Mapping) else metrics
    metric_entities = [Metric(name, float(value), 0, step) for name, value, step in points]
    tag_entities = [RunTag(name, str(value)) for name, value in sorted(tags.items())]
    for start in range(0, max(len(new_params), len(metric_entities), len(tag_entities)), 100):
        batch_params = new_params[start : start + 100]
        batch_metrics = metric_entities[start : start + 100]
        batch_tags = tag_entities[start : start + 100]
        with_lock_retries(lambda: client.log_batch(run_id, batch_metrics, batch_params, batch_tags))
    for artifact in artifacts:
        with_lock_retries(lambda: client.log_artifact(run_id, str(artifact)))
    with_lock_retries(lambda: client.set_terminated(run_id, "FINISHED", end_time))


def log_inputs(client: MlflowClient, run_id: str, datasets: Sequence[Any]) -> None:
    """``client.log_inputs(run_id, datasets=datasets)``, safe beside parallel jobs logging the same datasets (the
    dataset card's run and the training runs of a dataset, on a tracking server): the store looks a dataset up by
    experiment, name and digest, then inserts it, so two jobs may both insert it and the second be refused by the
    unique constraint. The retry finds the dataset stored and links it to the run."""
    for attempt in range(1, DATASET_INSERT_RETRIES + 1):
        try:
            return with_lock_retries(lambda: client.log_inputs(run_id, datasets=datasets))
        except MlflowException as error:
            message = str(error).lower()
            refused_as_duplicate = "unique constraint" in message or "duplicate key" in message
            if attempt == DATASET_INSERT_RETRIES or not refused_as_duplicate:
                raise


def with_lock_retries(action: Callable[[], T]) -> T:
    """Run ``action``, retrying with backoff while a SQLite store is locked by a parallel job."""
    for attempt in range(SQLITE_LOCK_RETRIES - 1):
        try:
            return action()
        except MlflowException as error:
            if "locked" not in str(error).lower():
                raise
            time.sleep(0.2 * 2**attempt)
    return action()
