"""Print the test-split quality of every finished run (results/evaluation) with its training time.

    python benchmarks/quality_table.py                     # every dataset
    python benchmarks/quality_table.py --dataset reuters21578
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "example_f1", "position_deviation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="*")
    parser.add_argument("--split", default="test", choices=["test", "valid"])
    parser.add_argument("--root", type=Path, default=Path("."))
    args = parser.parse_args()

    rows = []
    for metrics_path in sorted((args.root / "results/evaluation").glob(f"{args.dataset}/*/*/*/seed*/metrics.json")):
        run = metrics_path.parent
        dataset, model, variant, order, seed = run.parts[-5:]
        summary_path = args.root / "results/models" / dataset / model / variant / order / seed / "train_summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        metrics = json.loads(metrics_path.read_text())[args.split]
        rows.append([dataset, model, variant, order, seed] + [metrics.get(c) for c in COLUMNS]
                    + [summary.get("train_seconds"), summary.get("epochs_run"), summary.get("best_epoch")])
    header = ["dataset", "model", "variant", "order", "seed", *COLUMNS, "train_s", "epochs", "best"]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join("-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))


if __name__ == "__main__":
    main()
