"""The training loop: Adam with learning-rate decay and gradient clipping, optionally an exponential moving
average of the weights, model selection on the validation split, early stopping, and a checkpoint written
atomically after every epoch.

A job that is killed and restarted resumes from its checkpoint (model, optimizer, scheduler, weight average,
torch RNG state, history) and ends with exactly the result of an uninterrupted run: batches are a pure function of
``(seed, epoch)`` and the RNG state that drives dropout is restored.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from sgm_mlc.atomic import atomic_path, write_json
from sgm_mlc.training.batches import EncodedExamples, collate, evaluation_batches, training_batches
from sgm_mlc.training.device import autocast
from sgm_mlc.training.tasks import Prediction, Task

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
BEST_MODEL_FILE = "model.pt"
HISTORY_FILE = "history.json"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainingConfig:
    """The ``training`` section of params.yaml, as the loop needs it."""

    epochs: int
    batch_size: int
    learning_rate: float
    lr_decay: float
    decay_start_epoch: int
    max_grad_norm: float
    patience: int
    selection_metric: str
    seed: int
    eval_batch_size: int = 128
    eval_max_tokens: int | None = None
    ema_decay: float | None = None
    pool_batches: int = 50


@dataclass
class TrainingState:
    """What survives between epochs (and across a restart)."""

    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


Evaluate = Callable[[Sequence[Prediction]], dict[str, Any]]
# Called after every epoch with the epoch and its validation score (a tuning study's pruning: it may raise to stop).
EpochCallback = Callable[[int, float], None]


def predict_split(
    model: nn.Module,
    task: Task,
    examples: EncodedExamples,
    batch_size: int,
    device: torch.device,
    bf16: bool,
    max_tokens: int | None = None,
) -> list[Prediction]:
    """Predictions for every example of a split, in the split's order, in length-sorted batches of at most
    ``batch_size`` documents and ``max_tokens`` padded tokens (see
    :func:`~sgm_mlc.training.batches.evaluation_batches`)."""
    model.eval()
    predictions: list[Prediction | None] = [None] * len(examples)
    with torch.no_grad(), autocast(device, bf16):
        for indices in evaluation_batches(examples, batch_size, max_tokens):
            batch = collate(examples, indices).to(device)
            for index, prediction in zip(batch.indices, task.predict(model, batch)):
                predictions[index] = prediction
    return predictions


def learning_rate_factor(epoch: int, decay: float, start_epoch: int) -> float:
    """SGM's schedule: the rate is multiplied by ``decay`` after every epoch from ``start_epoch`` on."""
    return decay ** max(0, epoch - start_epoch + 1)


def train(
    model: nn.Module,
    task: Task,
    train_set: EncodedExamples,
    valid_set: EncodedExamples,
    evaluate: Evaluate,
    config: TrainingConfig,
    out_dir: Path,
    device: torch.device,
    bf16: bool = False,
    stop_after_epoch: int | None = None,
    fingerprint: str = "",
    on_epoch: EpochCallback | None = None,
) -> TrainingState:
    """Train until ``config.epochs`` or early stopping; write ``model.pt`` (best epoch), ``checkpoint.pt``
    (last epoch) and ``history.json`` into ``out_dir``; resume from ``checkpoint.pt`` when it exists.

    With ``config.ema_decay`` set, an exponential moving average of the weights is updated after every
    optimizer step (``average = decay · average + (1 − decay) · weights``); the average is what is validated,
    selected and saved as ``model.pt``.

    ``evaluate`` turns validation predictions into metrics (``config.selection_metric`` among them).
    ``stop_after_epoch`` ends the run early as if the job had been killed after that epoch (for tests).
    ``fingerprint`` identifies everything that shapes the run but the number of epochs and the patience
    (model, data, the rest of the recipe): a checkpoint written under another fingerprint is not resumed.
    ``on_epoch(epoch, score)`` is called after each epoch is saved; whatever it raises ends the run there.
    """
    model.to(device)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: learning_rate_factor(epoch, config.lr_decay, config.decay_start_epoch)
    )
    averaged = weight_average(model, config.ema_decay)
    state = resume(out_dir / CHECKPOINT_FILE, fingerprint, config, model, optimizer, scheduler, averaged)
    state = state or TrainingState()
    evaluated = model if averaged is None else averaged.module
    while state.epoch < config.epochs and state.epochs_without_improvement < config.patience:
        epoch = state.epoch + 1
        started = time.perf_counter()
        train_loss = run_epoch(model, task, train_set, optimizer, config, epoch, device, bf16, out_dir, averaged)
        train_seconds = time.perf_counter() - started
        learning_rate = optimizer.param_groups[0]["lr"]
        scheduler.step()
        valid_metrics = evaluate(predict_split(
            evaluated, task, valid_set, config.eval_batch_size, device, bf16, config.eval_max_tokens
        ))
        epoch_seconds = time.perf_counter() - started
        score = valid_metrics[config.selection_metric]
        state.epoch = epoch
        if score > state.best_score:
            state.best_score, state.best_epoch, state.epochs_without_improvement = score, epoch, 0
            save_tensors(out_dir / BEST_MODEL_FILE, {"model": evaluated.state_dict(), "epoch": epoch})
        else:
            state.epochs_without_improvement += 1
        state.history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "learning_rate": learning_rate,
                "train_seconds": train_seconds,
                "epoch_seconds": epoch_seconds,
                "train_examples_per_second": len(train_set) / train_seconds,
                **{f"valid_{name}": value for name, value in valid_metrics.items() if isinstance(value, float)},
            }
        )
        save_checkpoint(out_dir / CHECKPOINT_FILE, fingerprint, model, optimizer, scheduler, averaged, state)
        write_json(out_dir / HISTORY_FILE, state.history)
        log.info(
            "epoch %d: train loss %.4f, valid %s %.4f (best %.4f at epoch %d), %.1f examples/s",
            epoch, train_loss, config.selection_metric, score, state.best_score, state.best_epoch,
            len(train_set) / train_seconds,
        )
        if on_epoch is not None:
            on_epoch(epoch, score)
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    if state.epochs_without_improvement >= config.patience:
        log.info(
            "early stopping after epoch %d: no better valid %s in %d epochs (best %.4f at epoch %d)",
            state.epoch, config.selection_metric, config.patience, state.best_score, state.best_epoch,
        )
    return state


