"""What "loss" and "prediction" mean for the two kinds of neural model.

* :class:`SequenceTask` (``sgm``, ``seq2seq``): teacher-forced sequence loss (optionally with the set loss),
  and predictions decoded label by label (greedy or batched beam search);
* :class:`SetTask` (``br_neural``, ``cnn``): binary cross-entropy over independent sigmoid outputs, and the
  labels whose probability passes a threshold, most probable first.

Both also give every label a score, for ranking metrics (mAP, top-k) and decision rules: a set model its sigmoid
probability; a sequence model, for each label, the highest probability it gives that label at any step of the
decoded sequence replayed with teacher forcing (each label step and the end step), the max-over-steps rule of the
CNN-RNN image taggers (Wang et al., CVPR 2016). A label the decoder emitted scores at least its emission
probability; one it did not emit scores how close it came. A sequence model trained with a set loss learns these
very scores as probabilities (:func:`~sgm_mlc.models.losses.set_bce_from_sequence`, over the gold sequence).

The evaluation fits a decision rule (:mod:`sgm_mlc.decision`) on the validation split's scores: a set model's
predictions are then the rule's, and :class:`SetTask`'s threshold remains the rule ``fixed`` and the cut of the
per-epoch validation that selects the best epoch. A sequence model keeps its decoded labels as its prediction;
trained with a set loss, the rule fitted on its scores is reported beside them, not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from sgm_mlc.decoding.beam import BeamSearch
from sgm_mlc.decoding.greedy import GreedySearch
from sgm_mlc.models.label_ids import FIRST_LABEL, PAD_LABEL, teacher_forcing_targets
from sgm_mlc.models.losses import combined_loss, set_bce
from sgm_mlc.training.batches import Batch


@dataclass(frozen=True)
class Prediction:
    """One example's predicted label ids, distinct and in emission order, with the probability of each at its
    step (a sequence model that may repeat labels has its repeats dropped by
    :meth:`~sgm_mlc.decoding.base.DecodeResult.from_steps`)."""

    labels: tuple[int, ...]
    step_probabilities: tuple[float, ...]
    label_scores: tuple[float, ...] = ()  # one per label index 0 … n_labels - 1 (see the module docstring)


class Task(Protocol):
    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor: ...

    def predict(self, model: nn.Module, batch: Batch) -> list[Prediction]: ...


@dataclass(frozen=True)
class SequenceTask:
    """``loss_kind`` is ``sequence``, ``set`` or ``sequence+set``; ``beam_size`` 1 decodes greedily; every
    decoded sequence holds at least ``min_labels`` labels; ``label_scores`` adds each label's score to the
    predictions (one more, teacher-forced, pass)."""

    loss_kind: str
    beam_size: int
    max_decode_length: int
    label_scores: bool = False
    min_labels: int = 0

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        log_probs = model(batch.src, batch.src_lengths, batch.tgt_in)
        return combined_loss(self.loss_kind, log_probs, batch.tgt_out, batch.multi_hot)

    def predict(self, model: nn.Module, batch: Batch) -> list[Prediction]:
        strategy = GreedySearch() if self.beam_size == 1 else BeamSearch(beam_size=self.beam_size)
        result = strategy.decode(model, batch.src, batch.src_lengths, self.max_decode_length, self.min_labels)
        if not self.label_scores:
            return [
                Prediction(tuple(labels), tuple(probabilities))
                for labels, probabilities in zip(result.labels, result.step_probabilities)
            ]
        indices = [[label - FIRST_LABEL for label in labels] for labels in result.labels]
        scores = replayed_label_scores(model, batch, indices)
        return [
            Prediction(tuple(labels), tuple(probabilities), tuple(row))
            for labels, probabilities, row in zip(result.labels, result.step_probabilities, scores.tolist())
        ]


@dataclass(frozen=True)
class SetTask:
    """Labels with sigmoid probability >= ``threshold``, ordered by probability (highest first): the model's own
    cut (``training.set_threshold``), which selects the best epoch; evaluation applies the fitted decision rule."""

    threshold: float = 0.5

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return set_bce(model(batch.src, batch.src_lengths), batch.multi_hot)

    def predict(self, model: nn.Module, batch: Batch) -> list[Prediction]:
        probabilities = torch.sigmoid(model(batch.src, batch.src_lengths).float()).cpu()
        predictions = []
        for row in probabilities:
            ranked = torch.argsort(row, descending=True, stable=True)
            chosen = [int(j) for j in ranked if row[j] >= self.threshold]
            predictions.append(
                Prediction(tuple(FIRST_LABEL + j for j in chosen), tuple(float(row[j]) for j in chosen), tuple(row.tolist()))
            )
        return predictions


def replayed_label_scores(model: nn.Module, batch: Batch, label_sequences: list[list[int]]) -> torch.Tensor:
    """``(batch, n_labels)``: each label's highest probability over the steps of ``label_sequences`` (label
    indices, one decoded sequence per row of ``batch``) replayed with teacher forcing, the end step included."""
    tgt_in, tgt_out = (tensor.to(batch.src.device) for tensor in teacher_forcing_targets(label_sequences))
    probabilities = model(batch.src, batch.src_lengths, tgt_in).float().exp()
    steps = (tgt_out != PAD_LABEL).unsqueeze(2)  # (batch, steps, 1): each label step and the end step
    return probabilities.masked_fill(~steps, 0.0).amax(dim=1)[:, FIRST_LABEL:].cpu()
