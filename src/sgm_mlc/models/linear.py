"""Linear baselines over TF-IDF features: Binary Relevance, Label Powerset and Classifier Chains.

* ``br`` (:class:`BinaryRelevance`): one linear SVM per label, each deciding its label alone;
* ``lp`` (:class:`LabelPowerset`): one multiclass linear SVM whose classes are the distinct label sets of the
  train split; it can only ever predict a label set seen in training;
* ``cc`` (:class:`ClassifierChain`): scikit-learn's :class:`~sklearn.multioutput.ClassifierChain` of linear
  SVMs, the chain following the label ranking given to :func:`build_linear_model` (each link sees the text and
  the 0/1 predictions of the links before it).

Every model shares one interface: ``fit(train_tokens, train_label_sets, label_names)``, ``predict(tokens)``
``(n, n_labels)`` 0/1 and ``decision_scores(tokens)`` ``(n, n_labels)`` (positive exactly where ``predict`` is 1),
columns in ``label_names`` order. Features: :class:`~sklearn.feature_extraction.text.TfidfVectorizer` on the
pre-tokenized ``tokens`` column, sublinear tf, fitted on the train documents only.

A label that is constant on the train split (never present -- e.g. a label seen only in valid/test -- or
always present) gets no classifier: it is predicted as that constant, with the score ``-/+``
:data:`CONSTANT_SCORE`, far outside any SVM margin on unit-norm TF-IDF rows, so it ranks last (first).

Defaults (:data:`DEFAULT_PARAMS`), chosen on Reuters-21578 ModApte-90 validation micro-F1
-------------------------------------------------------------------------------------
Train 6,993 / valid 777 documents (``benchmarks/linear_baselines.py --split valid --set KEY=VALUE``); ``br``
unless stated, micro-F1 (fit time, single-threaded):

* classifier: ``LinearSVC`` C=1 balanced 0.920 (7 s) vs ``LogisticRegression`` (liblinear) balanced C=100
  0.918 (52 s), C=10 0.910; unbalanced LinearSVC C=1 0.904 (2 s), LR C=100 0.904 (28 s). LinearSVC it is.
* ``class_weight``: ``balanced`` beats ``None`` for ``br`` at every C (C=0.5: 0.914 vs 0.894, C=1: 0.920 vs
  0.904, C=2: 0.917 vs 0.913) and for ``cc`` at C=1 (0.916 vs 0.912), but not for ``lp`` (0.882 vs 0.898,
  subset accuracy 0.856 vs 0.874: balancing 345 label-set classes, most of them rare, overweights the rare
  sets), so ``lp`` defaults to ``None``.
* ``C`` (balanced): 0.5 0.914, 1 0.920, 2 0.917, 4 0.916, 8 0.915 -- a plateau; 1. ``lp`` (unbalanced):
  0.5 0.891, 1 0.898, 2 0.898, 4 0.897; 1.
* features: unigrams, ``min_df`` 1 (38,962 features) 0.920; ``min_df`` 2 0.914; ``max_features`` 20,000
  0.916, 10,000 0.915; unigrams and bigrams (``ngram_max`` 2, ``min_df`` 2, 105,309 features) 0.907 at
  twice the fit time.
* ``max_iter`` 10,000: at liblinear's default 1,000 a few rare labels of ``br``/``cc`` stop unconverged (same
  figures, a warning each); 3,000 already converges them all, the cap costs nothing elsewhere.

With these defaults, on the ModApte test split (3,019 documents, 90 labels): ``br`` micro-F1 0.878, macro-F1
0.459, subset accuracy 0.823; ``lp`` 0.866 / 0.510 / 0.844; ``cc`` (frequency order) 0.877 / 0.468 / 0.832.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multioutput import ClassifierChain as _SklearnChain
from sklearn.svm import LinearSVC

from sgm_mlc.atomic import atomic_path

_SHARED_DEFAULTS: dict[str, Any] = {
    "C": 1.0,
    "class_weight": "balanced",
    "min_df": 1,
    "max_features": None,
    "ngram_max": 1,
    "max_iter": 10000,
    "random_state": 13,
}

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "br": dict(_SHARED_DEFAULTS),
    "lp": {**_SHARED_DEFAULTS, "class_weight": None},
    "cc": dict(_SHARED_DEFAULTS),
}
MODELS = tuple(DEFAULT_PARAMS)

CONSTANT_SCORE = 1000.0


def _token_list(tokens: Sequence[str]) -> list[str]:
    """One pre-tokenized document as a list of plain ``str`` (the featurizer's identity tokenizer).

    Module-level so a fitted featurizer pickles; ``str`` turns NumPy strings (Parquet list columns read
    through pandas) into plain ones.
    """
    return [str(token) for token in tokens]


def _identity(document: Any) -> Any:
    """The featurizer's preprocessor: documents are already token lists."""
    return document


def _settings(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` over model ``name``'s :data:`DEFAULT_PARAMS`; refuse unknown keys and out-of-domain values."""
    defaults = DEFAULT_PARAMS[name]
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f"unknown linear model param(s) {sorted(unknown)}; known: {', '.join(defaults)}")
    settings = {**defaults, **params}
    if settings["class_weight"] not in (None, "balanced"):
        raise ValueError(f"class_weight must be null or 'balanced', not {settings['class_weight']!r}")
    if settings["ngram_max"] not in (1, 2):
        raise ValueError(f"ngram_max must be 1 (unigrams) or 2 (and bigrams), not {settings['ngram_max']!r}")
    return settings


def make_featurizer(settings: Mapping[str, Any]) -> TfidfVectorizer:
    """An unfitted TF-IDF featurizer of token lists (sublinear tf, L2-normalised rows)."""
    return TfidfVectorizer(
        tokenizer=_token_list,
        preprocessor=_identity,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, settings["ngram_max"]),
        min_df=settings["min_df"],
        max_features=settings["max_features"],
        sublinear_tf=True,
    )


def make_svm(settings: Mapping[str, Any]) -> LinearSVC:
    """The linear classifier every model is built from."""
    return LinearSVC(
        C=settings["C"],
        class_weight=settings["class_weight"],
        max_iter=settings["max_iter"],
        random_state=settings["random_state"],
    )


def _documents(tokens: Sequence[Sequence[str]]) -> list[Sequence[str]]:
    """``tokens`` as a list of documents; refuse raw strings (they would be split into characters)."""
    documents = list(tokens)
    if any(isinstance(document, str) for document in documents):
        raise TypeError("expected pre-tokenized documents (lists of tokens), got a string")
    return documents


def binarize(label_sets: Sequence[Sequence[str]], label_names: Sequence[str]) -> np.ndarray:
    """``(n, n_labels)`` int8 0/1 indicator matrix of ``label_sets`` over ``label_names``."""
    column = {label: j for j, label in enumerate(label_names)}
    if len(column) != len(label_names):
        raise ValueError("label_names has duplicates")
    unknown = {label for labels in label_sets for label in labels} - set(column)
    if unknown:
        raise ValueError(f"label(s) {sorted(unknown)} are not among label_names")
    indicators = np.zeros((len(label_sets), len(label_names)), dtype=np.int8)
    for i, labels in enumerate(label_sets):
        indicators[i, [column[label] for label in labels]] = 1
    return indicators


class LinearMultiLabel:
    """What every linear baseline shares: the featurizer, the label columns and the constant labels.

    A subclass fits its classifier(s) on the *trainable* labels only (both present and absent in train) in
    :meth:`_fit_trainable`, and scores them in :meth:`_trainable_scores`.
    """

    name: str  # the key of the model in MODELS and DEFAULT_PARAMS

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.settings = _settings(self.name, params)

    def fit(
        self,
        train_tokens: Sequence[Sequence[str]],
        train_label_sets: Sequence[Sequence[str]],
        label_names: Sequence[str],
    ) -> LinearMultiLabel:
        """Fit the featurizer and the classifier(s) on the train documents; return ``self``."""
        documents = _documents(train_tokens)
        if not documents:
            raise ValueError("cannot fit on no train documents")
        if len(documents) != len(train_label_sets):
            raise ValueError(f"{len(documents)} train documents but {len(train_label_sets)} label sets")
        indicators = binarize(train_label_sets, label_names)  # (n, n_labels)
        self.label_names = list(label_names)
        self.trainable = indicators.min(axis=0) != indicators.max(axis=0)  # (n_labels,)
        self.constant_values = indicators[0]  # (n_labels,): the value of each constant label
        self.featurizer = make_featurizer(self.settings).fit(documents)
        if self.trainable.any():
            self._fit_trainable(self.featurizer.transform(documents), indicators[:, self.trainable])
        return self

    @property
    def trainable_labels(self) -> list[str]:
        """The labels with a classifier (both present and absent in train), in ``label_names`` order."""
        return [name for name, kept in zip(self.label_names, self.trainable) if kept]

    def predict(self, tokens: Sequence[Sequence[str]]) -> np.ndarray:
        """``(n, n_labels)`` int8 0/1 predictions."""
        return self._with_constants(self.constant_values, self._trainable_predictions, tokens)

    def decision_scores(self, tokens: Sequence[Sequence[str]]) -> np.ndarray:
        """``(n, n_labels)`` float scores, positive exactly where :meth:`predict` gives 1."""
        constant_scores = np.where(self.constant_values == 1, CONSTANT_SCORE, -CONSTANT_SCORE)
        return self._with_constants(constant_scores, self._trainable_scores, tokens)

    def _with_constants(
        self,
        constant_row: np.ndarray,
        trainable_columns: Callable[[sparse.csr_matrix], np.ndarray],
        tokens: Sequence[Sequence[str]],
    ) -> np.ndarray:
        """``(n, n_labels)``: ``constant_row`` ``(n_labels,)`` on every row, overwritten in the trainable
        columns by ``trainable_columns(features)`` ``(n, n_trainable)``."""
        features = self.featurizer.transform(_documents(tokens))  # (n, n_features)
        output = np.tile(constant_row, (features.shape[0], 1))
        if self.trainable.any():
            output[:, self.trainable] = trainable_columns(features)
        return output

    def _fit_trainable(self, features: sparse.csr_matrix, indicators: np.ndarray) -> None:
        """Fit on ``features`` ``(n, n_features)`` and ``indicators`` ``(n, n_trainable)`` 0/1."""
        raise NotImplementedError

    def _trainable_scores(self, features: sparse.csr_matrix) -> np.ndarray:
        """``(n, n_trainable)`` scores of the trainable labels."""
        raise NotImplementedError

    def _trainable_predictions(self, features: sparse.csr_matrix) -> np.ndarray:
        """``(n, n_trainable)`` 0/1 predictions of the trainable labels: where their score is positive."""
        return self._trainable_scores(features) > 0


class BinaryRelevance(LinearMultiLabel):
    """One linear SVM per trainable label, each fitted and applied independently."""

    name = "br"

    def _fit_trainable(self, features: sparse.csr_matrix, indicators: np.ndarray) -> None:
        self.classifiers = [make_svm(self.settings).fit(features, column) for column in indicators.T]

    def _trainable_scores(self, features: sparse.csr_matrix) -> np.ndarray:
        return np.column_stack([classifier.decision_function(features) for classifier in self.classifiers])


class LabelPowerset(LinearMultiLabel):
    """One multiclass linear SVM (one-vs-rest) over the distinct label sets of the train split.

    The score of label ``j`` is the best class score among the label sets holding ``j`` minus the best among
    those without it: positive exactly when the winning label set holds ``j`` (barring exact ties).
    """

    name = "lp"

    def _fit_trainable(self, features: sparse.csr_matrix, indicators: np.ndarray) -> None:
        label_sets, classes = np.unique(indicators, axis=0, return_inverse=True)
        self.label_sets = label_sets.astype(bool)  # (n_classes, n_trainable), n_classes >= 2
        self.classifier = make_svm(self.settings).fit(features, classes.reshape(-1))

    def _class_scores(self, features: sparse.csr_matrix) -> np.ndarray:
        """``(n, n_classes)`` one score per train label set."""
        scores = self.classifier.decision_function(features)
        return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores

    def _trainable_scores(self, features: sparse.csr_matrix) -> np.ndarray:
        class_scores = self._class_scores(features)
        return np.column_stack(
            [
                class_scores[:, holders].max(axis=1) - class_scores[:, ~holders].max(axis=1)
                for holders in self.label_sets.T
            ]
        )

    def _trainable_predictions(self, features: sparse.csr_matrix) -> np.ndarray:
        return self.label_sets[self._class_scores(features).argmax(axis=1)]


class ClassifierChain(LinearMultiLabel):
    """A chain of linear SVMs over the trainable labels, in the order of ``label_ranking``.

    Each link sees the TF-IDF features and the 0/1 predictions of the links before it.
    """

    name = "cc"

    def __init__(self, params: Mapping[str, Any], label_ranking: Sequence[str]) -> None:
        super().__init__(params)
        self.label_ranking = list(label_ranking)

    def fit(
        self,
        train_tokens: Sequence[Sequence[str]],
        train_label_sets: Sequence[Sequence[str]],
        label_names: Sequence[str],
    ) -> ClassifierChain:
        """Fit as :meth:`LinearMultiLabel.fit`; ``label_names`` must hold exactly the ranking's labels."""
        if sorted(self.label_ranking) != sorted(label_names):
            raise ValueError("the chain's label_ranking must list exactly the label_names, each once")
        return super().fit(train_tokens, train_label_sets, label_names)

    def _fit_trainable(self, features: sparse.csr_matrix, indicators: np.ndarray) -> None:
        column = {name: j for j, name in enumerate(self.trainable_labels)}
        order = [column[name] for name in self.label_ranking if name in column]
        self.chain = _SklearnChain(make_svm(self.settings), order=order).fit(features, indicators)

    def _trainable_scores(self, features: sparse.csr_matrix) -> np.ndarray:
        return self.chain.decision_function(features)

    @property
    def chain_order(self) -> list[str]:
        """The fitted chain's labels, first link first (the ranking without the constant labels)."""
        return [self.trainable_labels[j] for j in self.chain.order_]


def build_linear_model(name: str, params: Mapping[str, Any], label_ranking: Sequence[str]) -> LinearMultiLabel:
    """An unfitted linear baseline: ``name`` in :data:`MODELS`, ``params`` over its :data:`DEFAULT_PARAMS`.

    ``label_ranking`` (from :func:`sgm_mlc.labels.orders.label_ranking`) is the chain order of ``cc``; ``br``
    and ``lp`` do not depend on any label order.
    """
    if name == "br":
        return BinaryRelevance(params)
    if name == "lp":
        return LabelPowerset(params)
    if name == "cc":
        return ClassifierChain(params, label_ranking)
    raise ValueError(f"unknown linear model {name!r}; known models: {', '.join(MODELS)}")


def save(model: LinearMultiLabel, path: str | Path) -> None:
    """Write a fitted model to ``path`` with joblib, atomically."""
    with atomic_path(path) as temporary:
        joblib.dump(model, temporary)


def load(path: str | Path) -> LinearMultiLabel:
    """Read a model written by :func:`save`."""
    model = joblib.load(path)
    if not isinstance(model, LinearMultiLabel):
        raise TypeError(f"{path} holds a {type(model).__name__}, not a linear baseline model")
    return model
