# ---------------------------------------------------------------------------------------------------------
# summarize_results: one file per run of its quality metrics (dvc metrics show / diff, sgm-mlc verify) and of
# its training curve (dvc plots show) under results/summary, committed to git; of its timings under
# results/timings, not versioned (wall times differ at every run)
# ---------------------------------------------------------------------------------------------------------
rule summarize_results:
    input:
        metrics=run_files("evaluation", "metrics.json"),
        summaries=run_files("models", "train_summary.json"),
    output:
        metrics=summary_files("summary/metrics", PLAN.runs),
        timings=summary_files("timings", PLAN.runs),
        curves=summary_files("summary/curves", neural_runs()),
    params:
        evaluations=lambda wildcards, input: [Path(path).parent for path in input.metrics],
        models=lambda wildcards, input: [Path(path).parent for path in input.summaries],
        out_dir=lambda wildcards, output: Path(output.metrics[0]).parent.parent,
        timings_dir=lambda wildcards, output: Path(output.timings[0]).parent,
    log:
        "results/logs/summarize_results/summarize_results.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m sgm_mlc summarize --evaluations {params.evaluations} --models {params.models}"
        " --out {params.out_dir} --timings {params.timings_dir} > {log} 2>&1"


# Phase target (used by dvc.yaml): the summary of every run of the plan.
rule phase_summarize:
    input:
        summary_targets(),


# ---------------------------------------------------------------------------------------------------------
# make_report: results/report/index.html (self-contained) and report.md, from the metrics files alone: the
# paper's table per dataset, ablations, label orders, cross-dataset, significance, figures, attention
# examples and provenance; every number links to its MLflow run
# ---------------------------------------------------------------------------------------------------------
rule make_report:
    input:
        lambda wildcards: sorted(report_inputs(config)),
    output:
        html=report("results/report/index.html", caption="../report/report.rst", category="Report"),
        markdown="results/report/report.md",
        numbers="results/report/numbers.json",
        figures=directory("results/report/figures"),
    params:
        config=lambda wildcards: as_json(config),
        out_dir=lambda wildcards, output: Path(output.html).parent,
    log:
        "results/logs/make_report/make_report.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m sgm_mlc report --out {params.out_dir} --config {params.config:q} > {log} 2>&1"


# Phase target (used by dvc.yaml): the report.
rule phase_report:
    input:
        report_targets(),
