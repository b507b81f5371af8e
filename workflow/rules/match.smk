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
        overlap_plot=report(
            "results/match/figures/propensity_overlap.png",
            caption="../report/propensity_overlap.rst",
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
        settings=get_settings("covariates", "propensity", "matching", "weighting", "balance", "seed", "disclosure"),
    script:
        "../../scripts/match_cohort.py"
