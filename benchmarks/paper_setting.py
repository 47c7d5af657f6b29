"""The model settings the benchmarks compare with the original SGM implementation (lancopku/SGM), and the
parameter count of the original's layout.

``paper``: the same work per example as the original at the configuration it was measured with. Its
``models/rnn.py`` (commit dc062d4) builds the encoder as one packed bidirectional ``nn.LSTM(emb_size,
hidden_size, enc_num_layers)`` and adds the two halves of its output, so each direction has ``hidden_size``
units and the encoder states have ``hidden_size``, as does the decoder (a stack of ``nn.LSTMCell(…,
hidden_size)``); word and label embeddings both have ``emb_size`` units (the decoder's own ``nn.Embedding``,
``shared_vocab: False``). Here: each encoder direction 256 units, summed (``direction_merge: sum``), a decoder of
256, 3 encoder and 3 decoder LSTM layers, word embeddings 128 (params.yaml's embeddings section) and label
embeddings 128, bilinear (Luong "general") contextual attention, no self-attention, batch 64.

What still differs from the original (checked in lancopku/SGM ``models/rnn.py`` and ``models/seq2seq.py`` at
dc062d4, ``utils/dict_helper.py``, ``train.py``; its ``config.yaml`` for this configuration is not in the
repository's stored history, whose ``config.yaml`` (d19b2e1) is an older 2-layer, 512-decoder one):

* **Encoder LSTM**: the same parameters and arithmetic (tested against a packed ``nn.LSTM``), but run padding-free
  (one ``nn.LSTM`` per layer and direction over the padded batch, the backward one over each document reversed
  within its length) instead of ``pack_padded_sequence``; and batches here are length-bucketed, where the
  original shuffles freely and packs each batch.
* **Decoder input**: here the previous label's (global) embedding *and* the previous context vector (input
  feeding); the original's decoder LSTM reads the label embedding alone (concatenated with the global embedding
  when that is on: ``2 * emb_size`` inputs) and uses the context only after the LSTM.
* **Output**: here ``W_o tanh(W_d s_t + V_d c_t)``; the original's ``luong_attention`` computes
  ``tanh(W_out [c_t; s_t; x_t])`` (``x_t`` the decoder input) and a ``Linear(hidden_size, labels)``. Its
  ``luong_attention`` at dc062d4 is not in the stored index: the count below takes the ``Linear(2 * hidden +
  input, hidden)`` + ``tanh`` form of the stored copies of that code (a variant with a second ``Linear(hidden,
  hidden)`` adds 65,792 parameters at hidden 256).
* **Decoder's initial state**: here a learned bridge ``h_0 = tanh(W_h summary)``, ``c_0 = W_c summary`` from
  the summed summary (394,752 parameters at hidden 256, 3 layers); the original copies each encoder layer's
  forward-direction final ``(h, c)`` (``state[0][::2]``), no parameters.
* **Dropout**: here on the word embeddings, between encoder layers, on the encoder output, on the decoder
  input, between decoder layers and before ``W_o``; the original only between LSTM layers (``nn.LSTM``'s
  ``dropout`` and its ``StackedLSTM``).
* **Label mask**: here applied at training time too; the original masks emitted labels only when decoding.
* **Vocabulary**: here the project's tokenizer and vocabulary (``vocab.json``); the original splits on
  whitespace, lower-cases, keeps the 50,000 most frequent words and adds 4 special ids (``<blank>``, ``<unk>``,
  ``<s>``, ``</s>``) to both the word and the label vocabulary.
* **Global embedding**: the same gate, but the original averages the label embeddings under
  ``softmax(scores / tau)`` of the previous step's scores (masked only when decoding; uniform before the first
  step), here under the previous step's masked distribution (one-hot on ``BOS`` before the first step).

``paper-concat``: the former ``paper`` setting, hidden 256 with each encoder direction 128 and concatenated
(half the original's encoder width). ``paper-sizes``: ``paper``'s sizes with the rest of params.yaml's model
(self-attention, its attention scores). ``default``: params.yaml as it is.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

PAPER_SIZES = {
    "hidden_size": 256,
    "direction_merge": "sum",
    "encoder_layers": 3,
    "decoder_layers": 3,
    "label_embedding_dim": 128,
}
PAPER_ARCHITECTURE = {"self_attention": False, "attention": "bilinear"}
SETTINGS: dict[str, dict[str, Any]] = {
    "paper": {**PAPER_SIZES, **PAPER_ARCHITECTURE},
    "paper-concat": {**PAPER_SIZES, **PAPER_ARCHITECTURE, "direction_merge": "concat"},
    "paper-sizes": PAPER_SIZES,
    "default": {},
}
PAPER_BATCH_SIZE = 64
ORIGINAL_SPECIAL_IDS = 4  # <blank>, <unk>, <s>, </s>: in the original's word and label vocabularies alike


def apply_setting(params: dict[str, Any], setting: str) -> None:
    """Change ``params`` (a dataset's view of params.yaml) in place to ``setting`` for the ``sgm`` model."""
    params["models"]["sgm"].update(SETTINGS[setting])
    if setting != "default":
        params["training"]["batch_size"] = PAPER_BATCH_SIZE


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def original_parameter_counts(
    words: int, labels: int, emb_size: int, hidden_size: int, enc_layers: int, dec_layers: int, global_emb: bool
) -> dict[str, int]:
    """Parameters of the original implementation's ``seq2seq`` model (lancopku/SGM ``models/rnn.py`` and
    ``models/seq2seq.py`` at dc062d4: LSTM cells, bidirectional encoder, ``luong`` attention, ``pool_size``
    0, ``shared_vocab`` False) for ``words`` word types and ``labels`` labels (each vocabulary gains the 4
    special ids), by module: ``{"word embeddings", "label embeddings", "encoder LSTM", "decoder LSTM",
    "attention and output", "global embedding", "total"}``.

    The modules are built on the ``meta`` device (no memory) with the sizes the original's constructors give
    them; the ``luong_attention`` output layer is taken as ``Linear(2 * hidden + input, hidden)`` (see the
    module docstring).
    """
    label_ids = labels + ORIGINAL_SPECIAL_IDS
    decoder_input = 2 * emb_size if global_emb else emb_size
    with torch.device("meta"):
        modules = {
            "word embeddings": nn.Embedding(words + ORIGINAL_SPECIAL_IDS, emb_size),
            "label embeddings": nn.Embedding(label_ids, emb_size),
            "encoder LSTM": nn.LSTM(emb_size, hidden_size, num_layers=enc_layers, bidirectional=True),
            "decoder LSTM": nn.ModuleList(
                nn.LSTMCell(decoder_input if layer == 0 else hidden_size, hidden_size) for layer in range(dec_layers)
            ),
            "attention and output": nn.ModuleList([
                nn.Linear(hidden_size, hidden_size),  # linear_in
                nn.Linear(2 * hidden_size + decoder_input, hidden_size),  # linear_out over [c_t; h_t; x_t]
                nn.Linear(hidden_size, label_ids),  # the decoder's linear: scores
            ]),
            "global embedding": nn.ModuleList(
                [nn.Linear(emb_size, emb_size), nn.Linear(emb_size, emb_size)] if global_emb else []
            ),
        }
    counts = {name: parameter_count(module) for name, module in modules.items()}
    return {**counts, "total": sum(counts.values())}


def model_parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters of one of this project's SGM models by part, named as :func:`original_parameter_counts`
    names the original's (the bridge, which the original lacks, apart)."""
    parts = {
        "word embeddings": [model.encoder.embedding],
        "label embeddings": [model.label_embedding],
        "encoder LSTM": [model.encoder.rnn],
        "decoder LSTM": [model.decoder_rnn],
        "attention and output": [m for m in (model.attention, model.scorer, model.label_attention) if m is not None],
        "global embedding": [model.global_embedding] if model.global_embedding is not None else [],
        "encoder self-attention": [model.encoder.self_attention] if model.encoder.self_attention is not None else [],
        "bridge (initial decoder state)": [model.bridge],
    }
    counts = {name: sum(parameter_count(module) for module in modules) for name, modules in parts.items()}
    assert sum(counts.values()) == parameter_count(model), "a part of the model is not counted"
    return {**counts, "total": parameter_count(model)}
