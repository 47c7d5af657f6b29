# ---------------------------------------------------------------------------------------------------------
# verify_against_record: every run's summary metrics against the committed record (results/summary/metrics
# at git HEAD), metric by metric, within tolerances.yaml; the report's provenance states the outcome. Reruns
# when the summary, the tolerances or the commit change.
# ---------------------------------------------------------------------------------------------------------
rule verify_against_record:
    input:
        metrics=summary_files("summary/metrics", PLAN.runs),
        tolerances="tolerances.yaml",
    output:
        VERIFICATION_FILE,
    params:
        record=lambda wildcards: git_commit(Path(workflow.basedir)),
    log:
        "results/logs/verify_against_record/verify_against_record.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m sgm_mlc verify --tolerances {input.tolerances} --no-fail --out {output} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# verify (target): the same check, printed per run and metric; fails when a metric is outside its tolerance
# or a recorded run was not made (snakemake --cores all verify)
# ---------------------------------------------------------------------------------------------------------
rule verify:
    input:
        metrics=summary_files("summary/metrics", PLAN.runs),
        tolerances="tolerances.yaml",
    log:
        "results/logs/verify/verify.log",
    conda:
        "../../envs/report.yaml"
    shell:
        # Printed on the terminal as well as logged; the shell's pipefail keeps verify's exit status.
        "python -m sgm_mlc verify --tolerances {input.tolerances} 2>&1 | tee {log}"
