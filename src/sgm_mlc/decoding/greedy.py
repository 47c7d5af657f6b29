"""Greedy decoding: the most probable label at every step."""

from __future__ import annotations

import torch

from sgm_mlc.decoding.base import DecodeResult, DecodeStrategy, SequenceModel, end_not_before
from sgm_mlc.models.label_ids import BOS, EOS, PAD_LABEL, mark_emitted
from sgm_mlc.models.sgm import DecoderState


class GreedySearch(DecodeStrategy):
    """Emit the arg-max label at every step, for the whole batch at once, until every sequence has emitted
    ``EOS`` or ``max_length`` steps have run."""

    def _search(self, model: SequenceModel, state: DecoderState, max_length: int, min_labels: int) -> DecodeResult:
        batch = state.rows
        device = state.device
        previous = torch.full((batch,), BOS, dtype=torch.long, device=device)
        emitted = torch.zeros(batch, model.n_label_ids, dtype=torch.bool, device=device)
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        tokens, token_log_probs = [], []
        for step in range(max_length):
            log_probs, state = model.step(state, previous, emitted)
            log_probs = end_not_before(log_probs, step, min_labels)
            best_log_probs, best = log_probs.max(dim=1)
            best = best.masked_fill(finished, PAD_LABEL)
            tokens.append(best)
            token_log_probs.append(best_log_probs.masked_fill(finished, 0.0))
            finished |= best == EOS
            emitted = mark_emitted(emitted, best)
            previous = best
            if finished.all():
                break
        step_log_probs = torch.stack(token_log_probs, dim=1)
        return DecodeResult.from_steps(torch.stack(tokens, dim=1), step_log_probs, step_log_probs.sum(dim=1))
