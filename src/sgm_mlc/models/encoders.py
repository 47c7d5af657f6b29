"""The document encoder shared by SGM, Seq2Seq and the neural binary-relevance classifier.

Word ids → pre-trained word embeddings → (bi)directional multi-layer LSTM over packed sequences → optional
multi-head self-attention over the LSTM states (residual connection and layer normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

WORD_PAD = 0


def pretrained_embedding(vectors: np.ndarray, freeze: bool) -> nn.Embedding:
    """An embedding layer initialised from ``vectors`` ``(vocab_size, emb_dim)`` (row 0, padding, zeros).

    The padding row gets no gradient, so it stays zero when the other rows are fine-tuned.
    """
    return nn.Embedding.from_pretrained(
        torch.tensor(vectors, dtype=torch.float32), freeze=freeze, padding_idx=WORD_PAD
    )


def length_mask(lengths: Tensor, max_length: int) -> Tensor:
    """Bool mask ``(batch, max_length)``, True at the first ``lengths[b]`` positions of row ``b``."""
    return torch.arange(max_length, device=lengths.device) < lengths.unsqueeze(1)


@dataclass(frozen=True)
class EncodedSource:
    """What the encoder hands to a decoder or a classifier head.

    ``states``: ``(batch, src_len, hidden)``, one vector per token (values at padded positions are
    meaningless: consumers apply ``mask``); ``mask``: ``(batch, src_len)`` bool, True at real tokens;
    ``summary``: ``(batch, hidden)``, the top LSTM layer's final states (forward direction at the last real
    token, backward direction at the first), concatenated.
    """

    states: Tensor
    mask: Tensor
    summary: Tensor


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention with a residual connection and layer normalisation:
    ``LayerNorm(x + Dropout(MultiHead(x, x, x)))``, padded keys masked out."""

    def __init__(self, hidden_size: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(hidden_size, heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, states: Tensor, mask: Tensor) -> Tensor:
        """``states`` ``(batch, src_len, hidden)``, ``mask`` ``(batch, src_len)`` (True at real tokens) →
        ``(batch, src_len, hidden)``."""
        attended, _ = self.attention(states, states, states, key_padding_mask=~mask, need_weights=False)
        return self.norm(states + self.dropout(attended))


class Encoder(nn.Module):
    """Embedding → packed (bi)LSTM → optional self-attention.

    ``hidden_size`` is the size of the output states; a bidirectional LSTM gives each direction half of it
    (so it must be even). ``dropout`` applies to the embeddings, between LSTM layers, to the LSTM output and
    inside self-attention.
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        hidden_size: int,
        encoder_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        self_attention: bool = False,
        attention_heads: int = 1,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        directions = 2 if bidirectional else 1
        if hidden_size % directions:
            raise ValueError(f"a bidirectional encoder needs an even hidden_size, got {hidden_size}")
        self.hidden_size = hidden_size
        self.directions = directions
        self.embedding = pretrained_embedding(embeddings, freeze=freeze_embeddings)
        self.rnn = nn.LSTM(
            self.embedding.embedding_dim,
            hidden_size // directions,
            num_layers=encoder_layers,
            bidirectional=bidirectional,
            dropout=dropout if encoder_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(dropout)
        self.self_attention = SelfAttention(hidden_size, attention_heads, dropout) if self_attention else None

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncodedSource:
        """``src`` ``(batch, src_len)`` word ids right-padded with 0, ``src_lengths`` ``(batch,)`` (>= 1)."""
        embedded = self.dropout(self.embedding(src))
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_states, (final_hidden, _) = self.rnn(packed)
        states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=src.size(1))
        states = self.dropout(states)
        mask = length_mask(src_lengths.to(src.device), src.size(1))
        if self.self_attention is not None:
            states = self.self_attention(states, mask)
        # final_hidden: (layers * directions, batch, hidden / directions); keep the top layer's directions.
        top_layer = final_hidden[-self.directions :]
        summary = top_layer.transpose(0, 1).reshape(src.size(0), self.hidden_size)
        return EncodedSource(states=states, mask=mask, summary=summary)
