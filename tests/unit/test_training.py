"""The training loop: bucketing, determinism, resume after a kill, NaN handling, device and precision."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sgm_mlc.experiment.neural import run_fingerprint
from sgm_mlc.models.neural import build_neural_model
from sgm_mlc.training.batches import collate, encode_examples, evaluation_batches, training_batches
from sgm_mlc.training.device import autocast, evaluation_uses_bf16, seed_everything, select_device, uses_bf16
from sgm_mlc.training.loop import (
    CHECKPOINT_FILE, HISTORY_FILE, TrainingConfig, TrainingDiverged, last_epoch_of, predict_split, save_tensors,
    train, weight_average,
)
from sgm_mlc.training.tasks import SequenceTask, SetTask

LABELS = ["a", "b", "c", "d"]


def toy_examples(n: int, seed: int):
    """Documents whose word ids reveal their labels: label j present ⇔ word 2 + j appears."""
    rng = np.random.default_rng(seed)
    ids, words, sequences = [], [], []
    for i in range(n):
        labels = sorted(rng.choice(4, size=rng.integers(1, 4), replace=False))
        document = [2 + j for j in labels for _ in range(2)] + list(rng.integers(6, 20, size=rng.integers(1, 12)))
        rng.shuffle(document)
        ids.append(f"d{i}")
        words.append(document)
        sequences.append([LABELS[j] for j in labels])
    return encode_examples(ids, words, sequences, LABELS, max_source_length=None)


TRAIN, VALID = toy_examples(96, 0), toy_examples(32, 1)
EMBEDDINGS = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
SMALL = {"hidden_size": 16, "encoder_layers": 1, "decoder_layers": 1, "label_embedding_dim": 8, "attention_heads": 2,
         "dropout": 0.1, "max_decode_length": 6, "num_filters": 8}


def config(**changes):
    values = dict(epochs=4, batch_size=16, learning_rate=3e-2, lr_decay=0.5, decay_start_epoch=3, max_grad_norm=5.0,
                  patience=10, selection_metric="micro_f1", seed=3, eval_batch_size=16)
    return TrainingConfig(**{**values, **changes})


def micro_f1(predictions):
    """Validation micro-F1 of label ids against VALID (a small evaluate callback)."""
    true = [{3 + j for j in labels} for labels in VALID.labels]
    tp = sum(len(set(p.labels) & t) for p, t in zip(predictions, true))
    predicted = sum(len(p.labels) for p in predictions)
    actual = sum(len(t) for t in true)
    return {"micro_f1": 2 * tp / (predicted + actual)}


def run(out_dir, model_name="sgm", **changes):
    torch.manual_seed(0)
    model = build_neural_model(model_name, SMALL, EMBEDDINGS, len(LABELS))
    task = SequenceTask("sequence", 1, 6) if model_name == "sgm" else SetTask(0.5)
    state = train(model, task, TRAIN, VALID, micro_f1, config(**changes.pop("config", {})), out_dir,
                  torch.device("cpu"), **changes)
    return model, state


def test_training_batches_are_bucketed_complete_and_reproducible():
    batches = training_batches(TRAIN, batch_size=8, seed=1, epoch=1, pool_batches=4)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(TRAIN)))
    assert [b.tolist() for b in batches] == [b.tolist() for b in training_batches(TRAIN, 8, 1, 1, 4)]
    assert [b.tolist() for b in batches] != [b.tolist() for b in training_batches(TRAIN, 8, 1, 2, 4)]
    lengths = TRAIN.lengths
    bucketed = np.mean([np.ptp(lengths[b]) for b in batches])
    shuffled = np.mean([np.ptp(lengths[b]) for b in np.array_split(np.random.default_rng(0).permutation(len(TRAIN)), 12)])
    assert bucketed < shuffled / 2  # less padding than random batches


def test_collate_pads_and_builds_targets():
    batch = collate(TRAIN, np.array([0, 1]))
    assert batch.src.shape == (2, max(len(TRAIN.words[0]), len(TRAIN.words[1])))
    assert batch.src_lengths.tolist() == [len(TRAIN.words[0]), len(TRAIN.words[1])]
    assert batch.tgt_in[0, 0] == 1 and batch.tgt_out[0, len(TRAIN.labels[0])] == 2
    assert batch.multi_hot[0].nonzero().flatten().tolist() == list(TRAIN.labels[0])
    order = np.concatenate(list(evaluation_batches(VALID, 5)))
    assert sorted(order.tolist()) == list(range(len(VALID))) and np.all(np.diff(VALID.lengths[order]) >= 0)


def test_evaluation_batches_cap_padded_tokens():
    examples = encode_examples(
        [str(i) for i in range(7)], [[5] * n for n in (3, 40, 2, 9, 2, 10, 30)], [["a"]] * 7, ["a"], None
    )
    uncapped = [batch.tolist() for batch in evaluation_batches(examples, 4)]
    assert uncapped == [[2, 4, 0, 3], [5, 6, 1]]
    capped = [batch.tolist() for batch in evaluation_batches(examples, 4, max_tokens=30)]
    assert capped == [[2, 4, 0], [3, 5], [6], [1]]  # 4 × 9 > 30; 40 alone exceeds the cap but gets a batch
    assert all(len(b) * examples.lengths[b].max() <= 30 for b in capped if len(b) > 1)


def test_training_learns_and_writes_history(tmp_path):
    model, state = run(tmp_path, config={"epochs": 6})
    history = json.loads((tmp_path / HISTORY_FILE).read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    rates = [row["learning_rate"] for row in history]
    assert rates == pytest.approx([3e-2, 3e-2, 3e-2, 1.5e-2, 7.5e-3, 3.75e-3])  # multiplied by 0.5 after every epoch from epoch 3 on
    assert state.best_score > 0.85  # predicting every label scores 0.67
    assert (tmp_path / "model.pt").is_file() and (tmp_path / CHECKPOINT_FILE).is_file()


@pytest.mark.parametrize("model_name", ["sgm", "cnn"])
def test_same_seed_same_numbers(tmp_path, model_name):
    _, first = run(tmp_path / "1", model_name)
    _, second = run(tmp_path / "2", model_name)
    assert without_timing(first.history) == without_timing(second.history)
    assert len(first.history) == 4


def without_timing(history):
    return [{k: v for k, v in row.items() if "second" not in k} for row in history]


@pytest.mark.parametrize("ema_decay", [None, 0.9])
def test_resume_after_kill_equals_uninterrupted_run(tmp_path, ema_decay):
    settings = {"ema_decay": ema_decay}
    uninterrupted_model, uninterrupted = run(tmp_path / "straight", config=settings)
    run(tmp_path / "killed", stop_after_epoch=2, config=settings)  # the job dies after epoch 2
    resumed_model, resumed = run(tmp_path / "killed", config=settings)  # a fresh process restarts it
    assert without_timing(resumed.history) == without_timing(uninterrupted.history)
    for (name, a), (_, b) in zip(uninterrupted_model.state_dict().items(), resumed_model.state_dict().items()):
        assert torch.equal(a, b), name
    straight_best, resumed_best = (saved_weights(tmp_path / run_dir) for run_dir in ("straight", "killed"))
    for name, weights in straight_best.items():
        assert torch.equal(weights, resumed_best[name]), name


def saved_weights(run_dir):
    return torch.load(run_dir / "model.pt", weights_only=True)["model"]


def test_weight_average_follows_the_stated_rule():
    layer = torch.nn.Linear(2, 1, bias=False)
    averaged = weight_average(layer, 0.9)
    assert weight_average(layer, None) is None
    with torch.no_grad():
        layer.weight.fill_(1.0)
        averaged.update_parameters(layer)  # the first update copies the weights
        layer.weight.fill_(3.0)
        averaged.update_parameters(layer)
    assert averaged.module.weight.flatten().tolist() == pytest.approx([0.9 * 1.0 + 0.1 * 3.0] * 2)


def test_the_weight_average_is_what_is_selected_and_saved(tmp_path):
    model, state = run(tmp_path, config={"ema_decay": 0.8, "epochs": 3, "patience": 10})
    best = saved_weights(tmp_path)
    last = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert any(not torch.equal(best[name], weights) for name, weights in last["model"].items())
    assert state.best_epoch == state.epoch == 3  # so model.pt holds the last epoch's average
    for name, weights in best.items():
        assert torch.equal(weights, last["averaged_model"][f"module.{name}"]), name
    model.load_state_dict(best)
    predictions = predict_split(model, SequenceTask("sequence", 1, 6), VALID, 16, torch.device("cpu"), bf16=False)
    assert micro_f1(predictions)["micro_f1"] == pytest.approx(state.best_score)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    run(tmp_path, "cnn", config={"epochs": 1})
    good = (tmp_path / CHECKPOINT_FILE).read_bytes()

    class Exploding(SetTask):
        def loss(self, model, batch):
            return super().loss(model, batch) * float("nan")

    torch.manual_seed(0)
    model = build_neural_model("cnn", SMALL, EMBEDDINGS, len(LABELS))
    expected = r"loss became nan at epoch 2, batch 1; the last good checkpoint .*checkpoint.pt \(epoch 1\) is kept"
    with pytest.raises(TrainingDiverged, match=expected):
        train(model, Exploding(), TRAIN, VALID, micro_f1, config(epochs=3), tmp_path, torch.device("cpu"))
    assert (tmp_path / CHECKPOINT_FILE).read_bytes() == good


def test_early_stopping_after_patience(tmp_path, caplog):
    caplog.set_level("INFO")
    _, state = run(tmp_path, config={"epochs": 30, "patience": 1, "learning_rate": 1e-9})
    assert f"early stopping after epoch {state.epoch}: no better valid micro_f1 in 1 epochs" in caplog.text
    assert state.epoch < 30 and state.epochs_without_improvement == 1


def test_device_and_precision_choice():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            select_device("cuda")
    assert uses_bf16(torch.device("cpu"), "auto") is False
    assert uses_bf16(torch.device("cpu"), "bf16") is True
    with pytest.raises(ValueError, match="choose one of"):
        uses_bf16(torch.device("cpu"), "fp8")


def test_evaluation_precision_follows_training_unless_set():
    cpu = torch.device("cpu")
    assert evaluation_uses_bf16(cpu, {"precision": "auto", "eval_precision": "as_training"}) is False
    assert evaluation_uses_bf16(cpu, {"precision": "bf16", "eval_precision": "as_training"}) is True
    assert evaluation_uses_bf16(cpu, {"precision": "bf16", "eval_precision": "fp32"}) is False
    assert evaluation_uses_bf16(cpu, {"precision": "auto", "eval_precision": "bf16"}) is True
    assert evaluation_uses_bf16(cpu, {"precision": "bf16"}) is True  # a bundle saved before eval_precision existed
    with pytest.raises(ValueError, match="unknown eval_precision 'int8'; choose one of as_training, bf16, fp32"):
        evaluation_uses_bf16(cpu, {"precision": "auto", "eval_precision": "int8"})


def test_bf16_autocast_path_runs_on_cpu(tmp_path):
    """The mixed-precision code path (as used on CUDA) runs end to end on the CPU (with the CNN: oneDNN has
    no bf16 LSTM kernel on every CPU)."""
    seed_everything(0, torch.device("cpu"))
    model = build_neural_model("cnn", SMALL, EMBEDDINGS, len(LABELS))
    task = SetTask(0.5)
    state = train(model, task, TRAIN, VALID, micro_f1, config(epochs=1), tmp_path, torch.device("cpu"), bf16=True)
    assert np.isfinite(state.history[0]["train_loss"])
    with autocast(torch.device("cpu"), True):
        assert torch.zeros(2, 2).matmul(torch.zeros(2, 2)).dtype == torch.bfloat16
    predictions = predict_split(model, task, VALID, 8, torch.device("cpu"), bf16=True)
    assert len(predictions) == len(VALID)


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, caplog):
    run(tmp_path, stop_after_epoch=2, fingerprint="recipe-a")
    _, other = run(tmp_path, fingerprint="recipe-b", config={"epochs": 1})
    assert [row["epoch"] for row in other.history] == [1]  # started afresh
    assert "written by a run with other settings" in caplog.text
    _, same = run(tmp_path, fingerprint="recipe-b", config={"epochs": 3})
    assert [row["epoch"] for row in same.history] == [1, 2, 3]  # resumed its own checkpoint


def test_a_checkpoint_past_where_the_run_stops_is_not_resumed(tmp_path, caplog):
    """A run asked for fewer epochs than its checkpoint holds gives what a fresh run of that length gives."""
    fresh_model, fresh = run(tmp_path / "fresh", config={"epochs": 2})
    run(tmp_path / "longer", config={"epochs": 4})
    shorter_model, shorter = run(tmp_path / "longer", config={"epochs": 2})
    assert "trained 4 epochs, past epoch 2 where this run stops; training starts afresh" in caplog.text
    assert without_timing(shorter.history) == without_timing(fresh.history)
    for (name, a), (_, b) in zip(fresh_model.state_dict().items(), shorter_model.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    "scores, epochs, patience, stop",
    [
        ([0.1, 0.2, 0.3], 5, 10, None),  # would train on past the history
        ([0.1, 0.2, 0.3], 2, 10, 2),  # the epoch limit
        ([0.3, 0.2, 0.2, 0.4], 9, 2, 3),  # two epochs without a better score
        ([0.3, 0.3, 0.4], 9, 2, None),  # a tie is no improvement, but patience is not yet spent
    ],
)
def test_last_epoch_of_a_history_follows_the_loop_rule(scores, epochs, patience, stop):
    history = [{"epoch": epoch, "valid_micro_f1": score} for epoch, score in enumerate(scores, start=1)]
    assert last_epoch_of(history, config(epochs=epochs, patience=patience)) == stop


def test_the_run_fingerprint_covers_the_input_features(tmp_path, default_params):
    """New word vectors (or image features) must retrain, not resume the checkpoint trained on the old ones."""
    processed, features = tmp_path / "processed", tmp_path / "features"
    processed.mkdir()
    features.mkdir()
    (processed / "examples.parquet").write_bytes(b"examples")
    inputs = SimpleNamespace(processed_dir=processed, label_ranking=LABELS, vocabulary=["a"], image_channels=None)

    def fingerprint():
        return run_fingerprint("sgm", default_params, 13, inputs, features)

    np.save(features / "vectors.npy", np.zeros((2, 3), dtype=np.float32))
    before = fingerprint()
    assert fingerprint() == before
    np.save(features / "vectors.npy", np.ones((2, 3), dtype=np.float32))
    assert fingerprint() != before
    inputs.image_channels = 8  # an image dataset: the features' record stands for the arrays
    (features / "features.json").write_text('{"depth": 50}')
    resnet50 = fingerprint()
    (features / "features.json").write_text('{"depth": 101}')
    assert fingerprint() != resnet50


def test_equal_tensors_are_saved_as_equal_bytes(tmp_path):
    payload = {"model": {"weight": torch.arange(6.0).reshape(2, 3)}, "epoch": 3}
    save_tensors(tmp_path / "a" / "model.pt", payload)
    save_tensors(tmp_path / "b" / "model.pt", payload)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a" / "model.pt", weights_only=True)["model"]["weight"],
                       payload["model"]["weight"])


def test_deterministic_kernels_are_switched_without_importing_inductor():
    """seed_everything turns torch's deterministic-kernel flag on (and off again) in a fresh interpreter, without
    the 2-second import of TorchInductor that torch.use_deterministic_algorithms does."""
    script = (
        "import sys, torch\n"
        "from sgm_mlc.training.device import seed_everything\n"
        "seed_everything(0, torch.device('cpu'))\n"
        "on = torch.are_deterministic_algorithms_enabled()\n"
        "seed_everything(0, torch.device('cpu'), deterministic=False)\n"
        "print(on, torch.are_deterministic_algorithms_enabled(), 'torch._inductor' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False", "False"]
