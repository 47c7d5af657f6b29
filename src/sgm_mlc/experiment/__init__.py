"""One experiment run: a model trained on one dataset, label order and seed, then evaluated."""
