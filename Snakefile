# sgm-mlc: the whole pipeline, from downloads to the report (results/report/index.html).
#   snakemake --cores 8 all                                         # in the project's venv
#   snakemake --cores 8 --use-conda all                             # each step in its own conda env (envs/)
#   snakemake --cores 8 all --configfile experiments/paper.yaml     # the paper's datasets and experiments
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(sorted(config["datasets"])),
    target="|".join(sorted(config["datasets"])),
    order="|".join(ORDERS + (TUNED_ORDER,)),
    model="|".join(MODEL_NAMES),
    variant="|".join(VARIANTS),
    seed=r"\d+",
    worker=r"\d+",


include: "workflow/rules/download.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/embeddings.smk"
include: "workflow/rules/image_features.smk"
include: "workflow/rules/label_order.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/cross_dataset.smk"
include: "workflow/rules/interpret.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/verify.smk"


rule all:
    input:
        all_targets(),
    default_target: True
