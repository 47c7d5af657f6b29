"""The neural models on images: the region encoder, the factory's image path (and its refusal of the CNN),
batches of region features, and sgm / seq2seq / br_neural trained end to end on tiny planted region features,
then decoded greedily and with beam search."""

import numpy as np
import pytest
import torch

from sgm_mlc.decoding import BeamSearch, GreedySearch
from sgm_mlc.models.encoders import Encoder, RegionEncoder
from sgm_mlc.models.label_ids import FIRST_LABEL
from sgm_mlc.models.names import MODEL_NAMES as ALL_MODEL_NAMES
from sgm_mlc.models.names import TEXT_ONLY_MODELS
from sgm_mlc.models.neural import IMAGE_MODELS, TEXT_ONLY_SETTINGS, build_neural_model, is_sequence_model
from sgm_mlc.training.batches import collate, encode_examples, evaluation_batches, training_batches
from sgm_mlc.training.loop import BEST_MODEL_FILE, TrainingConfig, predict_split, train
from sgm_mlc.training.tasks import SequenceTask, SetTask

REGIONS, CHANNELS = 4, 16
LABELS = ["cat", "dog", "car"]
SMALL = {"hidden_size": 16, "attention_heads": 2, "decoder_layers": 1, "label_embedding_dim": 8, "dropout": 0.0,
         "max_decode_length": 5}


