"""Training: batches, the training loop with checkpoints, device and precision choice."""
