# ---------------------------------------------------------------------------------------------------------
# build_label_order: the label vocabulary and every document's label sequence for one order
# ---------------------------------------------------------------------------------------------------------
rule build_label_order:
    input:
        "data/processed/{dataset}/examples.parquet",
    output:
        vocabulary="results/label_orders/{dataset}/{order}/label_vocab.json",
        sequences="results/label_orders/{dataset}/{order}/sequences.parquet",
    params:
        config=lambda wildcards: step_config("label_orders"),
        processed_dir=lambda wildcards, input: Path(input[0]).parent,
        out_dir=lambda wildcards, output: Path(output.sequences).parent,
    log:
        "results/logs/build_label_order/{dataset}/{order}.log",
    benchmark:
        "results/benchmarks/build_label_order/{dataset}/{order}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m sgm_mlc build-label-order --processed {params.processed_dir} --order {wildcards.order}"
        " --out {params.out_dir} --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): every order the experiments use, for every dataset models train on.
rule phase_label_orders:
    input:
        expand(
            "results/label_orders/{dataset}/{order}/sequences.parquet", dataset=TRAINED_DATASETS, order=PLAN.label_orders
        ),
