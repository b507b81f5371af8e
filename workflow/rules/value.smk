# Value: the effects in money (benefits, cost, net benefit, benefit-cost ratio, with intervals).


rule value_effects:
    input:
        estimates=rules.combine_estimates.output.estimates,
        values=get_values_file,
        analysis=rules.build_cohort.output.analysis,
    output:
        report(
            "results/value.csv",
            caption="../report/value.rst",
            category="Value",
        ),
    log:
        "logs/value_effects.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=get_settings("outcomes", "value", "estimation.primary", "seed"),
    script:
        "../../scripts/value_effects.py"
