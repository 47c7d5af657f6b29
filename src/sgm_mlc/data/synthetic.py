"""The embedded default dataset: a seeded multi-label text corpus with planted label dependencies.

Nothing is downloaded: :meth:`SyntheticDataset.download` *generates* the corpus from ``datasets.synthetic`` in
``params.yaml`` with NumPy's ``default_rng``, so the same params always give the same bytes.

What is planted
---------------
* **Labels** ``topic_00`` ... ``topic_NN`` (``n_labels`` of them). ``max(1, floor(hidden_label_share *
  n_labels))`` of them, picked at random, are *hidden*; the others are *visible*.
* **A Markov chain over labels** emits each document's labels one at a time, and the order of emission is the
  document's natural label order (kept in :attr:`Example.labels`). The first label is drawn from a start
  distribution over the visible labels; after label ``i`` the next one is drawn from a sparse transition row
  (each label has at most three possible visible successors) or the chain stops (an end-of-sequence
  probability per label). Labels never repeat: used labels are dropped and the rest of the row, end included,
  is renormalised. A document has at least one and at most ``max_labels`` labels.
* **Hidden labels are a function of the other labels, not of the text.** Each hidden label ``h`` has a trigger
  pair of visible labels ``(a, b)`` (``b`` the most likely successor of ``a``, so the pair is common; the pairs
  are distinct). ``h`` is emitted -- as the forced successor, right after whichever of ``a``, ``b`` comes
  second -- *exactly* when both ``a`` and ``b`` are present; the chain never adds the completing label of a
  pair when there is no room left under ``max_labels`` for the forced hidden label too. So ``h in labels  <=>
  {a, b} <= labels`` holds on every document. Hidden labels own no words.
* **Text**: each visible label owns ``words_per_label`` words of its own; the remaining words of the
  ``vocabulary_size`` vocabulary are background words with a Zipf-like frequency (``p ~ 1 / rank``). The
  document's length is uniform on ``document_length``; each token is a background word with probability
  ``background_word_share``, otherwise a label word: a word of one of the document's visible labels (chosen
  uniformly), every visible label contributing at least one word. Words are pronounceable lowercase
  pseudo-words built from syllables, separated by single spaces.
* **Leaked words** (``word_leak_share``, 0 turns it off): each document has one *decoy*, a visible label it
  does not have (drawn uniformly); each label-word token but the one guaranteed per visible label is a word of
  the decoy instead with probability ``word_leak_share``. A label's words thus also occur in documents
  without it, at a rate that, on a document with several labels, matches that of a real label: counting a
  label's words no longer decides the label.

The two difficulty settings, ``hidden_label_share`` and ``word_leak_share``, are optional: without them the
generator plants what it always did (``hidden_label_share`` 0.1 as ``n_labels // 10``, no leaked words), byte
for byte. Leaked words are drawn from a random stream of their own for that reason.

Why a sequence generation model (SGM) should beat Binary Relevance on subset accuracy
-------------------------------------------------------------------------------------
Without leaked words, visible labels are easy for any model: a label is present exactly when one of its own
words is. A hidden label is a conjunction, ``a AND b``, of two *other labels*; nothing in the text points at it
alone. Binary Relevance trains one independent linear classifier per label on word counts and must rediscover
that conjunction from the counts of ``a``'s and ``b``'s words, which vary with document length, with the number
of labels sharing the non-background tokens and with the background noise -- so it misses or invents the hidden
label on many documents, and every such error costs the whole label set (subset accuracy). An SGM decodes
labels one at a time conditioned on the labels already emitted: having emitted ``a`` and ``b``, the next label
is deterministic. The chain's sparse transitions add softer dependencies of the same kind (which labels follow
which), and give the ``natural`` label order a real meaning.

Leaked words make the visible labels uncertain too, for every model, so that nothing saturates. The decoy is
drawn regardless of the chain, so which labels go together -- what a decoder conditioned on its earlier labels
learns -- helps to tell a real label from a decoy; an independent classifier per label has only the counts.
With more hidden labels (``hidden_label_share``), more of each label set is a conjunction of the rest.

:func:`planted_structure` returns all of the above (start distribution, transition rows with end
probabilities, label -> words, hidden labels with their rule), and ``download`` writes it beside the corpus.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sgm_mlc.atomic import write_json, write_text
from sgm_mlc.data.base import Example
from sgm_mlc.data.splits import carve_split, stratified_split

CORPUS_FILENAME = "synthetic.jsonl"
STRUCTURE_FILENAME = "planted_structure.json"
END = "<end>"
# The difficulty settings a params section may leave out; these values plant what the generator did before
# they existed (params.schema.yaml states the same defaults).
DEFAULTS = {"hidden_label_share": 0.1, "word_leak_share": 0.0}

MAX_SUCCESSORS = 3
END_PROBABILITY = (0.2, 0.4)
ZIPF_EXPONENT = 1.0
_STRUCTURE_STREAM = 0
_DOCUMENT_STREAM = 1
_LEAK_STREAM = 2

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "ch", "dr", "gr", "kl",
           "pl", "sh", "st", "tr", "")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "t")


@dataclass(frozen=True)
class Plan:
    """The planted structure as arrays (label indices), shared by the generator and :func:`planted_structure`.

    ``L`` labels, a vocabulary of ``V`` words, ``B`` background words, ``W`` = ``words_per_label``.
    """

    labels: tuple[str, ...]
    hidden: tuple[int, ...]  # label indices of the hidden labels, ascending
    triggers: tuple[tuple[int, int], ...]  # trigger pair (a, b) of each hidden label, same order as ``hidden``
    start: np.ndarray  # (L,) start distribution; zero on hidden labels
    transitions: np.ndarray  # (L, L) next-label probabilities; zero on hidden columns and on the diagonal
    end: np.ndarray  # (L,) end-of-sequence probability after each label; transitions[i].sum() + end[i] == 1
    vocabulary: np.ndarray  # (V,) distinct words (object dtype)
    label_words: np.ndarray  # (L, W) vocabulary indices of each label's words; -1 on hidden labels
    background: np.ndarray  # (B,) vocabulary indices of the background words, most frequent first
    background_cdf: np.ndarray  # (B,) cumulative Zipf probabilities of ``background``

    @property
    def visible(self) -> np.ndarray:
        """``(L - len(hidden),)`` label indices of the visible labels, ascending."""
        return np.array([i for i in range(len(self.labels)) if i not in self.hidden])


def corpus_settings(params: Mapping[str, Any], section: str = "datasets.synthetic") -> dict[str, Any]:
    """The parameters of ``datasets.synthetic`` this module uses, defaults filled in, type-converted and
    checked for consistency; errors name ``section``."""
    params = {**DEFAULTS, **params}
    try:
        shortest, longest = (int(n) for n in params["document_length"])
        settings = {
            "seed": int(params["seed"]),
            "n_documents": int(params["n_documents"]),
            "n_labels": int(params["n_labels"]),
            "vocabulary_size": int(params["vocabulary_size"]),
            "words_per_label": int(params["words_per_label"]),
            "document_length": (shortest, longest),
            "background_word_share": float(params["background_word_share"]),
            "max_labels": int(params["max_labels"]),
            "hidden_label_share": float(params["hidden_label_share"]),
            "word_leak_share": float(params["word_leak_share"]),
        }
    except KeyError as error:
        raise ValueError(f"{section}: missing parameter {error.args[0]!r}") from None
    # floor, not round: share 0.1 gives n_labels // 10, as before the setting existed (1e-9 absorbs 0.1 * 30)
    n_hidden = max(1, math.floor(settings["hidden_label_share"] * settings["n_labels"] + 1e-9))
    n_visible = settings["n_labels"] - n_hidden
    problems = []
    if settings["n_documents"] < 1:
        problems.append("n_documents must be at least 1")
    if not 0.0 < settings["hidden_label_share"] <= 0.5:
        problems.append(f"hidden_label_share must lie in (0, 0.5], got {settings['hidden_label_share']}")
    elif n_visible < 3:
        problems.append(f"n_labels must be at least 4 (got {settings['n_labels']})")
    if settings["words_per_label"] < 1:
        problems.append("words_per_label must be at least 1")
    if settings["vocabulary_size"] <= n_visible * settings["words_per_label"]:
        problems.append(
            f"vocabulary_size ({settings['vocabulary_size']}) must exceed the {n_visible} visible labels x "
            f"words_per_label ({settings['words_per_label']}) = {n_visible * settings['words_per_label']} "
            "label words, to leave room for background words"
        )
    if not 1 <= shortest <= longest:
        problems.append(f"document_length must be [shortest, longest] with 1 <= shortest <= longest, got "
                        f"{[shortest, longest]}")
    if settings["max_labels"] < 1:
        problems.append("max_labels must be at least 1")
    elif shortest < settings["max_labels"]:
        problems.append(f"document_length[0] ({shortest}) must be at least max_labels ({settings['max_labels']}) "
                        "so that every visible label of a document can contribute a word")
    if not 0.0 <= settings["background_word_share"] < 1.0:
        problems.append("background_word_share must lie in [0, 1)")
    if not 0.0 <= settings["word_leak_share"] <= 0.5:
        problems.append(f"word_leak_share must lie in [0, 0.5], got {settings['word_leak_share']}")
    if problems:
        raise ValueError(f"{section}: " + "; ".join(problems))
    settings["n_hidden"] = n_hidden
    return settings


def pseudo_words(rng: np.random.Generator, count: int, exclude: frozenset[str] = frozenset()) -> list[str]:
    """``count`` distinct pronounceable lowercase pseudo-words of two or three syllables, none in ``exclude``,
    in drawing order."""
    words: dict[str, None] = {}
    while len(words) < count:
        batch = max(64, 2 * (count - len(words)))
        n_syllables = rng.integers(2, 4, size=batch)
        onsets = rng.integers(len(_ONSETS), size=(batch, 3))
        vowels = rng.integers(len(_VOWELS), size=(batch, 3))
        codas = rng.integers(len(_CODAS), size=(batch, 3))
        for row in range(batch):
            word = "".join(
                _ONSETS[onsets[row, k]] + _VOWELS[vowels[row, k]] + _CODAS[codas[row, k]]
                for k in range(n_syllables[row])
            )
            if word not in exclude:
                words.setdefault(word, None)
            if len(words) == count:
                break
    return list(words)


def zipf_cdf(count: int) -> np.ndarray:
    """``(count,)`` cumulative probabilities of ranks ``1 … count`` under ``p ~ 1 / rank ** ZIPF_EXPONENT``."""
    zipf = 1.0 / np.arange(1, count + 1) ** ZIPF_EXPONENT
    cdf = np.cumsum(zipf / zipf.sum())
    cdf[-1] = 1.0
    return cdf


def label_names(n_labels: int, count: int | None = None) -> tuple[str, ...]:
    """The first ``count`` (default ``n_labels``) label names of a corpus of ``n_labels`` labels."""
    width = max(2, len(str(n_labels - 1)))
    return tuple(f"topic_{i:0{width}d}" for i in range(n_labels if count is None else count))


def build_plan(settings: Mapping[str, Any], section: str = "datasets.synthetic") -> Plan:
    """The planted structure for :func:`corpus_settings`'s ``settings``."""
    rng = np.random.default_rng([settings["seed"], _STRUCTURE_STREAM])
    n_labels = settings["n_labels"]
    labels = label_names(n_labels)

    hidden = tuple(sorted(int(i) for i in rng.choice(n_labels, size=settings["n_hidden"], replace=False)))
    visible = np.array([i for i in range(n_labels) if i not in hidden])

    # Start distribution: skewed (Dirichlet) with a floor, so every visible label opens some documents.
    start = np.zeros(n_labels)
    start[visible] = 0.7 * rng.dirichlet(np.ones(len(visible))) + 0.3 / len(visible)

    # Sparse transitions: each label (hidden ones too) has a few visible successors, plus a chance to stop.
    n_successors = min(MAX_SUCCESSORS, len(visible) - 1)
    transitions = np.zeros((n_labels, n_labels))
    end = rng.uniform(*END_PROBABILITY, size=n_labels)
    for i in range(n_labels):
        candidates = visible[visible != i]
        successors = rng.choice(candidates, size=n_successors, replace=False)
        transitions[i, successors] = (1.0 - end[i]) * rng.dirichlet(np.full(n_successors, 2.0))

    # Trigger pairs: a visible label and its most likely successor, so that the pair co-occurs often.
    triggers: list[tuple[int, int]] = []
    firsts = rng.permutation(visible)
    for first in firsts:
        if len(triggers) == len(hidden):
            break
        second = int(np.argmax(transitions[first]))
        pair = (int(first), second)
        if {pair[0], pair[1]} not in [set(t) for t in triggers]:
            triggers.append(pair)
    if len(triggers) < len(hidden):
        raise ValueError(
            f"{section}: {len(hidden)} hidden labels need as many distinct trigger pairs, but the chain of seed "
            f"{settings['seed']} offers {len(triggers)}; lower hidden_label_share or change the seed"
        )

    # Vocabulary: visible labels' words first (in label order), then background words by Zipf rank.
    words_per_label = settings["words_per_label"]
    vocabulary = np.array(pseudo_words(rng, settings["vocabulary_size"]), dtype=object)
    label_words = np.full((n_labels, words_per_label), -1, dtype=np.int64)
    for position, label in enumerate(visible):
        label_words[label] = np.arange(position * words_per_label, (position + 1) * words_per_label)
    background = np.arange(len(visible) * words_per_label, settings["vocabulary_size"])

    return Plan(
        labels=labels,
        hidden=hidden,
        triggers=tuple(triggers),
        start=start,
        transitions=transitions,
        end=end,
        vocabulary=vocabulary,
        label_words=label_words,
        background=background,
        background_cdf=zipf_cdf(len(background)),
    )


