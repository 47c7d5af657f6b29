"""Hyper-parameter tuning: one Optuna study per dataset and model, on the train and validation splits only.

* :mod:`~sgm_mlc.tuning.space`: a model's search space (``tuning.spaces.<model>`` in params.yaml) and how a
  trial's values become a run's settings;
* :mod:`~sgm_mlc.tuning.study`: the study (RDB storage, TPE sampler, Hyperband pruner), the shared budget in
  trials and CPU-minutes, and a worker that runs trials until the budget is spent;
* :mod:`~sgm_mlc.tuning.objective`: one trial, the project's own training code with a pruning callback;
* :mod:`~sgm_mlc.tuning.settings`: the study's outcome, ``best.yaml``, which a ``tuned`` run reads.
"""
