# Cohort: exposure window, continuity indices, treatment, instrument, outcomes, and the flow.


rule build_cohort:
    input:
        clients=rules.ingest_extract.output.clients,
        contacts=rules.ingest_extract.output.contacts,
        outcomes=rules.ingest_extract.output.outcomes,
        workers=rules.ingest_extract.output.workers,
        responses=rules.ingest_extract.output.responses,
        # its extract date: follow-up must be complete by then
        ingest_report=rules.ingest_extract.output.report,
    output:
        analysis="results/cohort/analysis.parquet",
        flow=report(
            "results/cohort/flow.csv",
            caption="../report/cohort_flow.rst",
            category="Cohort",
        ),
        outcome_flow="results/cohort/outcome_flow.csv",
        reliability="results/cohort/questionnaire_reliability.csv",
    log:
        "logs/build_cohort.log",
    benchmark:
        "logs/benchmarks/build_cohort.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=20,
    params:
        settings=get_settings("exposure", "covariates", "outcomes", "questionnaires"),
    script:
        "../../scripts/build_cohort.py"


# The figures apply the disclosure threshold (they leave in the report): a rule of their own, so a changed
# threshold redraws them without rebuilding the cohort.
rule plot_cohort_figures:
    input:
        analysis=rules.build_cohort.output.analysis,
    output:
        index_figure=report(
            "results/cohort/figures/continuity_by_service.png",
            caption="../report/continuity_by_service.rst",
            category="Exposure",
        ),
        site_figure=report(
            "results/cohort/figures/continuous_share_by_site.png",
            caption="../report/continuous_share_by_site.rst",
            category="Exposure",
        ),
    log:
        "logs/plot_cohort_figures.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=get_settings("exposure", "disclosure"),
    script:
        "../../scripts/plot_cohort_figures.py"
