"""Build the neural models by name from a flat dict of hyper-parameters.

Models: ``sgm`` (SGM, Yang et al. 2018, with the switches below), ``seq2seq`` (the paper's Seq2Seq baseline: a
plain attention encoder-decoder), ``br_neural`` (the shared encoder with a binary-relevance head) and ``cnn``
(Kim's CNN, binary relevance).

``seq2seq`` is :class:`~sgm_mlc.models.sgm.SGM` with ``global_embedding``, ``label_masking`` and
``label_attention`` forced off, whatever its params say for those keys (:data:`SEQ2SEQ_SWITCHES`). SGM without
the global embedding is ``sgm`` with ``global_embedding: false`` (an ablation variant), not ``seq2seq``.

Image datasets: a document is an image's grid of region feature vectors (computed once by a ResNet, see
:mod:`sgm_mlc.features`), and ``build_neural_model(..., image_features=channels)`` gives ``sgm``, ``seq2seq``
and ``br_neural`` (:data:`IMAGE_MODELS`) a :class:`~sgm_mlc.models.encoders.RegionEncoder` in place of the word
encoder: the decoders attend over the regions, ``br_neural`` pools the encoded regions into its linear layer.
The word-level settings (``freeze_embeddings``, ``encoder_layers``, ``bidirectional``, ``direction_merge``) do
not apply to images and are ignored; ``hidden_size``, ``self_attention``, ``attention_heads`` and ``dropout``
configure the region encoder, and every decoder and head setting applies as for text. The models of
:data:`~sgm_mlc.models.names.TEXT_ONLY_MODELS` (the linear baselines and Kim's CNN, which convolves over word
windows) are skipped for image datasets; asking for ``cnn`` on images is an error.

Hyper-parameters (``DEFAULT_HYPERPARAMETERS`` holds the defaults; keys a model does not use, and keys this
module does not know, such as training settings, are ignored):

=====================  ==========================================================  ==========================
key                    meaning                                                     used by
=====================  ==========================================================  ==========================
freeze_embeddings      keep the pre-trained word embeddings fixed (False: tune)    all (text only)
dropout                dropout probability                                         all
hidden_size            encoder output / decoder state size                         sgm, seq2seq, br_neural
encoder_layers         encoder LSTM layers                                         sgm, seq2seq, br_neural
                                                                                   (text only)
bidirectional          bidirectional encoder                                       sgm, seq2seq, br_neural
                                                                                   (text only)
direction_merge        ``concat`` (each direction hidden_size/2, concatenated) or  sgm, seq2seq, br_neural
                       ``sum`` (each direction hidden_size, summed, as SGM's code) (text only)
self_attention         multi-head self-attention over the encoder states (words    sgm, seq2seq, br_neural
                       or regions)
attention_heads        heads of that self-attention (must divide hidden_size)      sgm, seq2seq, br_neural
decoder_layers         decoder LSTM layers                                         sgm, seq2seq
label_embedding_dim    size of the label embeddings                                sgm, seq2seq
global_embedding       SGM's global embedding (default True)                       sgm (seq2seq: off)
label_masking          mask the labels already emitted (default True)              sgm (seq2seq: off)
label_attention        label-specific attention over the words (default False)     sgm (seq2seq: off)
contextual_attention   attention of the decoder over the encoder states            sgm, seq2seq
attention              its scores: ``additive`` or ``bilinear``                    sgm, seq2seq
max_decode_length      default limit of decoding steps (labels + EOS)              sgm, seq2seq
pooling                ``max`` or ``mean`` over the encoder states                 br_neural
num_filters            filters per kernel size                                     cnn
kernel_sizes           convolution widths                                          cnn
=====================  ==========================================================  ==========================
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from sgm_mlc.models.encoders import Encoder, RegionEncoder
from sgm_mlc.models.names import SEQUENCE_MODELS, SET_MODELS, TEXT_ONLY_MODELS
from sgm_mlc.models.set_classifiers import BRNeural, KimCNN
from sgm_mlc.models.sgm import SGM

MODEL_NAMES = SEQUENCE_MODELS + SET_MODELS
SEQ2SEQ_SWITCHES: dict[str, Any] = {"global_embedding": False, "label_masking": False, "label_attention": False}
IMAGE_MODELS = tuple(name for name in MODEL_NAMES if name not in TEXT_ONLY_MODELS)
"""``sgm``, ``seq2seq``, ``br_neural``: the neural models that run on image datasets (over region features,
with a :class:`RegionEncoder`); the others, and the linear baselines, are
:data:`~sgm_mlc.models.names.TEXT_ONLY_MODELS`."""
TEXT_ONLY_SETTINGS = ("freeze_embeddings", "encoder_layers", "bidirectional", "direction_merge")
"""The settings of the word encoder, which do not apply to images."""

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "freeze_embeddings": False,
    "dropout": 0.3,
    "hidden_size": 256,
    "encoder_layers": 2,
    "bidirectional": True,
    "direction_merge": "concat",
    "self_attention": True,
    "attention_heads": 4,
    "decoder_layers": 2,
    "label_embedding_dim": 256,
    "global_embedding": True,
    "label_masking": True,
    "label_attention": False,
    "contextual_attention": True,
    "attention": "additive",
    "max_decode_length": 16,
    "pooling": "max",
    "num_filters": 100,
    "kernel_sizes": [3, 4, 5],
}


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown neural model {name!r}; known models: {', '.join(MODEL_NAMES)}")


def is_sequence_model(name: str) -> bool:
    """True for the models that emit label sequences (and are decoded by :mod:`sgm_mlc.decoding`)."""
    _check_name(name)
    return name in SEQUENCE_MODELS


def build_neural_model(
    name: str,
    params: dict[str, Any],
    embeddings: np.ndarray | None,
    n_labels: int,
    image_features: int | None = None,
) -> nn.Module:
    """The model ``name`` for ``n_labels`` labels; ``params`` overrides :data:`DEFAULT_HYPERPARAMETERS`.

    Text (``image_features`` None): the word embeddings are initialised from ``embeddings`` ``(vocab_size,
    emb_dim)``. Images: ``image_features`` is the channels of the region features (2048 for a ResNet-50),
    ``embeddings`` must be None, the encoder is a :class:`RegionEncoder` and :data:`TEXT_ONLY_SETTINGS` are
    ignored; ``cnn`` raises ``ValueError``.

    ``seq2seq`` ignores ``params``' SGM switches (:data:`SEQ2SEQ_SWITCHES`). Weights are drawn from torch's
    global generator: seed it (``torch.manual_seed``) for reproducible models.
    """
    _check_name(name)
    settings = {**DEFAULT_HYPERPARAMETERS, **params, **(SEQ2SEQ_SWITCHES if name == "seq2seq" else {})}
    encoder: Encoder | RegionEncoder
    if image_features is not None:
        if name == "cnn":  # the one neural model of TEXT_ONLY_MODELS
            raise ValueError("cnn is a text model (Kim 2014 over words); it is skipped for image datasets")
        if embeddings is not None:
            raise ValueError("an image model reads region features, not words: pass embeddings=None")
        if image_features < 1:
            raise ValueError(f"image_features is the channels of the region features, got {image_features}")
        encoder = RegionEncoder(
            image_features,
            hidden_size=settings["hidden_size"],
            self_attention=settings["self_attention"],
            attention_heads=settings["attention_heads"],
            dropout=settings["dropout"],
        )
    elif embeddings is None:
        raise ValueError(f"{name} on a text dataset needs word embeddings (or image_features for images)")
    elif name == "cnn":
        return KimCNN(
            embeddings,
            n_labels,
            num_filters=settings["num_filters"],
            kernel_sizes=settings["kernel_sizes"],
            dropout=settings["dropout"],
            freeze_embeddings=settings["freeze_embeddings"],
        )
    else:
        encoder = Encoder(
            embeddings,
            hidden_size=settings["hidden_size"],
            encoder_layers=settings["encoder_layers"],
            bidirectional=settings["bidirectional"],
            dropout=settings["dropout"],
            self_attention=settings["self_attention"],
            attention_heads=settings["attention_heads"],
            freeze_embeddings=settings["freeze_embeddings"],
            direction_merge=settings["direction_merge"],
        )
    if name == "br_neural":
        return BRNeural(encoder, n_labels, pooling=settings["pooling"], dropout=settings["dropout"])
    return SGM(
        encoder,
        n_labels,
        label_embedding_dim=settings["label_embedding_dim"],
        decoder_layers=settings["decoder_layers"],
        dropout=settings["dropout"],
        global_embedding=settings["global_embedding"],
        label_masking=settings["label_masking"],
        label_attention=settings["label_attention"],
        contextual_attention=settings["contextual_attention"],
        attention=settings["attention"],
        max_decode_length=settings["max_decode_length"],
    )
