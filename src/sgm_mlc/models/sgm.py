"""SGM (Yang et al., COLING 2018): a decoder that emits a document's labels one at a time.

At step ``t`` the decoder LSTM reads the previous label's embedding — blended with the *global embedding*
when that is on — and the previous context vector (input feeding), giving its state ``s_t``. Contextual
attention of ``s_t`` over the encoder states gives the context ``c_t``; the label scores are
``o_t = W_o tanh(W_d s_t + V_d c_t)``; labels already emitted, ``PAD_LABEL`` and ``BOS`` get ``-inf`` (the
mask ``I_t``) before the softmax, at training time too (there the gold labels already fed are masked), so no
label is emitted twice. ``EOS`` ends a sequence.

The attention scores are additive (``attention="additive"``, Bahdanau, as in SGM's equations) or bilinear
(``"bilinear"``, Luong's "general" form, as in SGM's released code, and cheaper per step on long documents).
``global_embedding=False`` is the paper's Seq2Seq baseline; ``contextual_attention=False`` (an ablation)
replaces ``c_t`` by the encoder summary at every step.

Decoding strategies (:mod:`sgm_mlc.decoding`) drive the model through :meth:`SGM.encode`,
:meth:`SGM.init_decoder` and :meth:`SGM.step`; :meth:`SGM.forward` runs the same steps under teacher forcing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from sgm_mlc.models.encoders import EncodedSource, Encoder
from sgm_mlc.models.label_ids import BOS, EOS, FIRST_LABEL, PAD_LABEL, mark_emitted, n_label_ids

__all__ = [
    "BOS",
    "EOS",
    "FIRST_LABEL",
    "PAD_LABEL",
    "SGM",
    "AdditiveAttention",
    "BilinearAttention",
    "DecoderState",
    "GlobalEmbedding",
    "LabelScorer",
    "SourceMemory",
]


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


@dataclass(frozen=True)
class DecoderState:
    """Everything one decoding step needs besides the previous label and the emitted-label mask.

    ``hidden``, ``cell``: ``(decoder_layers, rows, hidden)``, the LSTM state; ``context``: ``(rows, hidden)``,
    the previous step's context vector (the encoder summary before the first step, and at every step without
    contextual attention); ``previous_probs``: ``(rows, n_label_ids)``, the previous step's label distribution
    (one-hot on ``BOS`` before the first step), or None without the global embedding; ``memory``: the encoder
    states, or None without contextual attention.
    """

    hidden: Tensor
    cell: Tensor
    context: Tensor
    previous_probs: Tensor | None
    memory: SourceMemory | None

    @property
    def rows(self) -> int:
        return self.context.size(0)

    @property
    def device(self) -> torch.device:
        return self.context.device

    def repeat_interleave(self, repeats: int) -> DecoderState:
        """Each row repeated ``repeats`` times in place (row ``i`` becomes rows ``i*repeats … i*repeats +
        repeats - 1``): how beam search gives every document ``beam_size`` hypotheses."""
        recurrent = self._map_recurrent(lambda tensor, dim: tensor.repeat_interleave(repeats, dim=dim))
        return replace(recurrent, memory=self.memory.repeat_interleave(repeats) if self.memory is not None else None)

    def reorder(self, indices: Tensor) -> DecoderState:
        """The recurrent state of rows ``indices`` ``(rows,)``; the memory is kept as is.

        Every ``indices[i]`` must be a row of the same document as row ``i`` (rows of one document share their
        memory), as beam search's back-pointers are.
        """
        return self._map_recurrent(lambda tensor, dim: tensor.index_select(dim, indices))

    def _map_recurrent(self, function: Callable[[Tensor, int], Tensor]) -> DecoderState:
        """Apply ``function(tensor, batch_dim)`` to every recurrent tensor."""
        previous_probs = function(self.previous_probs, 0) if self.previous_probs is not None else None
        return replace(
            self,
            hidden=function(self.hidden, 1),
            cell=function(self.cell, 1),
            context=function(self.context, 0),
            previous_probs=previous_probs,
        )


class GlobalEmbedding(nn.Module):
    """SGM's global embedding: the previous label's embedding ``e`` blended with the expected embedding
    ``ē = Σ_i p_{t-1}(i) e_i`` under the previous step's distribution, through the gate
    ``H = σ(W1 e + W2 ē)``: ``g = (1 − H) ⊙ e + H ⊙ ē``.

    The sum runs over every label id; the masked ids (``PAD_LABEL``, ``BOS``, labels already emitted) have
    probability 0, so in effect it runs over the labels still available and ``EOS``.
    """

    def __init__(self, embedding_dim: int) -> None:
        super().__init__()
        self.transform_embedding = nn.Linear(embedding_dim, embedding_dim)  # W1
        self.transform_expected = nn.Linear(embedding_dim, embedding_dim)  # W2

    def forward(self, embedded: Tensor, previous_probs: Tensor, label_embeddings: Tensor) -> Tensor:
        """``embedded`` ``(rows, emb)``, ``previous_probs`` ``(rows, n_label_ids)``, ``label_embeddings``
        ``(n_label_ids, emb)`` → ``g`` ``(rows, emb)``."""
        expected = previous_probs @ label_embeddings
        gate = torch.sigmoid(self.transform_embedding(embedded) + self.transform_expected(expected))
        return (1 - gate) * embedded + gate * expected


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

    def forward(self, query: Tensor, memory: SourceMemory) -> Tensor:
        """``query`` ``(rows, query_size)`` → context ``(rows, memory_size)``."""
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

    def forward(self, query: Tensor, memory: SourceMemory) -> Tensor:
        """``query`` ``(rows, query_size)`` → context ``(rows, memory_size)``."""
        energies = torch.bmm(memory.keys, self.query_projection(query).unsqueeze(2)).squeeze(2)
        return attend(energies, memory)


def attend(energies: Tensor, memory: SourceMemory) -> Tensor:
    """The context ``(rows, hidden)``: the memory states averaged under ``softmax(energies)`` ``(rows,
    src_len)`` over the real tokens."""
    weights = energies.masked_fill(~memory.mask, float("-inf")).softmax(dim=1)
    return torch.bmm(weights.unsqueeze(1), memory.states).squeeze(1)


def contextual_attention_module(kind: str, hidden_size: int) -> AdditiveAttention | BilinearAttention:
    """The decoder's attention over the encoder states: ``additive`` or ``bilinear``."""
    if kind == "additive":
        return AdditiveAttention(hidden_size, hidden_size, hidden_size)
    if kind == "bilinear":
        return BilinearAttention(hidden_size, hidden_size)
    raise ValueError(f"unknown attention {kind!r}; choose 'additive' or 'bilinear'")


