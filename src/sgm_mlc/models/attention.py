"""The decoder's contextual attention over the encoder states: additive (Bahdanau) or bilinear (Luong).

Each step's query (the decoder output ``s_t``) scores every source position; the scores, softmaxed over the
real tokens, give the attention weights ``a_t`` ``(rows, src_len)`` and the context ``c_t = Σ_i a_ti h_i``.
Both are returned: the context feeds the next computations, the weights are kept for interpretability.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sgm_mlc.models.encoders import EncodedSource


@dataclass(frozen=True)
class SourceMemory:
    """The encoder states attention reads, one row per decoder row.

    ``states``: ``(rows, src_len, hidden)``; ``keys``: ``(rows, src_len, attention)``, what the scores read
    (for additive attention the states projected once per document, for bilinear attention the states
    themselves); ``mask``: ``(rows, src_len)`` bool, True at real tokens.
    """

    states: Tensor
    keys: Tensor
    mask: Tensor

    def repeat_interleave(self, repeats: int) -> SourceMemory:
        return SourceMemory(
            self.states.repeat_interleave(repeats, dim=0),
            self.keys.repeat_interleave(repeats, dim=0),
            self.mask.repeat_interleave(repeats, dim=0),
        )


class AdditiveAttention(nn.Module):
    """Bahdanau (additive) attention, as in SGM's equations: ``a_ti ∝ exp(v^T tanh(W_a s_t + U_a h_i))`` over
    the real source tokens, ``c_t = Σ_i a_ti h_i``. Each step costs a ``tanh`` over ``(rows, src_len,
    attention)``."""

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.query_projection = nn.Linear(query_size, attention_size, bias=False)  # W_a
        self.memory_projection = nn.Linear(memory_size, attention_size)  # U_a
        self.score = nn.Linear(attention_size, 1, bias=False)  # v

    def memory(self, encoded: EncodedSource) -> SourceMemory:
        """The encoder states with their projected keys ``U_a h_i``, computed once per document."""
        return SourceMemory(encoded.states, self.memory_projection(encoded.states), encoded.mask)

    def forward(self, query: Tensor, memory: SourceMemory) -> tuple[Tensor, Tensor]:
        """``query`` ``(rows, query_size)`` → context ``(rows, memory_size)`` and weights ``(rows, src_len)``."""
        energies = self.score(torch.tanh(memory.keys + self.query_projection(query).unsqueeze(1))).squeeze(2)
        return attend(energies, memory)


class BilinearAttention(nn.Module):
    """Luong's "general" (bilinear) attention, as in SGM's released code: ``a_ti ∝ exp(h_i^T W_a s_t)`` over
    the real source tokens, ``c_t = Σ_i a_ti h_i``. Each step costs one batched matrix-vector product, so it
    decodes long documents faster than :class:`AdditiveAttention`."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        self.query_projection = nn.Linear(query_size, memory_size)  # W_a

    def memory(self, encoded: EncodedSource) -> SourceMemory:
        """The encoder states, which are their own keys."""
        return SourceMemory(encoded.states, encoded.states, encoded.mask)

    def forward(self, query: Tensor, memory: SourceMemory) -> tuple[Tensor, Tensor]:
        """``query`` ``(rows, query_size)`` → context ``(rows, memory_size)`` and weights ``(rows, src_len)``."""
        energies = torch.bmm(memory.keys, self.query_projection(query).unsqueeze(2)).squeeze(2)
        return attend(energies, memory)


def attend(energies: Tensor, memory: SourceMemory) -> tuple[Tensor, Tensor]:
    """The weights ``softmax(energies)`` ``(rows, src_len)`` over the real tokens (0 at padding), and the
    context ``(rows, hidden)``, the memory states averaged under them: ``(context, weights)``."""
    weights = energies.masked_fill(~memory.mask, float("-inf")).softmax(dim=1)
    return torch.bmm(weights.unsqueeze(1), memory.states).squeeze(1), weights


def contextual_attention_module(kind: str, hidden_size: int) -> AdditiveAttention | BilinearAttention:
    """The decoder's attention over the encoder states: ``additive`` or ``bilinear``."""
    if kind == "additive":
        return AdditiveAttention(hidden_size, hidden_size, hidden_size)
    if kind == "bilinear":
        return BilinearAttention(hidden_size, hidden_size)
    raise ValueError(f"unknown attention {kind!r}; choose 'additive' or 'bilinear'")
