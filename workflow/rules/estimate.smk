# Estimate: every method for every outcome and subgroup, with standard errors and 95% CIs.


rule estimate_effects:
    input:
        unpack(get_truth_input),
        analysis=rules.build_cohort.output.analysis,
        matched=rules.match_cohort.output.matched,
    output:
        estimates=report(
            "results/estimates.csv",
            caption="../report/estimates.rst",
            category="Estimates",
        ),
        forest=report(
            "results/figures/forest.png",
            caption="../report/forest.rst",
            category="Estimates",
        ),
        truth_table="results/estimates_vs_truth.csv",
    params:
        config=config,
    log:
        "logs/estimate_effects.log",
    benchmark:
        "logs/benchmarks/estimate_effects.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        "../envs/deepvalue.yaml"
    script:
        "../../scripts/estimate_effects.py"
