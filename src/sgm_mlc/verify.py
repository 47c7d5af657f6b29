"""Check a run's quality metrics against the committed record, metric by metric, within stated tolerances.

The record is ``results/summary/metrics`` as committed in git (``git show <revision>:<file>``), or a folder of the
same files (another machine's results, say). The current figures are the working tree's
``results/summary/metrics``, which the pipeline rewrites. Every scalar of each run's ``test`` and ``valid`` split
is compared: identical, within the tolerance the tolerances file states for that metric, or outside it.

A run of the plan without a record is ``new`` (nothing to check it against); a recorded run the plan no longer
makes is ``missing``, which fails the check like a metric outside its tolerance: the record was not reproduced.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUMMARY_METRICS = Path("results/summary/metrics")
DEFAULT_TOLERANCES = Path("tolerances.yaml")
VERIFICATION_FILE = "results/verify/verification.json"  # the workflow's check, which the report states

Figures = dict[str, dict[str, float]]  # split → metric → value, one run's summary file


class RecordError(ValueError):
    """The committed record or the tolerances file cannot be read."""


@dataclass(frozen=True)
class Tolerances:
    """Absolute tolerances, by ``<split>.<metric>`` (``valid.micro_f1``), else by metric, else ``default``."""

    default: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    source: str = ""

    def of(self, split: str, metric: str) -> float:
        return self.metrics.get(f"{split}.{metric}", self.metrics.get(metric, self.default))


def load_tolerances(path: Path) -> Tolerances:
    """Read a tolerances file: ``default`` (a number), ``metrics`` (``<metric>`` or ``<split>.<metric>`` → number)
    and ``source`` (the measurement the numbers come from)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no tolerances file; pass --tolerances with the file that states them") from None
    except yaml.YAMLError as error:
        raise RecordError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(document, dict) or not _is_tolerance(document.get("default")):
        raise RecordError(f"{path}: needs `default:`, a non-negative number (the tolerance of unnamed metrics)")
    metrics = document.get("metrics") or {}
    bad = sorted(name for name, value in metrics.items() if not _is_tolerance(value))
    if bad:
        raise RecordError(f"{path}: the tolerance of {', '.join(bad)} is not a non-negative number")
    return Tolerances(float(document["default"]), {k: float(v) for k, v in metrics.items()}, str(document.get("source", "")))


def _is_tolerance(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def read_folder(folder: Path) -> dict[str, Figures]:
    """Run name → figures, from a folder of summary files (``<run>.json``)."""
    if not folder.is_dir():
        raise RecordError(f"{folder}: no such folder of summary metrics")
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}


def read_committed(repository: Path, revision: str = "HEAD", folder: Path = SUMMARY_METRICS) -> dict[str, Figures]:
    """Run name → figures, from ``folder`` as committed at ``revision`` of the git repository ``repository``."""
    listing = _git(repository, "ls-tree", "--name-only", f"{revision}:{folder.as_posix()}")
    record = {}
    for name in sorted(listing.split()):
        if name.endswith(".json"):
            record[name.removesuffix(".json")] = json.loads(_git(repository, "show", f"{revision}:{folder.as_posix()}/{name}"))
    return record


def committed_revision(repository: Path, revision: str = "HEAD") -> str:
    """The full commit id of ``revision``."""
    return _git(repository, "rev-parse", "--verify", f"{revision}^{{commit}}").strip()


def _git(repository: Path, *arguments: str) -> str:
    try:
        result = subprocess.run(["git", *arguments], cwd=repository, capture_output=True, text=True, timeout=60)
    except OSError as error:
        raise RecordError(f"git cannot run ({error}); pass --reference with a folder of summary metrics") from None
    if result.returncode != 0:
        raise RecordError(
            f"{repository}: git {' '.join(arguments)} failed ({result.stderr.strip()}); outside a git clone, or"
            " where the record is not committed, pass --reference with a folder of summary metrics"
        )
    return result.stdout


