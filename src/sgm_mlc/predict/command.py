"""``sgm-mlc predict``: label texts with a trained model, from a run folder or an MLflow run.

::

    sgm-mlc predict --model results/models/synthetic/sgm/default/frequency/seed13 "some text" "more text"
    sgm-mlc predict --model <MLflow run id> --file texts.txt --json

Human-readable output is one block per text: each label with its probability and its most attended words;
``--json`` writes one JSON object per line (the fields of :meth:`~sgm_mlc.predict.model.TextPrediction.record`, and
the ``text``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the command line builds its parser in every step's environment: no torch at import time
    from sgm_mlc.predict.model import TextPrediction, TrainedModel

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MLFLOW_RUN_ID = re.compile(r"[0-9a-f]{32}")
PREVIEW_CHARACTERS = 70


def add_predict_command(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``predict`` on the ``sgm-mlc`` sub-command parsers ``commands``."""
    description = "label texts with a trained model (a run folder or an MLflow run id)"
    sub = commands.add_parser("predict", help=description, description=description, allow_abbrev=False)
    sub.set_defaults(handler=run_predict)
    sub.add_argument(
        "--model",
        required=True,
        help="a run folder results/models/<dataset>/<model>/<variant>/<order>/seed<seed>, or an MLflow run id",
    )
    sub.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label")
    sub.add_argument("--file", type=Path, help="more texts, one per line (blank lines skipped; - reads stdin)")
    sub.add_argument("--json", action="store_true", help="one JSON object per text and line")
    sub.add_argument("--beam-size", type=positive, help="beam size of sequence models (default: the run's)")
    sub.add_argument("--top-words", type=positive_or_zero, default=5, help="attended words per label (default 5)")
    sub.add_argument(
        "--allow-pickle", action="store_true",
        help="load a linear model's joblib file (a pickle) from outside this project's results/models",
    )
    sub.add_argument(
        "--tracking-uri",
        help=f"MLflow store of a run id (default: MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})",
    )
    return sub


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def positive_or_zero(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {number}")
    return number


def run_predict(args: argparse.Namespace) -> None:
    texts = list(args.texts) + (read_texts(args.file) if args.file else [])
    if not texts:
        raise ValueError("no texts to label: give them as arguments or with --file")
    model = load_model(args.model, args.tracking_uri, args.allow_pickle)
    predictions = model.predict(texts, beam_size=args.beam_size, top_words=args.top_words)
    write = write_json_lines if args.json else write_blocks
    write(texts, predictions, sys.stdout)


def read_texts(source: Path) -> list[str]:
    """The non-blank lines of ``source`` (``-``: standard input)."""
    lines = sys.stdin.read().splitlines() if str(source) == "-" else source.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


def load_model(reference: str, tracking_uri: str | None, allow_pickle: bool = False) -> TrainedModel:
    """The model of a run folder, or, for a 32-hex-digit MLflow run id that is not a folder, the run's logged
    pyfunc model."""
    if Path(reference).exists() or not MLFLOW_RUN_ID.fullmatch(reference):
        from sgm_mlc.predict import load_trained_model

        return load_trained_model(reference, allow_pickle)
    from sgm_mlc.tracking.pyfunc_model import load_logged_model
    from sgm_mlc.tracking.runs import tracking_uri as environment_uri

    return load_logged_model(tracking_uri or environment_uri({"uri": DEFAULT_TRACKING_URI}), reference)


def write_json_lines(texts: Sequence[str], predictions: Sequence[TextPrediction], out: TextIO) -> None:
    for text, prediction in zip(texts, predictions):
        out.write(json.dumps({"text": text, **prediction.record()}, ensure_ascii=False) + "\n")


def write_blocks(texts: Sequence[str], predictions: Sequence[TextPrediction], out: TextIO) -> None:
    """One block per text: the text's start, then a line per label (probability, attended words), then the
    end-of-sequence probability where there is one."""
    for number, (text, prediction) in enumerate(zip(texts, predictions), start=1):
        preview = " ".join(text.split()) or "(empty text)"
        if len(preview) > PREVIEW_CHARACTERS:
            preview = preview[: PREVIEW_CHARACTERS - 1] + "…"
        out.write(f"[{number}] {preview}\n")
        width = max([len(label.label) for label in prediction.labels] + [len("(end)")])
        for label in prediction.labels:
            probability = "-" if label.probability is None else f"{label.probability:.3f}"
            words = ", ".join(f"{word} {weight:.2f}" for word, weight in label.attended_words or ())
            out.write(f"    {label.label:<{width}}  {probability:>5}  {words}".rstrip() + "\n")
        if not prediction.labels:
            out.write("    (no label)\n")
        if prediction.end_probability is not None:
            out.write(f"    {'(end)':<{width}}  {prediction.end_probability:.3f}\n")
        out.write("\n")
