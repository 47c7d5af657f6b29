"""What decoding in bf16 costs in quality, and what it gains in speed: one trained run's test split evaluated in
fp32 and in bf16 (``training.eval_precision``), with the same weights and the same decoding.

    python benchmarks/eval_precision.py --dataset reuters21578 --model-dir results/models/reuters21578/sgm/default/frequency/seed13
    python benchmarks/eval_precision.py --model-dir /tmp/ttq-default --record results/benchmarks/figures/eval_precision/sgm-default.json

Prints, per precision, the test micro- and macro-F1 of the decoded labels (beam size and minimum labels from
``decoding``, as the evaluation decodes), the documents per second (median of ``--repeats``), and how many
documents got another label set than in fp32. The model's settings are params.yaml's for the dataset (``--set``
changes them, as for the run that trained it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from sgm_mlc.atomic import write_json
from sgm_mlc.config import dataset_view, load_params
from sgm_mlc.experiment.evaluation import label_names_of, split_report
from sgm_mlc.experiment.neural import encode_split, load_trained_network
from sgm_mlc.experiment.runner import run_inputs
from sgm_mlc.git import git_commit

from run_settings import machine, set_param

PRECISIONS = ("fp32", "bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="reuters21578")
    parser.add_argument("--model", default="sgm")
    parser.add_argument("--order", default="frequency")
    parser.add_argument("--model-dir", type=Path, required=True, help="a trained run's folder (its model.pt)")
    parser.add_argument("--set", dest="changes", action="append", default=[], metavar="KEY=VALUE",
                        help="the run's changed parameters, e.g. training.batch_size=32 (repeatable)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--root", type=Path, default=Path("."), help="project folder holding data/ and results/")
    parser.add_argument("--record", type=Path, help="also write the figures there as JSON (see tables.py)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = dataset_view(load_params(args.root / "params.yaml"), args.dataset)
    for change in args.changes:
        set_param(params, change, parser)
    inputs = run_inputs(args.model, args.root / f"data/processed/{args.dataset}",
                        args.root / f"results/label_orders/{args.dataset}/{args.order}")
    features = args.root / f"results/embeddings/{args.dataset}"
    test_split = inputs.splits["test"]
    test = encode_split(inputs, test_split, params["training"]["max_source_length"])

    rows, labels = [], {}
    for precision in PRECISIONS:
        params["training"]["eval_precision"] = precision
        network = load_trained_network(args.model, params, inputs, features, args.model_dir)
        speeds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            predictions = network.predict(test)
            speeds.append(len(test_split.ids) / (time.perf_counter() - started))
        labels[precision] = label_names_of(predictions, inputs.label_ranking)
        metrics = split_report(labels[precision], test_split, inputs.label_ranking)
        changed = sum(set(a) != set(b) for a, b in zip(labels[precision], labels[PRECISIONS[0]]))
        rows.append({"precision": precision, "micro_f1": metrics["micro_f1"], "macro_f1": metrics["macro_f1"],
                     "documents_per_second": statistics.median(speeds), "runs": speeds, "documents_changed": changed})
        print(f"{precision}: test micro-F1 {metrics['micro_f1']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
              f"{statistics.median(speeds):.1f} documents/s (runs: {', '.join(f'{v:.1f}' for v in speeds)}), "
              f"{changed} of {len(test_split.ids)} documents with another label set than in fp32", flush=True)
    decoding = params["decoding"] if args.model in ("sgm", "seq2seq") else None
    print(f"{args.model} on {args.dataset}, {args.model_dir}, decoding {decoding}, {args.threads} threads")
    if args.record is not None:
        write_json(args.record, {
            "label": f"{args.model} ({', '.join(args.changes) or 'default recipe'})", "dataset": args.dataset,
            "model": args.model, "model_dir": str(args.model_dir), "changes": args.changes, "decoding": decoding,
            "documents": len(test_split.ids), "repeats": args.repeats, "precisions": rows,
            "machine": machine(args.threads), "commit": git_commit(Path(__file__).parent),
        })


if __name__ == "__main__":
    main()
