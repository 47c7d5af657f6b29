# ---------------------------------------------------------------------------------------------------------
# init_tracking: create the MLflow store and experiment once, before parallel jobs log to it
# ---------------------------------------------------------------------------------------------------------
rule init_tracking:
    output:
        "results/tracking/experiment.json",
    params:
        config=step_config("tracking"),
    log:
        "results/logs/init_tracking/init_tracking.log",
    conda:
        "../../envs/tracking.yaml"
    shell:
        "python -m sgm_mlc init-tracking --out {output} --config {params.config:q} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# log_dataset_card: one MLflow run per dataset with its parameters, counts and card (found again by run key)
# ---------------------------------------------------------------------------------------------------------
rule log_dataset_card:
    input:
        experiment="results/tracking/experiment.json",
        card="data/processed/{dataset}/card.json",
        examples="data/processed/{dataset}/examples.parquet",
    output:
        "results/tracking/{dataset}/dataset_card_run.json",
    params:
        config=lambda wildcards: step_config("preprocess", "tracking", dataset=wildcards.dataset),
        processed_dir=lambda wildcards, input: Path(input.card).parent,
    log:
        "results/logs/log_dataset_card/{dataset}.log",
    conda:
        "../../envs/tracking.yaml"
    resources:
        tracking_writes=1,
    shell:
        "python -m sgm_mlc log-dataset-card --dataset {wildcards.dataset} --processed {params.processed_dir}"
        " --out {output} --config {params.config:q} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# log_training_run: one MLflow run per trained model (params, per-epoch and final metrics, model, predictions),
# logged from the run's files; rerunning it re-logs a run whose tracking failed, into the same MLflow run
# ---------------------------------------------------------------------------------------------------------
rule log_training_run:
    input:
        experiment="results/tracking/experiment.json",
        summary="results/models/{dataset}/{model}/{order}/seed{seed}/train_summary.json",
        metrics="results/evaluation/{dataset}/{model}/{order}/seed{seed}/metrics.json",
        examples="data/processed/{dataset}/examples.parquet",
    output:
        "results/tracking/{dataset}/{model}/{order}/seed{seed}/run.json",
    params:
        config=lambda wildcards: step_config(
            "training", "decoding", "tracking", dataset=wildcards.dataset, model=wildcards.model
        ),
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        model_dir=lambda wildcards, input: Path(input.summary).parent,
        evaluation_dir=lambda wildcards, input: Path(input.metrics).parent,
    log:
        "results/logs/log_training_run/{dataset}/{model}/{order}/seed{seed}.log",
    conda:
        "../../envs/tracking.yaml"
    resources:
        tracking_writes=1,
    shell:
        "python -m sgm_mlc log-training-run --dataset {wildcards.dataset} --model {wildcards.model}"
        " --order {wildcards.order} --seed {wildcards.seed} --processed {params.processed_dir}"
        " --model-dir {params.model_dir} --evaluation-dir {params.evaluation_dir} --out {output}"
        " --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): every dataset card and every run, logged.
rule phase_tracking:
    input:
        tracking_targets() + run_tracking_targets(),
