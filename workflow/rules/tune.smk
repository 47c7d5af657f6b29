# ---------------------------------------------------------------------------------------------------------
# create_study: the study's storage tables and the study itself, once, before its workers start (workers that
# create them at the same time on a new database collide).
# tune_model: one worker of a model's tuning study on one dataset (Optuna, RDB storage): it runs trials until
# the study's budget is spent. `tuning.workers` jobs share a study (on a cluster, point tuning.storage at a
# database server). The test split is not read: the step reads the train and valid rows of examples.parquet.
# write_tuned_settings: the finished study's best.yaml (the tuned runs' settings) and trials.json.
# On a dataset with tuning.run_studies false these rules match nothing, and tuned runs read the committed best.yaml.
# ---------------------------------------------------------------------------------------------------------
STUDIED_DATASETS = "|".join(
    [dataset for dataset in TRAINED_DATASETS if dataset_view(config, dataset)["tuning"]["run_studies"]] or ["(?!)"]
)  # (?!) matches nothing


rule create_study:
    wildcard_constraints:
        dataset=STUDIED_DATASETS,
    output:
        "results/tuning/{dataset}/{model}/workers/study.json",
    params:
        config=tune_config,
        study_dir=lambda wildcards: f"results/tuning/{wildcards.dataset}/{wildcards.model}",
    log:
        "results/logs/create_study/{dataset}/{model}.log",
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m sgm_mlc create-study --dataset {wildcards.dataset} --model {wildcards.model}"
        " --study-dir {params.study_dir} --out {output} --config {params.config:q} > {log} 2>&1"


rule tune_model:
    wildcard_constraints:
        dataset=STUDIED_DATASETS,
    input:
        unpack(tune_inputs),
        study="results/tuning/{dataset}/{model}/workers/study.json",
    output:
        "results/tuning/{dataset}/{model}/workers/worker{worker}.json",
    params:
        config=tune_config,
        order=config["run"]["order"],
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        features=features_argument,
        label_orders=lambda wildcards: f"results/label_orders/{wildcards.dataset}",
        study_dir=lambda wildcards: f"results/tuning/{wildcards.dataset}/{wildcards.model}",
    log:
        "results/logs/tune_model/{dataset}/{model}/worker{worker}.log",
    benchmark:
        "results/benchmarks/tune_model/{dataset}/{model}/worker{worker}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=uses_gpu,
    shell:
        "python -m sgm_mlc tune --dataset {wildcards.dataset} --model {wildcards.model} --order {params.order}"
        " --worker {wildcards.worker} --processed {params.processed_dir} {params.features}"
        " --label-orders {params.label_orders} --threads {threads} --study-dir {params.study_dir}"
        " --out {output} --config {params.config:q} > {log} 2>&1"

rule write_tuned_settings:
    wildcard_constraints:
        dataset=STUDIED_DATASETS,
    input:
        workers=lambda wildcards: expand(
            "results/tuning/{{dataset}}/{{model}}/workers/worker{worker}.json",
            worker=range(dataset_view(config, wildcards.dataset)["tuning"]["workers"]),
        ),
        examples="data/processed/{dataset}/examples.parquet",
    output:
        best="results/tuning/{dataset}/{model}/best.yaml",
        trials="results/tuning/{dataset}/{model}/trials.json",
    params:
        config=tune_config,
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        study_dir=lambda wildcards, output: Path(output.best).parent,
    log:
        "results/logs/write_tuned_settings/{dataset}/{model}.log",
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m sgm_mlc tuned-settings --dataset {wildcards.dataset} --model {wildcards.model}"
        " --processed {params.processed_dir} --study-dir {params.study_dir} --config {params.config:q}"
        " > {log} 2>&1"


# Phase target: the tuned settings of every model with a tuned row (run with tuning.run_studies true).
rule tune:
    input:
        tuned_settings_targets(),
