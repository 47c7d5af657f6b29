"""Time to quality on the test split: train one neural run and print the training CPU-minutes (and wall minutes)
after which its test micro-F1 first reaches each threshold.

    python benchmarks/train_to_quality.py --dataset reuters21578 --model sgm --threads 2 --out /tmp/ttq-default
    python benchmarks/train_to_quality.py --dataset reuters21578 --model sgm --tuned results/tuning/reuters21578/sgm/best.yaml --out /tmp/ttq-tuned
    python benchmarks/train_to_quality.py --dataset reuters21578 --model sgm --set training.batch_size=32 --out /tmp/ttq-b32

The run is the pipeline's (params.yaml's settings for the dataset, its overrides merged; ``--tuned`` merges a
study's best settings; ``--set`` changes any key), trained by the project's loop with model selection on the
validation split as always. The test split is scored for the curve only: after every epoch in which the
validation score improved, the model the run would deliver if it stopped there (its best-validation weights,
``model.pt``) decodes the test split as the evaluation does (``decoding`` settings; set models at
``training.set_threshold``, the decision rule being fitted only at evaluation). The clock counts the training
process's CPU time (every thread) and wall time, less the time spent scoring the test split.

Writes ``curve.json`` into ``--out`` after every epoch (one row per epoch; the thresholds reached; machine, threads,
torch), beside the run's model and history, so a run stopped early keeps the curve it drew. The scoring leaves the random generators as it found them, so the run trains as
the pipeline's does: its last row's test micro-F1 is the pipeline evaluation's, with the same settings and threads.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgm_mlc.atomic import write_json
from sgm_mlc.config import dataset_view, load_params, schema_problems
from sgm_mlc.experiment.evaluation import label_names_of, split_report
from sgm_mlc.experiment.neural import encode_split, load_trained_network, train_neural
from sgm_mlc.experiment.runner import run_inputs
from sgm_mlc.git import git_commit
from sgm_mlc.tuning.settings import apply_best, read_best

from run_settings import machine, set_param

RECORDS = "results/benchmarks/figures/time_to_quality"


@contextmanager
def preserved_random_state() -> Iterator[None]:
    """Leave torch's, NumPy's and Python's random generators as they were: the training that goes on after the
    test split is scored draws the same numbers as the pipeline's run."""
    states = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


class EveryThresholdReached(Exception):
    """Raised by :class:`TestCurve` (with ``--until-reached``) to end the training once the curve is complete."""


