"""Where the report's numbers come from: code, parameters, data, software, hardware and time spent.

* the git commit of the project and the sha256 of the canonical JSON of the params (sorted keys, no spaces);
* the sha256 of each dataset's ``data/processed/<dataset>/examples.parquet``;
* the versions of the packages that shape the results, and the machine building the report;
* the devices the runs were trained on and the determinism settings of the neural ones (their
  ``train_summary.json``);
* how every run's metrics compare with the committed record, within the stated tolerances
  (``results/verify/verification.json``, see :mod:`sgm_mlc.verify`);
* the wall-clock seconds per rule, summed over Snakemake's benchmark files
  ``results/benchmarks/<rule>/**/*.tsv`` (column ``s``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from sgm_mlc.data.download import sha256_of
from sgm_mlc.report.collect import Results
from sgm_mlc.report.document import Facts, Section
from sgm_mlc.git import git_commit
from sgm_mlc.verify import VERIFICATION_FILE

PACKAGES = ("torch", "snakemake", "dvc", "mlflow", "gensim", "scikit-learn", "pandas", "pyarrow", "numpy", "sgm-mlc")
BENCHMARKS = "results/benchmarks"


def provenance(results: Results) -> dict[str, Any]:
    """Every provenance fact as a JSON-ready dict (``phase_seconds`` is ``None`` without benchmark files)."""
    project_dir = results.project_dir
    return {
        "git_commit": git_commit(project_dir),
        "params_sha256": params_sha256(results.params),
        "dataset_sha256": {
            dataset: sha256_of(project_dir / f"data/processed/{dataset}/examples.parquet")
            for dataset in results.plan.datasets
        },
        "packages": package_versions(),
        "hardware": hardware(),
        "training_devices": dict(
            Counter(results.train_summary(run).get("device", "unknown") for run in results.plan.runs)
        ),
        "determinism": dict(Counter(
            determinism_setting(results.train_summary(run)["determinism"])
            for run in results.plan.runs if "determinism" in results.train_summary(run)
        )),
        "verification": verification_facts(results.json(VERIFICATION_FILE)),
        "phase_seconds": phase_seconds(project_dir),
    }


def determinism_setting(record: dict[str, Any]) -> str:
    """One line for a run's determinism record (see :func:`sgm_mlc.training.device.determinism_record`)."""
    kernels = "deterministic kernels" if record["deterministic_algorithms"] else "non-deterministic kernels allowed"
    return (
        f"{kernels}, {record['torch_threads']} torch thread(s), {record['cpu_capability']} kernels,"
        f" torch {record['torch']}"
    )


def verification_facts(document: dict[str, Any]) -> dict[str, Any]:
    """What the report states of the check against the committed record: the record, the outcome, the
    tolerances and, per run that moved, its largest move relative to its tolerance."""
    moved = {}
    for run, entry in document["runs"].items():
        if entry["differing"]:
            worst = max(entry["differing"], key=lambda check: abs(check["difference"]) - check["tolerance"])
            moved[run] = (
                f"{entry['status']}: largest move {worst['split']} {worst['metric']} {worst['difference']:+.4f}"
                f" (tolerance {worst['tolerance']:.4f})"
            )
    return {
        "record": document["record"],
        "passed": document["passed"],
        "counts": document["counts"],
        "tolerances": document["tolerances"],
        "moved": moved,
    }


def params_sha256(params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``params`` (sorted keys, no whitespace)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def package_versions() -> dict[str, str]:
    """Installed version of each of :data:`PACKAGES` (``not installed`` where absent)."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def hardware() -> dict[str, Any]:
    """The machine building the report: platform, Python, CPUs, memory, CUDA devices (via ``nvidia-smi``)."""
    try:
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB"
    except (AttributeError, ValueError, OSError):
        memory = "unknown"
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory": memory,
        "cuda_devices": cuda_devices(),
    }


def cuda_devices() -> list[str]:
    """Name and memory of each CUDA device ``nvidia-smi`` lists (none without a driver)."""
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, check=True, timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()]


def verification_block(facts: dict[str, Any]) -> Facts:
    """The check against the committed record as a list: outcome, record, tolerances, the runs that moved."""
    counts = ", ".join(f"{count} {status}" for status, count in facts["counts"].items() if count)
    tolerances = facts["tolerances"]
    named = ", ".join(f"{metric} {value:g}" for metric, value in tolerances["metrics"].items())
    return Facts(f"Checked against the committed record ({VERIFICATION_FILE}; sgm-mlc verify)", [
        ("outcome", f"{'within the stated tolerances' if facts['passed'] else 'OUTSIDE the stated tolerances'}: {counts}"),
        ("record", facts["record"]),
        ("tolerances", f"absolute; {named + '; ' if named else ''}other metrics {tolerances['default']:g}"
                       + (f" ({tolerances['source']})" if tolerances["source"] else "")),
        *facts["moved"].items(),
    ])


def phase_seconds(project_dir: Path) -> dict[str, dict[str, float]] | None:
    """Rule → ``{"seconds": summed column s, "jobs": benchmark files}``, ``None`` when no file exists."""
    folder = project_dir / BENCHMARKS
    totals: dict[str, dict[str, float]] = {}
    for path in sorted(folder.glob("*/**/*.tsv")) if folder.is_dir() else []:
        rule = path.relative_to(folder).parts[0]
        seconds = float(pd.read_csv(path, sep="\t")["s"].sum())
        entry = totals.setdefault(rule, {"seconds": 0.0, "jobs": 0})
        entry["seconds"] += seconds
        entry["jobs"] += 1
    return totals or None


def provenance_section(facts: dict[str, Any]) -> Section:
    """The provenance facts as lists, for the end of the report."""
    hardware_facts = facts["hardware"]
    blocks = [
        Facts("Code and parameters", [("git commit", facts["git_commit"]), ("params sha256", facts["params_sha256"])]),
        Facts("Datasets (sha256 of data/processed/<dataset>/examples.parquet)", list(facts["dataset_sha256"].items())),
        Facts("Packages", list(facts["packages"].items())),
        Facts("Machine building the report", [
            ("platform", hardware_facts["platform"]),
            ("python", hardware_facts["python"]),
            ("processor", hardware_facts["processor"]),
            ("CPUs", str(hardware_facts["cpu_count"])),
            ("memory", hardware_facts["memory"]),
            ("CUDA devices", "; ".join(hardware_facts["cuda_devices"]) or "none found"),
        ]),
        Facts("Training devices (train_summary.json of each run)",
              [(device, f"{count} run(s)") for device, count in facts["training_devices"].items()]),
        Facts("Determinism settings of the neural runs (train_summary.json)",
              [(setting, f"{count} run(s)") for setting, count in facts["determinism"].items()] or [("none", "no neural run")]),
        verification_block(facts["verification"]),
    ]
    phases = facts["phase_seconds"]
    if phases is None:
        blocks.append(Facts("Wall-clock time per rule", [
            ("not recorded", f"no Snakemake benchmark files (*.tsv) under {BENCHMARKS}/<rule>/"),
        ]))
    else:
        blocks.append(Facts(f"Wall-clock time per rule (sum of column s of {BENCHMARKS}/<rule>/**/*.tsv)", [
            (rule, f"{entry['seconds']:.1f} s over {entry['jobs']} job(s)") for rule, entry in phases.items()
        ]))
    return Section("Provenance", blocks)
