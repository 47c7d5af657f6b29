# ---------------------------------------------------------------------------------------------------------
# preprocess_to_parquet: examples in the common Parquet schema, the train-split vocabulary, the dataset card
# ---------------------------------------------------------------------------------------------------------
rule preprocess_to_parquet:
    input:
        "data/raw/{dataset}",
    output:
        examples="data/processed/{dataset}/examples.parquet",
        vocabulary="data/processed/{dataset}/vocab.json",
        card="data/processed/{dataset}/card.json",
    params:
        config=lambda wildcards: step_config("preprocess", dataset=wildcards.dataset),
        out_dir=lambda wildcards, output: Path(output.examples).parent,
    log:
        "results/logs/preprocess_to_parquet/{dataset}.log",
    benchmark:
        "results/benchmarks/preprocess_to_parquet/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m sgm_mlc preprocess --dataset {wildcards.dataset} --raw {input} --out {params.out_dir}"
        " --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): every dataset in run.datasets, processed.
rule phase_preprocess:
    input:
        expand("data/processed/{dataset}/examples.parquet", dataset=DATASETS),
