"""A tuning study: its storage, sampler and pruner, the budget it shares among its workers, and a worker.

* **Storage**: an Optuna RDB storage, ``sqlite:///<study folder>/study.db`` by default, or a database URL
  (``tuning.storage``, e.g. ``postgresql://…``) that several workers (Snakemake or SLURM jobs) share. Workers send
  a heartbeat; a trial whose worker died (no heartbeat for :data:`GRACE_PERIOD_SECONDS`) is marked failed and
  run again with the same values, so a stopped study resumes with its finished trials kept.
* **Sampler**: TPE, seeded. A worker's seed is ``tuning.seed + 1000 · worker + trials so far``, so a resumed or
  parallel worker does not replay the random start-up draws of another.
* **Pruner**: Hyperband (successive halving over several brackets) on each epoch's validation score, from
  ``tuning.pruning.min_epochs`` to the recipe's ``training.epochs``: most bad trials stop after an epoch or two.
* **Budget** (``tuning.budget``): ``trials`` finished (complete or pruned) and ``cpu_minutes`` of process CPU time
  (every thread counted) summed over the study's trials. A worker starts no trial once either is spent; a
  trial under way finishes, so a study overshoots by at most one trial per worker.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30
GRACE_PERIOD_SECONDS = 90
CPU_SECONDS = "cpu_seconds"  # a trial's user attribute: the process CPU time it took
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class Budget:
    trials: int
    cpu_minutes: float

    def spent(self, study: optuna.Study) -> bool:
        """Whether ``study`` has finished ``trials`` trials or used ``cpu_minutes`` of CPU."""
        used = study_usage(study)
        return used["finished"] >= self.trials or used["cpu_minutes"] >= self.cpu_minutes


def study_usage(study: optuna.Study) -> dict[str, Any]:
    """Trials by state and the CPU-minutes the study's trials took."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name.lower(): sum(trial.state == state for trial in trials) for state in TrialState}
    cpu = sum(trial.user_attrs.get(CPU_SECONDS, 0.0) for trial in trials)
    return {"finished": counts["complete"] + counts["pruned"], **counts, "cpu_minutes": cpu / 60}


def redacted(url: str) -> str:
    """``url`` without a password (``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def open_study(
    name: str, storage_url: str, seed: int, worker: int, min_epochs: int, max_epochs: int, reduction_factor: int,
    startup_trials: int,
) -> optuna.Study:
    """The study ``name`` in ``storage_url`` (created on first use), maximising, with this worker's sampler."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats: stable in use
    storage = RDBStorage(
        storage_url,
        heartbeat_interval=HEARTBEAT_SECONDS,
        grace_period=GRACE_PERIOD_SECONDS,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
    )
    pruner = optuna.pruners.HyperbandPruner(
        min_resource=min_epochs, max_resource=max(max_epochs, min_epochs), reduction_factor=reduction_factor
    )
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
    study.sampler = optuna.samplers.TPESampler(
        seed=seed + 1000 * worker + len(study.get_trials(deepcopy=False)), n_startup_trials=startup_trials
    )
    study.pruner = pruner
    return study


def run_worker(
    study: optuna.Study, objective: Callable[[optuna.Trial], float], budget: Budget, catch: tuple[type, ...] = ()
) -> None:
    """Run trials of ``study`` one at a time until ``budget`` is spent; a trial that raises one of ``catch`` is
    recorded as failed and the study goes on."""
    while not budget.spent(study):
        study.optimize(objective, n_trials=1, catch=catch)
        last = study.get_trials(deepcopy=False)[-1]
        log.info("trial %d %s (%s); %s", last.number, last.state.name.lower(), last.value, study_usage(study))


def trial_record(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as JSON: number, state, value, the values drawn, per-epoch validation scores, user attributes
    and start / end times."""
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "params": trial.params,
        "intermediate_values": {str(step): value for step, value in sorted(trial.intermediate_values.items())},
        "user_attrs": trial.user_attrs,
        "started": trial.datetime_start.isoformat() if trial.datetime_start else None,
        "ended": trial.datetime_complete.isoformat() if trial.datetime_complete else None,
    }
