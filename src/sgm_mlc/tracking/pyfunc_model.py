"""A trained model as an MLflow pyfunc: the model's bundle (:mod:`sgm_mlc.predict.bundle`, its decision rule
included) as its one artifact, and :class:`~sgm_mlc.predict.model.TrainedModel` behind ``predict``, so ``mlflow
models serve`` answers as ``sgm-mlc predict`` and the run's evaluation do.

Input: a DataFrame with a ``text`` column; served, ``{"dataframe_records": [{"text": …}, …]}``,
``{"dataframe_split": …}`` or ``{"inputs": [text, …]}``. Output: one row per text with ``labels``,
``probabilities``, ``end_probability`` and ``attended_words`` (:meth:`~sgm_mlc.predict.model.TextPrediction.record`).
Optional params: ``top_words`` and, for sequence models, ``beam_size``.

The model is logged as the MLflow 3 *logged model* ``model`` of its training run (``runs:/<run id>/model``),
without ``code_paths``: it loads ``sgm_mlc`` from the environment, as ``mlflow models serve --env-manager
local`` does from the project's venv. Logging again is idempotent: a ready model of the same bundle digest is
kept, any other model of that name on the run (an older bundle, a failed attempt) is replaced.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from sgm_mlc.predict.bundle import Bundle, read_bundle

if TYPE_CHECKING:  # the model's code (torch, scikit-learn) loads with the model, not with the logging step
    from sgm_mlc.predict.model import TrainedModel

MODEL_NAME = "model"
BUNDLE_ARTIFACT = "bundle"
DIGEST_TAG = "sgm_mlc.bundle_sha256"
TEXT_COLUMN = "text"
OUTPUT_COLUMNS = ("labels", "probabilities", "end_probability", "attended_words")
DEFAULT_TOP_WORDS = 5


class TrainedModelPyfunc(mlflow.pyfunc.PythonModel):
    """The pyfunc wrapper (see the module docstring); ``self.model`` is the loaded
    :class:`~sgm_mlc.predict.model.TrainedModel`."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        from sgm_mlc.predict.model import TrainedModel

        self.model = TrainedModel(read_bundle(Path(context.artifacts[BUNDLE_ARTIFACT])))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """One row per text of ``model_input`` (see the module docstring)."""
        params = params or {}
        predictions = self.model.predict(
            input_texts(model_input),
            beam_size=params.get("beam_size"),
            top_words=int(params.get("top_words", DEFAULT_TOP_WORDS)),
        )
        return pd.DataFrame([prediction.record() for prediction in predictions], columns=list(OUTPUT_COLUMNS))


def input_texts(frame: pd.DataFrame) -> list[str]:
    """The ``text`` column of a pyfunc input (MLflow has checked the column against the signature)."""
    texts = list(frame[TEXT_COLUMN])
    if not all(isinstance(text, str) for text in texts):
        raise ValueError(f"every {TEXT_COLUMN!r} of the input must be one string")
    return texts


def signature(bundle: Bundle) -> ModelSignature:
    """Input: the ``text`` column; params: ``top_words``, and ``beam_size`` (default: the evaluation's) for
    sequence models."""
    params = [ParamSpec("top_words", "long", DEFAULT_TOP_WORDS)]
    decoding = bundle.params.get("decoding")
    if decoding is not None:
        params.append(ParamSpec("beam_size", "long", decoding["beam_size"]))
    return ModelSignature(inputs=Schema([ColSpec("string", TEXT_COLUMN)]), params=ParamSchema(params))


def requirements() -> list[str]:
    """The distributions the model loads with, pinned to the versions that wrote it."""
    return [f"{name}=={version(name)}" for name in ("sgm-mlc", "mlflow", "torch", "scikit-learn", "pandas")]


@contextmanager
def tracking_store(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``log_model``, ``load_model``) pointed at ``uri`` for the block."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def log_pyfunc_model(uri: str, run_id: str, bundle: Bundle) -> str:
    """Log ``bundle`` as the pyfunc model ``model`` of run ``run_id`` (idempotent, see the module docstring);
    return the logged model's id.

    The logged model is created here, in the run's experiment, and linked to the run as its output: without an
    active run ``log_model`` would file it under the default experiment, and re-opening the finished run to make
    it active would rewrite the run's status and end time. It is logged with its signature and without an input
    example: MLflow checks an input example by loading the model in the logging process, which imports torch
    and scikit-learn and took 5 of a logging job's 8 seconds (the serving test loads and serves it instead)."""
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_run(run_id).info.experiment_id
    digest = bundle.digest()
    logged = client.search_logged_models(
        [experiment_id], filter_string=f"name = '{MODEL_NAME}' AND source_run_id = '{run_id}'"
    )
    for model in logged:
        if model.status == LoggedModelStatus.READY and model.tags.get(DIGEST_TAG) == digest:
            return model.model_id
    for model in logged:
        client.delete_logged_model(model.model_id)
    model = client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id, tags={DIGEST_TAG: digest})
    with tempfile.TemporaryDirectory() as folder, tracking_store(uri):
        mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            model_id=model.model_id,
            python_model=TrainedModelPyfunc(),
            artifacts={BUNDLE_ARTIFACT: str(bundle.save(Path(folder) / BUNDLE_ARTIFACT))},
            signature=signature(bundle),
            pip_requirements=requirements(),
        )
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    return model.model_id


def load_logged_model(uri: str, run_id: str) -> TrainedModel:
    """The :class:`~sgm_mlc.predict.model.TrainedModel` logged as ``runs:/<run_id>/model`` in the store ``uri``."""
    client = MlflowClient(tracking_uri=uri)
    try:
        client.get_run(run_id)
    except MlflowException:
        raise ValueError(
            f"no MLflow run {run_id} in {uri} (give the store with --tracking-uri or MLFLOW_TRACKING_URI)"
        ) from None
    try:
        with tracking_store(uri):
            pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/{MODEL_NAME}")
    except (MlflowException, OSError):
        raise ValueError(
            f"MLflow run {run_id} has no logged model {MODEL_NAME!r}; log it with the log_training_runs step "
            "(sgm-mlc log-training-runs)"
        ) from None
    return pyfunc.unwrap_python_model().model
