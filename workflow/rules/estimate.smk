# Estimate: every method for every outcome and subgroup, with standard errors and 95% CIs.
# Our estimators, DoWhy's and DoWhy's refuters are independent jobs (they share the cores);
# the bootstrap replicates of DoWhy's matching and weighting SEs are split over
# estimation.dowhy.bootstrap_jobs jobs (results do not depend on the split), so they spread
# over a cluster; a small last step joins the rows, draws the forest plot and compares with a
# truth.


rule estimate_effects:
    input:
        analysis=rules.build_cohort.output.analysis,
        propensity=rules.match_cohort.output.propensity,
    output:
        "results/estimates/methods.csv",
    log:
        "logs/estimate_effects.log",
    benchmark:
        "logs/benchmarks/estimate_effects.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        settings=get_settings(
            "covariates",
            "outcomes",
            "questionnaires",
            "propensity",
            "matching",
            "exposure",
            "estimation.methods",
            "estimation.min_rows_per_parameter",
            "estimation.min_events_per_arm",
            "estimation.subgroups",
            "weighting",
            "seed",
        ),
    script:
        "../../scripts/estimate_effects.py"


# One joint bootstrap of the influence-function estimates (every outcome, subgroup and method with the same
# cluster multipliers), for the value stage's probabilistic analysis and for multiplicity adjustments.
rule joint_draws:
    input:
        analysis=rules.build_cohort.output.analysis,
        propensity=rules.match_cohort.output.propensity,
    output:
        "results/joint_draws.parquet",
    log:
        "logs/joint_draws.log",
    benchmark:
        "logs/benchmarks/joint_draws.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        settings=get_settings(
            "covariates",
            "outcomes",
            "questionnaires",
            "propensity",
            "estimation.methods",
            "estimation.min_rows_per_parameter",
            "estimation.min_events_per_arm",
            "estimation.subgroups",
            "estimation.joint_draws",
            "weighting",
            "seed",
        ),
    script:
        "../../scripts/joint_draws.py"


# DoubleML's cross-fitting is the slowest of our estimators: a job of its own, beside DoWhy's.
rule estimate_dml:
    input:
        analysis=rules.build_cohort.output.analysis,
    output:
        estimates="results/dml/estimates.csv",
        sensitivity=report(
            "results/dml/sensitivity.csv",
            caption="../report/dml_sensitivity.rst",
            category="Estimates",
        ),
        signals="results/dml/signals.parquet",
    log:
        "logs/estimate_dml.log",
    benchmark:
        "logs/benchmarks/estimate_dml.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=get_settings(
            "covariates",
            "outcomes",
            "estimation.methods",
            "estimation.dml",
            "estimation.min_rows_per_parameter",
            "estimation.min_events_per_arm",
            "seed",
        ),
    script:
        "../../scripts/estimate_dml.py"


# The departure instrument's balance: a departure should be unrelated to the confounders.
rule instrument_balance:
    input:
        analysis=rules.build_cohort.output.analysis,
    output:
        "results/instrument_balance.csv",
    log:
        "logs/instrument_balance.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=get_settings("covariates"),
    script:
        "../../scripts/instrument_balance.py"


rule dowhy_bootstrap:
    input:
        analysis=rules.build_cohort.output.analysis,
    output:
        "results/dowhy/bootstrap/job_{job}.parquet",
    log:
        "logs/dowhy_bootstrap/job_{job}.log",
    benchmark:
        "logs/benchmarks/dowhy_bootstrap_{job}.tsv"
    wildcard_constraints:
        job=r"\d+",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=get_settings("covariates", "outcomes", "estimation.dowhy", "estimation.min_events_per_arm", "seed"),
    script:
        "../../scripts/dowhy_bootstrap.py"


rule estimate_dowhy:
    input:
        analysis=rules.build_cohort.output.analysis,
        bootstrap=dowhy_bootstrap_jobs,
    output:
        "results/dowhy/estimates.csv",
    log:
        "logs/estimate_dowhy.log",
    benchmark:
        "logs/benchmarks/estimate_dowhy.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        settings=get_settings("covariates", "outcomes", "estimation.dowhy", "estimation.min_events_per_arm", "seed"),
    script:
        "../../scripts/estimate_dowhy.py"


rule refute_effects:
    input:
        analysis=rules.build_cohort.output.analysis,
    output:
        report(
            "results/refutations.csv",
            caption="../report/refutations.rst",
            category="Estimates",
        ),
    log:
        "logs/refute_effects.log",
    benchmark:
        "logs/benchmarks/refute_effects.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        settings=get_settings("covariates", "outcomes", "estimation.dowhy", "estimation.min_events_per_arm", "seed"),
    script:
        "../../scripts/refute_effects.py"


rule combine_estimates:
    input:
        unpack(get_truth_input),
        methods=rules.estimate_effects.output[0],
        dml=rules.estimate_dml.output.estimates,
        dowhy=rules.estimate_dowhy.output[0],
    output:
        estimates=report(
            "results/estimates.csv",
            caption="../report/estimates.rst",
            category="Estimates",
        ),
        truth_table="results/estimates_vs_truth.csv",
    log:
        "logs/combine_estimates.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/combine_estimates.py"


# The forest plot shows only what the disclosure check of estimates.csv publishes: a rule of its own, so a
# changed threshold redraws it without estimating again.
rule plot_forest:
    input:
        unpack(get_truth_input),
        estimates=rules.combine_estimates.output.estimates,
    output:
        report(
            "results/figures/forest.png",
            caption="../report/forest.rst",
            category="Estimates",
        ),
    log:
        "logs/plot_forest.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=get_settings("disclosure"),
    script:
        "../../scripts/plot_forest.py"


# km_ipw's weighted Kaplan-Meier curves by arm (steps of at least disclosure.min_cell events): a rule of its
# own, as the other figures that apply the disclosure threshold.
rule plot_km_curves:
    input:
        analysis=rules.build_cohort.output.analysis,
        propensity=rules.match_cohort.output.propensity,
    output:
        report(
            "results/figures/km_curves.png",
            caption="../report/km_curves.rst",
            category="Estimates",
        ),
    log:
        "logs/plot_km_curves.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=get_settings(
            "covariates",
            "outcomes",
            "propensity",
            "weighting",
            "estimation.methods",
            "disclosure",
        ),
    script:
        "../../scripts/plot_km_curves.py"
