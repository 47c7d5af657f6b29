"""SGM training and decoding throughput on a processed dataset (default: Reuters-21578), median of repeats.

Prints examples/s for training (one epoch of the project's training loop over the train split) and
documents/s for greedy and beam-5 decoding of the whole test split (in the evaluation's batches), with the
process's peak memory, and the model size: the parameters of the model measured, of the same setting with the
encoder's other ``direction_merge``, and of the original implementation's layout at the same sizes for this
vocabulary and label set (``paper_setting.original_parameter_counts``).

    python benchmarks/sgm_throughput.py --dataset reuters21578 --setting paper --max-source-length 100
    python benchmarks/sgm_throughput.py --dataset reuters21578 --setting default
    python benchmarks/sgm_throughput.py --setting paper --eval-precision bf16 --record results/benchmarks/figures/sgm_speed/paper-bf16.json

Settings (``--setting``): see ``paper_setting.py``. ``--eval-precision bf16`` decodes under bf16 autocast (what
``training.eval_precision: bf16`` does at evaluation); training stays fp32. ``--record`` writes the figures, with
the machine, threads, torch version and commit, as JSON (``tables.py`` makes the docs' speed table from them).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from sgm_mlc.atomic import write_json
from sgm_mlc.config import dataset_view, load_params
from sgm_mlc.git import git_commit
from sgm_mlc.experiment.neural import encode_split, make_task, training_config
from sgm_mlc.experiment.runner import run_inputs
from sgm_mlc.models.neural import DEFAULT_HYPERPARAMETERS, build_neural_model
from sgm_mlc.text.vocab import SPECIALS
from sgm_mlc.training.loop import TrainingConfig, predict_split, run_epoch, save_tensors

from paper_setting import SETTINGS, apply_setting, model_parameter_counts, original_parameter_counts
from run_settings import machine


def training_throughput(model, task, examples, config: TrainingConfig) -> float:
    """Examples per second over one training epoch of the project's loop (length-bucketed batches,
    forward, backward, clipping, Adam step)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    started = time.perf_counter()
    run_epoch(model, task, examples, optimizer, config, 1, torch.device("cpu"), False, Path("benchmark"))
    return len(examples) / (time.perf_counter() - started)


def decoding_throughput(model, task, examples, batch_size: int, max_tokens: int | None, bf16: bool):
    """Documents per second predicting every example as the evaluation does (``predict_split``, under bf16
    autocast with ``bf16``), and the mean number of labels decoded per document (decoding stops early when every
    sequence has ended)."""
    started = time.perf_counter()
    predictions = predict_split(model, task, examples, batch_size, torch.device("cpu"), bf16, max_tokens)
    seconds = time.perf_counter() - started
    return len(examples) / seconds, sum(len(p.labels) for p in predictions) / len(examples)


