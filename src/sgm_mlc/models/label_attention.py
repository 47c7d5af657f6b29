"""Label-specific attention, in the spirit of LSAN (Xiao et al., EMNLP 2019): every label reads the document its
own way, and the decoder scores each label against its own reading.

On the encoder side, once per document, label id ``i``'s embedding ``e_i`` becomes a query that attends over
the encoder states ``h_j`` of the real tokens (padded positions get weight 0)::

    q_i  = W_q e_i
    β_ij = softmax_j(q_i^T h_j / √hidden)
    U_i  = Σ_j β_ij h_j                     U: (batch, n_label_ids, hidden), the label-specific views

At decoding step ``t`` the decoder output ``s_t`` is scored against every view, bilinearly, and the score is
added to the label's logit::

    o_ti += U_i^T W_u s_t

so a label's score depends on the words that matter to that label, whatever the step's contextual attention
read. It costs one ``(n_label_ids × src_len)`` attention per document and one batched matrix-vector product
per step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sgm_mlc.models.encoders import EncodedSource


class LabelAttention(nn.Module):
    """The label-specific views ``U`` of a document (:meth:`views`) and the step scores they give (:meth:`forward`),
    see the module docstring."""

    def __init__(self, label_embedding_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.query_projection = nn.Linear(label_embedding_dim, hidden_size, bias=False)  # W_q
        self.state_projection = nn.Linear(hidden_size, hidden_size, bias=False)  # W_u
        self.scale = hidden_size**-0.5

    def views(self, encoded: EncodedSource, label_embeddings: Tensor) -> Tensor:
        """``label_embeddings`` ``(n_label_ids, emb)`` → the views ``U`` ``(batch, n_label_ids, hidden)`` of the
        documents ``encoded``."""
        queries = self.query_projection(label_embeddings)  # (n_label_ids, hidden)
        energies = torch.matmul(queries, encoded.states.transpose(1, 2)) * self.scale  # (batch, n_label_ids, src_len)
        weights = energies.masked_fill(~encoded.mask.unsqueeze(1), float("-inf")).softmax(dim=2)
        return torch.bmm(weights, encoded.states)

    def forward(self, views: Tensor, state: Tensor) -> Tensor:
        """``views`` ``(rows, n_label_ids, hidden)``, decoder output ``state`` ``(rows, hidden)`` → the scores
        ``U_i^T W_u s_t`` ``(rows, n_label_ids)``."""
        return torch.bmm(views, self.state_projection(state).unsqueeze(2)).squeeze(2)