def structure_of(plan: Plan) -> dict[str, Any]:
    """A plan as plain JSON-ready data (the keys are listed in :func:`planted_structure`)."""
    names = plan.labels
    hidden_names = {names[h] for h in plan.hidden}
    transitions = {}
    for i, name in enumerate(names):
        row = {names[j]: float(plan.transitions[i, j]) for j in np.flatnonzero(plan.transitions[i])}
        row[END] = float(plan.end[i])
        transitions[name] = row
    return {
        "labels": list(names),
        "visible_labels": [n for n in names if n not in hidden_names],
        "hidden_labels": {
            names[h]: {
                "trigger": [names[a], names[b]],
                "rule": (
                    f"present exactly when both {names[a]} and {names[b]} are present; emitted right after "
                    "whichever of the two comes second; owns no words"
                ),
            }
            for h, (a, b) in zip(plan.hidden, plan.triggers, strict=True)
        },
        "start": {names[i]: float(plan.start[i]) for i in np.flatnonzero(plan.start)},
        "transitions": transitions,
        "label_words": {
            name: [str(plan.vocabulary[w]) for w in plan.label_words[i] if w >= 0] for i, name in enumerate(names)
        },
        "background_words": [str(plan.vocabulary[w]) for w in plan.background],
        "background_zipf_exponent": ZIPF_EXPONENT,
    }


