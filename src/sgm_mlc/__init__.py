"""sgm-mlc: sequence generation models for multi-label classification, as a reproducible pipeline."""

__version__ = "0.1.0"
