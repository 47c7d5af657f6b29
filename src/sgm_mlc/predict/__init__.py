"""Using a trained model: label raw text with the run's own settings and evaluation's code path.

One library call behind every use — ``sgm-mlc predict``, the MLflow pyfunc (``mlflow models serve``) and the
report's interpretability examples::

    from sgm_mlc.predict import load_trained_model

    model = load_trained_model("results/models/synthetic/sgm/default/frequency/seed13")
    for prediction in model.predict(["some text", "more text"], top_words=5):
        print(prediction.record())
"""

from __future__ import annotations

from pathlib import Path

from sgm_mlc.predict.bundle import MANIFEST_FILE, Bundle, pipeline_bundle, read_bundle
from sgm_mlc.predict.model import LabelPrediction, TextPrediction, TrainedModel

__all__ = [
    "Bundle",
    "LabelPrediction",
    "TextPrediction",
    "TrainedModel",
    "load_trained_model",
    "pipeline_bundle",
    "read_bundle",
]


def load_trained_model(source: str | Path) -> TrainedModel:
    """The model of a pipeline run folder (``results/models/<dataset>/<model>/<variant>/<order>/seed<seed>``,
    read with the pipeline's other files, see :mod:`sgm_mlc.predict.bundle`) or of a bundle folder (one holding
    ``bundle.json``)."""
    source = Path(source)
    if (source / MANIFEST_FILE).is_file():
        return TrainedModel(read_bundle(source))
    return TrainedModel(pipeline_bundle(source))
