"""Write the docs' benchmark tables from the measured records, so no figure in them is typed by hand.

    python benchmarks/tables.py            # rewrite the tables in docs/benchmarks.md
    python benchmarks/tables.py --check    # exit 1 if a table differs from what its records give

Each generated table sits between ``<!-- table: NAME -->`` and ``<!-- end table -->`` in docs/benchmarks.md and is
made from the JSON records under ``results/benchmarks/figures/NAME/`` (committed), one row per record, in the
order of their file names. Tables:

* ``time_to_quality``: the records ``train_to_quality.py --record`` writes.
* ``sgm_speed``: the records ``sgm_throughput.py --record`` writes, and those of the original implementation
  (``original`` in ``label``: measured once with its own code, kept as records; nothing here reruns it); each
  row's speed-up is over the original's record of the same source length.
* ``eval_precision``: the records ``eval_precision.py --record`` writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCS = PROJECT_ROOT / "docs/benchmarks.md"
FIGURES = PROJECT_ROOT / "results/benchmarks/figures"
BLOCK = re.compile(r"(<!-- table: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.DOTALL)


def reached_cell(record: dict[str, Any], threshold: str) -> str:
    if threshold not in record["reached"]:
        return "not measured"
    row = record["reached"][threshold]
    if row is None:
        return "not reached"
    return f"{row['training_cpu_minutes']:.1f} CPU-min, {row['training_wall_minutes']:.1f} min (epoch {row['epoch']})"


def time_to_quality_table(records: list[dict[str, Any]]) -> str:
    """Recipe × the training CPU-minutes (and wall minutes) until test micro-F1 first reaches each threshold."""
    thresholds = sorted({threshold for record in records for threshold in record["reached"]}, key=float)
    header = (["recipe", "threads"] + [f"test micro-F1 ≥ {float(t):.2f}" for t in thresholds]
              + ["best test micro-F1", "epochs run", "how it ended", "machine", "commit"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in records:
        best = max(record["epochs"], key=lambda row: row["test_micro_f1"])
        machine = record["machine"]
        cells = ([f"`{record['label']}`", str(machine["threads"])]
                 + [reached_cell(record, threshold) for threshold in thresholds]
                 + [f"{best['test_micro_f1']:.3f} (epoch {best['epoch']})", str(len(record["epochs"])), record["ended"],
                    f"{machine['cpu']}, torch {machine['torch']}", record["commit"][:7]])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def speed_cell(record: dict[str, Any], figure: str, original: dict[str, Any] | None) -> str:
    """A median (``-`` when not measured), with its ratio to the original's when the original measured it."""
    value = record["medians"].get(figure)
    if value is None:
        return "-"
    base = (original or {}).get("medians", {}).get(figure)
    ratio = f" ({value / base:.1f}×)" if base and record is not original else ""
    return f"{value:.1f}{ratio}"


def sgm_speed_table(records: list[dict[str, Any]]) -> str:
    """Setting × training and decoding speed (median of the repeats), each beside the original implementation's
    figure for the same source length."""
    originals = {record["source_length"]: record for record in records if "original" in record["label"]}
    figures = ["train examples/s", "greedy documents/s", "beam-5 documents/s"]
    header = ["setting", "source", "parameters (without word embeddings)", *figures, "threads", "machine", "commit"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in records:
        original = originals.get(record["source_length"])
        machine = record["machine"]
        source = "whole documents" if record["source_length"] is None else f"{record['source_length']} tokens"
        parameters = (f"{record['parameters'] / 1e6:.2f} M ({record['parameters_without_word_embeddings'] / 1e6:.2f} M)")
        cells = [record["label"], source, parameters, *(speed_cell(record, figure, original) for figure in figures),
                 str(machine["threads"]), f"{machine['cpu']}, torch {machine['torch']}", record["commit"][:7]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def eval_precision_table(records: list[dict[str, Any]]) -> str:
    """Run × precision: the test quality of the decoded labels, the documents whose labels changed, the speed."""
    header = ["run", "decoding", "test micro-F1", "test macro-F1", "documents with other labels than fp32",
              "documents/s", "threads", "machine", "commit"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in records:
        machine, fp32 = record["machine"], record["precisions"][0]
        for row in record["precisions"]:
            ratio = "" if row is fp32 else f" ({row['documents_per_second'] / fp32['documents_per_second']:.2f}×)"
            cells = [record["label"], row["precision"], f"{row['micro_f1']:.4f}", f"{row['macro_f1']:.4f}",
                     f"{row['documents_changed']} of {record['documents']}", f"{row['documents_per_second']:.1f}{ratio}",
                     str(machine["threads"]), f"{machine['cpu']}, torch {machine['torch']}", record["commit"][:7]]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


TABLES: dict[str, Callable[[list[dict[str, Any]]], str]] = {
    "eval_precision": eval_precision_table,
    "time_to_quality": time_to_quality_table,
    "sgm_speed": sgm_speed_table,
}


def render(text: str, figures: Path) -> str:
    """``text`` with every generated table made anew from the records under ``figures``."""

    def table(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise SystemExit(f"{DOCS}: unknown table {name!r}; known: {', '.join(TABLES)}")
        paths = sorted((figures / name).glob("*.json"))
        if not paths:
            raise SystemExit(f"no records for table {name!r} in {figures / name}; measure them first (see {DOCS.name})")
        records = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
        return match.group(1) + TABLES[name](records) + match.group(4)

    return BLOCK.sub(table, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--figures", type=Path, default=FIGURES)
    args = parser.parse_args()
    text = args.docs.read_text(encoding="utf-8")
    rendered = render(text, args.figures)
    if args.check:
        if rendered != text:
            print(f"{args.docs}: a generated table differs from its records; run python benchmarks/tables.py")
            sys.exit(1)
        print(f"{args.docs}: every generated table matches its records")
        return
    args.docs.write_text(rendered, encoding="utf-8")
    print(f"{args.docs}: tables written from {args.figures}")


if __name__ == "__main__":
    main()
