"""Download + preprocess of Yelp-schema files at several sizes: throughput and peak memory.

    python benchmarks/yelp_streaming.py --sizes-mb 512 1024 --repeats 3 --workdir /tmp/yelp-bench

For each size, writes ``yelp_academic_dataset_business.json`` and ``yelp_academic_dataset_review.json`` with the
Yelp Open Dataset's exact fields (review text drawn from a fixed 40,000-word Zipf vocabulary, 300 categories
over 20,000 businesses; the real text's vocabulary keeps growing with the corpus, this one does not), then runs
the download step (links the files in) and the preprocess step (Parquet, vocabulary, card) ``--repeats``
times, each in a fresh child process, and prints the median wall time, reviews/s and the child's peak resident
memory (``ru_maxrss`` of that process alone), and the ratio of the largest size's peak to the smallest's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

BUSINESSES = 20_000
CATEGORIES = 300
VOCABULARY = 40_000
BUSINESS_FILE = "yelp_academic_dataset_business.json"
REVIEW_FILE = "yelp_academic_dataset_review.json"
CHILD = """
import json, sys, time
from pathlib import Path
from sgm_mlc.data.preprocess import preprocess
from sgm_mlc.data.yelp import Yelp
params, source, raw, out = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
started = time.perf_counter()
dataset = Yelp()
raw.mkdir(parents=True)
dataset.download(params, raw)
card = preprocess(dataset, params, {"lowercase": True, "min_token_count": 2, "max_vocabulary_size": 50000}, raw, out)
print(json.dumps({"seconds": time.perf_counter() - started, "documents": card["documents"]}))
"""


def write_corpus(target: Path, megabytes: int, seed: int = 13) -> int:
    """Yelp-schema business and review files in ``target``, reviews up to ``megabytes``; the review count.

    The files are written into ``<target>.partial`` and renamed when complete, so a corpus cut short is never
    taken for a whole one.
    """
    folder = target.with_name(target.name + ".partial")
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    categories = [f"Category {i}" for i in range(CATEGORIES)]
    with (folder / BUSINESS_FILE).open("w", encoding="utf-8") as handle:
        for b in range(BUSINESSES):
            chosen = rng.choice(CATEGORIES, size=int(rng.integers(1, 6)), replace=False, p=_zipf(CATEGORIES))
            record = {"business_id": f"b{b:021d}", "name": f"Business {b}", "address": "1 Main St", "city": "Town",
                      "state": "AZ", "postal_code": "85001", "latitude": 33.4, "longitude": -112.0, "stars": 4.0,
                      "review_count": 10, "is_open": 1, "attributes": {"WiFi": "u'free'"},
                      "categories": ", ".join(categories[c] for c in chosen), "hours": {"Monday": "8:0-22:0"}}
            handle.write(json.dumps(record) + "\n")
    words = [f"w{i}" for i in range(VOCABULARY)]
    word_p = _zipf(VOCABULARY)
    limit, reviews, written = megabytes * 2**20, 0, 0
    with (folder / REVIEW_FILE).open("w", encoding="utf-8") as handle:
        while written < limit:
            chunk = []
            for lengths in rng.integers(20, 200, size=1000):
                text = " ".join(words[i] for i in rng.choice(VOCABULARY, size=int(lengths), p=word_p))
                record = {"review_id": f"r{reviews:021d}", "user_id": f"u{reviews % 99991:021d}",
                          "business_id": f"b{int(rng.integers(BUSINESSES)):021d}", "stars": 4.0, "useful": 0,
                          "funny": 0, "cool": 0, "text": text, "date": "2018-07-07 22:09:11"}
                chunk.append(json.dumps(record) + "\n")
                reviews += 1
            block = "".join(chunk)
            handle.write(block)
            written += len(block.encode("utf-8"))
    folder.rename(target)
    return reviews


def _zipf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1)
    return weights / weights.sum()


def run_once(source: Path, work: Path) -> dict[str, float]:
    """One download + preprocess in a child process: its seconds, documents and peak RSS (MB)."""
    params = {"path": str(source), "top_k_categories": 20, "max_reviews_per_business": None, "test_fraction": 0.1,
              "validation_fraction": 0.1, "seed": 13, "max_malformed_fraction": 0.001}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(params), str(source), str(work / "raw"), str(work / "out")],
        stdout=subprocess.PIPE, text=True,
    )
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"the preprocess child failed (status {status})")
    result = json.loads(output.strip().splitlines()[-1])
    return {**result, "peak_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/yelp-bench"))
    args = parser.parse_args()
    peaks = {}
    print("| reviews file | reviews | kept | seconds (median) | reviews/s | peak RSS MB (median) |")
    print("|---|---|---|---|---|---|")
    for megabytes in args.sizes_mb:
        source = args.workdir / f"source-{megabytes}"
        if not source.is_dir():
            write_corpus(source, megabytes)
        reviews = sum(1 for _ in (source / REVIEW_FILE).open("rb"))
        runs = []
        for repeat in range(args.repeats):
            work = args.workdir / f"run-{megabytes}-{repeat}"
            subprocess.run(["rm", "-rf", str(work)], check=True)
            runs.append(run_once(source, work))
            subprocess.run(["rm", "-rf", str(work)], check=True)
        seconds = statistics.median(run["seconds"] for run in runs)
        peaks[megabytes] = statistics.median(run["peak_rss_mb"] for run in runs)
        print(f"| {megabytes} MB | {reviews:,} | {runs[0]['documents']:,} | {seconds:.1f} | {reviews / seconds:,.0f} "
              f"| {peaks[megabytes]:.0f} |")
    smallest, largest = min(peaks), max(peaks)
    print(f"peak RSS at {largest} MB / at {smallest} MB: {peaks[largest] / peaks[smallest]:.3f}")


if __name__ == "__main__":
    main()
