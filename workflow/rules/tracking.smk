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
    benchmark:
        "results/benchmarks/log_dataset_card/{dataset}.tsv"
    conda:
        "../../envs/tracking.yaml"
    resources:
        tracking_writes=TRACKING_WRITES,
    shell:
        "python -m sgm_mlc log-dataset-card --dataset {wildcards.dataset} --processed {params.processed_dir}"
        " --out {output} --config {params.config:q} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# log_training_runs: one MLflow run per trained model of a dataset (params, per-epoch and final metrics, the
# model as an MLflow pyfunc, predictions), logged from the runs' files by one job per dataset (one process
# imports MLflow once, instead of a job per run spending seconds on it). A run is found again by its run key, so
# rerunning the job re-logs into the same runs; its params are everything the run depends on, so a changed
# input makes a new run. The record lists each run's MLflow ids; it is written once every run is logged.
# ---------------------------------------------------------------------------------------------------------
rule log_training_runs:
    input:
        logged_run_inputs,
    output:
        "results/tracking/{dataset}/training_runs.json",
    params:
        config=lambda wildcards: dataset_config(wildcards.dataset),
        runs=lambda wildcards: " ".join(run.path for run in dataset_runs(wildcards.dataset)),
    log:
        "results/logs/log_training_runs/{dataset}.log",
    benchmark:
        "results/benchmarks/log_training_runs/{dataset}.tsv"
    conda:
        "../../envs/tracking.yaml"
    resources:
        tracking_writes=TRACKING_WRITES,
    shell:
        "python -m sgm_mlc log-training-runs --dataset {wildcards.dataset} --runs {params.runs}"
        " --processed data/processed/{wildcards.dataset} --label-orders results/label_orders/{wildcards.dataset}"
        " --out {output} --config {params.config:q} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# organise_runs: a dataset's logged runs nested under one parent run per recipe (dataset × model × variant ×
# order; the seeds' mean and std), and its best model by validation registered as models:/sgm-mlc-<dataset>@best
# ---------------------------------------------------------------------------------------------------------
rule organise_runs:
    input:
        experiment="results/tracking/experiment.json",
        training_runs="results/tracking/{dataset}/training_runs.json",
    output:
        "results/tracking/{dataset}/run_groups.json",
    params:
        config=step_config("tracking", "training"),
    log:
        "results/logs/organise_runs/{dataset}.log",
    benchmark:
        "results/benchmarks/organise_runs/{dataset}.tsv"
    conda:
        "../../envs/tracking.yaml"
    resources:
        tracking_writes=TRACKING_WRITES,
    shell:
        "python -m sgm_mlc organise-runs --dataset {wildcards.dataset} --training-runs {input.training_runs}"
        " --out {output} --config {params.config:q} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# log_tuning_study: one MLflow run per tuning study (its best settings, budget used) with a child run per trial
# (values drawn, per-epoch validation scores, state), from best.yaml and trials.json
# ---------------------------------------------------------------------------------------------------------
rule log_tuning_study:
    input:
        experiment="results/tracking/experiment.json",
        best="results/tuning/{dataset}/{model}/best.yaml",
        trials="results/tuning/{dataset}/{model}/trials.json",
    output:
        "results/tracking/tuning/{dataset}/{model}/run.json",
    params:
        config=lambda wildcards: as_json(
            tune_sections(config, wildcards.dataset, wildcards.model) | {"tracking": config["tracking"]}
        ),
        study_dir=lambda wildcards, input: Path(input.best).parent,
    log:
        "results/logs/log_tuning_study/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/log_tuning_study/{dataset}/{model}.tsv"
    conda:
        "../../envs/tracking.yaml"
    priority: 10
    resources:
        tracking_writes=TRACKING_WRITES,
    shell:
        "python -m sgm_mlc log-tuning-study --dataset {wildcards.dataset} --model {wildcards.model}"
        " --study-dir {params.study_dir} --out {output} --config {params.config:q} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# log_cross_dataset_run: one MLflow run per cross-dataset evaluation, with the label map it used
# ---------------------------------------------------------------------------------------------------------
rule log_cross_dataset_run:
    input:
        experiment="results/tracking/experiment.json",
        training_runs="results/tracking/{dataset}/training_runs.json",
        metrics="results/cross_dataset/{dataset}__{target}/{model}/{variant}/{order}/seed{seed}/metrics.json",
        label_map="workflow/label_maps/{dataset}__{target}.tsv",
        target_examples="data/processed/{target}/examples.parquet",
    output:
        "results/tracking/cross_dataset/{dataset}__{target}/{model}/{variant}/{order}/seed{seed}/run.json",
    params:
        config=cross_dataset_tracked_config,
        evaluation_dir=lambda wildcards, input: Path(input.metrics).parent,
    log:
        "results/logs/log_cross_dataset_run/{dataset}__{target}/{model}/{variant}/{order}/seed{seed}.log",
    benchmark:
        "results/benchmarks/log_cross_dataset_run/{dataset}__{target}/{model}/{variant}/{order}/seed{seed}.tsv"
    conda:
        "../../envs/tracking.yaml"
    priority: 10
    resources:
        tracking_writes=TRACKING_WRITES,
    shell:
        "python -m sgm_mlc log-cross-dataset-run --dataset {wildcards.dataset} --target {wildcards.target}"
        " --model {wildcards.model} --variant {wildcards.variant} --order {wildcards.order} --seed {wildcards.seed}"
        " --training-runs {input.training_runs} --label-map {input.label_map} --target-examples {input.target_examples}"
        " --evaluation-dir {params.evaluation_dir} --out {output} --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): every dataset card, every run and every cross-dataset evaluation, logged.
rule phase_tracking:
    input:
        tracking_targets(),
