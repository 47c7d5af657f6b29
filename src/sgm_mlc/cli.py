"""``sgm-mlc`` / ``python -m sgm_mlc``: one subcommand per pipeline step.

Each step reads only the ``params.yaml`` sections it needs: from a params file (``--params``, validated whole)
or, as the workflow passes them, as a JSON object of those sections (``--config``, each section validated).
The library underneath knows nothing of Snakemake, DVC or this command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sgm_mlc.config import ParamsError, load_params, validate_sections
from sgm_mlc.labels.orders import ORDERS

log = logging.getLogger("sgm_mlc")

DEFAULT_PARAMS = Path("params.yaml")


def step_params(args: argparse.Namespace) -> dict[str, Any]:
    """The params the step was given: ``--config`` JSON sections, else the whole ``--params`` file."""
    if args.config is None:
        return load_params(args.params)
    try:
        sections = json.loads(args.config)
    except json.JSONDecodeError as error:
        raise ParamsError(f"--config is not valid JSON: {error}") from None
    validate_sections(sections)
    return sections


def section(params: dict[str, Any], *path: str) -> Any:
    """``params[path[0]][path[1]]…`` with an error naming the missing section."""
    value: Any = params
    for depth, name in enumerate(path):
        if not isinstance(value, dict) or name not in value:
            raise ParamsError(f"params lack the section {'.'.join(path[: depth + 1])} that this step reads")
        value = value[name]
    return value


def run_validate_params(args: argparse.Namespace) -> None:
    load_params(args.params)
    print(f"{args.params}: valid")


def run_download(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import atomic_directory
    from sgm_mlc.data.registry import get_dataset

    dataset_params = section(step_params(args), "datasets", args.dataset)
    with atomic_directory(args.out) as raw_dir:
        get_dataset(args.dataset).download(dataset_params, raw_dir)


def run_preprocess(args: argparse.Namespace) -> None:
    from sgm_mlc.data.preprocess import preprocess
    from sgm_mlc.data.registry import get_dataset

    params = step_params(args)
    preprocess(
        get_dataset(args.dataset),
        section(params, "datasets", args.dataset),
        section(params, "preprocess"),
        args.raw,
        args.out,
    )


def run_build_embeddings(args: argparse.Namespace) -> None:
    from sgm_mlc.data.parquet import read_examples
    from sgm_mlc.embeddings.word_vectors import build_word_vectors
    from sgm_mlc.text.vocab import Vocabulary

    embedding_params = section(step_params(args), "embeddings")
    examples = read_examples(args.processed / "examples.parquet", columns=["tokens", "split"])
    train_documents = [list(tokens) for tokens in examples.loc[examples["split"] == "train", "tokens"]]
    vocabulary = Vocabulary.load(args.processed / "vocab.json")
    build_word_vectors(embedding_params, vocabulary, train_documents, args.out)


def run_build_label_order(args: argparse.Namespace) -> None:
    from sgm_mlc.labels.build import build_label_order

    order_params = section(step_params(args), "label_orders")
    build_label_order(args.processed / "examples.parquet", args.order, order_params["random_seed"], args.out)


def run_init_tracking(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.tracking.runs import init_tracking, tracking_uri

    tracking = section(step_params(args), "tracking")
    uri = tracking_uri(tracking)
    experiment_id = init_tracking(uri, tracking["experiment"])
    write_json(args.out, {"tracking_uri": uri, "experiment": tracking["experiment"], "experiment_id": experiment_id})


def run_log_dataset_card(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.tracking.dataset_card import log_dataset_card
    from sgm_mlc.tracking.runs import tracking_uri

    params = step_params(args)
    tracking = section(params, "tracking")
    logged = {
        "datasets": {args.dataset: section(params, "datasets", args.dataset)},
        "preprocess": section(params, "preprocess"),
    }
    record = log_dataset_card(
        tracking_uri(tracking), tracking["experiment"], args.dataset, logged, args.processed, Path.cwd()
    )
    write_json(args.out, record)


def model_params(args: argparse.Namespace) -> dict[str, Any]:
    """The sections a train/evaluate/log step reads, with its model's entry checked to be present."""
    params = step_params(args)
    section(params, "models", args.model)
    return params


