# ---------------------------------------------------------------------------------------------------------
# train_model: one model (in one variant) on one dataset, label order and seed. Only train_summary.json
# (written last) is a declared output: the checkpoint beside it must survive a killed job, so that a rerun
# resumes from it. The job gets exactly the params and files it reads: the linear models read no word vectors
# and no training recipe, and no model reads the evaluation-only settings (decoding).
# ---------------------------------------------------------------------------------------------------------
rule train_model:
    input:
        unpack(run_inputs),
    output:
        summary="results/models/{dataset}/{model}/{variant}/{order}/seed{seed}/train_summary.json",
    params:
        config=train_config,
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        features=features_argument,
        order_dir=label_order_dir,
        tuned=tuned_argument,
        out_dir=lambda wildcards, output: Path(output.summary).parent,
    log:
        "results/logs/train_model/{dataset}/{model}/{variant}/{order}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_model/{dataset}/{model}/{variant}/{order}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=uses_gpu,
    shell:
        "python -m sgm_mlc train --dataset {wildcards.dataset} --model {wildcards.model}"
        " --variant {wildcards.variant} --order {wildcards.order} --seed {wildcards.seed}"
        " {params.tuned} --processed {params.processed_dir} {params.features} --label-order {params.order_dir}"
        " --threads {threads} --out {params.out_dir} --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): every run of the experiment plan, trained.
rule phase_train:
    input:
        run_files("models", "train_summary.json"),
