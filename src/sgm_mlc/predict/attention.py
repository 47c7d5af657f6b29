"""Which words each emitted label attended to.

A sequence model in eval mode, teacher-forced on ``BOS`` and its own decoded labels, replays the decoding's
steps (:meth:`SGM.forward <sgm_mlc.models.sgm.SGM.forward>` with ``return_attention``): step ``i`` is the step
that emitted label ``i``, and the step after the last label the one that emitted ``EOS``. Whatever strategy
decoded (greedy or beam), the replay gives the contextual attention each label was scored with, and the
probability of the ``EOS`` that ended the sequence.

A model without label masking whose decoding repeated a label has its repeats dropped from the prediction
(:meth:`~sgm_mlc.decoding.base.DecodeResult.from_steps`); its replay runs on the sequence without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sgm_mlc.models.label_ids import EOS
from sgm_mlc.models.sgm import SGM
from sgm_mlc.training.batches import EncodedExamples, collate, evaluation_batches
from sgm_mlc.training.device import autocast


@dataclass(frozen=True)
class Replay:
    """One document's replayed decoding: ``attention`` ``(labels + 1, words)``, row ``i`` the attention of the
    step that emitted label ``i`` over the document's (truncated) words, the last row the ``EOS`` step's;
    ``end_probability``: the probability of that ``EOS``."""

    attention: np.ndarray
    end_probability: float


def replay_decoding(
    model: SGM,
    examples: EncodedExamples,
    batch_size: int,
    device: torch.device,
    bf16: bool,
    max_tokens: int | None = None,
) -> list[Replay]:
    """Replay every document of ``examples``, whose ``labels`` are the decoded sequences (label indices), in
    the batches evaluation uses (:func:`~sgm_mlc.training.batches.evaluation_batches`)."""
    model.eval()
    replays: list[Replay | None] = [None] * len(examples)
    with torch.no_grad(), autocast(device, bf16):
        for indices in evaluation_batches(examples, batch_size, max_tokens):
            batch = collate(examples, indices).to(device)
            log_probs, attention = model(batch.src, batch.src_lengths, batch.tgt_in, return_attention=True)
            log_probs, attention = log_probs.float().cpu(), attention.float().cpu()
            for row, index in enumerate(batch.indices):
                steps, words = len(examples.labels[index]) + 1, len(examples.words[index])
                replays[index] = Replay(
                    attention[row, :steps, :words].numpy(), float(log_probs[row, steps - 1, EOS].exp())
                )
    return replays


def attended_words(weights: np.ndarray, tokens: Sequence[str], top: int) -> list[tuple[str, float]]:
    """The ``top`` words with the most attention ``weights`` ``(positions,)``, each word's weights summed over
    its occurrences, most attended first (ties: first occurrence first). Positions past ``tokens`` (the
    unknown-word stand-in of an empty document) count for no word."""
    totals: dict[str, float] = {}
    for token, weight in zip(tokens, weights.tolist()):
        totals[token] = totals.get(token, 0.0) + weight
    return sorted(totals.items(), key=lambda item: -item[1])[:top]
