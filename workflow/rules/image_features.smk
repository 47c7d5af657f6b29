# ---------------------------------------------------------------------------------------------------------
# build_image_features: every image of an image dataset as the grid of a torchvision ResNet's last block,
# computed once (float16, memory-mapped) and read by every image model (and by cross-dataset evaluations)
# ---------------------------------------------------------------------------------------------------------
rule build_image_features:
    input:
        examples="data/processed/{dataset}/examples.parquet",
        raw="data/raw/{dataset}",
    output:
        directory("results/image_features/{dataset}"),
    params:
        config=lambda wildcards: step_config("image_features"),
        processed_dir=lambda wildcards, input: Path(input.examples).parent,
    log:
        "results/logs/build_image_features/{dataset}.log",
    benchmark:
        "results/benchmarks/build_image_features/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=lambda wildcards: 1 if config["image_features"]["device"] == "cuda" or (
            config["image_features"]["device"] == "auto" and cuda_visible()
        ) else 0,
    shell:
        "python -m sgm_mlc build-image-features --processed {params.processed_dir} --raw {input.raw}"
        " --threads {threads} --out {output} --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): image features of every image dataset.
rule phase_image_features:
    input:
        expand("results/image_features/{dataset}", dataset=IMAGE_DATASETS),
