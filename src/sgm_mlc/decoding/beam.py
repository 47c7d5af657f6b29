"""Batched beam search: the whole batch's hypotheses advance together as ``(batch * beam_size, …)`` tensors."""

from __future__ import annotations

import torch
from torch import Tensor

from sgm_mlc.decoding.base import DecodeResult, DecodeStrategy, SequenceModel, end_not_before
from sgm_mlc.models.label_ids import BOS, EOS, PAD_LABEL, mark_emitted
from sgm_mlc.models.sgm import DecoderState


class FinishedHypotheses:
    """The ``beam_size`` best-scored finished hypotheses of every document, best first.

    ``scores``: ``(batch, beam_size)``, ``-inf`` for empty slots; ``tokens``: ``(batch, beam_size,
    max_length)`` label ids, ``PAD_LABEL`` after the end; ``log_probs``: the matching step log-probabilities
    (0 after the end).
    """

    def __init__(self, batch: int, beam_size: int, max_length: int, device: torch.device) -> None:
        self.scores = torch.full((batch, beam_size), float("-inf"), device=device)
        self.tokens = torch.full((batch, beam_size, max_length), PAD_LABEL, dtype=torch.long, device=device)
        self.log_probs = torch.zeros(batch, beam_size, max_length, device=device)

    @property
    def worst_scores(self) -> Tensor:
        """``(batch,)``: the score a new hypothesis must beat to enter (``-inf`` while slots are empty)."""
        return self.scores[:, -1]

    def add(self, scores: Tensor, tokens: Tensor, log_probs: Tensor) -> None:
        """Offer hypotheses ``scores`` ``(batch, n)`` (``-inf``: not finished), ``tokens`` and ``log_probs``
        ``(batch, n, max_length)``; every document keeps its ``beam_size`` best."""
        self.scores, best = torch.cat([self.scores, scores], dim=1).topk(self.scores.size(1), dim=1)
        self.tokens = _gather_rows(torch.cat([self.tokens, tokens], dim=1), best)
        self.log_probs = _gather_rows(torch.cat([self.log_probs, log_probs], dim=1), best)

    def best(self) -> DecodeResult:
        return DecodeResult.from_steps(self.tokens[:, 0], self.log_probs[:, 0], self.scores[:, 0])


def _gather_rows(values: Tensor, indices: Tensor) -> Tensor:
    """``values[b, indices[b, i]]`` for ``values`` ``(batch, n, length)`` and ``indices`` ``(batch, k)`` →
    ``(batch, k, length)``."""
    return values.gather(1, indices.unsqueeze(2).expand(-1, -1, values.size(2)))


class BeamSearch(DecodeStrategy):
    """Keep the ``beam_size`` best live hypotheses of every document; return each document's best finished one.

    At each step every live hypothesis is extended by every label id (the model gives ``-inf`` to masked ids:
    with label masking no hypothesis repeats a label); the top ``2 * beam_size`` extensions per document are taken from its
    ``beam_size * n_label_ids``. Of these, those among the first ``beam_size`` that end — with ``EOS``, or at
    the last step, where a hypothesis is finished as is — enter the document's finished hypotheses; the best
    ``beam_size`` that do not end stay live. A document is done when its ``beam_size`` finished hypotheses all
    score at least its best live one, and the search stops when every document is done or after
    ``max_length`` steps. With ``beam_size=1`` this is greedy search.

    Scores are sums of step log-probabilities; with ``length_normalization`` a finished hypothesis is ranked by
    its score divided by its number of steps (labels plus ``EOS``). Without it the stopping rule is exact (a
    live hypothesis's score can only fall); with it the rule compares the best live hypothesis's current
    normalised score, a heuristic, as in most toolkits.
    """

    def __init__(self, beam_size: int, length_normalization: bool = False) -> None:
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        self.beam_size = beam_size
        self.length_normalization = length_normalization

    def _ranked(self, scores: Tensor, steps: int) -> Tensor:
        return scores / steps if self.length_normalization else scores

    def _search(self, model: SequenceModel, state: DecoderState, max_length: int, min_labels: int) -> DecodeResult:
        batch, beam, n_label_ids = state.rows, self.beam_size, model.n_label_ids
        device = state.device
        state = state.repeat_interleave(beam)
        # Only the first hypothesis of a document is live at the start; the others are copies, kept out.
        live_scores = torch.full((batch, beam), float("-inf"), device=device)
        live_scores[:, 0] = 0.0
        previous = torch.full((batch * beam,), BOS, dtype=torch.long, device=device)
        emitted = torch.zeros(batch * beam, n_label_ids, dtype=torch.bool, device=device)
        history = torch.full((batch * beam, max_length), PAD_LABEL, dtype=torch.long, device=device)
        history_log_probs = torch.zeros(batch * beam, max_length, device=device)
        finished = FinishedHypotheses(batch, beam, max_length, device)
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        first_row = torch.arange(batch, device=device).unsqueeze(1) * beam  # (batch, 1)
        n_candidates = min(2 * beam, beam * n_label_ids)
        within_beam = torch.arange(n_candidates, device=device) < beam
        for step in range(max_length):
            log_probs, state = model.step(state, previous, emitted)  # (batch * beam, n_label_ids)
            log_probs = end_not_before(log_probs, step, min_labels)
            totals = (live_scores.view(-1, 1) + log_probs).view(batch, beam * n_label_ids)
            candidate_scores, flat_index = totals.topk(n_candidates, dim=1)  # (batch, n_candidates), best first
            rows = first_row + flat_index // n_label_ids  # the live row each candidate extends
            labels = flat_index % n_label_ids
            candidate_tokens = history[rows]  # (batch, n_candidates, max_length)
            candidate_tokens[..., step] = labels
            candidate_log_probs = history_log_probs[rows]
            candidate_log_probs[..., step] = log_probs[rows, labels]

            ends = (labels == EOS) | (step == max_length - 1)
            finishing = ends & within_beam & candidate_scores.isfinite() & ~done.unsqueeze(1)
            finishing_scores = self._ranked(candidate_scores, step + 1).masked_fill(~finishing, float("-inf"))
            finished.add(finishing_scores, candidate_tokens, candidate_log_probs)

            live_scores, kept = candidate_scores.masked_fill(ends, float("-inf")).topk(beam, dim=1)
            kept_rows = rows.gather(1, kept).flatten()
            previous = labels.gather(1, kept).flatten()
            history = _gather_rows(candidate_tokens, kept).flatten(0, 1)
            history_log_probs = _gather_rows(candidate_log_probs, kept).flatten(0, 1)
            state = state.reorder(kept_rows)
            emitted = mark_emitted(emitted[kept_rows], previous)

            done |= self._ranked(live_scores[:, 0], step + 1) <= finished.worst_scores
            if done.all():
                break
        return finished.best()