def build(name: str, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_neural_model(name, {**SMALL, **overrides}, None, len(LABELS), image_features=CHANNELS)


def region_batch(lengths: list[int], extra_padding: int = 0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random non-negative region features, zero regions after each image's ``lengths[b]``, plus
    ``extra_padding`` zero regions."""
    generator = torch.Generator().manual_seed(seed)
    src = torch.rand(len(lengths), max(lengths), CHANNELS, generator=generator) * 3
    src_lengths = torch.tensor(lengths)
    src[torch.arange(src.size(1)) >= src_lengths.unsqueeze(1)] = 0.0
    return torch.nn.functional.pad(src, (0, 0, 0, extra_padding)), src_lengths


def planted_images(n: int, seed: int) -> tuple[list[str], list[np.ndarray], list[list[str]]]:
    """float16 ``(REGIONS, CHANNELS)`` grids of weak noise; label ``j`` present ⇔ one random region carries a
    strong signal on channels ``4j … 4j + 3``. Every image has one or two labels, in ranking order."""
    rng = np.random.default_rng(seed)
    ids, grids, sequences = [], [], []
    for i in range(n):
        present = sorted(rng.choice(len(LABELS), size=rng.integers(1, 3), replace=False))
        grid = rng.uniform(0.0, 1.0, size=(REGIONS, CHANNELS))
        for j in present:
            grid[rng.integers(REGIONS), 4 * j : 4 * j + 4] += 4.0
        ids.append(f"img{i}")
        grids.append(grid.astype(np.float16))
        sequences.append([LABELS[j] for j in present])
    return ids, grids, sequences


def encoded_images(n: int, seed: int):
    return encode_examples(*planted_images(n, seed), LABELS, max_source_length=2)


TRAIN, VALID = encoded_images(96, 0), encoded_images(32, 1)


def micro_f1(predictions) -> dict[str, float]:
    true = [{FIRST_LABEL + j for j in labels} for labels in VALID.labels]
    tp = sum(len(set(p.labels) & t) for p, t in zip(predictions, true))
    return {"micro_f1": 2 * tp / (sum(len(p.labels) for p in predictions) + sum(len(t) for t in true))}


# --- the region encoder ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("self_attention", [True, False])
def test_region_encoder_shapes_mask_and_mean_summary(self_attention):
    encoder = RegionEncoder(CHANNELS, 8, self_attention=self_attention, attention_heads=2).eval()
    assert encoder.hidden_size == 8 and encoder.feature_size == CHANNELS
    src, src_lengths = region_batch([4, 2, 3])
    encoded = encoder(src, src_lengths)
    assert encoded.states.shape == (3, 4, 8) and encoded.summary.shape == (3, 8)
    assert encoded.mask.tolist() == [[True] * 4, [True, True, False, False], [True, True, True, False]]
    for row, length in enumerate(src_lengths.tolist()):
        torch.testing.assert_close(encoded.summary[row], encoded.states[row, :length].mean(dim=0))


def test_region_encoder_never_reads_padded_regions_and_ignores_region_order():
    encoder = RegionEncoder(CHANNELS, 8, self_attention=True, attention_heads=2).eval()
    src, src_lengths = region_batch([4, 2])
    garbage = src.clone()
    garbage[1, 2:] = 50.0
    clean, noisy = encoder(src, src_lengths), encoder(garbage, src_lengths)
    torch.testing.assert_close(clean.summary, noisy.summary)
    torch.testing.assert_close(clean.states[clean.mask], noisy.states[noisy.mask])
    order = torch.tensor([2, 0, 3, 1])  # no positional encoding: the regions are a set
    shuffled = encoder(src[:1, order], src_lengths[:1])
    torch.testing.assert_close(shuffled.states[0], clean.states[0, order])
    torch.testing.assert_close(shuffled.summary[0], clean.summary[0])


def test_region_encoder_refuses_features_of_another_size():
    with pytest.raises(ValueError, match=r"expected region features \(batch, regions, 16\)"):
        RegionEncoder(CHANNELS, 8)(torch.zeros(2, 4, 8), torch.tensor([4, 4]))


# --- the factory ----------------------------------------------------------------------------------------------


def test_image_models_get_the_region_encoder_and_the_text_only_models_are_named():
    assert IMAGE_MODELS == ("sgm", "seq2seq", "br_neural")
    assert set(IMAGE_MODELS) | set(TEXT_ONLY_MODELS) == set(ALL_MODEL_NAMES)
    assert not set(IMAGE_MODELS) & set(TEXT_ONLY_MODELS)
    for name in IMAGE_MODELS:
        model = build(name)
        assert isinstance(model.encoder, RegionEncoder) and model.encoder.hidden_size == SMALL["hidden_size"]
    assert build("sgm").global_embedding is not None and build("seq2seq").global_embedding is None
    assert build("sgm", self_attention=False).encoder.self_attention is None


def test_cnn_is_refused_for_images():
    with pytest.raises(ValueError, match=r"cnn is a text model \(Kim 2014 over words\); it is skipped for image"):
        build("cnn")


def test_the_factory_wants_embeddings_for_text_and_none_for_images():
    with pytest.raises(ValueError, match="pass embeddings=None"):
        build_neural_model("sgm", SMALL, np.zeros((5, 4), dtype=np.float32), 3, image_features=CHANNELS)
    with pytest.raises(ValueError, match="needs word embeddings"):
        build_neural_model("sgm", SMALL, None, 3)
    text = build_neural_model("br_neural", SMALL, np.zeros((5, 4), dtype=np.float32), 3)
    assert isinstance(text.encoder, Encoder)


def test_the_word_encoder_settings_do_not_change_an_image_model():
    word_settings = {"freeze_embeddings": True, "encoder_layers": 3, "bidirectional": False, "direction_merge": "sum"}
    assert set(word_settings) == set(TEXT_ONLY_SETTINGS)
    for name in IMAGE_MODELS:
        plain, other = build(name).state_dict(), build(name, **word_settings).state_dict()
        assert plain.keys() == other.keys() and all(torch.equal(plain[k], other[k]) for k in plain), name


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_image_models_ignore_padded_regions(name):
    model = build(name, label_attention=True).eval()
    src, src_lengths = region_batch([4, 1, 3])
    padded, _ = region_batch([4, 1, 3], extra_padding=2)
    assert padded.shape == (3, 6, CHANNELS) and torch.equal(padded[:, :4], src)
    if is_sequence_model(name):
        tgt_in = torch.tensor([[1, 3, 4], [1, 5, 0], [1, 0, 0]])
        torch.testing.assert_close(model(src, src_lengths, tgt_in), model(padded, src_lengths, tgt_in))
    else:
        torch.testing.assert_close(model(src, src_lengths), model(padded, src_lengths))


# --- batches of images ----------------------------------------------------------------------------------------


def test_images_are_encoded_as_given_and_collated_as_float32():
    grids = [np.full((4, CHANNELS), 0.5, dtype=np.float16), np.full((3, CHANNELS), 2.0, dtype=np.float16)]
    grids[0].setflags(write=False)  # as the memory-mapped features are
    examples = encode_examples(["a", "b"], grids, [["dog"], ["cat", "car"]], LABELS, max_source_length=2)
    assert examples.images and examples.image_features == CHANNELS
    assert examples.words[0] is grids[0] and examples.words[1].dtype == np.float16  # no copy, no truncation
    assert examples.lengths.tolist() == [4, 3]
    batch = collate(examples, np.array([1, 0]))
    assert batch.src.dtype == torch.float32 and batch.src.shape == (2, 4, CHANNELS)
    assert batch.src_lengths.tolist() == [3, 4]
    assert torch.equal(batch.src[0, :3], torch.full((3, CHANNELS), 2.0)) and not batch.src[0, 3].any()
    assert torch.equal(batch.src[1], torch.full((4, CHANNELS), 0.5))
    assert batch.tgt_in.tolist() == [[1, 3, 5], [1, 4, 0]] and batch.multi_hot.tolist() == [[1, 0, 1], [0, 1, 0]]


def test_an_image_counts_as_its_regions_in_the_token_budget():
    grids = [np.zeros((regions, 2), dtype=np.float16) for regions in (49, 49, 49, 36, 49)]
    examples = encode_examples(list("abcde"), grids, [["cat"]] * 5, LABELS, None)
    batches = [batch.tolist() for batch in evaluation_batches(examples, 8, max_tokens=100)]
    assert batches == [[3, 0], [1, 2], [4]]  # 2 × 49 ≤ 100 < 3 × 49
    epoch = training_batches(examples, batch_size=2, seed=0, epoch=1)
    assert sorted(np.concatenate(epoch).tolist()) == list(range(5))


@pytest.mark.parametrize(
    "grids, message",
    [
        ([np.zeros((4, 3), np.float16), np.zeros((4, 5), np.float16)], "document 1"),
        ([np.zeros((4, 3), np.float16), np.zeros((0, 3), np.float16)], "regions >= 1"),
        ([np.zeros((4, 3), np.float16), np.zeros((4, 3), np.int64)], "float arrays"),
    ],
)
def test_images_of_another_shape_or_kind_are_refused(grids, message):
    with pytest.raises(ValueError, match=message):
        encode_examples(["a", "b"], grids, [[], []], LABELS, None)


def test_the_text_path_is_unchanged():
    examples = encode_examples(["a", "b"], [[5, 6, 7], np.array([8, 9])], [["cat"], []], LABELS, max_source_length=2)
    assert not examples.images and examples.image_features is None
    assert [w.tolist() for w in examples.words] == [[5, 6], [8, 9]] and examples.words[0].dtype == np.int64
    batch = collate(examples, np.array([0, 1]))
    assert batch.src.dtype == torch.long and batch.src.tolist() == [[5, 6], [8, 9]]


# --- training and decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_image_models_learn_planted_labels_and_decode(tmp_path, name):
    model = build(name)
    config = TrainingConfig(epochs=8, batch_size=16, learning_rate=3e-2, lr_decay=0.5, decay_start_epoch=5,
                            max_grad_norm=5.0, patience=10, selection_metric="micro_f1", seed=0,
                            eval_batch_size=16, eval_max_tokens=48)
    task = SequenceTask("sequence", 1, 5) if is_sequence_model(name) else SetTask(0.5)
    state = train(model, task, TRAIN, VALID, micro_f1, config, tmp_path, torch.device("cpu"))
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"] / 5
    assert state.best_score > 0.85  # predicting every label scores 0.67 at most; 0.91 to 0.99 over 4 seeds
    if not is_sequence_model(name):
        return
    model.load_state_dict(torch.load(tmp_path / BEST_MODEL_FILE, weights_only=True)["model"])  # the selected epoch
    beam = predict_split(model, SequenceTask("sequence", 3, 5), VALID, 16, torch.device("cpu"), bf16=False)
    assert micro_f1(beam)["micro_f1"] > 0.85
    model.eval()
    batch = collate(VALID, np.arange(6))
    for strategy in (GreedySearch(), BeamSearch(beam_size=3)):
        result = strategy.decode(model, batch.src, batch.src_lengths, 5)
        for labels in result.labels:
            assert len(set(labels)) == len(labels) and all(FIRST_LABEL <= label < FIRST_LABEL + 3 for label in labels)
    _, attention = model(batch.src, batch.src_lengths, batch.tgt_in, return_attention=True)
    assert attention.shape == (6, batch.tgt_in.size(1), REGIONS)  # each step attends over the regions
    torch.testing.assert_close(attention.sum(dim=2), torch.ones(6, batch.tgt_in.size(1)))
