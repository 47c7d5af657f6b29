"""Neural set classifiers: one independent sigmoid per label (binary relevance), trained with BCE.

Both return logits ``(batch, n_labels)`` over the real labels only (index ``j`` is label id ``FIRST_LABEL + j``
of the sequence models).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sgm_mlc.models.encoders import WORD_PAD, Encoder, length_mask, pretrained_embedding

POOLINGS = ("max", "mean")


def masked_max(values: Tensor, mask: Tensor) -> Tensor:
    """Maximum over dim 1 of ``values`` ``(batch, length, features)`` where ``mask`` ``(batch, length)`` is
    True (every row needs at least one True) → ``(batch, features)``."""
    return values.masked_fill(~mask.unsqueeze(2), float("-inf")).amax(dim=1)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over dim 1 of ``values`` ``(batch, length, features)`` where ``mask`` ``(batch, length)`` is True
    → ``(batch, features)``."""
    weights = mask.unsqueeze(2).to(values.dtype)
    return (values * weights).sum(dim=1) / weights.sum(dim=1)


class BRNeural(nn.Module):
    """The shared :class:`~sgm_mlc.models.encoders.Encoder`, pooled over the real tokens (``pooling``:
    ``"max"``, element-wise maximum, or ``"mean"``), then dropout and a linear layer to ``n_labels`` logits."""

    def __init__(self, encoder: Encoder, n_labels: int, pooling: str = "max", dropout: float = 0.0) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; known poolings: {', '.join(POOLINGS)}")
        self.encoder = encoder
        self.pool = masked_max if pooling == "max" else masked_mean
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(encoder.hidden_size, n_labels)

    def forward(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        """``src`` ``(batch, src_len)``, ``src_lengths`` ``(batch,)`` → logits ``(batch, n_labels)``."""
        encoded = self.encoder(src, src_lengths)
        return self.output(self.dropout(self.pool(encoded.states, encoded.mask)))


class KimCNN(nn.Module):
    """Kim (2014): word embeddings → parallel ``Conv1d`` of each kernel size with ``num_filters`` filters →
    ReLU → max over time → dropout → linear layer to ``n_labels`` logits.

    The maximum runs over the windows that lie inside the document. A document shorter than a kernel has one
    window, its padded start (padding embeddings are zero); ``src`` is padded to the widest kernel for that.
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        n_labels: int,
        num_filters: int = 100,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        dropout: float = 0.0,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.embedding = pretrained_embedding(embeddings, freeze=freeze_embeddings)
        self.kernel_sizes = tuple(kernel_sizes)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(self.embedding.embedding_dim, num_filters, kernel_size) for kernel_size in self.kernel_sizes
        )
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(num_filters * len(self.kernel_sizes), n_labels)

    def forward(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        """``src`` ``(batch, src_len)``, ``src_lengths`` ``(batch,)`` → logits ``(batch, n_labels)``."""
        shortfall = max(self.kernel_sizes) - src.size(1)
        if shortfall > 0:
            src = F.pad(src, (0, shortfall), value=WORD_PAD)
        embedded = self.embedding(src).transpose(1, 2)  # (batch, emb, src_len)
        pooled = []
        for kernel_size, convolution in zip(self.kernel_sizes, self.convolutions):
            features = torch.relu(convolution(embedded)).transpose(1, 2)  # (batch, windows, filters)
            windows = (src_lengths.to(src.device) - kernel_size + 1).clamp(min=1)
            pooled.append(masked_max(features, length_mask(windows, features.size(1))))
        return self.output(self.dropout(torch.cat(pooled, dim=1)))
