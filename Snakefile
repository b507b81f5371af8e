# deepvalue: does relational continuity cause better outcomes, and what is it worth?
# This file only wires the stages together; see workflow/rules/ and docs/design.md.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# The default study, only when no --configfile is given: Snakemake would otherwise merge a
# user's config into the default one key by key, and an extract without a workers table
# would silently inherit the synthetic one.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthesize.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/match.smk"
include: "workflow/rules/estimate.smk"
include: "workflow/rules/heterogeneity.smk"
include: "workflow/rules/mediation.smk"
include: "workflow/rules/value.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/publish.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/reproduce.smk"


onsuccess:
    print_answer()


rule all:
    default_target: True
    input:
        rules.ingest_extract.output,
        rules.write_provenance.output,
        rules.build_cohort.output,
        rules.plot_cohort_figures.output,
        rules.match_cohort.output,
        rules.plot_propensity_overlap.output,
        rules.combine_estimates.output,
        rules.plot_forest.output,
        rules.refute_effects.output,
        rules.value_effects.output,
        rules.analyse_sensitivity.output,
        rules.estimate_heterogeneity.output,
        rules.estimate_mediation.output,
        rules.evaluate_targeting.output,
        rules.adjust_multiplicity.output,
        rules.publish_results.output,
        rules.write_report.output,
        rules.write_brief.output,
        rules.write_manifest.output,
