"""The label id space of the sequence models, and the tensors built from label sequences.

A dataset's labels are indexed ``0 … n_labels - 1`` in the ranking of the chosen label order. Sequence models
add three special ids in front: label index ``j`` has id ``FIRST_LABEL + j``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

PAD_LABEL = 0
BOS = 1
EOS = 2
FIRST_LABEL = 3


def n_label_ids(n_labels: int) -> int:
    """Size of the id space: the special ids and ``n_labels`` real labels."""
    return FIRST_LABEL + n_labels


def mark_emitted(emitted: Tensor, labels: Tensor) -> Tensor:
    """``emitted`` with each row's label from ``labels`` added, when it is a real label.

    ``emitted`` is a bool mask ``(rows, n_label_ids)`` of the real labels each row has emitted so far and
    ``labels`` ``(rows,)`` the ids emitted at this step; special ids (``PAD_LABEL``, ``BOS``, ``EOS``) are never
    marked, so ``EOS`` stays available to every row.
    """
    is_real = (labels >= FIRST_LABEL).unsqueeze(1)
    return emitted | (torch.nn.functional.one_hot(labels, emitted.size(1)).bool() & is_real)


def teacher_forcing_targets(label_sequences: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Decoder inputs and targets for label sequences given as label indices (``0 … n_labels - 1``).

    Returns ``tgt_in = [BOS, l1, …, lk]`` and ``tgt_out = [l1, …, lk, EOS]`` in label ids, right-padded with
    ``PAD_LABEL``: two LongTensors ``(batch, 1 + longest sequence)``.
    """
    length = 1 + max(len(sequence) for sequence in label_sequences)
    tgt_in = torch.full((len(label_sequences), length), PAD_LABEL, dtype=torch.long)
    tgt_out = torch.full_like(tgt_in, PAD_LABEL)
    for row, sequence in enumerate(label_sequences):
        ids = torch.as_tensor(sequence, dtype=torch.long) + FIRST_LABEL
        tgt_in[row, 0] = BOS
        tgt_in[row, 1 : 1 + len(ids)] = ids
        tgt_out[row, : len(ids)] = ids
        tgt_out[row, len(ids)] = EOS
    return tgt_in, tgt_out


def multi_hot(label_sequences: Sequence[Sequence[int]], n_labels: int) -> Tensor:
    """Float targets ``(batch, n_labels)``: 1 where the document has label index ``j``."""
    targets = torch.zeros(len(label_sequences), n_labels)
    for row, sequence in enumerate(label_sequences):
        targets[row, list(sequence)] = 1.0
    return targets
