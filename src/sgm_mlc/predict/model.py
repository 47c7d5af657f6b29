"""A trained model that labels raw text, with the settings and code path of the run's evaluation.

* sequence models (``sgm``, ``seq2seq``): the labels decoded as evaluation decodes (greedy or beam search,
  :class:`~sgm_mlc.training.tasks.SequenceTask` through :func:`~sgm_mlc.training.loop.predict_split`), each with
  its step probability and the words its step attended to most (:mod:`sgm_mlc.predict.attention`), and the
  probability of the ``EOS`` that ended the sequence;
* set models (``br_neural``, ``cnn``): the labels the run's decision rule predicts from the sigmoid probabilities
  (``decision.json``, :mod:`sgm_mlc.decision`), most probable first, with those probabilities;
* linear models (``br``, ``lp``, ``cc``): the labels the run's decision rule predicts from the SVM margins, highest
  margin first, without probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from sgm_mlc.decision import Decision
from sgm_mlc.experiment.evaluation import label_names_of, label_scores_of
from sgm_mlc.experiment.linear import predict_linear
from sgm_mlc.experiment.neural import decided_set_labels, make_task
from sgm_mlc.experiment.runner import LINEAR_MODELS
from sgm_mlc.models import linear
from sgm_mlc.models.label_ids import FIRST_LABEL
from sgm_mlc.models.neural import build_neural_model, is_sequence_model
from sgm_mlc.predict.attention import attended_words, replay_decoding
from sgm_mlc.predict.bundle import Bundle, read_label_ranking
from sgm_mlc.text.tokenizer import tokenize
from sgm_mlc.text.vocab import Vocabulary
from sgm_mlc.training.batches import encode_examples
from sgm_mlc.training.device import evaluation_uses_bf16, select_device
from sgm_mlc.training.loop import predict_split


@dataclass(frozen=True)
class LabelPrediction:
    """One predicted label: its probability at its step (sequence models) or its sigmoid probability (set
    models), None for linear models; the most attended words with their attention weights, and the whole
    attention ``(words,)`` of its step over the document's (truncated) tokens, None for models without
    contextual attention."""

    label: str
    probability: float | None
    attended_words: tuple[tuple[str, float], ...] | None
    attention: tuple[float, ...] | None = None


@dataclass(frozen=True)
class TextPrediction:
    """One text's labels in prediction order, and the probability of the ``EOS`` that ended the sequence
    (sequence models whose decoding stopped by ``EOS``; else None)."""

    labels: tuple[LabelPrediction, ...]
    end_probability: float | None

    def record(self) -> dict[str, Any]:
        """The prediction as JSON-ready columns: ``labels``, ``probabilities``, ``end_probability`` and
        ``attended_words`` (per label, a list of ``{"word", "weight"}`` or None)."""
        return {
            "labels": [label.label for label in self.labels],
            "probabilities": [label.probability for label in self.labels],
            "end_probability": self.end_probability,
            "attended_words": [
                None if label.attended_words is None else [{"word": w, "weight": v} for w, v in label.attended_words]
                for label in self.labels
            ],
        }


class TrainedModel:
    """A trained model and what it needs to read raw text (see the module docstring).

    Build it with :func:`sgm_mlc.predict.load_trained_model` (a run folder) or from a :class:`Bundle`.
    """

    def __init__(self, bundle: Bundle) -> None:
        self.params = bundle.params
        self.name = bundle.model_name
        self.lowercase = bundle.lowercase
        self.labels = read_label_ranking(bundle.label_vocabulary)
        self.decision = Decision.load(bundle.decision, self.labels)
        if self.name in LINEAR_MODELS:
            self.linear = linear.load(bundle.weights)
            return
        self.vocabulary = Vocabulary.load(bundle.vocabulary)
        training = self.params["training"]
        self.device = select_device(training["device"])
        self.bf16 = evaluation_uses_bf16(self.device, training)
        vectors = np.zeros(bundle.word_vectors_shape, dtype=np.float32)
        self.network = build_neural_model(self.name, self.params["models"][self.name], vectors, len(self.labels))
        state = torch.load(bundle.weights, map_location="cpu", weights_only=True)["model"]
        self.network.load_state_dict(state)
        self.network.to(self.device).eval()

    @property
    def is_sequence_model(self) -> bool:
        return self.name not in LINEAR_MODELS and is_sequence_model(self.name)

    @property
    def beam_size(self) -> int | None:
        """The beam size evaluation decoded with (sequence models; else None)."""
        return self.params["decoding"]["beam_size"] if self.is_sequence_model else None

    def tokens(self, text: str) -> list[str]:
        return tokenize(text, lowercase=self.lowercase)

    def predict(self, texts: Sequence[str], beam_size: int | None = None, top_words: int = 5) -> list[TextPrediction]:
        """Label every text of ``texts``; ``beam_size`` (sequence models; default: the evaluation's, 1 decodes
        greedily) and ``top_words``, how many attended words to give per label."""
        if beam_size is not None and beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        if top_words < 0:
            raise ValueError(f"top_words must be at least 0, got {top_words}")
        documents = [self.tokens(text) for text in texts]
        if not documents:
            return []
        if self.name in LINEAR_MODELS:
            return self._predict_linear(documents)
        return self._predict_neural(documents, beam_size or self.beam_size, top_words)

    def _predict_linear(self, documents: list[list[str]]) -> list[TextPrediction]:
        sequences, _ = predict_linear(self.linear, documents, self.labels, self.decision.rule)  # probabilities: NaN
        return [
            TextPrediction(tuple(LabelPrediction(label, None, None) for label in sequence), None)
            for sequence in sequences
        ]

    def _predict_neural(
        self, documents: list[list[str]], beam_size: int | None, top_words: int
    ) -> list[TextPrediction]:
        training = self.params["training"]
        max_length = training["max_source_length"]
        ids = [str(i) for i in range(len(documents))]
        words = [self.vocabulary.encode(tokens) for tokens in documents]
        encoded = encode_examples(ids, words, [[] for _ in documents], self.labels, max_length)
        # Evaluations made before decoding.min_labels existed decoded without a minimum.
        min_labels = self.params["decoding"].get("min_labels", 0) if self.is_sequence_model else 0
        task = make_task(self.name, self.params, beam_size or 1, min_labels=min_labels)
        batching = (training["eval_batch_size"], self.device, self.bf16, training["eval_max_tokens"])
        predictions = predict_split(self.network, task, encoded, *batching)
        if not self.is_sequence_model:
            scores = np.asarray(label_scores_of(predictions), dtype=float)
            names, probabilities = decided_set_labels(self.decision.rule, scores, self.labels)
            return [
                TextPrediction(tuple(LabelPrediction(name, probability, None) for name, probability in pairs), None)
                for pairs in (zip(labels, row) for labels, row in zip(names, probabilities))
            ]
        names = label_names_of(predictions, self.labels)
        decoded = replace(encoded, labels=tuple(tuple(i - FIRST_LABEL for i in p.labels) for p in predictions))
        replays = replay_decoding(self.network, decoded, *batching)
        results = []
        for tokens, labels, prediction, replay in zip(documents, names, predictions, replays):
            if self.network.attention is None:  # no contextual attention: nothing to show
                attended, rows = [None] * len(labels), [None] * len(labels)
            else:
                attended = [tuple(attended_words(row, tokens[:max_length], top_words)) for row in replay.attention]
                rows = [tuple(row.tolist()) for row in replay.attention]
            steps = zip(labels, prediction.step_probabilities, attended, rows)
            ended_by_eos = len(labels) < task.max_decode_length
            end = replay.end_probability if ended_by_eos else None
            results.append(TextPrediction(tuple(LabelPrediction(*step) for step in steps), end))
        return results
