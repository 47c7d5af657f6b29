"""Fixed parameter sets shared by tests."""

# params.yaml's datasets.synthetic as it was before the difficulty settings existed: no leaked words and
# n_labels // 10 hidden labels (hidden_label_share 0.1, word_leak_share 0, their defaults), the clean planted
# structure. The generator still gives the same bytes for these params, so the margins measured on them (in
# test_synthetic and test_linear_baselines) stay meaningful.
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

# params.yaml's datasets.synthetic defaults with the difficulty settings, fixed here for the margins measured on
# them: shorter documents, a fifth of the labels hidden, 15% of the label words leaked from a decoy label, and
# 1,040 test documents.
SYNTHETIC_HARD = dict(
    SYNTHETIC_DEFAULTS,
    n_documents=2600,
    document_length=[20, 60],
    hidden_label_share=0.2,
    word_leak_share=0.15,
    test_fraction=0.4,
)

# params.yaml's datasets.synthetic_shift: SYNTHETIC_HARD shifted (its source is a YAML alias of
# datasets.synthetic there).
SYNTHETIC_SHIFT = {
    "source": SYNTHETIC_HARD,
    "seed": 7,
    "n_documents": 1500,
    "vocabulary_shift": 0.3,
    "prior_shift": 0.5,
    "extra_labels": 2,
    "test_fraction": 0.7,
    "validation_fraction": 0.1,
}
