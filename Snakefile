# sgm-mlc: the whole pipeline, from downloads to trained and evaluated models (report comes next).
#   snakemake --cores 8 all                 # in the project's venv
#   snakemake --cores 8 --use-conda all     # each step in its own conda env (envs/)
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(sorted(config["datasets"])),
    order="|".join(ORDERS),
    model="|".join(MODEL_NAMES),
    seed=r"\d+",


include: "workflow/rules/download.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/embeddings.smk"
include: "workflow/rules/label_order.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
