"""Where the time of a finished pipeline run went: Snakemake's wall time, and per kind of job (rule) the number of
jobs, their wall seconds and CPU seconds, from the run's Snakemake log and its benchmark files.

    python benchmarks/first_run.py PROJECT [PROJECT …] [--json out.json]

PROJECT is a project folder after `bash scripts/pipeline.sh` (or `snakemake all`); with several, the tables are
printed one after the other and the totals side by side (e.g. before and after a change, each in a fresh clone).
The wall time is from the first to the last timestamp of the largest `.snakemake/log/*.snakemake.log` (the run,
not a later check). A job's seconds are from its start to its end in that log (1-second resolution); every job
runs one thread, so on a machine whose cores the jobs keep busy they are its CPU seconds too. The CPU column is
Snakemake's `cpu_time` from the benchmark files, which samples the job's processes and under-counts short jobs:
for the run's CPU time, time the whole command (`/usr/bin/time -v bash scripts/pipeline.sh`). Run it on an idle
machine: the figures are what the run took there.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOB = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


def log_times(log: Path) -> tuple[float, dict[str, list[float]]]:
    """The run's wall seconds and each rule's job wall seconds, from a Snakemake log."""
    started: dict[str, tuple[str, datetime]] = {}
    durations: dict[str, list[float]] = defaultdict(list)
    stamp = first = last = None
    rule = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
            first, last = first or stamp, stamp
        elif match := RULE.match(line):
            rule = match.group(1)
        elif (match := JOB.match(line)) and rule is not None:
            started[match.group(1)] = (rule, stamp)
            rule = None
        elif (match := FINISHED.match(line)) and match.group(1) in started:
            name, began = started.pop(match.group(1))
            durations[name].append((stamp - began).total_seconds())
    if first is None:
        raise SystemExit(f"{log}: no timestamps; is it a Snakemake log?")
    return (last - first).total_seconds(), durations


def benchmark_cpu(project: Path) -> dict[str, tuple[int, float, float]]:
    """rule → (jobs, wall seconds, CPU seconds) summed over ``results/benchmarks/<rule>/**/*.tsv``."""
    totals: dict[str, tuple[int, float, float]] = {}
    for folder in sorted((project / "results/benchmarks").glob("*/")):
        jobs = wall = cpu = 0.0
        for path in folder.rglob("*.tsv"):
            rows = list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t"))
            if rows:
                jobs, wall, cpu = jobs + 1, wall + float(rows[-1]["s"]), cpu + float(rows[-1]["cpu_time"] or 0)
        totals[folder.name] = (int(jobs), wall, cpu)
    return totals


def summary(project: Path) -> dict[str, Any]:
    logs = sorted((project / ".snakemake/log").glob("*.snakemake.log"), key=lambda path: path.stat().st_size)
    if not logs:
        raise SystemExit(f"{project}: no .snakemake/log/*.snakemake.log; run the pipeline there first")
    wall, durations = log_times(logs[-1])  # the largest log: the run itself, not a later check
    cpu = benchmark_cpu(project)
    rules = sorted(set(durations) | set(cpu), key=lambda name: -sum(durations.get(name, [0])))
    kinds = {
        name: {
            "jobs": len(durations.get(name, [])) or cpu.get(name, (0, 0, 0))[0],
            "wall_seconds": sum(durations.get(name, [])),
            "cpu_seconds": cpu[name][2] if name in cpu else None,
        }
        for name in rules if name != "all"
    }
    return {"project": str(project), "log": str(logs[-1]), "wall_seconds": wall, "kinds": kinds,
            "jobs": sum(kind["jobs"] for kind in kinds.values()),
            "job_seconds": sum(kind["wall_seconds"] for kind in kinds.values())}


def print_summary(figures: dict[str, Any]) -> None:
    print(f"{figures['project']}: {figures['jobs']} jobs, Snakemake wall {figures['wall_seconds'] / 60:.1f} min")
    print(f"  {'job kind':24s} {'jobs':>5s} {'job s':>8s} {'s/job':>6s} {'sampled CPU s':>13s}")
    for name, kind in figures["kinds"].items():
        cpu = "-" if kind["cpu_seconds"] is None else f"{kind['cpu_seconds']:.0f}"
        per_job = kind["wall_seconds"] / kind["jobs"] if kind["jobs"] else 0.0
        print(f"  {name:24s} {kind['jobs']:5d} {kind['wall_seconds']:8.0f} {per_job:6.1f} {cpu:>13s}")
    print(f"  {'all jobs':24s} {figures['jobs']:5d} {figures['job_seconds']:8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("projects", type=Path, nargs="+")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = [summary(project) for project in args.projects]
    for entry in figures:
        print_summary(entry)
    if len(figures) > 1:
        print("wall minutes: " + " → ".join(f"{entry['wall_seconds'] / 60:.1f}" for entry in figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