def planted_structure(params: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the generator plants for ``params``, as plain JSON-ready data.

    Keys: ``labels`` (all names), ``visible_labels``, ``hidden_labels`` (name -> ``{"trigger": [a, b],
    "rule": ...}``), ``start`` (label -> probability, visible labels only), ``transitions`` (label ->
    ``{successor: probability, ..., "<end>": probability}``, non-zero entries only, each row summing to 1 before
    used labels are removed), ``label_words`` (label -> its words; ``[]`` for hidden labels),
    ``background_words`` (most frequent first) and ``background_zipf_exponent``.
    """
    return structure_of(build_plan(corpus_settings(params)))


class _Chain:
    """The label chain of a plan in plain Python lists (fast to sample one short sequence at a time)."""

    def __init__(self, plan: Plan) -> None:
        self.start = [(int(j), float(plan.start[j])) for j in np.flatnonzero(plan.start)]
        self.rows = [[(int(j), float(row[j])) for j in np.flatnonzero(row)] for row in plan.transitions]
        self.end = [float(p) for p in plan.end]
        # partners[c]: (other, hidden) for every trigger pair {c, other} of a hidden label
        self.partners: list[list[tuple[int, int]]] = [[] for _ in plan.labels]
        for hidden, (a, b) in zip(plan.hidden, plan.triggers, strict=True):
            self.partners[a].append((b, hidden))
            self.partners[b].append((a, hidden))

    def forced(self, used: set[int], candidate: int) -> list[int]:
        """Hidden labels that adding ``candidate`` to ``used`` would trigger, ascending."""
        return sorted(h for other, h in self.partners[candidate] if other in used and h not in used)

    def sample(self, rng: np.random.Generator, max_labels: int) -> list[int]:
        """One run: visible labels from the chain, each hidden label forced right after its completed pair."""
        sequence: list[int] = []
        used: set[int] = set()
        row = self.start
        while True:
            room = max_labels - len(sequence)
            options = [(j, w) for j, w in row if j not in used and 1 + len(self.forced(used, j)) <= room]
            if not options:
                break
            stop = self.end[sequence[-1]] if sequence else 0.0  # the first label is never the end
            threshold = rng.random() * (stop + sum(w for _, w in options))
            label = None
            for j, w in options:
                threshold -= w
                if threshold < 0.0:
                    label = j
                    break
            if label is None:  # end of sequence (or float round-off past the last option, when stop is 0)
                if stop > 0.0:
                    break
                label = options[-1][0]
            for new in (label, *self.forced(used, label)):
                sequence.append(new)
                used.add(new)
            if len(sequence) >= max_labels:
                break
            row = self.rows[sequence[-1]]
        return sequence


def documents_of(
    plan: Plan, settings: Mapping[str, Any], n_documents: int, key: tuple[int, ...]
) -> list[dict[str, Any]]:
    """``n_documents`` documents of ``plan``: ``{"id", "text", "labels"}`` each, ids ``doc-00000``... in order.

    ``settings`` (from :func:`corpus_settings`) give the document length, background share, label cap and leak
    share; ``key`` seeds the random streams: the documents' (``key + (1,)``) and the leaked words'
    (``key + (2,)``).
    """
    rng = np.random.default_rng([*key, _DOCUMENT_STREAM])
    leak_rng = np.random.default_rng([*key, _LEAK_STREAM])
    shortest, longest = settings["document_length"]
    chain = _Chain(plan)
    hidden = set(plan.hidden)
    all_visible = plan.visible
    width = max(5, len(str(n_documents - 1)))
    documents = []
    for number in range(n_documents):
        sequence = chain.sample(rng, settings["max_labels"])
        visible = np.array([label for label in sequence if label not in hidden])
        length = int(rng.integers(shortest, longest + 1))
        owners = visible[rng.integers(len(visible), size=length)]
        is_background = rng.random(length) < settings["background_word_share"]
        guaranteed = rng.permutation(length)[: len(visible)]  # one word of each visible label, at least
        owners[guaranteed] = visible
        is_background[guaranteed] = False
        leaked = leak_rng.random(length) < settings["word_leak_share"]
        leaked[guaranteed] = False
        decoys = np.setdiff1d(all_visible, visible)
        if decoys.size:
            owners[leaked] = decoys[leak_rng.integers(decoys.size)]
        tokens = plan.label_words[owners, rng.integers(plan.label_words.shape[1], size=length)]
        background = plan.background[np.searchsorted(plan.background_cdf, rng.random(length), side="right")]
        tokens = np.where(is_background, background, tokens)
        documents.append(
            {
                "id": f"doc-{number:0{width}d}",
                "text": " ".join(plan.vocabulary[tokens]),
                "labels": [plan.labels[label] for label in sequence],
            }
        )
    return documents


def generate(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The corpus for ``params``: ``{"id", "text", "labels"}`` per document, ids ``doc-00000``... in order."""
    settings = corpus_settings(params)
    return documents_of(build_plan(settings), settings, settings["n_documents"], (settings["seed"],))


class SyntheticDataset:
    """The embedded dataset (see the module docstring); ``download`` generates it, no network involved."""

    name = "synthetic"
    modality = "text"

    def corpus(self, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The documents and the planted structure for ``params`` (this dataset's section of params.yaml)."""
        return generate(params), planted_structure(params)

    def download(self, params: dict[str, Any], raw_dir: Path) -> None:
        """Write ``synthetic.jsonl`` (one ``{"id", "text", "labels"}`` object per line) and
        ``planted_structure.json`` into ``raw_dir``, atomically; the bytes depend only on ``params``."""
        raw_dir = Path(raw_dir)
        documents, structure = self.corpus(params)
        lines = [json.dumps(document, ensure_ascii=False) for document in documents]
        write_text(raw_dir / CORPUS_FILENAME, "\n".join(lines) + "\n")
        write_json(raw_dir / STRUCTURE_FILENAME, structure)

    def parse(self, params: dict[str, Any], raw_dir: Path) -> list[Example]:
        """Read ``synthetic.jsonl`` back and assign splits.

        ``test`` is ``carve_split(ids, test_fraction, seed)`` (at random); ``valid`` is carved from the remaining
        documents with ``stratified_split(rest, their labels, validation_fraction, seed + 1)`` (so it is about
        ``validation_fraction`` of the non-test documents, stratified on the labels); everything else is ``train``.
        Examples come back sorted by id.
        """
        path = Path(raw_dir) / CORPUS_FILENAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such file; run the download step for {self.name!r} first") from None
        records: list[tuple[str, str, tuple[str, ...]]] = []
        seen: set[str] = set()
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            record = _parse_line(line, path, number, self.name)
            if record[0] in seen:
                raise ValueError(f"{path}:{number}: duplicate id {record[0]!r}; re-run the download step")
            seen.add(record[0])
            records.append(record)
        if not records:
            raise ValueError(f"{path}: no documents; re-run the download step")

        seed = int(params["seed"])
        ids = [record[0] for record in records]
        test = carve_split(ids, float(params["test_fraction"]), seed)
        rest = [(i, ls) for i, _, ls in records if i not in test]
        valid = stratified_split(
            [i for i, _ in rest], [ls for _, ls in rest], float(params["validation_fraction"]), seed + 1
        )
        examples = [
            Example(id=i, text=t, labels=ls, split="test" if i in test else "valid" if i in valid else "train")
            for i, t, ls in records
        ]
        return sorted(examples, key=lambda example: example.id)


def _parse_line(line: str, path: Path, number: int, dataset: str) -> tuple[str, str, tuple[str, ...]]:
    """One JSONL line as ``(id, text, labels)``; a clear error naming the file and line otherwise."""

    def fail(reason: str) -> ValueError:
        return ValueError(f"{path}:{number}: malformed line ({reason}); re-run the download step for {dataset!r}")

    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise fail(f"not valid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(record, dict):
        raise fail("expected a JSON object")
    missing = [key for key in ("id", "text", "labels") if key not in record]
    if missing:
        raise fail(f"missing key(s) {missing}")
    identifier, body, labels = record["id"], record["text"], record["labels"]
    if not isinstance(identifier, str) or not identifier:
        raise fail("'id' must be a non-empty string")
    if not isinstance(body, str):
        raise fail("'text' must be a string")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise fail("'labels' must be a non-empty list of non-empty strings")
    if len(set(labels)) != len(labels):
        raise fail("'labels' repeats a label")
    return identifier, body, tuple(labels)