@dataclass(frozen=True)
class MetricCheck:
    run: str
    split: str
    metric: str
    recorded: float
    current: float
    tolerance: float

    @property
    def difference(self) -> float:
        return self.current - self.recorded

    @property
    def identical(self) -> bool:
        return self.current == self.recorded or (math.isnan(self.current) and math.isnan(self.recorded))

    @property
    def within(self) -> bool:
        return self.identical or abs(self.difference) <= self.tolerance


@dataclass(frozen=True)
class RunCheck:
    """One run: ``status`` is identical, within, outside, new (no record) or missing (not made now)."""

    run: str
    status: str
    checks: tuple[MetricCheck, ...] = ()

    @property
    def differing(self) -> list[MetricCheck]:
        return [check for check in self.checks if not check.identical]


def compare_run(run: str, recorded: Figures, current: Figures, tolerances: Tolerances) -> RunCheck:
    """Every metric of every split in either ``recorded`` or ``current``; a metric only one side has is outside."""
    checks = []
    for split in sorted(set(recorded) | set(current)):
        before, now = recorded.get(split, {}), current.get(split, {})
        for metric in sorted(set(before) | set(now)):
            checks.append(MetricCheck(
                run, split, metric, float(before.get(metric, math.nan)), float(now.get(metric, math.nan)),
                tolerances.of(split, metric),
            ))
    if not all(check.within for check in checks):
        status = "outside"
    else:
        status = "identical" if all(check.identical for check in checks) else "within"
    return RunCheck(run, status, tuple(checks))


def compare(record: Mapping[str, Figures], current: Mapping[str, Figures], tolerances: Tolerances) -> list[RunCheck]:
    """One :class:`RunCheck` per run in the record or made now, by run name."""
    runs = []
    for run in sorted(set(record) | set(current)):
        if run not in record:
            runs.append(RunCheck(run, "new"))
        elif run not in current:
            runs.append(RunCheck(run, "missing"))
        else:
            runs.append(compare_run(run, record[run], current[run], tolerances))
    return runs


def passed(runs: Iterable[RunCheck]) -> bool:
    """No run outside its tolerances and none missing."""
    return all(run.status not in ("outside", "missing") for run in runs)


def verification(runs: list[RunCheck], tolerances: Tolerances, record: str) -> dict[str, Any]:
    """The JSON document of a check: what was compared with what, the counts per status, and every metric that
    is not identical (the report's provenance reads it)."""
    counts = {status: sum(run.status == status for run in runs) for status in ("identical", "within", "outside", "new", "missing")}
    return {
        "record": record,
        "tolerances": {"default": tolerances.default, "metrics": dict(tolerances.metrics), "source": tolerances.source},
        "passed": passed(runs),
        "counts": counts,
        "runs": {run.run: {"status": run.status, "differing": [
            {key: value for key, value in asdict(check).items() if key != "run"} | {"difference": check.difference}
            for check in run.differing
        ]} for run in runs},
    }


def format_table(runs: list[RunCheck], every_metric: bool = False) -> list[str]:
    """Lines to print: one per run, then one per metric that differs (every metric with ``every_metric``)."""
    lines = []
    for run in runs:
        worst = max(run.differing, key=lambda check: abs(check.difference) - check.tolerance, default=None)
        detail = f"  largest: {worst.split} {worst.metric} {worst.difference:+.6f}" if worst else ""
        lines.append(f"{run.status.upper():<9} {run.run}{detail}")
        for check in run.checks if every_metric else run.differing:
            verdict = "identical" if check.identical else "within" if check.within else "OUTSIDE"
            lines.append(
                f"    {check.split:<5} {check.metric:<24} recorded {check.recorded:.6f}  now {check.current:.6f}"
                f"  difference {check.difference:+.6f}  tolerance {check.tolerance:.4f}  {verdict}"
            )
    return lines
