"""The neural models: shapes, padding invariance, SGM's label mask, global embedding, label attention and
attention capture, training behaviour, and the losses."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from sgm_mlc.decoding import GreedySearch
from sgm_mlc.models.encoders import EncodedSource, PaddingFreeLSTM, SelfAttention, length_mask
from sgm_mlc.models.label_ids import BOS, EOS, FIRST_LABEL, PAD_LABEL, multi_hot, teacher_forcing_targets
from sgm_mlc.models.losses import combined_loss, sequence_nll, set_bce, set_bce_from_sequence
from sgm_mlc.models.neural import DEFAULT_HYPERPARAMETERS, MODEL_NAMES, build_neural_model, is_sequence_model
from sgm_mlc.models.attention import AdditiveAttention, BilinearAttention, SourceMemory
from sgm_mlc.models.label_attention import LabelAttention
from sgm_mlc.models.sgm import SGM, GlobalEmbedding

VOCAB_SIZE = 40
N_LABELS = 5
SMALL = {
    "hidden_size": 16,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "attention_heads": 2,
    "label_embedding_dim": 8,
    "num_filters": 6,
    "dropout": 0.0,
}


def word_vectors() -> np.ndarray:
    vectors = np.random.default_rng(0).normal(size=(VOCAB_SIZE, 12)).astype(np.float32)
    vectors[0] = 0.0
    return vectors


def build(name: str, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_neural_model(name, {**SMALL, **overrides}, word_vectors(), N_LABELS)


def documents(lengths: list[int], extra_padding: int = 0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random word ids (never 0) right-padded with 0 to the longest length, plus ``extra_padding`` columns."""
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(2, VOCAB_SIZE, (len(lengths), max(lengths)), generator=generator)
    src_lengths = torch.tensor(lengths)
    src[torch.arange(src.size(1)) >= src_lengths.unsqueeze(1)] = 0
    return torch.nn.functional.pad(src, (0, extra_padding)), src_lengths


def label_sequences(batch: int) -> list[list[int]]:
    """Label-index sequences of 0 to 3 distinct labels."""
    return [list(range(row % 4)) if row % 2 else [N_LABELS - 1 - i for i in range(row % 4)] for row in range(batch)]


