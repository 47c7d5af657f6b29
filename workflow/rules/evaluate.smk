# ---------------------------------------------------------------------------------------------------------
# evaluate_model: decode (greedy or batched beam search) or score the validation and test splits with the
# best epoch's weights; the decision rule fitted on the validation scores (decision.json), metrics.json and the
# predictions table
# ---------------------------------------------------------------------------------------------------------
rule evaluate_model:
    input:
        unpack(run_inputs),
        summary="results/models/{dataset}/{model}/{variant}/{order}/seed{seed}/train_summary.json",
    output:
        metrics=report(
            "results/evaluation/{dataset}/{model}/{variant}/{order}/seed{seed}/metrics.json",
            caption="../report/metrics.rst",
            category="Runs",
            subcategory="{dataset}",
            labels={"model": "{model}", "variant": "{variant}", "order": "{order}", "seed": "{seed}"},
        ),
        predictions="results/evaluation/{dataset}/{model}/{variant}/{order}/seed{seed}/predictions.parquet",
        decision="results/evaluation/{dataset}/{model}/{variant}/{order}/seed{seed}/decision.json",
    params:
        config=evaluate_config,
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        features=features_argument,
        order_dir=label_order_dir,
        tuned=tuned_argument,
        model_dir=lambda wildcards, input: Path(input.summary).parent,
        out_dir=lambda wildcards, output: Path(output.metrics).parent,
    log:
        "results/logs/evaluate_model/{dataset}/{model}/{variant}/{order}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate_model/{dataset}/{model}/{variant}/{order}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=uses_gpu,
    shell:
        "python -m sgm_mlc evaluate --dataset {wildcards.dataset} --model {wildcards.model}"
        " --variant {wildcards.variant} --order {wildcards.order} --seed {wildcards.seed}"
        " {params.tuned} --processed {params.processed_dir} {params.features} --label-order {params.order_dir}"
        " --model-dir {params.model_dir} --threads {threads} --out {params.out_dir} --config {params.config:q}"
        " > {log} 2>&1"


# Phase target (used by dvc.yaml): every run evaluated.
rule phase_evaluate:
    input:
        run_files("evaluation", "metrics.json"),
