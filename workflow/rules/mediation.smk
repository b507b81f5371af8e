# Mediation: natural direct and indirect effects of continuity on the questionnaire outcomes through the
# configured mediator (the working alliance), and their sensitivity to mediator-outcome confounding.


rule estimate_mediation:
    input:
        analysis=rules.build_cohort.output.analysis,
    output:
        mediation=report(
            "results/mediation.csv",
            caption="../report/mediation.rst",
            category="Mediation",
        ),
        sensitivity="results/mediation_sensitivity.csv",
    log:
        "logs/estimate_mediation.log",
    benchmark:
        "logs/benchmarks/estimate_mediation.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=get_settings(
            "covariates",
            "questionnaires",
            "mediation",
            "estimation.min_rows_per_parameter",
        ),
    script:
        "../../scripts/estimate_mediation.py"
