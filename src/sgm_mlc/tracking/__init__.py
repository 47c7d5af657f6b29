"""MLflow tracking: one get-or-create run per ``run_key``, so retried jobs resume their own run."""
