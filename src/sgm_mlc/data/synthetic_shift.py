"""``synthetic_shift``: the synthetic corpus under a dataset shift, for cross-dataset evaluation.

Its section of ``params.yaml`` (``datasets.synthetic_shift``) holds ``source``, the ``datasets.synthetic``
params (a YAML alias of that section), and the shift's own settings. The source's planted structure (see
:mod:`sgm_mlc.data.synthetic`) is rebuilt from ``source`` and then shifted, with the shift's own ``seed``:

* **Kept**: the source's label names, hidden labels and their trigger pairs (so ``h in labels <=> {a, b} <=
  labels`` still holds on every document), each source label's successors and their relative weights, and the
  document settings (length, background share, label cap, leaked words).
* **Vocabulary shift** (``vocabulary_shift``): ``round(vocabulary_shift * words_per_label)`` of each visible
  source label's words, and ``round(vocabulary_shift * B)`` of the ``B`` background words, are replaced by new
  pseudo-words that the source never uses; the background words are then ranked afresh (a random
  permutation), so the Zipf frequencies fall on other words.
* **Prior shift** (``prior_shift``, 0 keeps the source's priors): the start distribution becomes ``(1 - s) *
  source + s * fresh`` (``fresh`` drawn like the source's, over every visible label including the extra
  ones), and so does each label's end-of-sequence probability; a source label's transition row is rescaled to
  the new ``1 - end``.
* **Extra labels** (``extra_labels``): visible labels the source does not have, named on after the source's
  (``topic_20``, ``topic_21`` … for 20 source labels), each with ``words_per_label`` new words and its own
  transition row into the visible labels; they open documents through the fresh part of the start
  distribution (so they need ``prior_shift > 0``) and are nobody's successor or trigger.

Same params, same bytes: every draw comes from ``default_rng`` streams keyed on ``seed``, apart from the
source's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sgm_mlc.data.synthetic import (
    END_PROBABILITY,
    MAX_SUCCESSORS,
    Plan,
    SyntheticDataset,
    build_plan,
    corpus_settings,
    documents_of,
    label_names,
    pseudo_words,
    structure_of,
    zipf_cdf,
)

SECTION = "datasets.synthetic_shift"
_SHIFT_STREAM = 3  # keys the shift's draws apart from the source's streams (0, 1, 2) even when the seeds agree


def shift_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """``datasets.synthetic_shift`` checked and type-converted; ``source`` becomes the source's corpus settings."""
    try:
        settings = {
            "source": corpus_settings(params["source"], section=f"{SECTION}.source"),
            "seed": int(params["seed"]),
            "n_documents": int(params["n_documents"]),
            "vocabulary_shift": float(params["vocabulary_shift"]),
            "prior_shift": float(params["prior_shift"]),
            "extra_labels": int(params["extra_labels"]),
        }
    except KeyError as error:
        raise ValueError(f"{SECTION}: missing parameter {error.args[0]!r}") from None
    problems = []
    if settings["n_documents"] < 1:
        problems.append("n_documents must be at least 1")
    for name in ("vocabulary_shift", "prior_shift"):
        if not 0.0 <= settings[name] <= 1.0:
            problems.append(f"{name} must lie in [0, 1], got {settings[name]}")
    if settings["extra_labels"] < 0:
        problems.append("extra_labels must be at least 0")
    elif settings["extra_labels"] and settings["prior_shift"] == 0.0:
        problems.append("extra_labels open documents through the shifted start distribution: set prior_shift > 0")
    if problems:
        raise ValueError(f"{SECTION}: " + "; ".join(problems))
    return settings


