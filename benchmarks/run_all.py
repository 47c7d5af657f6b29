"""Regenerate the performance figures of the docs with one command: measure, record, and write the tables.

    python benchmarks/run_all.py                       # everything, on Reuters-21578 built by the pipeline
    python benchmarks/run_all.py --only sgm_speed      # one group
    python benchmarks/run_all.py --dataset synthetic --repeats 1 --figures /tmp/figures --docs /tmp/benchmarks.md

Each measurement is one of the benchmark scripts run with ``--record``: its JSON (figures, machine, threads,
torch version, commit) goes under ``--figures`` (default ``results/benchmarks/figures``, committed), then
``tables.py`` writes every generated table of ``--docs`` (default ``docs/benchmarks.md``) from those records. The
scripts run one after another, never side by side, so no measurement shares the CPU with another. Groups:

* ``sgm_speed``: ``sgm_throughput.py`` at the ``paper`` setting (the original implementation's widths and depths)
  on whole documents (training, then decoding with the weights trained so far), then the decoding alone of the
  weights it trained, in fp32 and in bf16 (the same weights, the same documents), and on 100-token sources.
  About 25 minutes on Reuters with 2 threads.
* ``time_to_quality``: ``train_to_quality.py`` on the default recipe, one thread (as the pipeline trains), until
  the test micro-F1 reaches 0.87 (about 35 CPU-minutes on Reuters).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent


def measurements(args: argparse.Namespace) -> dict[str, list[tuple[str, list[str]]]]:
    """Group → (record name, the script and its arguments) for each measurement of the group."""
    common = ["--dataset", args.dataset, "--root", str(args.root)]
    speed = [*common, "--repeats", str(args.repeats), "--threads", str(args.threads)]
    weights = args.work / "paper-whole-weights.pt"
    return {
        "sgm_speed": [
            ("1-paper-whole", ["sgm_throughput.py", *speed, "--setting", "paper", "--save-weights", str(weights)]),
            *(
                (f"{rank}-paper-whole-decoding-{precision}",
                 ["sgm_throughput.py", *speed, "--setting", "paper", "--checkpoint", str(weights), "--decoding-only",
                  "--eval-precision", precision, "--label", f"paper, its trained weights decoded in {precision}"])
                for rank, precision in ((2, "fp32"), (3, "bf16"))
            ),
            ("4-paper-100-tokens", ["sgm_throughput.py", *speed, "--setting", "paper", "--max-source-length", "100"]),
        ],
        "time_to_quality": [
            ("default-1-thread", ["train_to_quality.py", *common, "--threads", "1", "--until-reached",
                                  "--label", "default recipe, 1 thread", "--out", str(args.work / "default-1-thread")]),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="reuters21578")
    parser.add_argument("--root", type=Path, default=Path("."), help="project folder holding data/ and results/")
    parser.add_argument("--only", action="append", choices=("sgm_speed", "time_to_quality"), help="default: every group")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each speed measurement (the median is kept)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the speed measurements")
    parser.add_argument("--figures", type=Path, default=Path("results/benchmarks/figures"))
    parser.add_argument("--docs", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--work", type=Path, default=Path("results/benchmarks/work"),
                        help="folder for the weights and models the measurements train")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    for group, runs in measurements(args).items():
        if args.only and group not in args.only:
            continue
        for name, (script, *arguments) in runs:
            record = args.figures / group / f"{name}.json"
            command = [sys.executable, str(BENCHMARKS / script), *arguments, "--record", str(record)]
            print("$ " + " ".join(command[1:]), flush=True)
            subprocess.run(command, check=True)
    subprocess.run([sys.executable, str(BENCHMARKS / "tables.py"), "--docs", str(args.docs), "--figures",
                    str(args.figures)], check=True)


if __name__ == "__main__":
    main()
