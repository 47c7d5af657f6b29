"""Train and evaluate SGM on Reuters-21578 at one of the settings of ``paper_setting.py``, and print the test
metrics with the training time and the model's parameters: the figures the original implementation is compared
on (``paper``: the original's widths, each encoder direction 256 summed; ``paper-concat``: the former, half as
wide, setting).

    python benchmarks/sgm_paper_run.py --setting paper --max-source-length 100 --epochs 5 --out /tmp/sgm-paper
    python benchmarks/sgm_paper_run.py --setting default --seed 14 --set models.sgm.dropout=0.2 --out /tmp/sgm-d02

The rest of the recipe (learning rate, decay, loss, decoding) is params.yaml's for the dataset; ``--set``
changes any of it for this run (a dotted key of the dataset's view of params.yaml and a YAML value, checked
against the schema). The model, its history and predictions are written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from sgm_mlc.config import dataset_view, load_params, schema_problems
from sgm_mlc.experiment.runner import run_inputs
from sgm_mlc.experiment.neural import evaluate_neural, train_neural

from paper_setting import SETTINGS, apply_setting
from run_settings import set_param

REPORTED = ("micro_f1", "macro_f1", "hamming_loss", "subset_accuracy", "example_f1", "documents_per_second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="reuters21578")
    parser.add_argument("--order", default="frequency")
    parser.add_argument("--setting", choices=list(SETTINGS), default="paper")
    parser.add_argument("--max-source-length", type=int, help="cut documents (default: params.yaml's)")
    parser.add_argument("--epochs", type=int, help="default: params.yaml's")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--set", dest="changes", action="append", default=[], metavar="KEY=VALUE",
                        help="change one parameter, e.g. training.learning_rate=3.0e-3 (repeatable)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--root", type=Path, default=Path("."), help="project folder holding data/ and results/")
    parser.add_argument("--out", type=Path, required=True, help="folder for the model, history and predictions")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = dataset_view(load_params(args.root / "params.yaml"), args.dataset)
    apply_setting(params, args.setting)
    if args.max_source_length is not None:
        params["training"]["max_source_length"] = args.max_source_length
    if args.epochs is not None:
        params["training"]["epochs"] = args.epochs
    for change in args.changes:
        set_param(params, change, parser)
    if problems := schema_problems(params):
        parser.error("the changed parameters are not valid: " + "; ".join(problems))
    inputs = run_inputs(
        "sgm", args.root / f"data/processed/{args.dataset}", args.root / f"results/label_orders/{args.dataset}/{args.order}"
    )
    embeddings = args.root / f"results/embeddings/{args.dataset}"
    started = time.perf_counter()
    summary = train_neural("sgm", params, args.seed, inputs, embeddings, args.out)
    metrics = evaluate_neural("sgm", params, inputs, embeddings, args.out, args.out)
    total = time.perf_counter() - started

    print(f"dataset {args.dataset}, setting {args.setting} {json.dumps(params['models']['sgm'])}")
    print(f"training {json.dumps(params['training'])}, decoding {json.dumps(params['decoding'])}, seed {args.seed}")
    print(f"parameters {summary['parameters']:,}, epochs run {summary['epochs_run']}, best epoch {summary['best_epoch']}, "
          f"training {summary['train_seconds']:.0f} s, training and evaluation {total:.0f} s")
    for name in REPORTED:
        print(f"{'test ' + name:>26}: {metrics['test'][name]:.4f}")


if __name__ == "__main__":
    main()
