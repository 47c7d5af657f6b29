# ---------------------------------------------------------------------------------------------------------
# evaluate_model: decode (greedy or batched beam search) or predict the validation and test splits with the
# best epoch's weights; metrics.json and the predictions table
# ---------------------------------------------------------------------------------------------------------
rule evaluate_model:
    input:
        summary="results/models/{dataset}/{model}/{order}/seed{seed}/train_summary.json",
        examples="data/processed/{dataset}/examples.parquet",
        vectors="results/embeddings/{dataset}/vectors.npy",
        sequences="results/label_orders/{dataset}/{order}/sequences.parquet",
    output:
        metrics="results/evaluation/{dataset}/{model}/{order}/seed{seed}/metrics.json",
        predictions="results/evaluation/{dataset}/{model}/{order}/seed{seed}/predictions.parquet",
    params:
        config=lambda wildcards: step_config("training", "decoding", dataset=wildcards.dataset, model=wildcards.model),
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        embeddings_dir=lambda wildcards, input: Path(input.vectors).parent,
        order_dir=lambda wildcards, input: Path(input.sequences).parent,
        model_dir=lambda wildcards, input: Path(input.summary).parent,
        out_dir=lambda wildcards, output: Path(output.metrics).parent,
    log:
        "results/logs/evaluate_model/{dataset}/{model}/{order}/seed{seed}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=lambda wildcards: 1 if wildcards.model in NEURAL_MODELS else 0,
    shell:
        "python -m sgm_mlc evaluate --model {wildcards.model} --order {wildcards.order} --seed {wildcards.seed}"
        " --processed {params.processed_dir} --embeddings {params.embeddings_dir} --label-order {params.order_dir}"
        " --model-dir {params.model_dir} --threads {threads} --out {params.out_dir} --config {params.config:q}"
        " > {log} 2>&1"


# Phase target (used by dvc.yaml): every run evaluated.
rule phase_evaluate:
    input:
        evaluation_targets(),
