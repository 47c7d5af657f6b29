"""Image-feature extraction speed: images per second of the build_image_features step on a processed dataset.

    python benchmarks/image_features.py --dataset coco2017 --depth 50 101 --repeats 3 --threads 2

Reads ``data/processed/<dataset>`` and ``data/raw/<dataset>`` (build them first, e.g.
``snakemake --cores 2 data/processed/coco2017/examples.parquet``), runs the step ``--repeats`` times per depth into
a temporary folder with random weights (the work per image does not depend on the weights' values; ImageNet
weights are read from disk when present, never downloaded) and prints the median images/s of each depth.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from sgm_mlc.features.images import build_image_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="coco2017")
    parser.add_argument("--depth", type=int, nargs="+", default=[50, 101])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    processed, raw = Path("data/processed") / args.dataset, Path("data/raw") / args.dataset
    print(f"| ResNet | image size | images | images/s (median of {args.repeats}) | threads |")
    print("|---|---|---|---|---|")
    for depth in args.depth:
        params = {"depth": depth, "image_size": args.image_size, "weights": "none", "weights_path": None,
                  "batch_size": args.batch_size, "augment_views": 0, "seed": 13, "device": "auto",
                  "precision": "auto", "workers": 0}
        rates, images = [], 0
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as folder:
                meta = build_image_features(params, processed, raw, Path(folder) / "features")
            rates.append(meta["images_per_second"])
            images = meta["images"]
        print(f"| {depth} | {args.image_size} | {images} | {statistics.median(rates):.1f} | {args.threads} |")


if __name__ == "__main__":
    main()
