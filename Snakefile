# musicrec: which pretrained audio representation serves music recommendation best.
# Audio -> frozen track embeddings -> Music4All-Onion split -> recommenders -> metrics -> tables.
# The default config.yaml runs everything on an embedded demo the workflow synthesises itself.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/extract.smk"
include: "rules/layers.smk"
include: "rules/synth.smk"
include: "rules/users.smk"
include: "rules/recommend.smk"
include: "rules/evaluate.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
