"""The document encoder shared by SGM, Seq2Seq and the neural binary-relevance classifier.

Word ids → pre-trained word embeddings → (bi)directional multi-layer LSTM that never reads padding →
optional multi-head self-attention over the LSTM states (residual connection and layer normalisation).

A bidirectional encoder merges its two directions (``direction_merge``) by concatenating them (``concat``: each
direction has half of ``hidden_size``) or by summing them (``sum``: each direction has ``hidden_size`` units, as
in SGM's released code, which sums the two halves of a bidirectional ``nn.LSTM``'s output).

Images have their own encoder, :class:`RegionEncoder`: an image's "document" is the grid of region feature
vectors a ResNet computed once, and the encoder reads the regions as the text encoder reads words (same output,
:class:`EncodedSource`; same optional :class:`SelfAttention`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

WORD_PAD = 0
DIRECTION_MERGES = ("concat", "sum")


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


def reverse_within_lengths(values: Tensor, lengths: Tensor) -> Tensor:
    """``values`` ``(batch, seq, features)`` with each row's first ``lengths[b]`` steps in reverse order (the
    padded steps after them stay in place); applying it twice gives ``values`` back."""
    batch, length, features = values.shape
    steps = torch.arange(length, device=values.device).unsqueeze(0)
    last = (lengths - 1).unsqueeze(1)
    index = torch.where(steps <= last, last - steps, steps)
    # Whole feature rows picked from the flattened batch: several times faster than a gather over features.
    rows = (index + torch.arange(batch, device=values.device).unsqueeze(1) * length).flatten()
    return values.reshape(batch * length, features).index_select(0, rows).view(batch, length, features)


class PaddingFreeLSTM(nn.Module):
    """A multi-layer (bi)directional LSTM over right-padded batches that computes exactly what ``nn.LSTM``
    computes over the same batch packed with ``pack_padded_sequence``, with as many parameters.

    Each layer and direction is one single-layer ``nn.LSTM`` run over the padded batch: the forward direction
    reads each document from its first token, so padding (after its last) never reaches a real position; the
    backward direction reads each document reversed within its length, then its outputs are put back in
    order. On CPU this trains about three times faster than a packed batch of uneven lengths, whose LSTM
    backward pass PyTorch runs slowly. ``dropout`` applies between layers, as in ``nn.LSTM``.

    ``merge`` says how the top layer's two directions are combined: ``concat`` (what ``nn.LSTM`` returns) or
    ``sum`` (its two halves added). Lower layers always pass both directions concatenated to the next layer,
    as ``nn.LSTM`` does, so the parameters are the same either way.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        merge: str = "concat",
    ) -> None:
        super().__init__()
        if merge not in DIRECTION_MERGES:
            raise ValueError(f"unknown direction_merge {merge!r}; choose 'concat' or 'sum'")
        self.bidirectional = bidirectional
        self.merge = merge
        directions = 2 if bidirectional else 1
        self.layers = nn.ModuleList(
            nn.ModuleList(
                nn.LSTM(input_size if depth == 0 else hidden_size * directions, hidden_size, batch_first=True)
                for _ in range(directions)
            )
            for depth in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``inputs`` ``(batch, seq, input_size)`` right-padded, ``lengths`` ``(batch,)`` (>= 1) → the top
        layer's outputs ``(batch, seq, output_size)`` (meaningless at padded steps) and its final states
        ``(batch, output_size)``: forward direction after the last real token, backward direction after the
        first; ``output_size`` is ``hidden_size * directions`` with ``merge="concat"``, ``hidden_size`` with
        ``"sum"`` (the directions' outputs, and their final states, added)."""
        outputs = inputs
        for depth, layer in enumerate(self.layers):
            if depth > 0:
                outputs = self.dropout(outputs)
            forward, _ = layer[0](outputs)
            directions = [forward]
            if self.bidirectional:
                backward, _ = layer[1](reverse_within_lengths(outputs, lengths))
                directions.append(reverse_within_lengths(backward, lengths))
            if self.merge == "sum" and depth == len(self.layers) - 1:
                outputs = directions[0] if len(directions) == 1 else directions[0] + directions[1]
            else:
                outputs = torch.cat(directions, dim=2)
        finals = [forward[torch.arange(inputs.size(0), device=inputs.device), lengths - 1]]
        if self.bidirectional:
            finals.append(directions[1][:, 0])
        if self.merge == "sum":
            return outputs, finals[0] if len(finals) == 1 else finals[0] + finals[1]
        return outputs, torch.cat(finals, dim=1)


@dataclass(frozen=True)
class EncodedSource:
    """What the encoder hands to a decoder or a classifier head.

    ``states``: ``(batch, src_len, hidden)``, one vector per token (values at padded positions are
    meaningless: consumers apply ``mask``); ``mask``: ``(batch, src_len)`` bool, True at real tokens;
    ``summary``: ``(batch, hidden)``, the top LSTM layer's final states (forward direction at the last real
    token, backward direction at the first), concatenated or summed as the encoder merges its directions.

    From the :class:`RegionEncoder` of images the tokens are an image's regions, and ``summary`` is the mean
    of their states.
    """

    states: Tensor
    mask: Tensor
    summary: Tensor


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention with a residual connection and layer normalisation:
    ``LayerNorm(x + Dropout(W_o MultiHead(W_q x, W_k x, W_v x)))``, padded keys masked out.

    The attention itself is :func:`torch.nn.functional.scaled_dot_product_attention`, which on CPU and GPU
    picks a fused kernel that never holds the ``(batch, heads, src_len, src_len)`` weights in memory: on a
    batch of 75 Reuters documents padded to 1,904 tokens it runs about six times faster than
    ``nn.MultiheadAttention`` with a key padding mask.
    """

    def __init__(self, hidden_size: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden_size % heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by {heads} attention heads")
        self.heads = heads
        self.attention_dropout = dropout
        self.projection = nn.Linear(hidden_size, 3 * hidden_size)  # W_q, W_k, W_v stacked
        self.output = nn.Linear(hidden_size, hidden_size)  # W_o
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_size)
        # The initialisation of nn.MultiheadAttention: Xavier-uniform projections, zero biases.
        nn.init.xavier_uniform_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)
        nn.init.zeros_(self.output.bias)

    def forward(self, states: Tensor, mask: Tensor) -> Tensor:
        """``states`` ``(batch, src_len, hidden)``, ``mask`` ``(batch, src_len)`` (True at real tokens) →
        ``(batch, src_len, hidden)``."""
        batch, length, hidden = states.shape
        # (batch, src_len, 3 * hidden) → three (batch, heads, src_len, hidden / heads)
        query, key, value = (
            self.projection(states).view(batch, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        )
        attended = nn.functional.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=mask[:, None, None, :],
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        return self.norm(states + self.dropout(self.output(attended)))


class Encoder(nn.Module):
    """Embedding → :class:`PaddingFreeLSTM` → optional self-attention.

    ``hidden_size`` is the size of the output states. A bidirectional LSTM with ``direction_merge="concat"``
    gives each direction half of it (so it must be even) and concatenates them; with ``"sum"`` each direction
    has ``hidden_size`` units and the states (and the summary) are the sum of the two directions, as in SGM's
    released code: three to four times the LSTM parameters for the same output size. ``dropout`` applies to
    the embeddings, between LSTM layers, to the LSTM output and inside self-attention.
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
        direction_merge: str = "concat",
    ) -> None:
        super().__init__()
        directions = 2 if bidirectional and direction_merge == "concat" else 1
        if hidden_size % directions:
            raise ValueError(f"a bidirectional encoder that concatenates needs an even hidden_size, got {hidden_size}")
        self.hidden_size = hidden_size
        self.embedding = pretrained_embedding(embeddings, freeze=freeze_embeddings)
        self.rnn = PaddingFreeLSTM(
            self.embedding.embedding_dim,
            hidden_size // directions,
            encoder_layers,
            bidirectional,
            dropout,
            merge=direction_merge,
        )
        self.dropout = nn.Dropout(dropout)
        self.self_attention = SelfAttention(hidden_size, attention_heads, dropout) if self_attention else None

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncodedSource:
        """``src`` ``(batch, src_len)`` word ids right-padded with 0, ``src_lengths`` ``(batch,)`` (>= 1)."""
        src_lengths = src_lengths.to(src.device)
        states, summary = self.rnn(self.dropout(self.embedding(src)), src_lengths)
        states = self.dropout(states)
        mask = length_mask(src_lengths, src.size(1))
        if self.self_attention is not None:
            states = self.self_attention(states, mask)
        return EncodedSource(states=states, mask=mask, summary=summary)


class RegionEncoder(nn.Module):
    """The encoder of image datasets: region feature vectors (a ResNet's last feature map, one vector per grid
    cell) → ``LayerNorm`` over each region's channels → ``Linear(feature_size → hidden_size)`` → ReLU → dropout →
    optional :class:`SelfAttention` over the regions (the module the text encoder uses).

    It has the text :class:`Encoder`'s contract — ``forward(src, src_lengths) → EncodedSource`` and a
    ``hidden_size`` attribute — so :class:`~sgm_mlc.models.sgm.SGM` and
    :class:`~sgm_mlc.models.set_classifiers.BRNeural` take either. The regions play the words' part: the
    decoder's contextual attention (and label attention) reads ``states`` over the regions, and its first state
    comes from ``summary``, the mean of the real regions' states (the global average pooling a ResNet applies
    before its own classifier).

    The layer normalisation (learned gain and bias) is there because the features are non-negative post-ReLU
    activations whose scale differs between backbones (ResNet-18/34 and ResNet-50+), between ImageNet and
    random weights, and from region to region; normalising each region needs no dataset statistics and lets
    the learning rates tuned for the text models train the projection without a rescaling step. It keeps each
    region's pattern of channels and drops its overall magnitude. Padded regions (a batch of grids of several
    sizes) are zeros, never read: ``mask`` comes from ``src_lengths``, and is all True for grids of one size.

    There is no positional encoding: with self-attention the states do not depend on the order of the regions
    (a set of regions, fitting labels that say what is in an image, not where).
    """

    def __init__(
        self,
        feature_size: int,
        hidden_size: int,
        self_attention: bool = False,
        attention_heads: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.feature_size = feature_size
        self.hidden_size = hidden_size
        self.norm = nn.LayerNorm(feature_size)
        self.projection = nn.Linear(feature_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.self_attention = SelfAttention(hidden_size, attention_heads, dropout) if self_attention else None

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncodedSource:
        """``src`` ``(batch, regions, feature_size)`` float, right-padded with zero regions, ``src_lengths``
        ``(batch,)`` (>= 1) the real regions of each image → ``states`` ``(batch, regions, hidden_size)``,
        ``mask`` ``(batch, regions)``, ``summary`` ``(batch, hidden_size)``, the states' mean over the real
        regions."""
        if src.dim() != 3 or src.size(2) != self.feature_size:
            raise ValueError(
                f"expected region features (batch, regions, {self.feature_size}), got shape {tuple(src.shape)}"
            )
        src_lengths = src_lengths.to(src.device)
        mask = length_mask(src_lengths, src.size(1))
        states = self.dropout(torch.relu(self.projection(self.norm(src))))
        if self.self_attention is not None:
            states = self.self_attention(states, mask)
        weights = mask.unsqueeze(2).to(states.dtype)
        summary = (states * weights).sum(dim=1) / weights.sum(dim=1)
        return EncodedSource(states=states, mask=mask, summary=summary)
