"""The model names, by kind (importing this module loads no model code)."""

LINEAR_MODELS = ("br", "lp", "cc")
SET_MODELS = ("br_neural", "cnn")
SEQUENCE_MODELS = ("sgm", "seq2seq")
NEURAL_MODELS = SET_MODELS + SEQUENCE_MODELS
MODEL_NAMES = LINEAR_MODELS + NEURAL_MODELS
# Models that read words (TF-IDF, word convolutions): not run on image datasets.
TEXT_ONLY_MODELS = LINEAR_MODELS + ("cnn",)
# The losses of sgm_mlc.models.losses with a set part: a sequence model trained with one has per-label scores
# trained as probabilities, on which a decision rule is fitted (reported beside its decoded labels).
SET_LOSSES = ("set", "sequence+set")
