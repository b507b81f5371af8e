# Sensitivity: E-values, Rosenbaum bounds for the matched pairs, robustness values.


rule analyse_sensitivity:
    input:
        estimates=rules.combine_estimates.output.estimates,
        analysis=rules.build_cohort.output.analysis,
        pairs=rules.match_cohort.output.pairs,
    output:
        report(
            "results/sensitivity.csv",
            caption="../report/sensitivity.rst",
            category="Sensitivity",
        ),
    log:
        "logs/analyse_sensitivity.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=get_settings("outcomes", "covariates"),
    script:
        "../../scripts/analyse_sensitivity.py"
