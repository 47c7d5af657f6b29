"""Using a trained model: label raw text with the run's own settings and evaluation's code path.

One library call behind every use — ``sgm-mlc predict``, the MLflow pyfunc (``mlflow models serve``) and the
report's interpretability examples::

    from sgm_mlc.predict import load_trained_model

    model = load_trained_model("results/models/synthetic/sgm/default/frequency/seed13")
    for prediction in model.predict(["some text", "more text"], top_words=5):
        print(prediction.record())

Modules: :mod:`~sgm_mlc.predict.bundle` (the files a model needs), :mod:`~sgm_mlc.predict.model`
(:class:`~sgm_mlc.predict.model.TrainedModel` and its predictions), :mod:`~sgm_mlc.predict.attention` (the words
each label attended to), :mod:`~sgm_mlc.predict.command` (``sgm-mlc predict``). Importing this package or the
command loads neither torch nor scikit-learn: the command line builds its parser in every step's environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sgm_mlc.predict.model import TrainedModel

__all__ = ["load_trained_model"]


def load_trained_model(source: str | Path, allow_pickle: bool = False) -> TrainedModel:
    """The model of a pipeline run folder (``results/models/<dataset>/<model>/<variant>/<order>/seed<seed>``,
    read with the pipeline's other files, see :mod:`sgm_mlc.predict.bundle`) or of a bundle folder (one holding
    ``bundle.json``, as :meth:`~sgm_mlc.predict.bundle.Bundle.save` writes it)."""
    from sgm_mlc.predict.bundle import MANIFEST_FILE, pipeline_bundle, read_bundle
    from sgm_mlc.predict.model import TrainedModel

    source = Path(source)
    bundle = read_bundle(source) if (source / MANIFEST_FILE).is_file() else pipeline_bundle(source)
    refuse_foreign_pickle(bundle.weights, allow_pickle)
    return TrainedModel(bundle)


def refuse_foreign_pickle(weights: Path, allow_pickle: bool) -> None:
    """Refuse a linear model's ``model.joblib`` from outside this project's ``results/models`` (the working
    folder's), unless ``allow_pickle``: joblib files are pickles, and loading one runs whatever code it holds.
    A neural model's ``model.pt`` is the safe format, from anywhere: it is read with ``torch.load(weights_only=True)``,
    which loads tensors and plain containers only."""
    own = (Path.cwd() / "results" / "models").resolve()
    if weights.suffix == ".joblib" and not allow_pickle and not weights.resolve().is_relative_to(own):
        raise ValueError(
            f"{weights}: refusing to load a joblib file from outside this project's results/models ({own}): it is "
            "a pickle, and loading one runs the code it holds. Run from the project that trained it, or, if you "
            "trust the file, allow it (sgm-mlc predict --allow-pickle; load_trained_model(..., allow_pickle=True))"
        )
