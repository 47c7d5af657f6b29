"""Summaries of finished runs: the metrics table and training curves that DVC shows."""
