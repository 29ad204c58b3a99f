# rwbench: the whole benchmark grid from one command (`snakemake --cores N`). Stages live in workflow/rules/*.smk;
# every rule calls one `rwbench` CLI command that also works by hand. See README.md.
from snakemake.utils import min_version

from rwbench.plan.config import validate_config
from rwbench.plan.config import refuse_templates

min_version("9.0")


# config/default.yaml unless --configfile names another one (configs are alternatives, not layers: merging the
# default's experiments into config/smoke.yaml would silently run both grids)
if not workflow.overwrite_configfiles:

    configfile: "config/default.yaml"


# the one validation `rwbench plan` uses too: unknown keys (with the closest valid one), bounds, defaults filled in;
# first, a config file Snakemake ran as a YTE template (code) is refused
refuse_templates(workflow.overwrite_configfiles or ["config/default.yaml"])
validate_config(config, str((workflow.overwrite_configfiles or ["config/default.yaml"])[-1]))


# front page of `snakemake --report`: what was run and the headline comparisons (reports_dir/summary.html)
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    run_id="[^/]+",
    shard=r"\d{5}",
    kind="vp|ve|iadb|classifier",


include: "workflow/rules/prepare.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/fidelity.smk"
include: "workflow/rules/pareto.smk"
include: "workflow/rules/packs.smk"
include: "workflow/rules/failures.smk"


rule all:
    input:
        all_targets(),
    default_target: True
