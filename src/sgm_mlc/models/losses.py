"""Training losses: the sequence NLL of a sequence model, and binary cross-entropy set losses.

The paper trains with a binary cross-entropy loss "considering the generated label sequences"; for a sequence
model that needs a per-label probability, taken here as the largest probability the label gets at any step of
the gold sequence (:func:`set_bce_from_sequence`).
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from sgm_mlc.models.label_ids import FIRST_LABEL, PAD_LABEL

LOSS_KINDS = ("sequence", "set", "sequence+set")
PROBABILITY_EPSILON = 1e-6


def sequence_nll(log_probs: Tensor, tgt_out: Tensor) -> Tensor:
    """Mean negative log-likelihood of the gold labels ``tgt_out`` ``(batch, tgt_len)`` (``EOS`` included,
    ``PAD_LABEL`` positions ignored) under ``log_probs`` ``(batch, tgt_len, n_label_ids)``."""
    return F.nll_loss(log_probs.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_LABEL)


def set_bce(logits: Tensor, multi_hot: Tensor) -> Tensor:
    """Binary cross-entropy of a set classifier's ``logits`` ``(batch, n_labels)`` against ``multi_hot``
    ``(batch, n_labels)``, averaged over documents and labels."""
    return F.binary_cross_entropy_with_logits(logits, multi_hot.to(logits.dtype))


def set_bce_from_sequence(log_probs: Tensor, tgt_out: Tensor, multi_hot: Tensor) -> Tensor:
    """Binary cross-entropy of a sequence model, averaged over documents and labels.

    Label ``j``'s probability is the maximum over the steps of the gold sequence (the non-``PAD_LABEL``
    positions of ``tgt_out`` ``(batch, tgt_len)``, ``EOS`` step included) of its step probability in
    ``log_probs`` ``(batch, tgt_len, n_label_ids)``: a label the decoder would emit at some step counts as
    predicted. Probabilities are clamped to ``[ε, 1 − ε]`` (``ε = 1e-6``) so the logarithms stay finite.
    ``multi_hot``: ``(batch, n_labels)``.
    """
    step_probs = log_probs[..., FIRST_LABEL:].exp()  # (batch, tgt_len, n_labels)
    step_probs = step_probs.masked_fill((tgt_out == PAD_LABEL).unsqueeze(2), 0.0)
    label_probs = step_probs.amax(dim=1).clamp(PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
    return F.binary_cross_entropy(label_probs, multi_hot.to(label_probs.dtype))


def combined_loss(kind: str, log_probs: Tensor, tgt_out: Tensor, multi_hot: Tensor) -> Tensor:
    """A sequence model's training loss: ``"sequence"`` (:func:`sequence_nll`), ``"set"``
    (:func:`set_bce_from_sequence`) or ``"sequence+set"`` (their sum)."""
    if kind == "sequence":
        return sequence_nll(log_probs, tgt_out)
    if kind == "set":
        return set_bce_from_sequence(log_probs, tgt_out, multi_hot)
    if kind == "sequence+set":
        return sequence_nll(log_probs, tgt_out) + set_bce_from_sequence(log_probs, tgt_out, multi_hot)
    raise ValueError(f"unknown loss kind {kind!r}; known kinds: {', '.join(LOSS_KINDS)}")
