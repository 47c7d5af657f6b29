import json
import subprocess
import sys

import numpy as np
import pytest

from sgm_mlc.embeddings.word_vectors import align, build_word_vectors, load_pretrained, train_word2vec
from sgm_mlc.text.vocab import Vocabulary

DOCUMENTS = [["wheat", "grain", "corn", "export"], ["oil", "crude", "barrel", "price"], ["grain", "export", "price"]] * 30


@pytest.fixture
def embedding_params(params):
    section = dict(params["embeddings"], dimension=8, epochs=2)
    return section


def test_word2vec_is_deterministic_across_processes(tmp_path, embedding_params):
    """Same seed, same vectors, even under a different PYTHONHASHSEED (gensim must not depend on hash())."""
    script = (
        "import json,sys,numpy as np;"
        "from sgm_mlc.embeddings.word_vectors import train_word2vec;"
        "p=json.loads(sys.argv[1]);docs=json.loads(sys.argv[2]);"
        "wv=train_word2vec(docs,p);np.save(sys.argv[3],np.stack([wv[w] for w in sorted(wv.key_to_index)]))"
    )
    for hash_seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-c", script, json.dumps(embedding_params), json.dumps(DOCUMENTS), str(tmp_path / f"{hash_seed}.npy")],
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
        )
    np.testing.assert_array_equal(np.load(tmp_path / "1.npy"), np.load(tmp_path / "2.npy"))
    other = train_word2vec(DOCUMENTS, dict(embedding_params, seed=embedding_params["seed"] + 1))
    same = train_word2vec(DOCUMENTS, embedding_params)
    assert not np.allclose(other["grain"], same["grain"])


def test_align_keeps_vocabulary_order_zero_padding_and_reports_coverage(embedding_params):
    vectors = train_word2vec(DOCUMENTS, embedding_params)
    vocabulary = Vocabulary.build(DOCUMENTS + [["unseen"] * 5], min_count=1, max_size=100)
    matrix, coverage = align(vectors, vocabulary, seed=0)
    assert matrix.shape == (len(vocabulary), 8) and matrix.dtype == np.float32
    assert not matrix[0].any()
    grain = vocabulary.index["grain"]
    np.testing.assert_array_equal(matrix[grain], vectors["grain"])
    assert matrix[vocabulary.index["unseen"]].any()
    assert coverage["words_with_vector"] == len(vocabulary) - 3  # padding, unknown and "unseen" have none
    total = sum(vocabulary.counts)
    assert coverage["train_token_coverage"] == pytest.approx((total - 5) / total)


@pytest.mark.parametrize("file_format", ["glove", "word2vec"])
def test_pretrained_text_vectors_give_the_same_outputs(tmp_path, embedding_params, file_format):
    lines = ["grain 1 0 0 0 0 0 0 0", "oil 0 1 0 0 0 0 0 0", "price 0 0 1 0 0 0 0 0"]
    header = [] if file_format == "glove" else ["3 8"]
    path = tmp_path / f"vectors.{file_format}.txt"
    path.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    params = dict(embedding_params, method="pretrained", pretrained_path=str(path), pretrained_format=file_format)
    vocabulary = Vocabulary.build(DOCUMENTS, min_count=1, max_size=100)
    coverage = build_word_vectors(params, vocabulary, DOCUMENTS, tmp_path / "out")
    matrix = np.load(tmp_path / "out" / "vectors.npy")
    assert coverage["words_with_vector"] == 3 and coverage["method"] == "pretrained"
    np.testing.assert_array_equal(matrix[vocabulary.index["oil"]], [0, 1, 0, 0, 0, 0, 0, 0])
    assert json.loads((tmp_path / "out" / "coverage.json").read_text())["words_with_vector"] == 3


def test_pretrained_dimension_mismatch_and_missing_file_are_clear(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("grain 1 0 0\n")
    with pytest.raises(ValueError, match="set embeddings.dimension: 3"):
        load_pretrained(path, "glove", expected_dimension=8)
    with pytest.raises(FileNotFoundError, match="fix embeddings.pretrained_path"):
        load_pretrained(tmp_path / "absent.txt", "glove", expected_dimension=8)


def test_word2vec_outputs_written(tmp_path, embedding_params):
    vocabulary = Vocabulary.build(DOCUMENTS, min_count=1, max_size=100)
    build_word_vectors(embedding_params, vocabulary, DOCUMENTS, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["coverage.json", "vectors.npy", "word2vec.kv"]
    build_word_vectors(embedding_params, vocabulary, DOCUMENTS, tmp_path / "again")
    for name in ("coverage.json", "vectors.npy", "word2vec.kv"):  # byte for byte: DVC's hashes repeat
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
