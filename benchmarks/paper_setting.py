"""The model settings the benchmarks compare with the original SGM implementation.

``paper``: the original implementation's architecture at the configuration it was measured with: word
embeddings 128 (the embeddings section), hidden 256 (each encoder direction 128 and a decoder of 256, as in
its code), 3 encoder and 3 decoder LSTM layers, label embeddings 128, no self-attention, bilinear (Luong)
contextual attention, batch 64. ``paper-sizes``: those sizes with the rest of params.yaml's model
(self-attention, its attention scores). ``default``: params.yaml as it is.
"""

from __future__ import annotations

from typing import Any

PAPER_SIZES = {"hidden_size": 256, "encoder_layers": 3, "decoder_layers": 3, "label_embedding_dim": 128}
SETTINGS: dict[str, dict[str, Any]] = {
    "paper": {**PAPER_SIZES, "self_attention": False, "attention": "bilinear"},
    "paper-sizes": PAPER_SIZES,
    "default": {},
}
PAPER_BATCH_SIZE = 64


def apply_setting(params: dict[str, Any], setting: str) -> None:
    """Change ``params`` (a dataset's view of params.yaml) in place to ``setting`` for the ``sgm`` model."""
    params["models"]["sgm"].update(SETTINGS[setting])
    if setting != "default":
        params["training"]["batch_size"] = PAPER_BATCH_SIZE
