"""A trained model's bundle: exactly the files it needs to label raw text, found in the pipeline's results or
read from a bundle folder (as an MLflow pyfunc model carries it).

Where the pipeline keeps them, for the run ``<dataset>/<model>/<variant>/<order>/seed<seed>``:

===========================================================  =======================================================
``results/models/<run>/model.pt`` or ``model.joblib``        the weights (best epoch), or the fitted linear model
``results/evaluation/<run>/params.json``                     the settings the run was evaluated with (``models``;
                                                             neural models: ``training``'s source length, batching,
                                                             device; sequence models: ``decoding``) and its identity
                                                             (``run``): prediction decodes as evaluation did
``results/evaluation/<run>/decision.json``                   the decision rule evaluation fitted and applied
                                                             (:mod:`sgm_mlc.decision`): prediction applies it too
``data/processed/<dataset>/card.json``                       ``preprocess.lowercase``: how text became tokens
``data/processed/<dataset>/vocab.json``                      the word vocabulary (neural models)
``results/embeddings/<dataset>/vectors.npy``                 only its shape, to build the model (neural models)
``results/label_orders/<dataset>/<order>/label_vocab.json``  the labels in the order's ranking
===========================================================  =======================================================

A bundle folder holds ``bundle.json`` (the settings, the lowercase flag and the word vectors' shape), the weights
file, ``label_vocab.json``, ``decision.json`` and, for neural models, ``vocab.json``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sgm_mlc.atomic import write_json
from sgm_mlc.data.preprocess import CARD_FILE, VOCABULARY_FILE
from sgm_mlc.decision import DECISION_FILE
from sgm_mlc.embeddings import VECTORS_FILE
from sgm_mlc.labels.build import LABEL_VOCABULARY_FILE

PARAMS_FILE = "params.json"
MANIFEST_FILE = "bundle.json"
WEIGHTS_FILES = ("model.pt", "model.joblib")
FORMAT_VERSION = 2  # 2: with the decision rule


@dataclass(frozen=True)
class Bundle:
    """What a trained model needs to predict on raw text.

    ``params``: the evaluation's settings (sections ``models``, and for neural models ``training`` and, for
    sequence models, ``decoding``) with the run's identity under ``run``; ``lowercase``: the tokenizer setting
    of the dataset; ``weights``: ``model.pt`` or ``model.joblib``; ``decision``: the evaluation's
    ``decision.json``; ``vocabulary`` and ``word_vectors_shape`` ``(vocabulary_size, dimension)``: neural models
    only (else None).
    """

    params: dict[str, Any]
    lowercase: bool
    weights: Path
    label_vocabulary: Path
    decision: Path
    vocabulary: Path | None = None
    word_vectors_shape: tuple[int, int] | None = None

    @property
    def model_name(self) -> str:
        return self.params["run"]["model"]

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "params": self.params,
            "lowercase": self.lowercase,
            "weights": self.weights.name,
            "word_vectors_shape": list(self.word_vectors_shape) if self.word_vectors_shape else None,
        }

    def files(self) -> list[Path]:
        """The data files, without the manifest."""
        return [self.weights, self.label_vocabulary, self.decision] + ([self.vocabulary] if self.vocabulary else [])

    def save(self, folder: Path) -> Path:
        """Copy the bundle into ``folder`` (created); return it."""
        folder.mkdir(parents=True, exist_ok=True)
        for source in self.files():
            shutil.copyfile(source, folder / source.name)
        write_json(folder / MANIFEST_FILE, self.manifest())
        return folder

    def digest(self) -> str:
        """SHA-256 of the manifest and every file: equal digests, equal predictions."""
        digest = hashlib.sha256(json.dumps(self.manifest(), sort_keys=True).encode())
        for source in self.files():
            digest.update(source.name.encode())
            with source.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        return digest.hexdigest()


def read_bundle(folder: Path) -> Bundle:
    """The bundle saved in ``folder`` by :meth:`Bundle.save`."""
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{folder} is not a model bundle: it has no {MANIFEST_FILE}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{manifest_path}: bundle format {manifest.get('format')!r}, this code reads {FORMAT_VERSION}; save the "
            "bundle again from its run folder, or log the run again (sgm-mlc log-training-runs)"
        )
    vocabulary = folder / VOCABULARY_FILE
    shape = manifest["word_vectors_shape"]
    return Bundle(
        params=manifest["params"],
        lowercase=manifest["lowercase"],
        weights=folder / manifest["weights"],
        label_vocabulary=folder / LABEL_VOCABULARY_FILE,
        decision=folder / DECISION_FILE,
        vocabulary=vocabulary if vocabulary.is_file() else None,
        word_vectors_shape=tuple(shape) if shape else None,
    )


def pipeline_bundle(run_dir: Path) -> Bundle:
    """The bundle of the trained run in ``run_dir`` (``results/models/<dataset>/<model>/<variant>/<order>/seed<seed>``),
    from the pipeline's files (see the module docstring); a missing file is named with the Snakemake target
    that rebuilds it."""
    run_dir = Path(run_dir)
    root, run_path = split_run_dir(run_dir)
    evaluation = f"results/evaluation/{run_path}"
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"no trained model at {run_dir}: train and evaluate it first "
            f"(snakemake --cores 2 {evaluation}/metrics.json)"
        )
    files = PipelineFiles(root)
    params = files.json(f"{evaluation}/{PARAMS_FILE}", f"{evaluation}/metrics.json")
    run = params["run"]
    weights = [run_dir / name for name in WEIGHTS_FILES if (run_dir / name).is_file()]
    if not weights:
        raise FileNotFoundError(
            f"{run_dir} holds no model file ({' or '.join(WEIGHTS_FILES)}): training has not finished "
            f"(snakemake --cores 2 results/models/{run_path}/train_summary.json)"
        )
    processed = f"data/processed/{run['dataset']}"
    card = files.json(f"{processed}/{CARD_FILE}", f"{processed}/examples.parquet")
    if "preprocess" not in card:
        raise ValueError(
            f"{root / processed / CARD_FILE} does not record the preprocess settings; rebuild it "
            f"(snakemake --cores 2 --force {processed}/examples.parquet)"
        )
    order = f"results/label_orders/{run['dataset']}/{run.get('label_order', run['order'])}"  # a tuned run's choice
    label_vocabulary = files.path(f"{order}/{LABEL_VOCABULARY_FILE}", f"{order}/sequences.parquet")
    decision = files.path(f"{evaluation}/{DECISION_FILE}", f"{evaluation}/metrics.json")
    lowercase = card["preprocess"]["lowercase"]
    if weights[0].name == "model.joblib":
        return Bundle(params, lowercase, weights[0], label_vocabulary, decision)
    vectors_file = f"results/embeddings/{run['dataset']}/{VECTORS_FILE}"
    vectors = np.load(files.path(vectors_file, vectors_file), mmap_mode="r")
    return Bundle(
        params,
        lowercase,
        weights[0],
        label_vocabulary,
        decision,
        vocabulary=files.path(f"{processed}/{VOCABULARY_FILE}", f"{processed}/examples.parquet"),
        word_vectors_shape=(int(vectors.shape[0]), int(vectors.shape[1])),
    )


def read_label_ranking(label_vocabulary: Path) -> list[str]:
    """The labels of a ``label_vocab.json``, in the order's ranking."""
    return json.loads(label_vocabulary.read_text(encoding="utf-8"))["labels"]


def split_run_dir(run_dir: Path) -> tuple[Path, str]:
    """``(project root, "<dataset>/<model>/<variant>/<order>/seed<seed>")`` of a run folder under
    ``results/models``."""
    absolute = run_dir.resolve()
    for models_dir in absolute.parents:
        if models_dir.name == "models" and models_dir.parent.name == "results":
            return models_dir.parent.parent, absolute.relative_to(models_dir).as_posix()
    raise ValueError(
        f"{run_dir} is not a run folder of the pipeline: results/models/<dataset>/<model>/<variant>/<order>/seed<seed>"
    )


@dataclass(frozen=True)
class PipelineFiles:
    """The project's files, each named relative to its ``root``; a missing one is an error naming the
    Snakemake target that builds it."""

    root: Path

    def path(self, relative: str, target: str) -> Path:
        path = self.root / relative
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: build it with snakemake --cores 2 --force {target}")
        return path

    def json(self, relative: str, target: str) -> Any:
        return json.loads(self.path(relative, target).read_text(encoding="utf-8"))
