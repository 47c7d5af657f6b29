# ---------------------------------------------------------------------------------------------------------
# build_word_embeddings: word vectors (gensim Word2Vec on the train split, or pre-trained) aligned to the vocabulary
# ---------------------------------------------------------------------------------------------------------
rule build_word_embeddings:
    input:
        examples="data/processed/{dataset}/examples.parquet",
        vocabulary="data/processed/{dataset}/vocab.json",
    output:
        vectors="results/embeddings/{dataset}/vectors.npy",
        coverage="results/embeddings/{dataset}/coverage.json",
    params:
        config=lambda wildcards: step_config("embeddings"),
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
        out_dir=lambda wildcards, output: Path(output.vectors).parent,
    log:
        "results/logs/build_word_embeddings/{dataset}.log",
    benchmark:
        "results/benchmarks/build_word_embeddings/{dataset}.tsv"
    conda:
        "../../envs/embed.yaml"
    shell:
        "python -m sgm_mlc build-embeddings --processed {params.processed_dir} --out {params.out_dir}"
        " --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): word vectors for every dataset models train on.
rule phase_embeddings:
    input:
        expand("results/embeddings/{dataset}/vectors.npy", dataset=TRAINED_DATASETS),
