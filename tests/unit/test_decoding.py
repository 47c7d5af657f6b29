"""Greedy and beam search: beam search against exhaustive search, batching, result bookkeeping, repeats without
label masking, and the decoder state's attention under beam reordering."""

import itertools
import math
from dataclasses import fields

import numpy as np
import pytest
import torch

from sgm_mlc.decoding import BeamSearch, DecodeResult, GreedySearch
from sgm_mlc.models.label_ids import BOS, EOS, FIRST_LABEL, PAD_LABEL, teacher_forcing_targets
from sgm_mlc.models.neural import build_neural_model
from sgm_mlc.models.sgm import SGM

VOCAB_SIZE = 30


def tiny_sgm(n_labels: int, name: str = "sgm", seed: int = 0, **overrides) -> SGM:
    """A random SGM in eval mode; a sharper output layer makes the step distributions less uniform."""
    torch.manual_seed(seed)
    vectors = np.random.default_rng(seed).normal(size=(VOCAB_SIZE, 8)).astype(np.float32)
    vectors[0] = 0.0
    params = {
        "hidden_size": 12,
        "encoder_layers": 1,
        "decoder_layers": 2,
        "attention_heads": 2,
        "label_embedding_dim": 6,
        "dropout": 0.0,
        **overrides,
    }
    model = build_neural_model(name, params, vectors, n_labels).eval()
    with torch.no_grad():
        model.scorer.output.weight.mul_(4.0)
    return model


