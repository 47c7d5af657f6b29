# ---------------------------------------------------------------------------------------------------------
# train_model: one model on one dataset, label order and seed. Only train_summary.json (written last) is a
# declared output: the checkpoint beside it must survive a killed job, so that a rerun resumes from it.
# ---------------------------------------------------------------------------------------------------------
rule train_model:
    input:
        examples="data/processed/{dataset}/examples.parquet",
        vectors="results/embeddings/{dataset}/vectors.npy",
        sequences="results/label_orders/{dataset}/{order}/sequences.parquet",
    output:
        summary="results/models/{dataset}/{model}/{order}/seed{seed}/train_summary.json",
    params:
        config=lambda wildcards: step_config("training", "decoding", dataset=wildcards.dataset, model=wildcards.model),
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        embeddings_dir=lambda wildcards, input: Path(input.vectors).parent,
        order_dir=lambda wildcards, input: Path(input.sequences).parent,
        out_dir=lambda wildcards, output: Path(output.summary).parent,
    log:
        "results/logs/train_model/{dataset}/{model}/{order}/seed{seed}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=lambda wildcards: 1 if wildcards.model in NEURAL_MODELS else 0,
    shell:
        "python -m sgm_mlc train --model {wildcards.model} --order {wildcards.order} --seed {wildcards.seed}"
        " --processed {params.processed_dir} --embeddings {params.embeddings_dir} --label-order {params.order_dir}"
        " --threads {threads} --out {params.out_dir} --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): every run of params.yaml's run section, trained.
rule phase_train:
    input:
        [f"{run}/train_summary.json" for run in run_dirs("models")],
