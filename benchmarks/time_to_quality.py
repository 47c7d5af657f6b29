"""Time to quality: training minutes until a run's validation micro-F1 first reaches each threshold, from the
``history.json`` the training loop writes (wall time of every epoch: training plus validation).

    python benchmarks/time_to_quality.py results/models/reuters21578/sgm/default/frequency/seed13 /tmp/sgm-paper
    python benchmarks/time_to_quality.py --thresholds 0.80 0.85 --metric valid_micro_f1 RUN_DIR [RUN_DIR ...]

A run that never reaches a threshold prints "not reached" with its best score; histories written before the
loop recorded ``epoch_seconds`` fall back to ``train_seconds`` (training only) and say so.
"""

from __future__ import annotations

import argparse
import json
from itertools import accumulate
from pathlib import Path


def minutes_to_reach(history: list[dict], metric: str, threshold: float) -> tuple[float, int] | None:
    """``(minutes, epoch)`` at the end of the first epoch whose ``metric`` is at least ``threshold``."""
    seconds = accumulate(row.get("epoch_seconds", row["train_seconds"]) for row in history)
    for row, elapsed in zip(history, seconds):
        if row[metric] >= threshold:
            return elapsed / 60, row["epoch"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="folders holding history.json")
    parser.add_argument("--metric", default="valid_micro_f1")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.80, 0.85])
    args = parser.parse_args()
    for run in args.runs:
        if not (run / "history.json").is_file():
            print(f"{run}: no history.json (only neural models train by epochs)")
            continue
        history = json.loads((run / "history.json").read_text(encoding="utf-8"))
        clock = "epoch wall time" if all("epoch_seconds" in row for row in history) else "training time only"
        best = max(row[args.metric] for row in history)
        cells = []
        for threshold in args.thresholds:
            reached = minutes_to_reach(history, args.metric, threshold)
            cells.append(f"{threshold:.2f}: " + (f"{reached[0]:.1f} min (epoch {reached[1]})" if reached else "not reached"))
        print(f"{run}: {'; '.join(cells)}; best {best:.4f} in {len(history)} epochs ({clock})")


if __name__ == "__main__":
    main()
