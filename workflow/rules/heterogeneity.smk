# Heterogeneity and targeting: both reuse the dml rule's cross-fitted pseudo-outcomes (no learner of the
# outcome or the score runs again), so they cost a few seconds beside it.


rule estimate_heterogeneity:
    input:
        analysis=rules.build_cohort.output.analysis,
        signals=rules.estimate_dml.output.signals,
    output:
        heterogeneity=report(
            "results/heterogeneity.csv",
            caption="../report/heterogeneity.rst",
            category="Heterogeneity",
        ),
        groups="results/heterogeneity_groups.csv",
    log:
        "logs/estimate_heterogeneity.log",
    benchmark:
        "logs/benchmarks/estimate_heterogeneity.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        settings=get_settings("covariates", "outcomes", "estimation.heterogeneity", "seed"),
    script:
        "../../scripts/estimate_heterogeneity.py"


rule evaluate_targeting:
    input:
        analysis=rules.build_cohort.output.analysis,
        signals=rules.estimate_dml.output.signals,
        values=get_values_file,
    output:
        targeting=report(
            "results/targeting.csv",
            caption="../report/targeting.rst",
            category="Heterogeneity",
        ),
        rules="results/targeting_rules.csv",
    log:
        "logs/evaluate_targeting.log",
    benchmark:
        "logs/benchmarks/evaluate_targeting.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        settings=get_settings("covariates", "outcomes", "estimation.heterogeneity", "seed"),
    script:
        "../../scripts/evaluate_targeting.py"


# The stated primary analysis and the multiplicity of the rest: Holm and Romano-Wolf (on the joint bootstrap's
# draws) over outcomes x subgroups x the primary method (deepvalue.effects.multiplicity).
rule adjust_multiplicity:
    input:
        estimates=rules.combine_estimates.output.estimates,
        draws=rules.joint_draws.output[0],
        values=get_values_file,
    output:
        report(
            "results/multiplicity.csv",
            caption="../report/multiplicity.rst",
            category="Estimates",
        ),
    log:
        "logs/adjust_multiplicity.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=get_settings("outcomes", "estimation.primary"),
    script:
        "../../scripts/adjust_multiplicity.py"
