"""Fixed parameter sets shared by tests."""

# The defaults of params.yaml's datasets.synthetic, fixed here so that margins measured on them stay meaningful
# when params.yaml changes.
SYNTHETIC_DEFAULTS = {
    "seed": 13,
    "n_documents": 3000,
    "n_labels": 20,
    "vocabulary_size": 2000,
    "words_per_label": 12,
    "document_length": [40, 120],
    "background_word_share": 0.6,
    "max_labels": 6,
    "test_fraction": 0.2,
    "validation_fraction": 0.1,
}
