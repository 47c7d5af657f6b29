"""The interface of the decoding strategies, and the result they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from sgm_mlc.models.encoders import EncodedSource
from sgm_mlc.models.label_ids import EOS, PAD_LABEL
from sgm_mlc.models.sgm import DecoderState


class SequenceModel(Protocol):
    """What a decoding strategy needs from a model (:class:`~sgm_mlc.models.sgm.SGM` provides it)."""

    n_label_ids: int
    max_decode_length: int

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncodedSource: ...

    def init_decoder(self, encoded: EncodedSource) -> DecoderState: ...

    def step(
        self, state: DecoderState, previous_labels: Tensor, emitted_mask: Tensor
    ) -> tuple[Tensor, DecoderState]: ...


@dataclass(frozen=True)
class DecodeResult:
    """One decoded label sequence per document.

    ``labels[b]``: distinct label ids in emission order, ``EOS`` stripped; ``step_probabilities[b][i]``: the
    probability of ``labels[b][i]`` at its step; ``end_probabilities[b]``: the probability of the ``EOS`` that
    ended the sequence, or 1.0 when the step limit cut it (no ``EOS`` step was scored); ``scores[b]``: the
    score the strategy ranked the sequence by — its log-probability, the sum of the logarithms of the step and
    end probabilities (divided by the number of steps under length normalisation).

    A model without label masking may emit a label twice; :meth:`from_steps` keeps its first emission only,
    so predictions stay sets. The score then still counts the dropped steps.
    """

    labels: list[list[int]]
    step_probabilities: list[list[float]]
    end_probabilities: list[float]
    scores: list[float]

    @classmethod
    def from_steps(cls, tokens: Tensor, step_log_probs: Tensor, scores: Tensor) -> DecodeResult:
        """Collect sequences from ``tokens`` ``(batch, steps)`` — label ids, each row ending at its first
        ``EOS`` or ``PAD_LABEL`` or at the last step — their ``step_log_probs`` ``(batch, steps)`` and
        ``scores`` ``(batch,)``. This is where repeated labels are dropped (the first emission is kept, with
        its probability)."""
        labels, step_probabilities, end_probabilities = [], [], []
        for row_tokens, row_log_probs in zip(tokens.tolist(), step_log_probs.exp().tolist()):
            ends = [i for i, token in enumerate(row_tokens) if token in (EOS, PAD_LABEL)]
            length = ends[0] if ends else len(row_tokens)
            first_steps = {}  # label → its first step, in emission order
            for step, token in enumerate(row_tokens[:length]):
                first_steps.setdefault(token, step)
            labels.append(list(first_steps))
            step_probabilities.append([row_log_probs[step] for step in first_steps.values()])
            ended_by_eos = length < len(row_tokens) and row_tokens[length] == EOS
            end_probabilities.append(row_log_probs[length] if ended_by_eos else 1.0)
        return cls(labels, step_probabilities, end_probabilities, scores.tolist())


class DecodeStrategy(ABC):
    """Turns a sequence model's step distributions into one label sequence per document.

    Call ``model.eval()`` first: strategies leave the model's mode alone. ``PAD_LABEL`` and ``BOS`` are never
    emitted. With label masking no label is emitted twice (the model masks the labels each hypothesis has
    emitted); without it a hypothesis may repeat labels, even loop on one, until ``EOS`` or the step limit, and
    :meth:`DecodeResult.from_steps` drops the repeats.
    """

    @torch.no_grad()
    def decode(
        self,
        model: SequenceModel,
        src: Tensor,
        src_lengths: Tensor,
        max_length: int | None = None,
        min_labels: int = 0,
    ) -> DecodeResult:
        """Decode the documents ``src`` ``(batch, src_len)`` with ``src_lengths`` ``(batch,)`` in at most
        ``max_length`` steps (labels plus ``EOS``; default ``model.max_decode_length``), each sequence holding
        at least ``min_labels`` labels (see :func:`end_not_before`)."""
        max_length = model.max_decode_length if max_length is None else max_length
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        if min_labels < 0:
            raise ValueError(f"min_labels must be at least 0, got {min_labels}")
        return self._search(model, model.init_decoder(model.encode(src, src_lengths)), max_length, min_labels)

    @abstractmethod
    def _search(self, model: SequenceModel, state: DecoderState, max_length: int, min_labels: int) -> DecodeResult:
        """Decode from the initial ``state`` (one row per document)."""


def end_not_before(log_probs: Tensor, step: int, min_labels: int) -> Tensor:
    """The step's ``log_probs`` ``(rows, n_label_ids)`` with ``EOS`` made impossible while fewer than
    ``min_labels`` labels have been emitted (``step`` < ``min_labels``), in the rows where another label is
    still possible; the other ids keep the model's log-probabilities (not renormalised), so scores stay the
    model's log-probabilities of the sequences."""
    if step >= min_labels:
        return log_probs
    ended = log_probs.index_fill(1, torch.tensor([EOS], device=log_probs.device), float("-inf"))
    return torch.where(ended.isfinite().any(dim=1, keepdim=True), ended, log_probs)
