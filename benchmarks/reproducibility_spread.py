"""How far the committed record moves when the same parameters and seeds run in another environment: a fresh clone
of this commit reruns the pipeline under each environment named, and every run's summary metrics are compared
with the committed ones (the measurement behind tolerances.yaml).

    python benchmarks/reproducibility_spread.py --environments same avx2 threads2 --workdir /tmp/spread

Environments (what differs between two machines of one kind, reproduced on one):
* ``same``: nothing; a rerun here must give the committed bits.
* ``avx2``: torch's kernels on AVX2 instead of AVX-512 (``ATEN_CPU_CAPABILITY``, MKL's and oneDNN's instruction
  caps), as on a CPU without AVX-512.
* ``threads2``: two torch threads per training and evaluation job instead of one (``--set-threads``), which
  splits the reductions of matrix products differently.

Every environment runs as on a user's machine: bytecode is written and no OpenBLAS setting is inherited. Prints,
per environment and metric, how many runs moved and the largest move (all runs, and neural / linear apart),
writes ``spread.json`` into the work folder (environments measured earlier are kept), and prints the tolerances
that follow from every environment measured so far: per ``split.metric``, the largest move times
``--margin``, rounded up to the next thousandth (``tolerances.yaml`` states them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "src"))

from sgm_mlc.experiment.plan import NEURAL_MODELS  # noqa: E402
from sgm_mlc.verify import Tolerances, compare, read_committed, read_folder  # noqa: E402

ENVIRONMENTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "same": ({}, []),
    "avx2": ({"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, []),
    "threads2": ({}, ["--set-threads", "train_model=2", "evaluate_model=2"]),
}
EXACT = Tolerances(default=0.0)


def user_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment as on a user's machine (no bytecode switch, no OpenBLAS settings), the venv's
    tools first on PATH, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("OPENBLAS")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env | extra


def rerun(name: str, workdir: Path, target: str, cores: int, config: list[str]) -> tuple[Path, float]:
    """Clone this commit into ``workdir/name`` (reusing a clone already there, so a stopped measurement resumes)
    and run ``target`` in it, with Snakemake's ``--config`` overrides ``config`` if any; the clone and the wall
    seconds."""
    variables, options = ENVIRONMENTS[name]
    clone = workdir / name
    if not clone.is_dir():
        subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
    started = time.perf_counter()
    with open(workdir / f"{name}.log", "a", encoding="utf-8") as log:
        subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", str(cores), target, *options]
            + (["--config", *config] if config else []),
            cwd=clone, env=user_environment(variables), stdout=log, stderr=subprocess.STDOUT, check=True,
        )
    return clone, time.perf_counter() - started


def spread(clone: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Per ``split.metric``: for all runs, the neural and the linear ones, the number of runs compared, the
    number that moved and the largest absolute move."""
    runs = compare(read_committed(clone), read_folder(clone / "results/summary/metrics"), EXACT)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for run in runs:
        family = "neural" if run.run.split("-")[1] in NEURAL_MODELS else "linear"
        for check in run.checks:
            cell = table.setdefault(f"{check.split}.{check.metric}", {})
            for group in ("all", family):
                entry = cell.setdefault(group, {"runs": 0, "moved": 0, "largest": 0.0})
                entry["runs"] += 1
                entry["moved"] += not check.identical
                entry["largest"] = max(entry["largest"], abs(check.difference))
    return table


def proposed_tolerances(environments: dict[str, dict], margin: float) -> dict[str, float]:
    """``split.metric`` → the largest move over ``environments`` times ``margin``, rounded up to 0.001 (0 where
    nothing moved)."""
    largest: dict[str, float] = {}
    for measured in environments.values():
        for metric, cell in measured["metrics"].items():
            largest[metric] = max(largest.get(metric, 0.0), cell["all"]["largest"])
    return {metric: math.ceil(value * margin * 1000) / 1000 for metric, value in sorted(largest.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", nargs="+", choices=sorted(ENVIRONMENTS), default=["same", "avx2", "threads2"])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--target", default="phase_summarize", help="the Snakemake target rerun (default: %(default)s)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--config", nargs="+", default=[], metavar="KEY=YAML",
        help="Snakemake --config overrides of the rerun, e.g. a subset of the runs: 'run={models: [br]}'",
    )
    parser.add_argument("--margin", type=float, default=1.25, help="tolerance = largest move × this (default: %(default)s)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.environments:
        clone, seconds = rerun(name, args.workdir, args.target, args.cores, args.config)
        results[name] = {"seconds": seconds, "metrics": spread(clone)}
        moved = {metric: cell for metric, cell in results[name]["metrics"].items() if cell["all"]["moved"]}
        runs = next(iter(results[name]["metrics"].values()))["all"]["runs"] if results[name]["metrics"] else 0
        print(f"\n{name}: {runs} runs rerun in {seconds / 60:.1f} min; {len(moved)} metrics moved in some run")
        for metric, cell in sorted(moved.items()):
            groups = "  ".join(
                f"{group} {cell[group]['moved']}/{cell[group]['runs']} max {cell[group]['largest']:.4f}"
                for group in ("all", "neural", "linear") if group in cell
            )
            print(f"  {metric:<30} {groups}")
    path = args.workdir / "spread.json"
    measured = (json.loads(path.read_text()) if path.is_file() else {}) | results
    path.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
    print(f"\nwritten: {path}\ntolerances from {', '.join(sorted(measured))} (largest move × {args.margin}):")
    for metric, tolerance in proposed_tolerances(measured, args.margin).items():
        print(f"  {metric}: {tolerance}")


if __name__ == "__main__":
    main()
