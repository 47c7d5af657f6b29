# sgm-mlc: the whole pipeline, from downloads to label orders (models, evaluation and report come next).
#   snakemake --cores 8 all                 # in the project's venv
#   snakemake --cores 8 --use-conda all     # each step in its own conda env (envs/)
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(sorted(config["datasets"])),
    order="|".join(ORDERS),


include: "workflow/rules/download.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/embeddings.smk"
include: "workflow/rules/label_order.smk"
include: "workflow/rules/tracking.smk"


rule all:
    input:
        all_targets(),
    default_target: True