def limit_threads(threads: int) -> None:
    """Cap torch's CPU threads to what the scheduler gave the job (0 keeps torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def run_train(args: argparse.Namespace) -> None:
    from sgm_mlc.experiment.runner import train_model

    limit_threads(args.threads)
    train_model(args.model, model_params(args), args.seed, args.processed, args.embeddings, args.label_order, args.out)


def run_evaluate(args: argparse.Namespace) -> None:
    from sgm_mlc.experiment.runner import evaluate_model

    limit_threads(args.threads)
    evaluate_model(args.model, model_params(args), args.processed, args.embeddings, args.label_order, args.model_dir, args.out)


def run_log_training_run(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.tracking.runs import tracking_uri
    from sgm_mlc.tracking.training_run import log_training_run

    params = model_params(args)
    tracking = section(params, "tracking")
    logged = {name: value for name, value in params.items() if name != "tracking"}
    logged["run"] = {"dataset": args.dataset, "model": args.model, "order": args.order, "seed": args.seed}
    wildcards = {"dataset": args.dataset, "model": args.model, "order": args.order, "seed": str(args.seed)}
    record = log_training_run(
        tracking_uri(tracking),
        tracking["experiment"],
        wildcards,
        logged,
        args.model_dir,
        args.evaluation_dir,
        args.processed / "examples.parquet",
        Path.cwd(),
    )
    write_json(args.out, record)


def run_summarize(args: argparse.Namespace) -> None:
    from sgm_mlc.report.summary import summarize

    summarize(args.evaluations, args.models, args.out)


def add_run_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments naming one run and the files it reads."""
    sub.add_argument("--model", required=True)
    sub.add_argument("--order", required=True, choices=ORDERS)
    sub.add_argument("--seed", type=int, required=True)
    sub.add_argument("--processed", type=Path, required=True, help="data/processed/<dataset>")
    sub.add_argument("--embeddings", type=Path, help="results/embeddings/<dataset> (neural models)")
    sub.add_argument("--label-order", type=Path, help="results/label_orders/<dataset>/<order>")
    sub.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgm-mlc", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        sub.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params file (default: params.yaml)")
        if name != "validate-params":
            sub.add_argument("--config", help="JSON object of the params.yaml sections this step reads")
        return sub

    command("validate-params", run_validate_params, "check params.yaml against the schema")

    sub = command("download", run_download, "fetch (or generate) a dataset's raw files into --out")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("preprocess", run_preprocess, "parse raw files to examples.parquet, vocab.json and card.json")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--raw", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("build-embeddings", run_build_embeddings, "word vectors aligned to the vocabulary")
    sub.add_argument("--processed", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("build-label-order", run_build_label_order, "label vocabulary and label sequences for one order")
    sub.add_argument("--processed", type=Path, required=True)
    sub.add_argument("--order", required=True, choices=ORDERS)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("train", run_train, "train one model on one dataset, label order and seed")
    add_run_arguments(sub)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("evaluate", run_evaluate, "decode validation and test; write metrics.json and predictions.parquet")
    add_run_arguments(sub)
    sub.add_argument("--model-dir", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("log-training-run", run_log_training_run, "log (or re-log) a finished run to MLflow")
    add_run_arguments(sub)
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--model-dir", type=Path, required=True)
    sub.add_argument("--evaluation-dir", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = commands.add_parser("summarize", help="collect final metrics and training curves for DVC")
    sub.set_defaults(handler=run_summarize)
    sub.add_argument("--evaluations", type=Path, nargs="*", default=[], help="results/evaluation/... run folders")
    sub.add_argument("--models", type=Path, nargs="*", default=[], help="results/models/... run folders")
    sub.add_argument("--out", type=Path, required=True)

    sub = command("init-tracking", run_init_tracking, "create the MLflow store and experiment once")
    sub.add_argument("--out", type=Path, required=True)

    sub = command("log-dataset-card", run_log_dataset_card, "log a processed dataset's card as an MLflow run")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--processed", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.handler(args)
    except (ParamsError, ValueError, FileNotFoundError, RuntimeError) as error:
        log.error("%s", error)
        return 2
    return 0
