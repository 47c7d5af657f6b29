"""What determinism costs in speed: one neural run trained with deterministic kernels on and off, on one and on
two torch threads, the same parameters and seed otherwise; seconds per epoch (median of the repeats) and whether
the trained model's validation score is the same.

    python benchmarks/determinism_cost.py --project /tmp/spread/same --model sgm --repeats 3

``--project`` is a working tree where the pipeline has run (it reads the processed dataset, its word vectors
and its label order there; nothing in it is changed). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def train_once(project: Path, model: str, dataset: str, order: str, seed: int, deterministic: bool, threads: int,
               scratch: Path) -> dict:
    """Train ``model`` once with ``training.deterministic`` and ``threads``; its ``train_summary.json``."""
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    params["training"]["deterministic"] = deterministic
    params_file = scratch / "params.yaml"
    params_file.write_text(yaml.safe_dump(params), encoding="utf-8")
    out = scratch / "run"
    subprocess.run(
        [sys.executable, "-m", "sgm_mlc", "train", "--params", str(params_file), "--dataset", dataset,
         "--model", model, "--order", order, "--seed", str(seed),
         "--processed", str(project / f"data/processed/{dataset}"),
         "--features", str(project / f"results/embeddings/{dataset}"),
         "--label-order", str(project / f"results/label_orders/{dataset}/{order}"),
         "--threads", str(threads), "--out", str(out)],
        cwd=project, check=True, capture_output=True, env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT / "src")},
    )
    summary = json.loads((out / "train_summary.json").read_text(encoding="utf-8"))
    for name in out.iterdir():
        name.unlink()
    out.rmdir()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a working tree where the pipeline has run")
    parser.add_argument("--model", default="sgm")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--order", default="frequency")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.model} on {args.dataset} ({args.order}, seed {args.seed}); median of {args.repeats} runs each")
    print(f"{'threads':>7}  {'deterministic':>13}  {'s/epoch':>8}  {'runs (s/epoch)':<28}  best validation score")
    for threads in args.threads:
        baseline = None
        for deterministic in (True, False):
            per_epoch, scores = [], set()
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as scratch:
                    summary = train_once(args.project, args.model, args.dataset, args.order, args.seed,
                                         deterministic, threads, Path(scratch))
                per_epoch.append(summary["train_seconds"] / summary["epochs_run"])
                scores.add(next(value for key, value in summary.items() if key.startswith("best_valid_")))
            median = statistics.median(per_epoch)
            baseline = baseline or median
            cost = "" if deterministic else f"  (deterministic costs {baseline / median - 1:+.1%})"
            runs = ", ".join(f"{value:.2f}" for value in per_epoch)
            print(f"{threads:>7}  {str(deterministic):>13}  {median:8.2f}  {runs:<28}  "
                  f"{', '.join(f'{score:.6f}' for score in sorted(scores))}{cost}")


if __name__ == "__main__":
    main()
