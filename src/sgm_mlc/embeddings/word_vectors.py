"""Word vectors aligned to the project's vocabulary: trained with Word2Vec, or read from a pre-trained file.

Either way the step writes the same outputs: ``vectors.npy``, a float32 matrix of shape
``(vocabulary_size, dimension)`` whose row ``i`` is the vector of vocabulary word ``i`` (row 0, padding, is all
zeros), and ``coverage.json``, how much of the vocabulary and of the train tokens the vectors cover.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gensim.models import KeyedVectors, Word2Vec

from sgm_mlc.atomic import atomic_path, write_json
from sgm_mlc.embeddings import COVERAGE_FILE, VECTORS_FILE
from sgm_mlc.text.vocab import PAD, SPECIALS, Vocabulary

log = logging.getLogger(__name__)

WORD2VEC_FILE = "word2vec.kv"


def train_word2vec(documents: Sequence[Sequence[str]], params: dict[str, Any]) -> KeyedVectors:
    """Train Word2Vec on tokenized ``documents`` (the train split).

    One worker thread and a fixed seed make the vectors identical from run to run (gensim seeds its
    initial vectors from ``seed``; more workers would interleave updates nondeterministically).
    """
    model = Word2Vec(
        sentences=[list(tokens) for tokens in documents],
        vector_size=params["dimension"],
        window=params["window"],
        min_count=params["min_count"],
        sg=params["sg"],
        negative=params["negative"],
        epochs=params["epochs"],
        seed=params["seed"],
        workers=1,
    )
    return model.wv


def load_pretrained(path: str | Path, file_format: str, expected_dimension: int) -> KeyedVectors:
    """Read GloVe text (no header line) or word2vec format (text, or binary for ``.bin``) vectors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pre-trained vectors {path} not found; fix embeddings.pretrained_path in params.yaml")
    try:
        vectors = KeyedVectors.load_word2vec_format(
            str(path), binary=path.suffix == ".bin", no_header=file_format == "glove", encoding="utf-8"
        )
    except (ValueError, UnicodeDecodeError, EOFError) as error:
        raise ValueError(
            f"{path}: not a readable {file_format} vectors file ({error}); check embeddings.pretrained_format"
        ) from None
    if vectors.vector_size != expected_dimension:
        raise ValueError(
            f"{path} holds {vectors.vector_size}-dimensional vectors but embeddings.dimension is "
            f"{expected_dimension}; set embeddings.dimension: {vectors.vector_size} in params.yaml"
        )
    return vectors


def align(vectors: KeyedVectors, vocabulary: Vocabulary, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Matrix ``(len(vocabulary), dimension)`` of vectors in vocabulary order, and coverage figures.

    Words without a vector get a random one drawn (seeded) with the mean and spread of the known vectors, so
    they start on the same scale; padding stays zero.
    """
    dimension = vectors.vector_size
    found = [i for i, word in enumerate(vocabulary.words) if word not in SPECIALS and word in vectors.key_to_index]
    known = np.stack([vectors[vocabulary.words[i]] for i in found]) if found else np.zeros((1, dimension))
    rng = np.random.default_rng(seed)
    matrix = rng.normal(known.mean(axis=0), known.std(axis=0) + 1e-6, size=(len(vocabulary), dimension))
    matrix = matrix.astype(np.float32)
    if found:
        matrix[found] = known
    matrix[vocabulary.index[PAD]] = 0.0

    regular = len(vocabulary) - len(SPECIALS)
    train_tokens = sum(vocabulary.counts)
    covered_tokens = sum(vocabulary.counts[i] for i in found)
    coverage = {
        "dimension": dimension,
        "vocabulary_size": len(vocabulary),
        "words_with_vector": len(found),
        "word_coverage": len(found) / regular if regular else 0.0,
        "train_token_coverage": covered_tokens / train_tokens if train_tokens else 0.0,
        "source_vectors": len(vectors),
    }
    return matrix, coverage


def build_word_vectors(
    params: dict[str, Any], vocabulary: Vocabulary, train_documents: Sequence[Sequence[str]], out_dir: Path
) -> dict[str, Any]:
    """Write ``vectors.npy`` and ``coverage.json`` (and the trained Word2Vec vectors) into ``out_dir``."""
    if params["method"] == "word2vec":
        vectors = train_word2vec(train_documents, params)
        vectors.lifecycle_events = None  # gensim would store the time of the save: equal vectors, other bytes
        with atomic_path(out_dir / WORD2VEC_FILE) as temporary:
            vectors.save(str(temporary), separately=[])
    else:
        vectors = load_pretrained(params["pretrained_path"], params["pretrained_format"], params["dimension"])
    matrix, coverage = align(vectors, vocabulary, params["seed"])
    coverage["method"] = params["method"]
    with atomic_path(out_dir / VECTORS_FILE) as temporary:
        with open(temporary, "wb") as handle:
            np.save(handle, matrix)
    write_json(out_dir / COVERAGE_FILE, coverage)
    log.info(
        "%s vectors: %d of %d words covered (%.1f%% of train tokens)",
        params["method"],
        coverage["words_with_vector"],
        coverage["vocabulary_size"] - len(SPECIALS),
        100 * coverage["train_token_coverage"],
    )
    return coverage