class TestCurve:
    """The ``on_epoch`` callback of the training loop that scores the test split and keeps the clock."""

    def __init__(self, model: str, params: dict[str, Any], inputs, features: Path, out: Path,
                 stop_at: float | None = None, on_row: Callable[[], None] = lambda: None) -> None:
        self.model, self.params, self.inputs, self.features, self.out = model, params, inputs, features, out
        self.test = encode_split(inputs, inputs.splits["test"], params["training"]["max_source_length"])
        self.best_valid = float("-inf")
        self.test_metrics: dict[str, Any] = {}
        self.rows: list[dict[str, Any]] = []
        self.excluded_cpu = self.excluded_wall = 0.0
        self.stop_at, self.on_row = stop_at, on_row
        self.started_cpu, self.started_wall = time.process_time(), time.perf_counter()

    def __call__(self, epoch: int, valid_score: float) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        if valid_score > self.best_valid:  # model.pt changed: score the run's new best model on test
            self.best_valid = valid_score
            with preserved_random_state():  # building the scored model draws initial weights
                network = load_trained_network(self.model, self.params, self.inputs, self.features, self.out)
                predictions = label_names_of(network.predict(self.test), self.inputs.label_ranking)
            self.test_metrics = split_report(predictions, self.inputs.splits["test"], self.inputs.label_ranking)
        self.rows.append({
            "epoch": epoch,
            "training_cpu_minutes": (cpu - self.started_cpu - self.excluded_cpu) / 60,
            "training_wall_minutes": (wall - self.started_wall - self.excluded_wall) / 60,
            "valid_score": valid_score,
            "best_valid_score": self.best_valid,
            "test_micro_f1": self.test_metrics["micro_f1"],
            "test_macro_f1": self.test_metrics["macro_f1"],
        })
        row = self.rows[-1]
        print(f"epoch {epoch:3d}: {row['training_cpu_minutes']:6.1f} CPU-min {row['training_wall_minutes']:6.1f} min, "
              f"valid {valid_score:.4f} (best {self.best_valid:.4f}), test micro-F1 of the best {row['test_micro_f1']:.4f}",
              flush=True)
        self.on_row()
        self.excluded_cpu += time.process_time() - cpu
        self.excluded_wall += time.perf_counter() - wall
        if self.stop_at is not None and row["test_micro_f1"] >= self.stop_at:
            raise EveryThresholdReached

    def reached(self, threshold: float) -> dict[str, Any] | None:
        """The first epoch whose delivered model scores at least ``threshold`` on test (None: never)."""
        return next((row for row in self.rows if row["test_micro_f1"] >= threshold), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="reuters21578")
    parser.add_argument("--model", default="sgm")
    parser.add_argument("--order", default="frequency")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--tuned", type=Path, help="a study's best.yaml, merged over the settings")
    parser.add_argument("--set", dest="changes", action="append", default=[], metavar="KEY=VALUE",
                        help="change one parameter, e.g. training.learning_rate=3.0e-3 (repeatable)")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.85, 0.87])
    parser.add_argument("--until-reached", action="store_true",
                        help="stop training once the highest threshold is reached (the rest of the curve is not drawn)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--root", type=Path, default=Path("."), help="project folder holding data/ and results/")
    parser.add_argument("--out", type=Path, required=True, help="folder for the model, history and curve.json")
    parser.add_argument("--label", help="the recipe's name in the docs' table (default: the --out folder's name)")
    parser.add_argument(
        "--record", type=Path,
        help=f"also write curve.json there, for the docs' table (e.g. {RECORDS}/<label>.json; see tables.py)",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = dataset_view(load_params(args.root / "params.yaml"), args.dataset)
    if args.tuned is not None:
        params = apply_best(params, read_best(args.tuned, args.dataset, args.model))
    for change in args.changes:
        set_param(params, change, parser)
    if problems := schema_problems(params):
        parser.error("the changed parameters are not valid: " + "; ".join(problems))
    inputs = run_inputs(args.model, args.root / f"data/processed/{args.dataset}",
                        args.root / f"results/label_orders/{args.dataset}/{args.order}")
    features = args.root / f"results/embeddings/{args.dataset}"
    args.out.mkdir(parents=True, exist_ok=True)
    ended = "stopped before its end"  # until the training returns: a killed run keeps the epochs it finished
    measured_on = {"machine": machine(args.threads), "commit": git_commit(Path(__file__).parent)}

    def write_record() -> None:
        """curve.json (and the --record copy) as the curve stands: written after every epoch."""
        record = {
            "label": args.label or args.out.name, "dataset": args.dataset, "model": args.model, "seed": args.seed,
            "tuned": str(args.tuned or ""), "changes": args.changes, **measured_on, "epochs": curve.rows, "ended": ended,
            "reached": {str(threshold): curve.reached(threshold) for threshold in args.thresholds},
        }
        write_json(args.out / "curve.json", record)
        if args.record is not None:
            write_json(args.record, record)

    curve = TestCurve(args.model, params, inputs, features, args.out,
                      max(args.thresholds) if args.until_reached else None, write_record)
    try:
        summary = train_neural(args.model, params, args.seed, inputs, features, args.out, on_epoch=curve)
        ended = f"epochs run {summary['epochs_run']}, best validation epoch {summary['best_epoch']}"
    except EveryThresholdReached:
        ended = f"stopped after epoch {curve.rows[-1]['epoch']}: test micro-F1 ≥ {max(args.thresholds):.2f} reached"
    write_record()

    print(f"{args.model} on {args.dataset} (seed {args.seed}, {args.threads} threads; settings "
          f"{json.dumps(params['models'][args.model])}; training {json.dumps(params['training'])})")
    for threshold in args.thresholds:
        row = curve.reached(threshold)
        print(f"test micro-F1 ≥ {threshold:.2f}: " + (
            f"{row['training_cpu_minutes']:.1f} CPU-minutes, {row['training_wall_minutes']:.1f} min (epoch {row['epoch']})"
            if row else f"not reached (best {max(r['test_micro_f1'] for r in curve.rows):.4f})"))
    print(ended)


if __name__ == "__main__":
    main()
