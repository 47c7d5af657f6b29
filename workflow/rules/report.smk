# ---------------------------------------------------------------------------------------------------------
# summarize_results: every run's final metrics (dvc metrics show) and training curves (dvc plots show)
# ---------------------------------------------------------------------------------------------------------
rule summarize_results:
    input:
        metrics=evaluation_targets(),
        summaries=[f"{run}/train_summary.json" for run in run_dirs("models")],
    output:
        metrics="results/summary/metrics.json",
        curves=curve_targets(),
    params:
        evaluations=lambda wildcards, input: [Path(path).parent for path in input.metrics],
        models=lambda wildcards, input: [Path(path).parent for path in input.summaries],
        out_dir=lambda wildcards, output: Path(output.metrics).parent,
    log:
        "results/logs/summarize_results/summarize_results.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m sgm_mlc summarize --evaluations {params.evaluations} --models {params.models}"
        " --out {params.out_dir} > {log} 2>&1"
