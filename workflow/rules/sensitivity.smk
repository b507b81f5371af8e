# Sensitivity: E-values, Rosenbaum bounds (1:1 pairs re-matched without replacement), robustness values.


rule analyse_sensitivity:
    input:
        estimates=rules.combine_estimates.output.estimates,
        analysis=rules.build_cohort.output.analysis,
        propensity=rules.match_cohort.output.propensity,
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
        settings=get_settings("outcomes", "questionnaires", "covariates", "matching", "seed"),
    script:
        "../../scripts/analyse_sensitivity.py"