def shifted_plan(source: Plan, settings: Mapping[str, Any]) -> Plan:
    """``source`` under the shift of :func:`shift_settings`' ``settings`` (see the module docstring).

    The result has ``L + E`` labels (``E`` = ``extra_labels``, appended); its vocabulary is the source's
    followed by the new words.
    """
    rng = np.random.default_rng([settings["seed"], _SHIFT_STREAM])
    n_source, n_extra = len(source.labels), settings["extra_labels"]
    n_labels = n_source + n_extra
    prior, vocabulary_shift = settings["prior_shift"], settings["vocabulary_shift"]
    words_per_label = source.label_words.shape[1]
    extra = np.arange(n_source, n_labels)
    visible = np.concatenate([source.visible, extra])

    end = rng.uniform(*END_PROBABILITY, size=n_labels)
    end[:n_source] = (1.0 - prior) * source.end + prior * end[:n_source]
    transitions = np.zeros((n_labels, n_labels))
    transitions[:n_source, :n_source] = source.transitions * ((1.0 - end[:n_source]) / (1.0 - source.end))[:, None]
    n_successors = min(MAX_SUCCESSORS, len(visible) - 1)
    for label in extra:
        successors = rng.choice(visible[visible != label], size=n_successors, replace=False)
        transitions[label, successors] = (1.0 - end[label]) * rng.dirichlet(np.full(n_successors, 2.0))

    fresh = np.zeros(n_labels)
    fresh[visible] = 0.7 * rng.dirichlet(np.ones(len(visible))) + 0.3 / len(visible)
    start = prior * fresh
    start[:n_source] += (1.0 - prior) * source.start

    replaced_per_label = round(vocabulary_shift * words_per_label)
    replaced_background = round(vocabulary_shift * len(source.background))
    n_new = len(source.visible) * replaced_per_label + n_extra * words_per_label + replaced_background
    new_words = pseudo_words(rng, n_new, exclude=frozenset(source.vocabulary))
    vocabulary = np.concatenate([source.vocabulary, np.array(new_words, dtype=object)])
    fresh_ids = iter(range(len(source.vocabulary), len(vocabulary)))

    label_words = np.full((n_labels, words_per_label), -1, dtype=np.int64)
    label_words[:n_source] = source.label_words
    for label in source.visible:
        for position in rng.choice(words_per_label, size=replaced_per_label, replace=False):
            label_words[label, position] = next(fresh_ids)
    for label in extra:
        label_words[label] = [next(fresh_ids) for _ in range(words_per_label)]
    background = source.background.copy()
    for position in rng.choice(len(background), size=replaced_background, replace=False):
        background[position] = next(fresh_ids)
    background = background[rng.permutation(len(background))]

    return Plan(
        labels=label_names(n_source, n_labels),
        hidden=source.hidden,
        triggers=source.triggers,
        start=start,
        transitions=transitions,
        end=end,
        vocabulary=vocabulary,
        label_words=label_words,
        background=background,
        background_cdf=zipf_cdf(len(background)),
    )


def shifted_corpus(params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The documents (``{"id", "text", "labels"}`` each) and the planted structure of ``synthetic_shift``.

    The structure has the keys of :func:`sgm_mlc.data.synthetic.planted_structure` plus ``shift``: the source's
    labels, the extra labels, the words replaced per label and in the background, and the shift settings.
    """
    settings = shift_settings(params)
    source_settings = settings["source"]
    source = build_plan(source_settings, section=f"{SECTION}.source")
    plan = shifted_plan(source, settings)
    documents = documents_of(plan, source_settings, settings["n_documents"], (settings["seed"], _SHIFT_STREAM))
    structure = structure_of(plan)
    structure["shift"] = {
        "source_labels": list(source.labels),
        "extra_labels": list(plan.labels[len(source.labels) :]),
        "replaced_words_per_label": round(settings["vocabulary_shift"] * source.label_words.shape[1]),
        "replaced_background_words": round(settings["vocabulary_shift"] * len(source.background)),
        "vocabulary_shift": settings["vocabulary_shift"],
        "prior_shift": settings["prior_shift"],
    }
    return documents, structure


class ShiftedSyntheticDataset(SyntheticDataset):
    """``synthetic_shift``: generated like ``synthetic`` (same files, same parsing and splits), but shifted."""

    name = "synthetic_shift"

    def corpus(self, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return shifted_corpus(params)
