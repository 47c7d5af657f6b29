# ---------------------------------------------------------------------------------------------------------
# explain_examples: a few test documents of {dataset} decoded by the report's sequence model, with the
# attention over the input words of every generated label (the same library call as `sgm-mlc predict`)
# ---------------------------------------------------------------------------------------------------------
rule explain_examples:
    input:
        unpack(interpretability_inputs),
    output:
        "results/interpret/{dataset}/examples.json",
    params:
        model_dir=lambda wildcards, input: Path(input.summary).parent,
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        examples=config["experiments"]["interpretability"]["examples"],
        top_words=config["experiments"]["interpretability"]["top_words"],
    log:
        "results/logs/explain_examples/{dataset}.log",
    benchmark:
        "results/benchmarks/explain_examples/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=lambda wildcards: uses_gpu(EXPLAINED_RUNS[wildcards.dataset]),
    shell:
        "python -m sgm_mlc explain-examples --model-dir {params.model_dir} --processed {params.processed_dir}"
        " --examples {params.examples} --top-words {params.top_words} --threads {threads} --out {output}"
        " > {log} 2>&1"