def outputs(model: torch.nn.Module, name: str, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
    """Sequence models: teacher-forced log-probs of :func:`label_sequences`; set models: logits."""
    if is_sequence_model(name):
        tgt_in, _ = teacher_forcing_targets(label_sequences(src.size(0)))
        return model(src, src_lengths, tgt_in)
    return model(src, src_lengths)


def word_embedding(model: torch.nn.Module) -> torch.nn.Embedding:
    """The word embedding layer: the encoder's, or the CNN's own."""
    return getattr(model, "encoder", model).embedding


def shift_eos_logit(model: SGM, bias: float) -> None:
    """Shift the ``EOS`` logit by ``bias`` at every step."""
    with torch.no_grad():
        model.scorer.output.bias[EOS] += bias


def scramble_padding(src: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """``src`` with random word ids (never 0) at its padded positions."""
    padding = src == 0
    scrambled = src.clone()
    generator = torch.Generator().manual_seed(seed)
    scrambled[padding] = torch.randint(2, VOCAB_SIZE, (int(padding.sum()),), generator=generator)
    return scrambled


def n_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


# --- factory -------------------------------------------------------------------------------------------------


def test_factory_builds_each_model_and_knows_which_emit_sequences():
    assert [is_sequence_model(name) for name in MODEL_NAMES] == [True, True, False, False]
    sgm, seq2seq = build("sgm"), build("seq2seq")
    assert sgm.global_embedding is not None and sgm.label_masking and sgm.label_attention is None
    assert seq2seq.global_embedding is None and not seq2seq.label_masking and seq2seq.label_attention is None
    assert build("sgm", contextual_attention=False).attention is None
    default = build_neural_model("sgm", {}, word_vectors(), N_LABELS)
    assert default.encoder.hidden_size == DEFAULT_HYPERPARAMETERS["hidden_size"]
    with pytest.raises(ValueError, match="known models: sgm, seq2seq, br_neural, cnn"):
        build("transformer")


def test_bidirectional_encoder_needs_even_hidden_size():
    with pytest.raises(ValueError, match="even hidden_size"):
        build("br_neural", hidden_size=15, self_attention=False)


# --- shapes and padding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("lengths", [[1], [5, 1, 3], [2, 9, 1, 4, 6, 3, 7]])
def test_output_shapes(name, lengths):
    model = build(name)
    src, src_lengths = documents(lengths)
    result = outputs(model, name, src, src_lengths)
    if is_sequence_model(name):
        tgt_len = 1 + max(len(sequence) for sequence in label_sequences(len(lengths)))
        assert result.shape == (len(lengths), tgt_len, FIRST_LABEL + N_LABELS)
    else:
        assert result.shape == (len(lengths), N_LABELS)
    assert not result.isnan().any()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_extra_padding_changes_nothing(name):
    model = build(name).eval()
    lengths = [6, 1, 3, 2]
    padded = outputs(model, name, *documents(lengths, extra_padding=4))
    assert padded.shape == outputs(model, name, *documents(lengths)).shape
    torch.testing.assert_close(outputs(model, name, *documents(lengths)), padded)


def copy_packed_lstm_weights(lstm: PaddingFreeLSTM, packed_lstm: torch.nn.LSTM) -> None:
    """Give each layer and direction of ``lstm`` the weights of ``packed_lstm``'s."""
    with torch.no_grad():
        for depth, layer in enumerate(lstm.layers):
            for direction, suffix in zip(layer, ["", "_reverse"]):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(direction, f"{name}_l0").copy_(getattr(packed_lstm, f"{name}_l{depth}{suffix}"))


def run_both(lstm: PaddingFreeLSTM, packed_lstm: torch.nn.LSTM):
    """Both LSTMs on one right-padded batch: ``lstm``'s outputs and finals, the packed LSTM's padded outputs
    and final hidden states, and the mask of real positions ``(batch, seq, 1)``."""
    copy_packed_lstm_weights(lstm, packed_lstm)
    inputs, lengths = torch.randn(4, 7, 6), torch.tensor([7, 1, 4, 2])
    outputs, finals = lstm(inputs, lengths)
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    expected_packed, (expected_hidden, _) = packed_lstm(packed)
    expected, _ = pad_packed_sequence(expected_packed, batch_first=True)
    mask = (torch.arange(7) < lengths.unsqueeze(1)).unsqueeze(2)
    return outputs, finals, expected, expected_hidden, mask


@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_free_lstm_computes_what_a_packed_lstm_computes(bidirectional):
    torch.manual_seed(0)
    lstm = PaddingFreeLSTM(6, 5, num_layers=3, bidirectional=bidirectional, dropout=0.0)
    packed_lstm = torch.nn.LSTM(6, 5, num_layers=3, bidirectional=bidirectional, batch_first=True)
    outputs, finals, expected, expected_hidden, mask = run_both(lstm, packed_lstm)
    torch.testing.assert_close(outputs * mask, expected * mask)
    top_layer = expected_hidden[-2:] if bidirectional else expected_hidden[-1:]
    torch.testing.assert_close(finals, torch.cat(list(top_layer), dim=1))


def test_summing_lstm_adds_the_two_halves_of_a_packed_lstm():
    """SGM's released encoder: a packed bidirectional ``nn.LSTM`` whose output halves are added."""
    torch.manual_seed(0)
    lstm = PaddingFreeLSTM(6, 5, num_layers=3, bidirectional=True, dropout=0.0, merge="sum")
    packed_lstm = torch.nn.LSTM(6, 5, num_layers=3, bidirectional=True, batch_first=True)
    assert n_parameters(lstm) == n_parameters(packed_lstm)
    outputs, finals, expected, expected_hidden, mask = run_both(lstm, packed_lstm)
    assert outputs.shape == (4, 7, 5) and finals.shape == (4, 5)
    torch.testing.assert_close(outputs * mask, (expected[..., :5] + expected[..., 5:]) * mask)
    torch.testing.assert_close(finals, expected_hidden[-2] + expected_hidden[-1])


@pytest.mark.parametrize("bidirectional", [True, False])
def test_summing_encoder_has_the_shapes_and_parameters_of_the_original_layout(bidirectional):
    """With ``direction_merge: sum`` each direction has ``hidden_size`` units (odd sizes too) and the encoder's
    states and summary have ``hidden_size``; its parameters are the word embeddings plus those of
    ``nn.LSTM(emb, hidden_size, layers, bidirectional)``, as in SGM's released code."""
    hidden, layers = 15, 3
    model = build("sgm", hidden_size=hidden, encoder_layers=layers, self_attention=False, bidirectional=bidirectional,
                  direction_merge="sum")
    reference = torch.nn.LSTM(word_vectors().shape[1], hidden, num_layers=layers, bidirectional=bidirectional)
    assert n_parameters(model.encoder) == VOCAB_SIZE * word_vectors().shape[1] + n_parameters(reference)
    assert all(direction.hidden_size == hidden for layer in model.encoder.rnn.layers for direction in layer)
    src, src_lengths = documents([5, 1, 3])
    encoded = model.encode(src, src_lengths)
    assert encoded.states.shape == (3, 5, hidden) and encoded.summary.shape == (3, hidden)
    concat = build("sgm", encoder_layers=layers, self_attention=False, bidirectional=bidirectional)
    concat_reference = torch.nn.LSTM(word_vectors().shape[1], SMALL["hidden_size"] // (2 if bidirectional else 1),
                                     num_layers=layers, bidirectional=bidirectional)
    assert n_parameters(concat.encoder) == VOCAB_SIZE * word_vectors().shape[1] + n_parameters(concat_reference)
    if not bidirectional:  # one direction: nothing to merge, so both merges are the same model
        same = build("sgm", hidden_size=hidden, encoder_layers=layers, self_attention=False, bidirectional=False)
        torch.testing.assert_close(outputs(model, "sgm", src, src_lengths), outputs(same, "sgm", src, src_lengths))


def test_summing_changes_only_the_encoder_lstm_and_rejects_unknown_merges():
    concat, summed = build("sgm"), build("sgm", direction_merge="sum")
    changed = {key for key, value in summed.state_dict().items() if concat.state_dict()[key].shape != value.shape}
    assert changed and all(key.startswith("encoder.rnn.") for key in changed)
    assert summed.state_dict().keys() == concat.state_dict().keys()
    with pytest.raises(ValueError, match="direction_merge 'mean'"):
        build("sgm", direction_merge="mean")


@pytest.mark.parametrize("name", ["sgm", "seq2seq", "br_neural"])
@pytest.mark.parametrize("overrides", [{}, {"self_attention": False}, {"label_attention": True}])
def test_summing_encoder_never_lets_padding_reach_a_real_position(name, overrides):
    model = build(name, direction_merge="sum", **overrides).eval()
    lengths = [6, 1, 3, 2]
    src, src_lengths = documents(lengths, extra_padding=2)
    scrambled = scramble_padding(src)
    shape = (len(lengths), max(lengths) + 2, SMALL["hidden_size"])
    with torch.no_grad():
        encoded, encoded_scrambled = model.encoder(src, src_lengths), model.encoder(scrambled, src_lengths)
    assert encoded.states.shape == shape and encoded.summary.shape == (len(lengths), SMALL["hidden_size"])
    real = encoded.mask.unsqueeze(2)
    torch.testing.assert_close(encoded_scrambled.states * real, encoded.states * real)
    torch.testing.assert_close(encoded_scrambled.summary, encoded.summary)
    expected = outputs(model, name, *documents(lengths))
    torch.testing.assert_close(outputs(model, name, src, src_lengths), expected)
    torch.testing.assert_close(outputs(model, name, scrambled, src_lengths), expected)


def test_self_attention_computes_what_multihead_attention_computes():
    torch.manual_seed(0)
    attention = SelfAttention(8, heads=2, dropout=0.0).eval()
    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    with torch.no_grad():
        attention.projection.weight.copy_(reference.in_proj_weight)
        attention.projection.bias.copy_(reference.in_proj_bias)
        attention.output.weight.copy_(reference.out_proj.weight)
        attention.output.bias.copy_(reference.out_proj.bias)
    states, lengths = torch.randn(3, 5, 8), torch.tensor([5, 2, 1])
    mask = length_mask(lengths, 5)
    expected, _ = reference(states, states, states, key_padding_mask=~mask, need_weights=False)
    expected = attention.norm(states + expected)
    real = mask.unsqueeze(2)
    torch.testing.assert_close(attention(states, mask) * real, expected * real)
    padded_differently = states.masked_fill(~real, 7.0)  # padding never reaches a real position
    torch.testing.assert_close(attention(padded_differently, mask) * real, expected * real)


def test_contextual_attentions_average_the_real_states_under_their_scores():
    torch.manual_seed(0)
    states, query = torch.randn(2, 4, 6), torch.randn(2, 5)
    mask = length_mask(torch.tensor([4, 2]), 4)
    additive, bilinear = AdditiveAttention(5, 6, 3), BilinearAttention(5, 6)
    with torch.no_grad():
        additive_scores = additive.score(torch.tanh(
            additive.memory_projection(states) + additive.query_projection(query).unsqueeze(1))).squeeze(2)
        bilinear_scores = torch.einsum("bsh,bh->bs", states, bilinear.query_projection(query))
        for attention, scores in ((additive, additive_scores), (bilinear, bilinear_scores)):
            memory = attention.memory(EncodedSource(states, mask, summary=states[:, 0]))
            assert isinstance(memory, SourceMemory)
            weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
            assert weights[1, 2:].eq(0).all()
            context, returned_weights = attention(query, memory)
            torch.testing.assert_close(returned_weights, weights)
            torch.testing.assert_close(context, torch.einsum("bs,bsh->bh", weights, states))


@pytest.mark.parametrize("model_name", ["sgm", "seq2seq"])
def test_encoder_and_attention_variants_run_and_ignore_padding(model_name):
    variants = ({"self_attention": False}, {"contextual_attention": False}, {"bidirectional": False},
                {"attention": "bilinear"}, {"label_attention": True})
    for overrides in variants:
        model = build(model_name, **overrides).eval()
        lengths = [4, 1, 2]
        torch.testing.assert_close(
            outputs(model, model_name, *documents(lengths)), outputs(model, model_name, *documents(lengths, 3))
        )


# --- SGM's label mask and end of sequence ---------------------------------------------------------------------


@pytest.mark.parametrize("label_masking", [True, False])
def test_teacher_forcing_masks_gold_labels_already_fed_and_the_special_ids(label_masking):
    model = build("sgm", label_masking=label_masking).eval()
    sequences = [[4, 0, 2], [1], []]
    tgt_in, tgt_out = teacher_forcing_targets(sequences)
    log_probs = model(*documents([5, 2, 3]), tgt_in)
    for row, step in itertools.product(range(len(sequences)), range(tgt_in.size(1))):
        seen = {label for label in tgt_in[row, : step + 1].tolist() if label >= FIRST_LABEL and label_masking}
        masked = {label for label in range(log_probs.size(2)) if log_probs[row, step, label] == float("-inf")}
        assert masked == seen | {PAD_LABEL, BOS}
    gold = log_probs.gather(2, tgt_out.unsqueeze(2)).squeeze(2)
    assert gold[tgt_out != PAD_LABEL].isfinite().all()


@pytest.mark.parametrize("overrides", [{}, {"global_embedding": False}, {"label_attention": True}])
def test_greedy_emits_each_label_at_most_once_and_never_a_special_id(overrides):
    model = build("sgm", **overrides).eval()
    shift_eos_logit(model, -30.0)  # EOS only once every label has been emitted
    result = GreedySearch().decode(model, *documents([7, 1, 4]), max_length=N_LABELS + 3)
    for labels in result.labels:
        assert sorted(labels) == list(range(FIRST_LABEL, FIRST_LABEL + N_LABELS))


def test_without_label_masking_a_label_repeats_until_the_step_limit_and_decoding_drops_the_repeats(monkeypatch):
    unmasked, masked = build("sgm", label_masking=False).eval(), build("sgm").eval()  # the same weights
    for model in (unmasked, masked):
        shift_eos_logit(model, -30.0)
        with torch.no_grad():
            model.scorer.output.bias[FIRST_LABEL] += 30.0  # the first label wins wherever it is allowed
    steps = []
    original_step = unmasked.step
    monkeypatch.setattr(unmasked, "step", lambda *args: steps.append(1) or original_step(*args))
    src, src_lengths = documents([3, 5, 1])
    result = GreedySearch().decode(unmasked, src, src_lengths, max_length=4)
    assert len(steps) == 4  # the step limit ends the loop on the first label
    assert result.labels == [[FIRST_LABEL]] * 3
    assert [len(probabilities) for probabilities in result.step_probabilities] == [1, 1, 1]
    assert result.end_probabilities == [1.0] * 3
    for labels in GreedySearch().decode(masked, src, src_lengths, max_length=4).labels:
        assert labels[0] == FIRST_LABEL and len(set(labels)) == 4


def test_greedy_stops_as_soon_as_every_sequence_has_emitted_eos(monkeypatch):
    model = build("sgm").eval()
    shift_eos_logit(model, 30.0)
    steps = []
    original_step = model.step
    monkeypatch.setattr(model, "step", lambda *args: steps.append(1) or original_step(*args))
    result = GreedySearch().decode(model, *documents([3, 5]), max_length=6)
    assert len(steps) == 1
    assert result.labels == [[], []]
    assert result.end_probabilities == pytest.approx([1.0, 1.0])


def test_max_length_cuts_sequences_that_emit_no_eos():
    model = build("sgm").eval()
    shift_eos_logit(model, -30.0)
    result = GreedySearch().decode(model, *documents([3, 5, 1]), max_length=2)
    assert [len(labels) for labels in result.labels] == [2, 2, 2]
    assert result.end_probabilities == [1.0, 1.0, 1.0]


def test_decoding_refuses_a_step_limit_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        GreedySearch().decode(build("sgm").eval(), *documents([2]), max_length=0)


# --- global embedding ------------------------------------------------------------------------------------------


def test_expected_embedding_of_a_one_hot_distribution_is_that_labels_embedding():
    torch.manual_seed(0)
    module = GlobalEmbedding(4)
    with torch.no_grad():  # H = 1: g is the expected embedding ē
        module.transform_embedding.weight.zero_()
        module.transform_expected.weight.zero_()
        module.transform_embedding.bias.fill_(50.0)
    label_embeddings = torch.randn(6, 4)
    one_hot = torch.nn.functional.one_hot(torch.tensor([3, 5]), 6).float()
    blended = module(torch.randn(2, 4), one_hot, label_embeddings)
    torch.testing.assert_close(blended, label_embeddings[[3, 5]])


def test_global_embedding_gate_matches_the_formula_and_lies_between_e_and_expected_e():
    torch.manual_seed(0)
    module = GlobalEmbedding(4)
    label_embeddings, embedded = torch.randn(6, 4), torch.randn(3, 4)
    probs = torch.randn(3, 6).softmax(dim=1)
    expected = probs @ label_embeddings
    w1, b1 = module.transform_embedding.weight, module.transform_embedding.bias
    w2, b2 = module.transform_expected.weight, module.transform_expected.bias
    gate = torch.sigmoid(embedded @ w1.T + b1 + expected @ w2.T + b2)
    blended = module(embedded, probs, label_embeddings)
    torch.testing.assert_close(blended, (1 - gate) * embedded + gate * expected)
    assert (blended >= torch.minimum(embedded, expected) - 1e-6).all()
    assert (blended <= torch.maximum(embedded, expected) + 1e-6).all()


def test_sgm_without_the_global_embedding_is_sgm_with_its_gate_shut():
    ablated, sgm = build("sgm", global_embedding=False).eval(), build("sgm", seed=1).eval()
    assert not any(isinstance(module, GlobalEmbedding) for module in ablated.modules())
    missing, unexpected = sgm.load_state_dict(ablated.state_dict(), strict=False)
    assert unexpected == []
    assert {key.split(".")[0] for key in missing} == {"global_embedding"}
    src, src_lengths = documents([4, 2, 6])
    assert not torch.allclose(outputs(sgm, "sgm", src, src_lengths), outputs(ablated, "sgm", src, src_lengths))
    with torch.no_grad():  # H = 0: g = e
        sgm.global_embedding.transform_embedding.bias.fill_(-50.0)
    torch.testing.assert_close(outputs(sgm, "sgm", src, src_lengths), outputs(ablated, "sgm", src, src_lengths))


# --- switches, seq2seq and label attention ---------------------------------------------------------------------


def test_each_switch_adds_or_removes_exactly_its_parameters():
    emb, hidden = SMALL["label_embedding_dim"], SMALL["hidden_size"]
    sgm = n_parameters(build("sgm"))
    assert sgm - n_parameters(build("sgm", global_embedding=False)) == 2 * (emb * emb + emb)  # W1, W2, biases
    with_label_attention = build("sgm", label_attention=True)
    assert isinstance(with_label_attention.label_attention, LabelAttention)
    assert n_parameters(with_label_attention) - sgm == emb * hidden + hidden * hidden  # W_q, W_u
    assert n_parameters(build("sgm", label_masking=False)) == sgm


def test_seq2seq_is_the_plain_encoder_decoder_whatever_its_params_say():
    plain = build("sgm", global_embedding=False, label_masking=False, label_attention=False).eval()
    src, src_lengths = documents([4, 2, 6])
    for switches in ({}, {"global_embedding": True, "label_masking": True, "label_attention": True}):
        seq2seq = build("seq2seq", **switches).eval()
        assert seq2seq.state_dict().keys() == plain.state_dict().keys()
        assert not seq2seq.label_masking
        torch.testing.assert_close(
            outputs(seq2seq, "seq2seq", src, src_lengths), outputs(plain, "sgm", src, src_lengths)
        )


def test_label_attention_gives_each_label_the_real_states_averaged_under_its_own_scores():
    torch.manual_seed(0)
    module = LabelAttention(label_embedding_dim=3, hidden_size=4)
    states, label_embeddings, decoder_output = torch.randn(2, 5, 4), torch.randn(6, 3), torch.randn(2, 4)
    mask = length_mask(torch.tensor([5, 2]), 5)
    with torch.no_grad():
        queries = label_embeddings @ module.query_projection.weight.T
        scores = torch.einsum("lh,bsh->bls", queries, states) / math.sqrt(4)
        weights = scores.masked_fill(~mask.unsqueeze(1), float("-inf")).softmax(dim=2)
        views = module.views(EncodedSource(states, mask, summary=states[:, 0]), label_embeddings)
        torch.testing.assert_close(views, torch.einsum("bls,bsh->blh", weights, states))
        padded_differently = states.masked_fill(~mask.unsqueeze(2), 7.0)
        repadded = EncodedSource(padded_differently, mask, summary=states[:, 0])
        torch.testing.assert_close(module.views(repadded, label_embeddings), views)
        bilinear = torch.einsum("blh,bh->bl", views, decoder_output @ module.state_projection.weight.T)
        torch.testing.assert_close(module(views, decoder_output), bilinear)


@pytest.mark.parametrize("overrides", [{}, {"contextual_attention": False, "self_attention": False}])
def test_label_attention_ignores_padded_tokens(overrides):
    model = build("sgm", label_attention=True, **overrides).eval()
    src, src_lengths = documents([6, 1, 3, 2], extra_padding=2)
    scrambled = scramble_padding(src)
    with torch.no_grad():  # the encoder states at padded positions do change
        assert not torch.allclose(model.encode(scrambled, src_lengths).states, model.encode(src, src_lengths).states)
    torch.testing.assert_close(outputs(model, "sgm", scrambled, src_lengths), outputs(model, "sgm", src, src_lengths))


def test_sgm_with_its_label_attention_silenced_is_sgm_without_it():
    plain, attentive = build("sgm").eval(), build("sgm", seed=1, label_attention=True).eval()
    missing, unexpected = attentive.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == []
    assert {key.split(".")[0] for key in missing} == {"label_attention"}
    src, src_lengths = documents([4, 2, 6])
    assert not torch.allclose(outputs(attentive, "sgm", src, src_lengths), outputs(plain, "sgm", src, src_lengths))
    with torch.no_grad():  # W_u = 0: no label-specific score
        attentive.label_attention.state_projection.weight.zero_()
    torch.testing.assert_close(outputs(attentive, "sgm", src, src_lengths), outputs(plain, "sgm", src, src_lengths))


# --- attention capture -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, {"attention": "bilinear"}, {"contextual_attention": False}])
def test_forward_returns_the_contextual_attention_of_every_step(overrides):
    model = build("sgm", **overrides).eval()
    src, src_lengths = documents([4, 1, 6], extra_padding=2)
    tgt_in, _ = teacher_forcing_targets(label_sequences(3))
    log_probs, attention = model(src, src_lengths, tgt_in, return_attention=True)
    torch.testing.assert_close(log_probs, model(src, src_lengths, tgt_in))
    assert attention.shape == (3, tgt_in.size(1), src.size(1))
    if model.attention is None:
        assert not attention.any()
        return
    padded = ~length_mask(src_lengths, src.size(1)).unsqueeze(1).expand_as(attention)
    assert not attention[padded].any()
    torch.testing.assert_close(attention.sum(dim=2), torch.ones(3, tgt_in.size(1)))


@pytest.mark.parametrize(
    "overrides", [{}, {"label_attention": True}, {"attention": "bilinear", "global_embedding": False}]
)
def test_teacher_forcing_a_decoded_sequence_replays_greedy_decoding_and_its_attention(overrides, monkeypatch):
    model = build("sgm", **overrides).eval()
    src, src_lengths = documents([5, 2, 7, 3, 4, 6])
    step_attention = []
    original_step = model.step

    def recording_step(*args):
        log_probs, state = original_step(*args)
        step_attention.append(state.attention)
        return log_probs, state

    monkeypatch.setattr(model, "step", recording_step)
    max_length = 5
    result = GreedySearch().decode(model, src, src_lengths, max_length)
    monkeypatch.undo()
    assert any(result.labels) and all(len(labels) < max_length for labels in result.labels)  # each ended by EOS
    tgt_in, tgt_out = teacher_forcing_targets([[label - FIRST_LABEL for label in labels] for labels in result.labels])
    with torch.no_grad():
        log_probs, attention = model(src, src_lengths, tgt_in, return_attention=True)
    gold = log_probs.gather(2, tgt_out.unsqueeze(2)).squeeze(2).exp()
    for row, labels in enumerate(result.labels):
        assert result.step_probabilities[row] == pytest.approx(gold[row, : len(labels)].tolist(), abs=1e-5)
        assert result.end_probabilities[row] == pytest.approx(gold[row, len(labels)].item(), abs=1e-5)
        for step in range(len(labels) + 1):  # the labels' steps and the EOS step
            torch.testing.assert_close(attention[row, step], step_attention[step][row])


# --- training behaviour ----------------------------------------------------------------------------------------


def training_loss(model: torch.nn.Module, name: str, src, src_lengths, sequences) -> torch.Tensor:
    targets = multi_hot(sequences, N_LABELS)
    if is_sequence_model(name):
        tgt_in, tgt_out = teacher_forcing_targets(sequences)
        return combined_loss("sequence", model(src, src_lengths, tgt_in), tgt_out, targets)
    return set_bce(model(src, src_lengths), targets)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_word_embeddings_stay_fixed_and_tuned_ones_move(name, freeze):
    model = build(name, freeze_embeddings=freeze)
    before = word_embedding(model).weight.detach().clone()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
    src, src_lengths = documents([5, 3])
    training_loss(model, name, src, src_lengths, [[0, 1], [2]]).backward()
    assert all(p.grad.isfinite().all() for p in model.parameters() if p.grad is not None)
    optimizer.step()
    after = word_embedding(model).weight.detach()
    assert torch.equal(after, before) == freeze
    assert not after[0].any()  # the padding row stays zero


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_same_model(name):
    first, second, other = build(name, seed=3).eval(), build(name, seed=3).eval(), build(name, seed=4).eval()
    for (key, value), (_, same) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(value, same), key
    src, src_lengths = documents([4, 2])
    assert torch.equal(outputs(first, name, src, src_lengths), outputs(second, name, src, src_lengths))
    assert not torch.equal(outputs(first, name, src, src_lengths), outputs(other, name, src, src_lengths))


TOY_DOCUMENTS = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 0], [12, 13, 0, 0]]), torch.tensor([4, 3, 2])
TOY_LABELS = [[0, 2, 3], [1], [4, 0]]


