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
from sgm_mlc.experiment.plan import TUNED_ORDER
from sgm_mlc.labels.orders import ORDERS
from sgm_mlc.step_errors import describe_os_error, remove_if_left_empty

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
    """``params[path[0]][path[1]]…`` with an error naming the missing section (and, for a named entry such as
    ``datasets.<name>``, the names there are)."""
    value: Any = params
    for depth, name in enumerate(path):
        if not isinstance(value, dict) or name not in value:
            missing = ".".join(path[: depth + 1])
            known = f"; known: {', '.join(sorted(value))}" if depth > 0 and isinstance(value, dict) else ""
            raise ParamsError(f"params lack {missing}, which this step reads{known}")
        value = value[name]
    return value


def run_validate_params(args: argparse.Namespace) -> None:
    load_params(args.params)
    print(f"{args.params}: valid")


def run_download(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import atomic_directory
    from sgm_mlc.data.download import ExtractionLimits, extraction_limits, partial_downloads
    from sgm_mlc.data.registry import get_dataset

    params = step_params(args)
    dataset_params = section(params, "datasets", args.dataset)
    limits = ExtractionLimits(**section(params, "downloads"))
    # A download cut short is kept beside the raw folders, for a rerun of the step to resume it.
    with atomic_directory(args.out) as raw_dir, extraction_limits(limits), partial_downloads(args.out.parent / ".downloads"):
        get_dataset(args.dataset, dataset_params).download(dataset_params, raw_dir)


def run_preprocess(args: argparse.Namespace) -> None:
    from sgm_mlc.data.preprocess import preprocess
    from sgm_mlc.data.registry import get_dataset

    params = step_params(args)
    dataset_params = section(params, "datasets", args.dataset)
    preprocess(
        get_dataset(args.dataset, dataset_params),
        dataset_params,
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


def run_build_image_features(args: argparse.Namespace) -> None:
    from sgm_mlc.features.images import build_image_features

    limit_threads(args.threads)
    build_image_features(section(step_params(args), "image_features"), args.processed, args.raw, args.out)


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


def planned_run(args: argparse.Namespace):
    from sgm_mlc.experiment.plan import Run

    return Run(args.dataset, args.model, args.variant, args.order, args.seed)


def run_params(args: argparse.Namespace, sections_of: Callable[[dict[str, Any], Any], dict[str, Any]]) -> dict[str, Any]:
    """The sections a run's step reads: the ``--config`` JSON the workflow passes, or, from a whole ``--params``
    file, what ``sections_of(params, run)`` picks for this run (its dataset's overrides and its variant
    applied, as the workflow does). The run's model must have an entry."""
    from sgm_mlc.experiment.plan import MODEL_NAMES

    if args.model not in MODEL_NAMES:
        raise ParamsError(f"unknown model {args.model!r}; known models: {', '.join(MODEL_NAMES)}")
    if args.config is not None:
        params = step_params(args)
    else:
        params = load_params(args.params)
        section(params, "datasets", args.dataset)
        params = sections_of(params, planned_run(args))
    section(params, "models", args.model)
    return params


def check_run_files(args: argparse.Namespace) -> None:
    """A neural run reads input features: say so before anything is written."""
    from sgm_mlc.experiment.plan import NEURAL_MODELS

    if args.model in NEURAL_MODELS and args.features is None:
        raise ParamsError(
            f"--features is required for the neural model {args.model}: results/embeddings/<dataset> "
            "(run build-embeddings) or, for an image dataset, results/image_features/<dataset> (build-image-features)"
        )


def limit_threads(threads: int) -> None:
    """Cap torch's CPU threads to what the scheduler gave the job (0 keeps torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def tuned_run(args: argparse.Namespace, params: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """A ``tuned`` run's params with its study's best settings (``--tuned best.yaml``) merged in, and its label
    order's folder (the study's choice where the run's order is ``tuned``); other runs' as given."""
    from sgm_mlc.experiment.plan import TUNED_ORDER, TUNED_VARIANT

    if (args.variant == TUNED_VARIANT) != (args.tuned is not None):
        raise ParamsError(f"--tuned best.yaml is given exactly when --variant is {TUNED_VARIANT}")
    if args.tuned is None:
        return params, args.label_order
    from sgm_mlc.data.download import sha256_of
    from sgm_mlc.tuning.settings import apply_best, read_best

    best = read_best(args.tuned, args.dataset, args.model)
    params = apply_best(params, best)
    validate_sections(params, source=f"{args.tuned} merged over the run's params")
    if args.order == TUNED_ORDER and not best.get("order"):
        raise ParamsError(f"{args.tuned} chose no label order, but the run's order is {TUNED_ORDER}; tune `order` too")
    if best["provenance"].get("examples_sha256") != sha256_of(args.processed / "examples.parquet"):
        log.warning("%s was tuned on other examples than %s; its settings may no longer be the best: run the study "
                    "again (snakemake tune --config 'tuning={run_studies: true}')", args.tuned, args.processed)
    return params, args.label_order.parent / best["order"] if args.order == TUNED_ORDER else args.label_order


def run_train(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.experiment.plan import train_sections
    from sgm_mlc.experiment.runner import train_model

    params, label_order = tuned_run(args, run_params(args, train_sections))
    check_run_files(args)
    limit_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "params.json", {**params, "run": run_identity(args, label_order)})
    train_model(args.model, params, args.seed, args.processed, args.features, label_order, args.out)


def run_evaluate(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.experiment.plan import evaluate_sections
    from sgm_mlc.experiment.runner import evaluate_model

    params, label_order = tuned_run(args, run_params(args, evaluate_sections))
    check_run_files(args)
    limit_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "params.json", {**params, "run": run_identity(args, label_order)})
    evaluate_model(args.model, params, args.processed, args.features, label_order, args.model_dir, args.out)


def run_identity(args: argparse.Namespace, label_order: Path | None = None) -> dict[str, Any]:
    """The run's wildcards, and ``label_order`` where the order it trained with is not its ``order`` wildcard
    (a tuned run whose study chose the order)."""
    identity = {"dataset": args.dataset, "model": args.model, "variant": args.variant, "order": args.order,
                "seed": args.seed}
    chosen = label_order is not None and label_order.name != args.order
    return identity | ({"label_order": label_order.name} if chosen else {})


def run_create_study(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.tuning.job import open_dataset_study

    params = step_params(args)
    section(params, "tuning", "spaces", args.model)
    study = open_dataset_study(args.dataset, args.model, params, args.study_dir, worker=0)
    write_json(args.out, {"study": study.study_name, "trials": len(study.get_trials(deepcopy=False))})


def run_tune(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.tuning.job import tune_worker

    params = step_params(args)
    section(params, "tuning", "spaces", args.model)
    limit_threads(args.threads)
    record = tune_worker(
        args.dataset, args.model, params | {"run": {"order": args.order}}, args.worker, args.processed,
        args.label_orders, args.features, args.study_dir,
    )
    write_json(args.out, record)


def run_tuned_settings(args: argparse.Namespace) -> None:
    from sgm_mlc.tuning.job import tuned_settings

    params = step_params(args)
    section(params, "tuning", "spaces", args.model)
    tuned_settings(args.dataset, args.model, params, args.processed, args.study_dir)


def run_log_training_runs(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.experiment.plan import TUNED_VARIANT, Run, tracked_sections, tuned_settings_file
    from sgm_mlc.tracking.runs import tracking_uri
    from sgm_mlc.tracking.training_run import log_training_run

    params = step_params(args)
    tracking = section(params, "tracking")
    records = {}
    for path in args.runs:
        try:
            run = Run.from_path(path)
        except ValueError as error:
            raise ParamsError(f"--runs: {error}") from None
        if run.dataset != args.dataset:
            raise ParamsError(f"--runs: {path} is a run on {run.dataset}, not on --dataset {args.dataset}")
        tuned = Path(tuned_settings_file(run.dataset, run.model)) if run.variant == TUNED_VARIANT else None
        run_args = argparse.Namespace(
            dataset=run.dataset, model=run.model, variant=run.variant, order=run.order, seed=run.seed, tuned=tuned,
            processed=args.processed, label_order=args.label_orders / run.order,
        )
        sections, label_order = tuned_run(run_args, tracked_sections(params, run))
        logged = {name: value for name, value in sections.items() if name != "tracking"}
        logged["run"] = run_identity(run_args, label_order)
        wildcards = {name: str(value) for name, value in run_identity(run_args).items()}
        records[run.path] = log_training_run(
            tracking_uri(tracking), tracking["experiment"], wildcards, logged, Path(run.folder("models")),
            Path(run.folder("evaluation")), args.processed / "examples.parquet", Path.cwd(),
        )
        log.info("logged %s as MLflow run %s", run.path, records[run.path]["run_id"])
    write_json(args.out, records)


def run_organise_runs(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.tracking.organise import organise_dataset_runs
    from sgm_mlc.tracking.runs import tracking_uri

    params = step_params(args)
    tracking = section(params, "tracking")
    metric = section(params, "training", "selection_metric")
    records = list(json.loads(args.training_runs.read_text(encoding="utf-8")).values())
    organised = organise_dataset_runs(tracking_uri(tracking), tracking["experiment"], args.dataset, records, metric)
    write_json(args.out, organised)


def run_log_tuning_study(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.tracking.runs import tracking_uri
    from sgm_mlc.tracking.tuning_study import log_tuning_study

    params = step_params(args)
    section(params, "tuning", "spaces", args.model)
    tracking = section(params, "tracking")
    logged = {name: value for name, value in params.items() if name != "tracking"}
    record = log_tuning_study(
        tracking_uri(tracking), tracking["experiment"], args.dataset, args.model, logged, args.study_dir, Path.cwd()
    )
    write_json(args.out, record)


def run_evaluate_cross_dataset(args: argparse.Namespace) -> None:
    from sgm_mlc.experiment.cross_dataset import evaluate_cross_dataset
    from sgm_mlc.experiment.plan import evaluate_sections

    params = run_params(args, evaluate_sections)
    check_run_files(args)
    limit_threads(args.threads)
    evaluate_cross_dataset(
        args.model, params, args.processed, args.features, args.label_order, args.model_dir, args.decision,
        args.target_processed, args.label_map, args.out, args.target_features,
    )


def run_log_cross_dataset_run(args: argparse.Namespace) -> None:
    from sgm_mlc.atomic import write_json
    from sgm_mlc.tracking.cross_dataset_run import log_cross_dataset_run
    from sgm_mlc.tracking.runs import tracking_uri

    params = step_params(args)
    tracking = section(params, "tracking")
    logged = {name: value for name, value in params.items() if name != "tracking"}
    logged["run"] = {**run_identity(args), "target": args.target}
    wildcards = {name: str(value) for name, value in logged["run"].items()}
    training_runs = json.loads(args.training_runs.read_text(encoding="utf-8"))
    trained = planned_run(args).path
    if trained not in training_runs:
        raise ParamsError(f"{args.training_runs} has no run {trained}: log the training runs first (log-training-runs)")
    record = log_cross_dataset_run(
        tracking_uri(tracking), tracking["experiment"], wildcards, logged, training_runs[trained]["run_id"], args.label_map,
        args.target_examples, args.evaluation_dir, Path.cwd(),
    )
    write_json(args.out, record)


def run_report(args: argparse.Namespace) -> None:
    from sgm_mlc.config import validate_params
    from sgm_mlc.report.build import build_report

    if args.config is None:
        params = load_params(args.params)
    else:
        params = json.loads(args.config)
        validate_params(params, source="--config")
    build_report(params, Path.cwd(), args.out)


def run_explain_examples(args: argparse.Namespace) -> None:
    from sgm_mlc.predict.explain import write_explanations

    limit_threads(args.threads)
    write_explanations(args.model_dir, args.processed, args.examples, args.top_words, args.out)


def run_summarize(args: argparse.Namespace) -> None:
    from sgm_mlc.report.summary import summarize

    summarize(args.evaluations, args.models, args.out, args.timings)


def run_verify(args: argparse.Namespace) -> int:
    """Compare the summary metrics with the committed record; 1 when a metric is outside its tolerance."""
    from sgm_mlc.atomic import write_json
    from sgm_mlc.verify import (
        RecordError, committed_revision, compare, format_table, load_tolerances, read_committed, read_folder,
        verification,
    )

    tolerances = load_tolerances(args.tolerances)
    try:
        if args.reference is not None:
            record, described = read_folder(args.reference), str(args.reference)
        else:
            commit = committed_revision(Path.cwd(), args.revision)
            record, described = read_committed(Path.cwd(), commit, args.summary), f"git {commit} {args.summary}"
    except RecordError as error:
        if not args.no_fail:
            raise
        record, described = {}, f"none ({error})"  # every run is new: nothing to check it against
    runs = compare(record, read_folder(args.summary), tolerances)
    document = verification(runs, tolerances, described)
    print(f"{args.summary} against {described}, tolerances from {args.tolerances}")
    print("\n".join(format_table(runs, every_metric=args.every_metric)))
    counts = ", ".join(f"{count} {status}" for status, count in document["counts"].items() if count)
    print(f"{'PASSED' if document['passed'] else 'FAILED'}: {counts}")
    if args.out is not None:
        write_json(args.out, document)
    return 0 if document["passed"] or args.no_fail else 1


def add_run_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments naming one run and the files it reads."""
    sub.add_argument("--dataset", required=True, help="the dataset the model is trained on")
    sub.add_argument("--model", required=True)
    sub.add_argument("--variant", default="default", help="a variant of experiments.ablations (default: none)")
    sub.add_argument("--order", required=True, choices=ORDERS + (TUNED_ORDER,))
    sub.add_argument("--seed", type=int, required=True)
    sub.add_argument("--tuned", type=Path, help="a tuned run's settings: results/tuning/<dataset>/<model>/best.yaml")
    sub.add_argument("--processed", type=Path, required=True, help="data/processed/<dataset>")
    sub.add_argument(
        "--features", type=Path,
        help="the input features of neural models: results/embeddings/<dataset> (word vectors) for a text "
        "dataset, results/image_features/<dataset> for an image dataset",
    )
    sub.add_argument("--label-order", type=Path, required=True, help="results/label_orders/<dataset>/<order>")
    sub.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgm-mlc", description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, allow_abbrev=False)
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

    sub = command("build-image-features", run_build_image_features, "region features of every image (a torchvision ResNet)")
    sub.add_argument("--processed", type=Path, required=True)
    sub.add_argument("--raw", type=Path, required=True, help="data/raw/<dataset> (the image files)")
    sub.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    sub.add_argument("--out", type=Path, required=True)

    sub = command("build-label-order", run_build_label_order, "label vocabulary and label sequences for one order")
    sub.add_argument("--processed", type=Path, required=True)
    sub.add_argument("--order", required=True, choices=ORDERS)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("train", run_train, "train one model on one dataset, label order and seed")
    add_run_arguments(sub)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("create-study", run_create_study, "create a tuning study (and its storage's tables) once")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--model", required=True)
    sub.add_argument("--study-dir", type=Path, required=True, help="results/tuning/<dataset>/<model>")
    sub.add_argument("--out", type=Path, required=True)

    sub = command("tune", run_tune, "run trials of a model's tuning study until its budget is spent")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--model", required=True)
    sub.add_argument("--order", required=True, choices=ORDERS, help="the label order when the study does not tune it")
    sub.add_argument("--worker", type=int, default=0, help="this worker's number among the study's parallel workers")
    sub.add_argument("--processed", type=Path, required=True, help="data/processed/<dataset> (train and valid read)")
    sub.add_argument("--features", type=Path, help="results/embeddings/<dataset> or results/image_features/<dataset>")
    sub.add_argument("--label-orders", type=Path, required=True, help="results/label_orders/<dataset>")
    sub.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    sub.add_argument("--study-dir", type=Path, required=True, help="results/tuning/<dataset>/<model>")
    sub.add_argument("--out", type=Path, required=True, help="this worker's record (JSON)")

    sub = command("tuned-settings", run_tuned_settings, "write a finished study's best.yaml and trials.json")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--model", required=True)
    sub.add_argument("--processed", type=Path, required=True, help="data/processed/<dataset>")
    sub.add_argument("--study-dir", type=Path, required=True, help="results/tuning/<dataset>/<model>")

    sub = command("log-tuning-study", run_log_tuning_study, "log a study and its trials (child runs) to MLflow")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--model", required=True)
    sub.add_argument("--study-dir", type=Path, required=True, help="results/tuning/<dataset>/<model>")
    sub.add_argument("--out", type=Path, required=True)

    sub = command(
        "evaluate", run_evaluate,
        "decode validation and test; write decision.json (fitted on validation), metrics.json and predictions.parquet",
    )
    add_run_arguments(sub)
    sub.add_argument("--model-dir", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = command(
        "log-training-runs", run_log_training_runs,
        "log (or re-log) a dataset's finished runs to MLflow, in one process (MLflow is imported once)",
    )
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--runs", nargs="+", required=True, help="each run's path: <dataset>/<model>/<variant>/<order>/seed<seed>")
    sub.add_argument("--processed", type=Path, required=True, help="data/processed/<dataset>")
    sub.add_argument("--label-orders", type=Path, required=True, help="results/label_orders/<dataset>")
    sub.add_argument("--out", type=Path, required=True, help="results/tracking/<dataset>/training_runs.json")

    sub = command(
        "organise-runs", run_organise_runs,
        "nest a dataset's logged runs under one parent per recipe (seed mean and std); register its best model",
    )
    sub.add_argument("--dataset", required=True)
    sub.add_argument(
        "--training-runs", type=Path, required=True, help="the dataset's logged runs: results/tracking/<dataset>/training_runs.json"
    )
    sub.add_argument("--out", type=Path, required=True)

    sub = command(
        "evaluate-cross-dataset", run_evaluate_cross_dataset,
        "evaluate a trained model on another dataset's test split over the labels of a label map",
    )
    add_run_arguments(sub)
    sub.add_argument("--model-dir", type=Path, required=True)
    sub.add_argument("--decision", type=Path, required=True, help="the run's results/evaluation/<run>/decision.json")
    sub.add_argument("--target", required=True, help="the dataset evaluated on")
    sub.add_argument("--target-processed", type=Path, required=True, help="data/processed/<target dataset>")
    sub.add_argument("--label-map", type=Path, required=True, help="workflow/label_maps/<dataset>__<target>.tsv")
    sub.add_argument("--target-features", type=Path, help="results/image_features/<target> (an image target)")
    sub.add_argument("--out", type=Path, required=True)

    sub = command("log-cross-dataset-run", run_log_cross_dataset_run, "log (or re-log) a cross-dataset evaluation")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--target", required=True)
    sub.add_argument("--model", required=True)
    sub.add_argument("--variant", default="default")
    sub.add_argument("--order", required=True, choices=ORDERS)
    sub.add_argument("--seed", type=int, required=True)
    sub.add_argument(
        "--training-runs", type=Path, required=True,
        help="the logged training runs of --dataset: results/tracking/<dataset>/training_runs.json",
    )
    sub.add_argument("--label-map", type=Path, required=True)
    sub.add_argument("--target-examples", type=Path, required=True)
    sub.add_argument("--evaluation-dir", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = commands.add_parser(
        "explain-examples", allow_abbrev=False, help="test documents with the attention of every generated label (for the report)"
    )
    sub.set_defaults(handler=run_explain_examples)
    sub.add_argument("--model-dir", type=Path, required=True, help="results/models/<dataset>/<model>/<variant>/<order>/seed<seed>")
    sub.add_argument("--processed", type=Path, required=True, help="data/processed/<dataset>")
    sub.add_argument("--examples", type=int, default=3)
    sub.add_argument("--top-words", type=int, default=5)
    sub.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    sub.add_argument("--out", type=Path, required=True, help="results/interpret/<dataset>/examples.json")

    sub = command("report", run_report, "write the report (index.html, report.md) from the results files")
    sub.add_argument("--out", type=Path, required=True, help="results/report")

    sub = commands.add_parser(
        "summarize", allow_abbrev=False, help="collect every run's metrics and training curves (for git and DVC) and its timings"
    )
    sub.set_defaults(handler=run_summarize)
    sub.add_argument("--evaluations", type=Path, nargs="*", default=[], help="results/evaluation/... run folders")
    sub.add_argument("--models", type=Path, nargs="*", default=[], help="results/models/... run folders")
    sub.add_argument("--out", type=Path, required=True, help="results/summary")
    sub.add_argument("--timings", type=Path, required=True, help="results/timings")

    from sgm_mlc.verify import DEFAULT_TOLERANCES, SUMMARY_METRICS

    sub = commands.add_parser(
        "verify", allow_abbrev=False,
        help="compare every run's summary metrics with the committed record, within stated tolerances",
    )
    sub.set_defaults(handler=run_verify)
    sub.add_argument("--summary", type=Path, default=SUMMARY_METRICS, help="the figures to check (default: %(default)s)")
    sub.add_argument("--revision", default="HEAD", help="the git revision whose committed summary is the record")
    sub.add_argument("--reference", type=Path, help="a folder of summary metrics to use as the record instead of git")
    sub.add_argument("--tolerances", type=Path, default=DEFAULT_TOLERANCES, help="default: %(default)s")
    sub.add_argument("--every-metric", action="store_true", help="print every metric, not only those that differ")
    sub.add_argument("--no-fail", action="store_true", help="exit 0 even when a metric is outside its tolerance")
    sub.add_argument("--out", type=Path, help="write the check as JSON (results/verify/verification.json)")

    sub = command("init-tracking", run_init_tracking, "create the MLflow store and experiment once")
    sub.add_argument("--out", type=Path, required=True)

    sub = command("log-dataset-card", run_log_dataset_card, "log a processed dataset's card as an MLflow run")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--processed", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    from sgm_mlc.predict.command import add_predict_command  # imports only the standard library

    add_predict_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    out = getattr(args, "out", None)
    out_existed = out is not None and out.exists()
    try:
        status = args.handler(args)
    except (ParamsError, ValueError, RuntimeError) as error:
        log.error("%s", error)
    except OSError as error:
        log.error("%s", describe_os_error(error, args.command, out))
    else:
        return status or 0
    remove_if_left_empty(out, out_existed)
    return 2