def weight_average(model: nn.Module, decay: float | None) -> AveragedModel | None:
    """An exponential moving average of ``model``'s parameters (``None`` when ``decay`` is ``None``); its
    first update copies the weights."""
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def run_epoch(
    model: nn.Module,
    task: Task,
    examples: EncodedExamples,
    optimizer: torch.optim.Optimizer,
    config: TrainingConfig,
    epoch: int,
    device: torch.device,
    bf16: bool,
    out_dir: Path,
    averaged: AveragedModel | None = None,
) -> float:
    """One pass over the training split; the mean loss per batch. ``averaged`` (see :func:`weight_average`)
    is updated after every step. Raises :class:`TrainingDiverged`."""
    model.train()
    batches = training_batches(examples, config.batch_size, config.seed, epoch, config.pool_batches)
    total = 0.0
    # A progress bar on a terminal only: in a log file its carriage returns are noise (each epoch logs a line).
    progress = tqdm(batches, desc=f"epoch {epoch}", unit="batch", file=sys.stderr, disable=not sys.stderr.isatty())
    seen = 0
    started = time.perf_counter()
    for step, indices in enumerate(progress, start=1):
        batch = collate(examples, indices).to(device)
        with autocast(device, bf16):
            loss = task.loss(model, batch)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss.item()} at epoch {epoch}, batch {step}; the last good checkpoint "
                f"{out_dir / CHECKPOINT_FILE} (epoch {epoch - 1}) is kept. Lower training.learning_rate or "
                f"training.max_grad_norm and rerun"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(model)
        total += loss.item()
        seen += len(indices)
        progress.set_postfix(
            loss=f"{total / step:.4f}", ex_per_s=f"{seen / (time.perf_counter() - started):.1f}", refresh=False
        )
    return total / len(batches)


def save_tensors(target: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` through a temporary file, so a kill never leaves a truncated checkpoint. It is given an
    open file, not the temporary's path: torch names the archive's root folder after a path (here a random one),
    and equal tensors must give equal bytes (DVC hashes them)."""
    with atomic_path(target) as temporary, temporary.open("wb") as handle:
        torch.save(payload, handle)


def save_checkpoint(
    target: Path,
    fingerprint: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    averaged: AveragedModel | None,
    state: TrainingState,
) -> None:
    save_tensors(
        target,
        {
            "fingerprint": fingerprint,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "averaged_model": None if averaged is None else averaged.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "state": asdict(state),
        },
    )


def last_epoch_of(history: Sequence[dict[str, Any]], config: TrainingConfig) -> int | None:
    """The epoch of ``history`` at which a run with ``config``'s epochs and patience stops (the loop's own rule:
    after ``config.epochs``, or after ``config.patience`` epochs without a better validation score), or ``None``
    if it would train past the end of ``history``."""
    best, without_improvement = -math.inf, 0
    for entry in history:
        score = entry[f"valid_{config.selection_metric}"]
        best, without_improvement = (score, 0) if score > best else (best, without_improvement + 1)
        if entry["epoch"] >= config.epochs or without_improvement >= config.patience:
            return entry["epoch"]
    return None


def resume(
    source: Path,
    fingerprint: str,
    config: TrainingConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    averaged: AveragedModel | None,
) -> TrainingState | None:
    """Restore everything from ``source``; ``None`` when there is no checkpoint, one of another run, or one that
    trained past where this run stops (fewer epochs or less patience than the run that wrote it): resuming it
    would not give the result of an uninterrupted run."""
    if not source.is_file():
        return None
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    if checkpoint.get("fingerprint") != fingerprint:
        log.warning("%s was written by a run with other settings; training starts afresh", source)
        return None
    trained, stop = checkpoint["state"]["epoch"], last_epoch_of(checkpoint["state"]["history"], config)
    if stop is not None and trained > stop:
        log.warning("%s trained %d epochs, past epoch %d where this run stops; training starts afresh",
                    source, trained, stop)
        return None
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    if averaged is not None:
        averaged.load_state_dict(checkpoint["averaged_model"])
    torch.set_rng_state(checkpoint["torch_rng"])
    state = TrainingState(**checkpoint["state"])
    log.info("resuming from %s after epoch %d", source, state.epoch)
    return state
