"""The image models on an MS-COCO 2017 mirror: test metrics of each model, median over seeds.

    python benchmarks/coco_subset.py --mirror ../shared/data/coco2017-subset --workdir /tmp/coco-bench

Copies the workflow into ``--workdir``, points ``datasets.coco2017.files`` at the mirror's three archives
(``file://`` URLs, checked against the sha256 of the ``SHA256SUMS`` beside the mirror), and runs ``snakemake
all`` there: download, Parquet, ResNet grid features (``--depth``; ``--weights imagenet`` reads the weights
from torchvision's cache and stops when they are missing, ``none`` uses random seeded weights), the models of
``--models`` over ``--seeds`` with the default training recipe, their MLflow runs and the report. Then prints,
per model, the median over seeds (with the range) of the image-tagging metrics of
``results/evaluation/coco2017/<model>/default/frequency/seed*/metrics.json``, and for reference the mAP of
scores that carry no information about the image (each label's AP is then its test prevalence).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("Snakefile", "params.yaml", "workflow", "profiles", "src", "envs", "tolerances.yaml")
ARCHIVES = {"annotations": "annotations_trainval2017.zip", "train": "train2017.zip", "val": "val2017.zip"}
COLUMNS = {
    "micro_f1": "micro-F1", "class_precision": "CP", "class_recall": "CR", "class_f1": "CF1",
    "overall_precision": "OP", "overall_recall": "OR", "overall_f1": "OF1", "class_f1_top3": "CF1@3",
    "overall_f1_top3": "OF1@3", "mean_average_precision": "mAP",
}


def mirror_files(mirror: Path) -> dict[str, dict[str, str]]:
    """``datasets.coco2017.files`` for the archives in ``mirror``, with their sha256 from ``SHA256SUMS``."""
    sums_file = mirror.parent / "SHA256SUMS"
    sums = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name] = digest
    files = {}
    for key, name in ARCHIVES.items():
        listed = f"{mirror.name}/{name}"
        if listed not in sums:
            raise SystemExit(f"{sums_file}: no sha256 for {listed}; add it (sha256sum {mirror / name})")
        files[key] = {"url": (mirror / name).resolve().as_uri(), "sha256": sums[listed], "filename": name}
    return files


def prepare_project(workdir: Path, overlay: dict) -> None:
    """A copy of the workflow and the library in ``workdir``, with ``overlay.yaml`` beside ``params.yaml``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source, target = PROJECT_ROOT / name, workdir / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target)
    (workdir / "overlay.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False), encoding="utf-8")


def run_workflow(workdir: Path, cores: int) -> float:
    """``snakemake all`` in ``workdir`` with this interpreter's tools; its wall time in seconds."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), "all", "--configfile", "params.yaml", "overlay.yaml"],
        cwd=workdir, env=env, check=True,
    )
    return time.perf_counter() - started


def constant_score_map(workdir: Path) -> float:
    """mAP of scores that do not depend on the image: the mean test prevalence of the labels with a test
    positive."""
    examples = pd.read_parquet(workdir / "data/processed/coco2017/examples.parquet", columns=["split", "labels"])
    test = examples[examples["split"] == "test"]["labels"]
    counts = pd.Series([label for labels in test for label in labels]).value_counts()
    return float(np.mean(counts / len(test)))


def model_rows(workdir: Path, models: list[str]) -> list[str]:
    """One Markdown row per model: the median (min–max) over its seeds of each metric, and training seconds."""
    rows = []
    for model in models:
        runs = sorted((workdir / "results/evaluation/coco2017" / model / "default/frequency").glob("seed*"))
        tests = [json.loads((run / "metrics.json").read_text())["test"] for run in runs]
        seconds = [
            json.loads((workdir / "results/models/coco2017" / model / "default/frequency" / run.name
                        / "train_summary.json").read_text())["train_seconds"]
            for run in runs
        ]
        cells = []
        for key in COLUMNS:
            values = [test[key] for test in tests]
            cells.append(f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})")
        rows.append(f"| {model} | {len(runs)} | " + " | ".join(cells) + f" | {statistics.median(seconds):.0f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=PROJECT_ROOT.parent / "shared/data/coco2017-subset")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/coco-bench"))
    parser.add_argument("--models", nargs="+", default=["sgm", "seq2seq", "br_neural"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15])
    parser.add_argument("--depth", type=int, default=101)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--weights", choices=["imagenet", "none"], default="none")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    overlay = {
        "run": {"datasets": ["coco2017"], "models": args.models, "seeds": args.seeds},
        "experiments": {"ablations": None, "label_orders": None, "cross_dataset": []},
        "tuning": {"enabled": False},  # the default recipe: no study has been run on this mirror
        "datasets": {"coco2017": {"files": mirror_files(args.mirror)}},
        "image_features": {"depth": args.depth, "image_size": args.image_size, "weights": args.weights},
    }
    prepare_project(args.workdir, overlay)
    wall = run_workflow(args.workdir, args.cores)

    card = json.loads((args.workdir / "data/processed/coco2017/card.json").read_text())
    features = json.loads((args.workdir / "results/image_features/coco2017/features.json").read_text())
    splits = ", ".join(f"{split} {card['splits'][split]['documents']}" for split in ("train", "valid", "test"))
    print(f"\nMS-COCO 2017 mirror {args.mirror}: {splits} images, {card['labels']} labels")
    print(f"features: ResNet-{args.depth} at {args.image_size} px, weights {features['weights']}, grid "
          f"{features['grid']}×{features['grid']}×{features['channels']}, {features['images_per_second']:.1f} images/s")
    print(f"workflow wall time: {wall:.0f} s\n")
    print("| model | seeds | " + " | ".join(COLUMNS.values()) + " | train s |")
    print("|---|---|" + "---|" * len(COLUMNS) + "---|")
    print("\n".join(model_rows(args.workdir, args.models)))
    print(f"\nmAP of image-independent scores (mean test prevalence of each label): {constant_score_map(args.workdir):.3f}")


if __name__ == "__main__":
    main()
