# ---------------------------------------------------------------------------------------------------------
# evaluate_cross_dataset: a model trained on {dataset} evaluated on the test split of {target}, over the
# labels of workflow/label_maps/{dataset}__{target}.tsv (labels outside the map are reported, not dropped)
# ---------------------------------------------------------------------------------------------------------
rule evaluate_cross_dataset:
    input:
        unpack(run_inputs),
        unpack(cross_dataset_target_inputs),
        summary="results/models/{dataset}/{model}/{variant}/{order}/seed{seed}/train_summary.json",
        decision="results/evaluation/{dataset}/{model}/{variant}/{order}/seed{seed}/decision.json",
        label_map="workflow/label_maps/{dataset}__{target}.tsv",
    output:
        metrics=report(
            "results/cross_dataset/{dataset}__{target}/{model}/{variant}/{order}/seed{seed}/metrics.json",
            caption="../report/cross_dataset.rst",
            category="Cross-dataset",
            labels={"pair": "{dataset} → {target}", "model": "{model}", "seed": "{seed}"},
        ),
        predictions="results/cross_dataset/{dataset}__{target}/{model}/{variant}/{order}/seed{seed}/predictions.parquet",
    params:
        config=evaluate_config,
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        features=features_argument,
        order_dir=label_order_dir,
        model_dir=lambda wildcards, input: Path(input.summary).parent,
        target_dir=lambda wildcards, input: Path(input.target_examples).parent,
        target_features=target_features_argument,
        out_dir=lambda wildcards, output: Path(output.metrics).parent,
    log:
        "results/logs/evaluate_cross_dataset/{dataset}__{target}/{model}/{variant}/{order}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate_cross_dataset/{dataset}__{target}/{model}/{variant}/{order}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=uses_gpu,
    shell:
        "python -m sgm_mlc evaluate-cross-dataset --dataset {wildcards.dataset} --target {wildcards.target}"
        " --model {wildcards.model} --variant {wildcards.variant} --order {wildcards.order} --seed {wildcards.seed}"
        " --processed {params.processed_dir} {params.features} --label-order {params.order_dir}"
        " --model-dir {params.model_dir} --decision {input.decision}"
        " --target-processed {params.target_dir} {params.target_features}"
        " --label-map {input.label_map}"
        " --threads {threads} --out {params.out_dir} --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): every cross-dataset evaluation of the plan.
rule phase_cross_dataset:
    input:
        cross_dataset_files("metrics.json"),
