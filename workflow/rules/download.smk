# ---------------------------------------------------------------------------------------------------------
# download_dataset: the raw files of one dataset (fetched and checksum-verified, or generated for synthetic)
# ---------------------------------------------------------------------------------------------------------
rule download_dataset:
    input:
        local_dataset_files,
    output:
        directory("data/raw/{dataset}"),
    params:
        config=lambda wildcards: step_config("downloads", dataset=wildcards.dataset),
    log:
        "results/logs/download_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/download_dataset/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    retries: 1
    shell:
        "python -m sgm_mlc download --dataset {wildcards.dataset} --out {output} --config {params.config:q}"
        " > {log} 2>&1"


# Phase target (used by dvc.yaml): the raw files of every dataset in run.datasets.
rule phase_download:
    input:
        expand("data/raw/{dataset}", dataset=DATASETS),
