import pyarrow.parquet as pq
import pytest

from sgm_mlc.data.base import Example
from sgm_mlc.data.parquet import write_examples
from sgm_mlc.labels.build import build_label_order
from sgm_mlc.labels.orders import label_ranking, order_labels

LABEL_SETS = [["grain", "wheat", "corn"], ["earn"], ["wheat", "grain"], ["acq", "earn"], ["zinc"]]
SPLITS = ["train", "train", "train", "train", "test"]


def test_frequency_order_is_descending_train_frequency_with_alphabetical_ties():
    ranking = label_ranking("frequency", LABEL_SETS, SPLITS, random_seed=0)
    # earn, grain, wheat: 2 each (alphabetical); acq, corn: 1 each; zinc: test only, last
    assert ranking == ["earn", "grain", "wheat", "acq", "corn", "zinc"]
    assert order_labels("frequency", ["wheat", "corn", "grain"], ranking) == ["grain", "wheat", "corn"]


def test_rare_first_order_is_ascending_train_frequency_with_alphabetical_ties():
    ranking = label_ranking("rare_first", LABEL_SETS, SPLITS, random_seed=0)
    # zinc: absent from train (0); acq, corn: 1 each; earn, grain, wheat: 2 each
    assert ranking == ["zinc", "acq", "corn", "earn", "grain", "wheat"]
    assert order_labels("rare_first", ["wheat", "corn", "grain"], ranking) == ["corn", "grain", "wheat"]


def test_alphabetical_order():
    ranking = label_ranking("alphabetical", LABEL_SETS, SPLITS, random_seed=0)
    assert ranking == sorted(ranking)
    assert order_labels("alphabetical", ["wheat", "corn"], ranking) == ["corn", "wheat"]


def test_natural_order_keeps_source_order_and_lists_labels_by_first_appearance():
    ranking = label_ranking("natural", LABEL_SETS, SPLITS, random_seed=0)
    assert ranking == ["grain", "wheat", "corn", "earn", "acq", "zinc"]
    assert order_labels("natural", ["wheat", "grain", "wheat"], ranking) == ["wheat", "grain"]


def test_random_order_is_seeded_permutation_applied_to_every_document():
    first = label_ranking("random", LABEL_SETS, SPLITS, random_seed=7)
    assert first == label_ranking("random", LABEL_SETS, SPLITS, random_seed=7)
    assert sorted(first) == sorted({label for labels in LABEL_SETS for label in labels})
    others = {tuple(label_ranking("random", LABEL_SETS, SPLITS, random_seed=seed)) for seed in range(8)}
    assert len(others) > 1
    sequence = order_labels("random", ["grain", "wheat", "corn"], first)
    assert sequence == sorted(sequence, key=first.index)


def test_unknown_order_is_refused():
    with pytest.raises(ValueError, match="known orders: frequency, alphabetical, natural, random"):
        label_ranking("length", LABEL_SETS, SPLITS, random_seed=0)


def test_build_label_order_writes_vocabulary_and_sequences(tmp_path):
    examples = [Example(str(i), "text", tuple(labels), split) for i, (labels, split) in enumerate(zip(LABEL_SETS, SPLITS))]
    write_examples(examples, [["text"]] * len(examples), [[1]] * len(examples), tmp_path / "examples.parquet")
    vocabulary = build_label_order(tmp_path / "examples.parquet", "frequency", 0, tmp_path / "out")
    assert vocabulary["labels"][0] == "earn"
    table = pq.read_table(tmp_path / "out" / "sequences.parquet").to_pylist()
    assert table[0] == {"id": "0", "split": "train", "label_sequence": ["grain", "wheat", "corn"]}
    assert (tmp_path / "out" / "label_vocab.json").is_file()