class LabelScorer(nn.Module):
    """Label scores from the decoder state and the context: ``o_t = W_o tanh(W_d s_t + V_d c_t)``."""

    def __init__(self, hidden_size: int, context_size: int, n_label_ids: int, dropout: float) -> None:
        super().__init__()
        self.state_projection = nn.Linear(hidden_size, hidden_size)  # W_d
        self.context_projection = nn.Linear(context_size, hidden_size, bias=False)  # V_d
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, n_label_ids)  # W_o

    def forward(self, state: Tensor, context: Tensor) -> Tensor:
        """``state`` ``(rows, hidden)``, ``context`` ``(rows, context_size)`` → logits ``(rows, n_label_ids)``."""
        return self.output(self.dropout(torch.tanh(self.state_projection(state) + self.context_projection(context))))


class SGM(nn.Module):
    """Encoder, label decoder and the masked softmax over label ids (see the module docstring).

    The decoder's hidden size is the encoder's; its initial LSTM state is a learned function of the encoder
    summary (``h_0 = tanh(W_h summary)``, ``c_0 = W_c summary``, per layer). ``dropout`` applies to the decoder
    input, between decoder layers and before ``W_o``. ``max_decode_length`` is the default step limit of the
    decoding strategies.
    """

    def __init__(
        self,
        encoder: Encoder,
        n_labels: int,
        label_embedding_dim: int,
        decoder_layers: int = 1,
        dropout: float = 0.0,
        global_embedding: bool = True,
        contextual_attention: bool = True,
        attention: str = "additive",
        max_decode_length: int = 16,
    ) -> None:
        super().__init__()
        hidden_size = encoder.hidden_size
        self.n_label_ids = n_label_ids(n_labels)
        self.decoder_layers = decoder_layers
        self.max_decode_length = max_decode_length
        self.encoder = encoder
        self.bridge = nn.Linear(hidden_size, 2 * decoder_layers * hidden_size)
        self.label_embedding = nn.Embedding(self.n_label_ids, label_embedding_dim, padding_idx=PAD_LABEL)
        self.global_embedding = GlobalEmbedding(label_embedding_dim) if global_embedding else None
        self.decoder_rnn = nn.LSTM(
            label_embedding_dim + hidden_size,
            hidden_size,
            num_layers=decoder_layers,
            dropout=dropout if decoder_layers > 1 else 0.0,
            batch_first=True,
        )
        self.attention = contextual_attention_module(attention, hidden_size) if contextual_attention else None
        self.scorer = LabelScorer(hidden_size, hidden_size, self.n_label_ids, dropout)
        self.dropout = nn.Dropout(dropout)
        never_emitted = torch.zeros(self.n_label_ids, dtype=torch.bool)
        never_emitted[[PAD_LABEL, BOS]] = True
        self.register_buffer("never_emitted", never_emitted, persistent=False)

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncodedSource:
        """``src`` ``(batch, src_len)``, ``src_lengths`` ``(batch,)`` → the encoder's output."""
        return self.encoder(src, src_lengths)

    def init_decoder(self, encoded: EncodedSource) -> DecoderState:
        """The decoder state before the first step, one row per document."""
        batch, hidden_size = encoded.summary.shape
        initial = self.bridge(encoded.summary).view(batch, 2, self.decoder_layers, hidden_size)
        hidden = torch.tanh(initial[:, 0]).transpose(0, 1).contiguous()
        cell = initial[:, 1].transpose(0, 1).contiguous()
        previous_probs = None
        if self.global_embedding is not None:
            previous_probs = encoded.summary.new_zeros(batch, self.n_label_ids)
            previous_probs[:, BOS] = 1.0
        memory = self.attention.memory(encoded) if self.attention is not None else None
        return DecoderState(hidden, cell, encoded.summary, previous_probs, memory)

    def step(self, state: DecoderState, previous_labels: Tensor, emitted_mask: Tensor) -> tuple[Tensor, DecoderState]:
        """One decoding step for ``rows`` hypotheses.

        ``previous_labels`` ``(rows,)``: the label id each row emitted last (``BOS`` at the first step);
        ``emitted_mask`` ``(rows, n_label_ids)`` bool: the real labels each row has emitted (see
        :func:`~sgm_mlc.models.label_ids.mark_emitted`). Returns the log-probabilities of the next label
        ``(rows, n_label_ids)`` — ``-inf`` at masked ids — and the new state.
        """
        embedded = self.label_embedding(previous_labels)
        if self.global_embedding is not None:
            embedded = self.global_embedding(embedded, state.previous_probs, self.label_embedding.weight)
        decoder_input = torch.cat([self.dropout(embedded), state.context], dim=1).unsqueeze(1)
        output, (hidden, cell) = self.decoder_rnn(decoder_input, (state.hidden, state.cell))
        output = output.squeeze(1)
        context = self.attention(output, state.memory) if self.attention is not None else state.context
        logits = self.scorer(output, context)
        log_probs = logits.masked_fill(emitted_mask | self.never_emitted, float("-inf")).log_softmax(dim=1)
        previous_probs = log_probs.exp() if self.global_embedding is not None else None
        return log_probs, replace(state, hidden=hidden, cell=cell, context=context, previous_probs=previous_probs)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: ``tgt_in`` ``(batch, tgt_len)`` (``BOS`` then the gold labels, ``PAD_LABEL``-padded)
        → log-probabilities ``(batch, tgt_len, n_label_ids)`` of the next label at every step.

        The gold labels fed so far are masked, as emitted labels are at inference; the global embedding still
        averages over the model's own previous distribution.
        """
        state = self.init_decoder(self.encode(src, src_lengths))
        emitted = torch.zeros(tgt_in.size(0), self.n_label_ids, dtype=torch.bool, device=tgt_in.device)
        steps = []
        for previous_labels in tgt_in.unbind(dim=1):
            emitted = mark_emitted(emitted, previous_labels)
            log_probs, state = self.step(state, previous_labels, emitted)
            steps.append(log_probs)
        return torch.stack(steps, dim=1)
