# Match: propensity score, greedy caliper matching (ATT), weights (ATE, ATT, ATO), balance.


rule match_cohort:
    input:
        analysis=rules.build_cohort.output.analysis,
    output:
        propensity="results/match/propensity.parquet",
        matched="results/match/matched.parquet",
        pairs="results/match/pairs.parquet",
        weights="results/match/weights.parquet",
        balance=report(
            "results/match/balance.csv",
            caption="../report/balance.rst",
            category="Matching",
        ),
        balance_summary="results/match/balance_summary.csv",
        summary="results/match/summary.json",
        flow="results/match/flow.csv",
        love_plot=report(
            "results/match/figures/love_plot.png",
            caption="../report/love_plot.rst",
            category="Matching",
        ),
    log:
        "logs/match_cohort.log",
    benchmark:
        "logs/benchmarks/match_cohort.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=20,
    params:
        settings=get_settings("covariates", "propensity", "matching", "weighting", "balance", "seed"),
    script:
        "../../scripts/match_cohort.py"


# The overlap histogram applies the disclosure threshold (it leaves in the report): a rule of its own, so a
# changed threshold redraws it without matching again.
rule plot_propensity_overlap:
    input:
        propensity=rules.match_cohort.output.propensity,
        weights=rules.match_cohort.output.weights,
    output:
        report(
            "results/match/figures/propensity_overlap.png",
            caption="../report/propensity_overlap.rst",
            category="Matching",
        ),
    log:
        "logs/plot_propensity_overlap.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=get_settings("disclosure"),
    script:
        "../../scripts/plot_propensity_overlap.py"