def documents(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(2, VOCAB_SIZE, (len(lengths), max(lengths)), generator=generator)
    src_lengths = torch.tensor(lengths)
    src[torch.arange(src.size(1)) >= src_lengths.unsqueeze(1)] = 0
    return src, src_lengths


def select(src: torch.Tensor, src_lengths: torch.Tensor, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Documents ``rows`` of a batch, trimmed to their own longest length."""
    lengths = src_lengths[rows]
    return src[rows, : lengths.max()], lengths


def every_hypothesis(n_labels: int, max_length: int, repeats: bool = False) -> list[tuple[list[int], bool]]:
    """Every label-id sequence decoding can produce: real labels (distinct unless ``repeats``), then ``EOS``
    (``True``), or ``max_length`` labels cut without ``EOS`` (``False``)."""
    labels = range(FIRST_LABEL, FIRST_LABEL + n_labels)
    hypotheses = []
    for length in range(max_length + 1 if repeats else min(max_length, n_labels) + 1):
        sequences = itertools.product(labels, repeat=length) if repeats else itertools.permutations(labels, length)
        hypotheses.extend((list(sequence), length < max_length) for sequence in sequences)
    return hypotheses


def exhaustive_search(
    model: SGM, src, src_lengths, max_length: int, length_normalization: bool = False, min_labels: int = 0
):
    """The best hypothesis and its score for one document, scoring every hypothesis (of ``min_labels`` labels
    or more, or cut by the step limit) under teacher forcing."""
    hypotheses = every_hypothesis(model.n_label_ids - FIRST_LABEL, max_length, repeats=not model.label_masking)
    hypotheses = [(labels, eos) for labels, eos in hypotheses if len(labels) >= min_labels or not eos]
    tgt_in, tgt_out = teacher_forcing_targets([[label - FIRST_LABEL for label in labels] for labels, _ in hypotheses])
    with torch.no_grad():
        log_probs = model(src.expand(len(hypotheses), -1), src_lengths.expand(len(hypotheses)), tgt_in)
    gold = log_probs.gather(2, tgt_out.unsqueeze(2)).squeeze(2)
    scores = []
    for row, (labels, ends_with_eos) in enumerate(hypotheses):
        steps = len(labels) + ends_with_eos
        score = gold[row, :steps].sum().item()
        scores.append(score / steps if length_normalization else score)
    best = max(range(len(hypotheses)), key=scores.__getitem__)
    return hypotheses[best][0], scores[best]


def pick(result: DecodeResult, rows: list[int]) -> DecodeResult:
    """The results of documents ``rows``."""
    return DecodeResult(*([getattr(result, field.name)[row] for row in rows] for field in fields(DecodeResult)))


def assert_same_results(first: DecodeResult, second: DecodeResult) -> None:
    assert first.labels == second.labels
    flat = [[p for probabilities in result.step_probabilities for p in probabilities] for result in (first, second)]
    assert flat[0] == pytest.approx(flat[1], abs=1e-5)
    assert first.end_probabilities == pytest.approx(second.end_probabilities, abs=1e-5)
    assert first.scores == pytest.approx(second.scores, abs=1e-5)


MODEL_VARIANTS = [
    ("sgm", {}),
    ("seq2seq", {}),
    ("sgm", {"label_attention": True}),
    ("sgm", {"global_embedding": False, "label_masking": False}),
]


@pytest.mark.parametrize("name, overrides", MODEL_VARIANTS)
@pytest.mark.parametrize("length_normalization", [False, True])
def test_beam_covering_every_hypothesis_finds_the_exhaustive_best(name, overrides, length_normalization):
    n_labels, max_length = 4, 3
    model = tiny_sgm(n_labels, name, **overrides)
    beam_size = len(every_hypothesis(n_labels, max_length, repeats=not model.label_masking))
    src, src_lengths = documents([5, 1, 3, 7, 2, 4])
    result = BeamSearch(beam_size, length_normalization).decode(model, src, src_lengths, max_length)
    found_lengths = set()
    for row in range(src.size(0)):
        labels, score = exhaustive_search(model, *select(src, src_lengths, [row]), max_length, length_normalization)
        assert result.labels[row] == list(dict.fromkeys(labels))  # repeats dropped
        assert result.scores[row] == pytest.approx(score, abs=1e-5)
        found_lengths.add(len(labels))
    assert len(found_lengths) > 1  # the documents' best sequences are not all alike


@pytest.mark.parametrize("min_labels", [1, 2])
def test_beam_covering_every_hypothesis_finds_the_best_with_at_least_min_labels(min_labels):
    n_labels, max_length = 4, 3
    model = tiny_sgm(n_labels)
    beam_size = len(every_hypothesis(n_labels, max_length))
    src, src_lengths = documents([5, 1, 3, 7, 2, 4])
    unconstrained = BeamSearch(beam_size).decode(model, src, src_lengths, max_length)
    result = BeamSearch(beam_size).decode(model, src, src_lengths, max_length, min_labels=min_labels)
    for row in range(src.size(0)):
        labels, score = exhaustive_search(model, *select(src, src_lengths, [row]), max_length, min_labels=min_labels)
        assert result.labels[row] == labels and len(labels) >= min_labels
        assert result.scores[row] == pytest.approx(score, abs=1e-5)
    # Without the minimum, some documents' best sequences are shorter.
    assert min(len(labels) for labels in unconstrained.labels) < min_labels


@pytest.mark.parametrize("strategy", [GreedySearch(), BeamSearch(3)])
def test_the_end_label_cannot_come_first_when_a_label_is_required(strategy):
    model = tiny_sgm(5, seed=3)
    with torch.no_grad():  # the end label the most probable choice at every step
        model.scorer.output.bias[EOS] += 20.0
    src, src_lengths = documents([4, 9, 1, 6, 3])
    assert strategy.decode(model, src, src_lengths, 5).labels == [[]] * 5
    required = strategy.decode(model, src, src_lengths, 5, min_labels=1)
    assert all(len(labels) == 1 for labels in required.labels)
    # Scores stay the model's log-probabilities (the other ids are not renormalised).
    for probabilities, end, score in zip(required.step_probabilities, required.end_probabilities, required.scores):
        assert score == pytest.approx(math.log(probabilities[0]) + math.log(end), abs=1e-5)
    with pytest.raises(ValueError, match="min_labels must be at least 0"):
        strategy.decode(model, src, src_lengths, 5, min_labels=-1)


def test_beam_of_one_is_greedy():
    model = tiny_sgm(6)
    src, src_lengths = documents([4, 9, 1, 6, 3, 5, 2, 8])
    beam = BeamSearch(1).decode(model, src, src_lengths, 5)
    assert_same_results(beam, GreedySearch().decode(model, src, src_lengths, 5))


@pytest.mark.parametrize("strategy", [GreedySearch(), BeamSearch(3), BeamSearch(3, length_normalization=True)])
def test_batched_decoding_equals_decoding_each_document_alone(strategy):
    model = tiny_sgm(6)
    src, src_lengths = documents([4, 9, 1, 6, 3])
    batched = strategy.decode(model, src, src_lengths, 5)
    for row in range(src.size(0)):
        alone = strategy.decode(model, *select(src, src_lengths, [row]), 5)
        assert_same_results(alone, pick(batched, [row]))


@pytest.mark.parametrize("strategy", [GreedySearch(), BeamSearch(3)])
def test_results_do_not_depend_on_the_other_documents_in_the_batch(strategy):
    model = tiny_sgm(6)
    src, src_lengths = documents([4, 9, 1, 6, 3, 7])
    first = strategy.decode(model, *select(src, src_lengths, [0, 1, 2]), 5)
    second = strategy.decode(model, *select(src, src_lengths, [5, 2, 3, 0, 4, 1]), 5)
    assert_same_results(first, pick(second, [3, 5, 1]))  # documents 0, 1, 2 in the second batch


@pytest.mark.parametrize("strategy", [GreedySearch(), BeamSearch(3), BeamSearch(3, length_normalization=True)])
def test_step_and_end_probabilities_add_up_to_the_score(strategy):
    length_normalization = getattr(strategy, "length_normalization", False)
    model = tiny_sgm(6)
    result = strategy.decode(model, *documents([4, 9, 1, 6, 3, 7, 2]), 4)
    for labels, probabilities, end, score in zip(
        result.labels, result.step_probabilities, result.end_probabilities, result.scores
    ):
        assert len(probabilities) == len(labels)
        log_probability = sum(math.log(p) for p in probabilities) + math.log(end)
        steps = len(labels) + (len(labels) < 4)
        assert (log_probability / steps if length_normalization else log_probability) == pytest.approx(score, abs=1e-5)


def test_step_probabilities_are_the_models_step_probabilities():
    model = tiny_sgm(5)
    src, src_lengths = documents([4, 2, 6])
    result = BeamSearch(3).decode(model, src, src_lengths, 4)
    tgt_in, tgt_out = teacher_forcing_targets([[label - FIRST_LABEL for label in labels] for labels in result.labels])
    with torch.no_grad():
        gold = model(src, src_lengths, tgt_in).gather(2, tgt_out.unsqueeze(2)).squeeze(2).exp()
    for row, labels in enumerate(result.labels):
        assert result.step_probabilities[row] == pytest.approx(gold[row, : len(labels)].tolist(), abs=1e-5)
        if len(labels) < 4:
            assert result.end_probabilities[row] == pytest.approx(gold[row, len(labels)].item(), abs=1e-5)


@pytest.mark.parametrize("strategy", [GreedySearch(), BeamSearch(4)])
def test_no_label_twice_no_special_ids_and_the_step_limit_holds(strategy):
    model = tiny_sgm(5)
    with torch.no_grad():
        model.scorer.output.bias[EOS] -= 30.0  # EOS only once every label has been emitted
    src, src_lengths = documents([4, 2, 6, 1])
    long = strategy.decode(model, src, src_lengths, 8)
    assert all(sorted(labels) == list(range(FIRST_LABEL, FIRST_LABEL + 5)) for labels in long.labels)
    cut = strategy.decode(model, src, src_lengths, 3)
    assert all(len(labels) == 3 and len(set(labels)) == 3 and min(labels) >= FIRST_LABEL for labels in cut.labels)
    assert cut.end_probabilities == [1.0] * 4


@pytest.mark.parametrize("strategy", [GreedySearch(), BeamSearch(3)])
def test_without_label_masking_the_step_limit_ends_decoding_and_repeats_are_dropped(strategy):
    model = tiny_sgm(5, label_masking=False)
    with torch.no_grad():
        model.scorer.output.bias[EOS] -= 30.0
        model.scorer.output.bias[FIRST_LABEL] += 30.0  # the first label wins at every step
    result = strategy.decode(model, *documents([4, 2, 6]), 4)
    assert result.labels == [[FIRST_LABEL]] * 3
    assert all(len(probabilities) == 1 and probabilities[0] > 0.99 for probabilities in result.step_probabilities)
    assert result.end_probabilities == [1.0] * 3


def test_beam_search_stops_once_every_document_is_done(monkeypatch):
    model = tiny_sgm(5)
    with torch.no_grad():
        model.scorer.output.bias[EOS] += 30.0
    steps = []
    original_step = model.step
    monkeypatch.setattr(model, "step", lambda *args: steps.append(1) or original_step(*args))
    result = BeamSearch(2).decode(model, *documents([3, 5]), 6)
    assert result.labels == [[], []]
    assert len(steps) == 2  # step 1 finishes [EOS]; step 2 finishes the runner-up, and nothing live beats both


def test_beam_size_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        BeamSearch(0)


def test_decode_result_reads_sequences_up_to_eos_or_padding():
    tokens = torch.tensor([[3, 5, EOS, PAD_LABEL], [4, PAD_LABEL, PAD_LABEL, PAD_LABEL], [5, 3, 4, 6]])
    log_probs = torch.log(torch.tensor([[0.5, 0.4, 0.9, 1.0], [0.7, 1.0, 1.0, 1.0], [0.6, 0.5, 0.4, 0.3]]))
    result = DecodeResult.from_steps(tokens, log_probs, torch.tensor([-1.0, -2.0, -3.0]))
    assert result.labels == [[3, 5], [4], [5, 3, 4, 6]]
    for probabilities, expected in zip(result.step_probabilities, [[0.5, 0.4], [0.7], [0.6, 0.5, 0.4, 0.3]]):
        assert probabilities == pytest.approx(expected)
    assert result.end_probabilities == pytest.approx([0.9, 1.0, 1.0])
    assert result.scores == [-1.0, -2.0, -3.0]


def test_decode_result_keeps_the_first_emission_of_a_repeated_label():
    tokens = torch.tensor([[3, 5, 3, 5, 4, EOS], [6, 6, 6, 6, 6, 6]])
    log_probs = torch.log(torch.tensor([[0.5, 0.4, 0.3, 0.2, 0.1, 0.9], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]]))
    result = DecodeResult.from_steps(tokens, log_probs, torch.tensor([-1.0, -2.0]))
    assert result.labels == [[3, 5, 4], [6]]
    for probabilities, expected in zip(result.step_probabilities, [[0.5, 0.4, 0.1], [0.6]]):
        assert probabilities == pytest.approx(expected)
    assert result.end_probabilities == pytest.approx([0.9, 1.0])
    assert result.scores == [-1.0, -2.0]  # the strategy's scores, dropped steps included


def test_reordering_and_repeating_the_decoder_state_keep_each_rows_attention():
    model = tiny_sgm(4)
    src, src_lengths = documents([3, 5])
    state = model.init_decoder(model.encode(src, src_lengths))
    assert state.attention is None
    state = state.repeat_interleave(2)
    assert state.attention is None
    rows = torch.tensor([1, 1, 2, 3])  # the first document's rows read from its second, as a back-pointer may
    emitted = torch.zeros(4, model.n_label_ids, dtype=torch.bool)
    _, state = model.step(state, torch.tensor([BOS, 3, BOS, 4]), emitted)
    assert state.attention.shape == (4, 5)
    assert not state.attention[:2, 3:].any()  # the first document has 3 tokens
    reordered = state.reorder(rows)
    torch.testing.assert_close(reordered.attention, state.attention[rows])
    torch.testing.assert_close(reordered.hidden, state.hidden[:, rows])
    repeated = state.repeat_interleave(3)
    torch.testing.assert_close(repeated.attention, state.attention.repeat_interleave(3, dim=0))


@pytest.mark.parametrize("beam_size", [1, 3])
def test_label_scores_are_the_max_over_the_decoded_steps_replayed_one_step_at_a_time(beam_size):
    from sgm_mlc.models.label_ids import mark_emitted
    from sgm_mlc.training.batches import Batch
    from sgm_mlc.training.tasks import SequenceTask

    n_labels = 5
    model = tiny_sgm(n_labels, seed=4)
    src, src_lengths = documents([7, 3, 5, 6], seed=2)
    batch = Batch(src, src_lengths, None, None, None, np.arange(4))
    predictions = SequenceTask("sequence", beam_size, 6, label_scores=True).predict(model, batch)
    for row, prediction in enumerate(predictions):
        # The same sequence fed one step at a time through model.step: the max of each label's probability
        # over the label steps and the end step.
        state = model.init_decoder(model.encode(*select(src, src_lengths, [row])))
        previous, emitted = torch.tensor([BOS]), torch.zeros(1, FIRST_LABEL + n_labels, dtype=torch.bool)
        best = torch.zeros(n_labels)
        for label in list(prediction.labels) + [EOS]:
            with torch.no_grad():
                log_probs, state = model.step(state, previous, emitted)
            best = torch.maximum(best, log_probs[0, FIRST_LABEL:].exp())
            previous = torch.tensor([label])
            emitted = mark_emitted(emitted, previous)
        assert prediction.label_scores == pytest.approx(best.tolist(), abs=1e-5)
        for label, probability in zip(prediction.labels, prediction.step_probabilities):
            assert prediction.label_scores[label - FIRST_LABEL] >= probability - 1e-6
