"""SGM (Yang et al., COLING 2018): a decoder that emits a document's labels one at a time.

At step ``t`` the decoder LSTM reads the previous label's embedding — blended with the *global embedding*
when that is on — and the previous context vector (input feeding), giving its state ``s_t``. Contextual
attention of ``s_t`` over the encoder states gives the context ``c_t``; the label scores are
``o_t = W_o tanh(W_d s_t + V_d c_t)``; labels already emitted, ``PAD_LABEL`` and ``BOS`` get ``-inf`` (the
mask ``I_t``) before the softmax, at training time too (there the gold labels already fed are masked), so no
label is emitted twice. ``EOS`` ends a sequence.

The attention scores are additive (``attention="additive"``, Bahdanau, as in SGM's equations) or bilinear
(``"bilinear"``, Luong's "general" form, as in SGM's released code, and cheaper per step on long documents);
see :mod:`sgm_mlc.models.attention`.

Switches (all on in SGM, bar the last, an extension):

* ``global_embedding=False``: the decoder reads the previous label's embedding ``e`` alone (SGM without the
  global embedding, an ablation);
* ``label_masking=False``: ``I_t`` masks ``PAD_LABEL`` and ``BOS`` only, so a label may be emitted twice; the
  decoding strategies still stop at their step limit, and :meth:`DecodeResult.from_steps
  <sgm_mlc.decoding.base.DecodeResult.from_steps>` drops the repeats from the decoded sequences;
* ``contextual_attention=False`` (an ablation): ``c_t`` is the encoder summary at every step;
* ``label_attention=True``: label-specific attention over the encoder states gives every label its own view
  ``U_i`` of the document, and ``o_t`` gains the score ``U_i^T W_u s_t`` (:mod:`sgm_mlc.models.label_attention`).

The paper's Seq2Seq baseline is this model with the global embedding, label masking and label attention off
(:func:`~sgm_mlc.models.neural.build_neural_model` builds it as ``seq2seq``).

Decoding strategies (:mod:`sgm_mlc.decoding`) drive the model through :meth:`SGM.encode`,
:meth:`SGM.init_decoder` and :meth:`SGM.step`; :meth:`SGM.forward` runs the same steps under teacher forcing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from sgm_mlc.models.attention import SourceMemory, contextual_attention_module
from sgm_mlc.models.encoders import EncodedSource, Encoder
from sgm_mlc.models.label_attention import LabelAttention
from sgm_mlc.models.label_ids import BOS, EOS, FIRST_LABEL, PAD_LABEL, mark_emitted, n_label_ids

__all__ = [
    "BOS",
    "EOS",
    "FIRST_LABEL",
    "PAD_LABEL",
    "SGM",
    "DecoderState",
    "GlobalEmbedding",
    "LabelScorer",
    "SourceMemory",
]


@dataclass(frozen=True)
class DecoderState:
    """Everything one decoding step needs besides the previous label and the emitted-label mask, and the
    attention of the step that produced it.

    Recurrent (they follow a hypothesis): ``hidden``, ``cell``: ``(decoder_layers, rows, hidden)``, the LSTM
    state; ``context``: ``(rows, hidden)``, the previous step's context vector (the encoder summary before the
    first step, and at every step without contextual attention); ``previous_probs``: ``(rows, n_label_ids)``,
    the previous step's label distribution (one-hot on ``BOS`` before the first step), or None without the
    global embedding; ``attention``: ``(rows, src_len)``, the contextual attention weights over the source
    positions of the step that produced this state (0 at padding), or None before the first step and without
    contextual attention.

    Per document (shared by a document's rows): ``memory``: the encoder states, or None without contextual
    attention; ``label_views``: ``(rows, n_label_ids, hidden)``, the label-specific views ``U`` of the
    document, or None without label attention.
    """

    hidden: Tensor
    cell: Tensor
    context: Tensor
    previous_probs: Tensor | None
    memory: SourceMemory | None
    label_views: Tensor | None = None
    attention: Tensor | None = None

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
        return replace(
            recurrent,
            memory=self.memory.repeat_interleave(repeats) if self.memory is not None else None,
            label_views=self.label_views.repeat_interleave(repeats, dim=0) if self.label_views is not None else None,
        )

    def reorder(self, indices: Tensor) -> DecoderState:
        """The recurrent state (``attention`` included) of rows ``indices`` ``(rows,)``; the per-document
        tensors are kept as they are.

        Every ``indices[i]`` must be a row of the same document as row ``i`` (rows of one document share their
        memory and label views), as beam search's back-pointers are.
        """
        return self._map_recurrent(lambda tensor, dim: tensor.index_select(dim, indices))

    def _map_recurrent(self, function: Callable[[Tensor, int], Tensor]) -> DecoderState:
        """Apply ``function(tensor, batch_dim)`` to every recurrent tensor."""

        def optional(tensor: Tensor | None) -> Tensor | None:
            return function(tensor, 0) if tensor is not None else None

        return replace(
            self,
            hidden=function(self.hidden, 1),
            cell=function(self.cell, 1),
            context=function(self.context, 0),
            previous_probs=optional(self.previous_probs),
            attention=optional(self.attention),
        )


class GlobalEmbedding(nn.Module):
    """SGM's global embedding: the previous label's embedding ``e`` blended with the expected embedding
    ``ē = Σ_i p_{t-1}(i) e_i`` under the previous step's distribution, through the gate
    ``H = σ(W1 e + W2 ē)``: ``g = (1 − H) ⊙ e + H ⊙ ē``.

    The sum runs over every label id; the masked ids (``PAD_LABEL``, ``BOS``, and with label masking the labels
    already emitted) have probability 0, so in effect it runs over the labels still available and ``EOS``.
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
        label_masking: bool = True,
        label_attention: bool = False,
        contextual_attention: bool = True,
        attention: str = "additive",
        max_decode_length: int = 16,
    ) -> None:
        super().__init__()
        hidden_size = encoder.hidden_size
        self.n_label_ids = n_label_ids(n_labels)
        self.decoder_layers = decoder_layers
        self.max_decode_length = max_decode_length
        self.label_masking = label_masking
        self.encoder = encoder
        self.bridge = nn.Linear(hidden_size, 2 * decoder_layers * hidden_size)
        self.label_embedding = nn.Embedding(self.n_label_ids, label_embedding_dim, padding_idx=PAD_LABEL)
        self.global_embedding = GlobalEmbedding(label_embedding_dim) if global_embedding else None
        self.label_attention = LabelAttention(label_embedding_dim, hidden_size) if label_attention else None
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
        label_views = None
        if self.label_attention is not None:
            label_views = self.label_attention.views(encoded, self.label_embedding.weight)
        return DecoderState(hidden, cell, encoded.summary, previous_probs, memory, label_views)

    def step(self, state: DecoderState, previous_labels: Tensor, emitted_mask: Tensor) -> tuple[Tensor, DecoderState]:
        """One decoding step for ``rows`` hypotheses.

        ``previous_labels`` ``(rows,)``: the label id each row emitted last (``BOS`` at the first step);
        ``emitted_mask`` ``(rows, n_label_ids)`` bool: the real labels each row has emitted (see
        :func:`~sgm_mlc.models.label_ids.mark_emitted`; ignored without label masking). Returns the
        log-probabilities of the next label ``(rows, n_label_ids)`` — ``-inf`` at masked ids — and the new
        state, whose ``attention`` holds this step's contextual attention weights.
        """
        embedded = self.label_embedding(previous_labels)
        if self.global_embedding is not None:
            embedded = self.global_embedding(embedded, state.previous_probs, self.label_embedding.weight)
        decoder_input = torch.cat([self.dropout(embedded), state.context], dim=1).unsqueeze(1)
        output, (hidden, cell) = self.decoder_rnn(decoder_input, (state.hidden, state.cell))
        output = output.squeeze(1)
        context, attention = state.context, None
        if self.attention is not None:
            context, attention = self.attention(output, state.memory)
        logits = self.scorer(output, context)
        if self.label_attention is not None:
            logits = logits + self.label_attention(state.label_views, output)
        masked = self.never_emitted | emitted_mask if self.label_masking else self.never_emitted
        log_probs = logits.masked_fill(masked, float("-inf")).log_softmax(dim=1)
        previous_probs = log_probs.exp() if self.global_embedding is not None else None
        new_state = replace(
            state, hidden=hidden, cell=cell, context=context, previous_probs=previous_probs, attention=attention
        )
        return log_probs, new_state

    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Teacher forcing: ``tgt_in`` ``(batch, tgt_len)`` (``BOS`` then the gold labels, ``PAD_LABEL``-padded)
        → log-probabilities ``(batch, tgt_len, n_label_ids)`` of the next label at every step.

        With label masking the gold labels fed so far are masked, as emitted labels are at inference; the global
        embedding still averages over the model's own previous distribution.

        With ``return_attention`` returns ``(log_probs, attention)``, ``attention`` ``(batch, tgt_len,
        src_len)`` the contextual attention weights of every step (zeros without contextual attention). In
        eval mode, teacher-forcing ``BOS`` and a decoded sequence (one with no repeat dropped) replays the
        decoding's steps, so this gives the attention each emitted label (and the final ``EOS``) was scored
        with.
        """
        state = self.init_decoder(self.encode(src, src_lengths))
        emitted = torch.zeros(tgt_in.size(0), self.n_label_ids, dtype=torch.bool, device=tgt_in.device)
        steps, attentions = [], []
        for previous_labels in tgt_in.unbind(dim=1):
            emitted = mark_emitted(emitted, previous_labels)
            log_probs, state = self.step(state, previous_labels, emitted)
            steps.append(log_probs)
            attentions.append(state.attention)
        log_probs = torch.stack(steps, dim=1)
        if not return_attention:
            return log_probs
        if self.attention is None:
            return log_probs, log_probs.new_zeros(*tgt_in.shape, src.size(1))
        return log_probs, torch.stack(attentions, dim=1)