def parameter_table(params: dict, vectors, n_labels: int) -> str:
    """The parameters of the model ``params`` (the ``sgm`` model's params) describes, of the same model with the
    encoder's other direction merge, and of the original implementation's layout at the same sizes (when its
    word and label embeddings have the same size, as the original's do), by part, one line per part."""
    params = {**DEFAULT_HYPERPARAMETERS, **params}
    merge = params["direction_merge"]
    other = "sum" if merge == "concat" else "concat"
    columns = {}
    for name in (merge, other):
        torch.manual_seed(0)
        model = build_neural_model("sgm", {**params, "direction_merge": name}, vectors, n_labels)
        columns[f"this model, {name}" + (" (measured)" if name == merge else "")] = model_parameter_counts(model)
    columns["original's layout"] = original_parameter_counts(
        words=vectors.shape[0] - len(SPECIALS),
        labels=n_labels,
        emb_size=params["label_embedding_dim"],
        hidden_size=params["hidden_size"],
        enc_layers=params["encoder_layers"],
        dec_layers=params["decoder_layers"],
        global_emb=params["global_embedding"],
    )
    if params["label_embedding_dim"] != vectors.shape[1]:
        columns.pop("original's layout")  # the original has one emb_size for words and labels
    for counts in columns.values():
        counts["total without word embeddings"] = counts["total"] - counts["word embeddings"]
    parts = [
        part
        for part in dict.fromkeys(part for counts in columns.values() for part in counts)
        if any(counts.get(part) for counts in columns.values())
    ]
    width, cell = max(len(part) for part in parts), max(len(column) for column in columns)
    lines = [f"{'parameters':>{width}}  " + "  ".join(f"{column:>{cell}}" for column in columns)]
    for part in parts:
        cells = [f"{counts[part]:>{cell},}" if part in counts else f"{'-':>{cell}}" for counts in columns.values()]
        lines.append(f"{part:>{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="reuters21578")
    parser.add_argument("--order", default="frequency")
    parser.add_argument("--setting", choices=list(SETTINGS), default="paper")
    parser.add_argument("--max-source-length", type=int, default=None, help="cut documents (default: whole)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--root", type=Path, default=Path("."), help="project folder holding data/ and results/")
    parser.add_argument(
        "--checkpoint", type=Path, help="trained weights (model.pt of the same setting): decoding then stops at EOS"
    )
    parser.add_argument("--decoding-only", action="store_true", help="measure the decoding of --checkpoint alone")
    parser.add_argument("--save-weights", type=Path, help="save the weights trained by the repeats there (for --checkpoint)")
    parser.add_argument("--eval-precision", choices=("fp32", "bf16"), default="fp32", help="the decoding's arithmetic")
    parser.add_argument("--record", type=Path, help="also write the figures there as JSON (see tables.py)")
    parser.add_argument("--label", help="the row's name in the docs' table (default: the setting and the precision)")
    args = parser.parse_args()
    if args.decoding_only and args.checkpoint is None:
        parser.error("--decoding-only measures the decoding of trained weights: give them with --checkpoint")

    torch.set_num_threads(args.threads)
    params = dataset_view(load_params(args.root / "params.yaml"), args.dataset)
    apply_setting(params, args.setting)
    inputs = run_inputs("sgm", args.root / f"data/processed/{args.dataset}", args.root / f"results/label_orders/{args.dataset}/{args.order}")
    vectors = inputs.vectors(args.root / f"results/embeddings/{args.dataset}")
    train = encode_split(inputs, inputs.splits["train"], args.max_source_length)
    test = encode_split(inputs, inputs.splits["test"], args.max_source_length)
    torch.manual_seed(0)
    model = build_neural_model("sgm", params["models"]["sgm"], vectors, len(inputs.label_ranking))
    decoder = model
    if args.checkpoint:
        decoder = build_neural_model("sgm", params["models"]["sgm"], vectors, len(inputs.label_ranking))
        decoder.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=True)["model"])
    task = make_task("sgm", params, beam_size=1)
    max_length = params["models"]["sgm"]["max_decode_length"]
    config = training_config(params["training"], seed=0)
    eval_batches = (params["training"]["eval_batch_size"], params["training"]["eval_max_tokens"])

    figures = {name: [] for name in ("train examples/s", "greedy documents/s", "beam-5 documents/s")
               if not (args.decoding_only and name.startswith("train"))}
    labels_per_document = {}
    print(parameter_table(params["models"]["sgm"], vectors, len(inputs.label_ranking)), flush=True)
    for repeat in range(args.repeats):
        if not args.decoding_only:
            figures["train examples/s"].append(training_throughput(model, task, train, replace(config, seed=repeat)))
            print(f"repeat {repeat + 1}: train {figures['train examples/s'][-1]:.1f} examples/s", flush=True)
        for name, beam_size in (("greedy", 1), ("beam-5", 5)):
            decoding = make_task("sgm", params, beam_size)
            speed, labels_per_document[name] = decoding_throughput(
                decoder, decoding, test, *eval_batches, args.eval_precision == "bf16"
            )
            figures[f"{name} documents/s"].append(speed)
            print(f"repeat {repeat + 1}: {name} {speed:.1f} documents/s, {labels_per_document[name]:.2f} labels/document",
                  flush=True)

    settings = {**DEFAULT_HYPERPARAMETERS, **params["models"]["sgm"]}
    hyper = {k: settings[k] for k in ("hidden_size", "direction_merge", "encoder_layers", "decoder_layers", "label_embedding_dim", "self_attention", "attention")}
    weights = (f"trained weights {args.checkpoint}" if args.checkpoint
               else "the weights trained so far (one epoch more each repeat)")
    print(f"dataset {args.dataset}, setting {args.setting} {hyper}, embedding {vectors.shape[1]}, batch {config.batch_size}, "
          f"source length {args.max_source_length or 'whole'}, eval batches {eval_batches}, threads {args.threads}, repeats {args.repeats}, "
          f"decoding in {args.eval_precision} with {weights}, at most {max_length} steps")
    for name, values in figures.items():
        print(f"{name:>20}: median {statistics.median(values):8.1f}   (runs: {', '.join(f'{v:.1f}' for v in values)})")
    for name, mean in labels_per_document.items():
        print(f"{name + ' labels/document':>20}: {mean:8.2f}   (last repeat)")
    if args.save_weights is not None:
        save_tensors(args.save_weights, {"model": model.state_dict()})
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak memory':>20}: {peak_mib:.0f} MiB")
    if args.record is not None:
        counts = model_parameter_counts(model)
        write_json(args.record, {
            "label": args.label or args.setting + ("" if args.eval_precision == "fp32" else f", decoding in {args.eval_precision}"),
            "dataset": args.dataset, "setting": args.setting, "model": hyper, "source_length": args.max_source_length,
            "eval_precision": args.eval_precision, "decoding_weights": weights, "repeats": args.repeats,
            "parameters": counts["total"], "parameters_without_word_embeddings": counts["total"] - counts["word embeddings"],
            "medians": {name: statistics.median(values) for name, values in figures.items()}, "runs": figures,
            "labels_per_document": labels_per_document, "peak_memory_mib": peak_mib,
            "machine": machine(args.threads), "commit": git_commit(Path(__file__).parent),
        })
        print(f"record written to {args.record}")


if __name__ == "__main__":
    main()
