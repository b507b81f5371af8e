# Value: the effects in money (benefits, cost, net benefit, benefit-cost ratio, with intervals).


rule value_effects:
    input:
        estimates=rules.combine_estimates.output.estimates,
        values=get_values_file,
        analysis=rules.build_cohort.output.analysis,
        joint_draws=rules.joint_draws.output[0],
    output:
        report(
            "results/value.csv",
            caption="../report/value.rst",
            category="Value",
        ),
        tornado="results/value_tornado.csv",
        figure="results/figures/value_tornado.png",
    log:
        "logs/value_effects.log",
    benchmark:
        "logs/benchmarks/value_effects.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=get_settings("outcomes", "questionnaires", "value", "estimation.primary", "seed"),
    script:
        "../../scripts/value_effects.py"