def fit(model: torch.nn.Module, name: str, predict, expected: list) -> None:
    """Train on the toy set with Adam (at most 200 steps) until ``predict(model)`` gives ``expected``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(1, 201):
        model.train()
        optimizer.zero_grad()
        training_loss(model, name, *TOY_DOCUMENTS, TOY_LABELS).backward()
        optimizer.step()
        if step % 10 == 0 and predict(model.eval()) == expected:
            return
    raise AssertionError(f"{name} did not fit the toy set in 200 steps: {predict(model)} != {expected}")


@pytest.mark.parametrize("name, overrides", [("sgm", {}), ("seq2seq", {}), ("sgm", {"label_attention": True})])
def test_sequence_model_learns_the_toy_label_sequences_exactly(name, overrides):
    def predict(model):
        decoded = GreedySearch().decode(model, *TOY_DOCUMENTS).labels
        return [[label - FIRST_LABEL for label in labels] for labels in decoded]

    fit(build(name, hidden_size=32, encoder_layers=1, decoder_layers=1, **overrides), name, predict, TOY_LABELS)


SWITCHES = list(itertools.product([True, False], repeat=3))


@pytest.mark.parametrize("global_embedding, label_masking, label_attention", SWITCHES)
def test_every_combination_of_switches_trains(global_embedding, label_masking, label_attention):
    model = build(
        "sgm", global_embedding=global_embedding, label_masking=label_masking, label_attention=label_attention
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    tgt_in, tgt_out = teacher_forcing_targets(TOY_LABELS)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = combined_loss("sequence+set", model(*TOY_DOCUMENTS, tgt_in), tgt_out, multi_hot(TOY_LABELS, N_LABELS))
        loss.backward()
        assert all(p.grad.isfinite().all() for p in model.parameters() if p.grad is not None)
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", ["br_neural", "cnn"])
def test_set_model_learns_the_toy_label_sets(name):
    def predict(model):
        with torch.no_grad():
            return [set(row.nonzero().flatten().tolist()) for row in model(*TOY_DOCUMENTS) > 0]

    fit(build(name, hidden_size=32, encoder_layers=1), name, predict, [set(labels) for labels in TOY_LABELS])


# --- losses ----------------------------------------------------------------------------------------------------


def test_sequence_nll_averages_over_non_pad_targets_only():
    log_probs = torch.full((2, 3, 5), float("-inf"))
    log_probs[0, 0, 3], log_probs[0, 1, EOS] = math.log(0.5), math.log(0.25)
    log_probs[1, 0, EOS] = math.log(0.8)
    tgt_out = torch.tensor([[3, EOS, PAD_LABEL], [EOS, PAD_LABEL, PAD_LABEL]])
    expected = -(math.log(0.5) + math.log(0.25) + math.log(0.8)) / 3
    assert sequence_nll(log_probs, tgt_out).item() == pytest.approx(expected)


def test_set_bce_from_sequence_takes_each_labels_best_step_probability():
    # one document, two real labels (ids 3 and 4), steps: label 3, EOS, padding
    probs = torch.tensor(
        [
            [0.0, 0.0, 0.1, 0.7, 0.2],
            [0.0, 0.0, 0.6, 0.0, 0.4],
            [0.0, 0.0, 0.0, 0.0, 1.0],  # padded step: ignored
        ]
    )
    log_probs = probs.log().unsqueeze(0)
    tgt_out = torch.tensor([[3, EOS, PAD_LABEL]])
    targets = torch.tensor([[1.0, 0.0]])
    label_3, label_4 = 0.7, 0.4
    expected = -(math.log(label_3) + math.log(1 - label_4)) / 2
    assert set_bce_from_sequence(log_probs, tgt_out, targets).item() == pytest.approx(expected, rel=1e-5)


def test_set_bce_from_sequence_stays_finite_when_a_label_is_never_possible():
    log_probs = torch.tensor([[[float("-inf"), float("-inf"), 0.0, float("-inf")]]])
    loss = set_bce_from_sequence(log_probs, torch.tensor([[EOS]]), torch.tensor([[1.0]]))
    assert loss.item() == pytest.approx(-math.log(1e-6), rel=1e-4)


def test_set_bce_and_combined_loss():
    logits, targets = torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])
    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    expected = -(math.log(sigmoid(2.0)) + math.log(1 - sigmoid(-1.0))) / 2
    assert set_bce(logits, targets).item() == pytest.approx(expected, rel=1e-5)

    log_probs = torch.randn(2, 3, FIRST_LABEL + 2).log_softmax(dim=2)
    tgt_out = torch.tensor([[3, EOS, PAD_LABEL], [4, 3, EOS]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    both = combined_loss("sequence+set", log_probs, tgt_out, targets)
    assert both.item() == pytest.approx(
        (sequence_nll(log_probs, tgt_out) + set_bce_from_sequence(log_probs, tgt_out, targets)).item()
    )
    assert combined_loss("set", log_probs, tgt_out, targets).item() == pytest.approx(
        set_bce_from_sequence(log_probs, tgt_out, targets).item()
    )
    with pytest.raises(ValueError, match="known kinds: sequence, set, sequence\\+set"):
        combined_loss("ranking", log_probs, tgt_out, targets)
