"""Evaluation metrics for multi-label predictions and for the order in which labels are emitted."""
