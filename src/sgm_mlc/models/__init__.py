"""Models: the sequence generation models (SGM, Seq2Seq), neural set classifiers and linear baselines."""
