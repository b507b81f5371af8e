# Report: one self-contained HTML file with every section, built from the checked tables.


rule write_report:
    input:
        get_report_inputs,
    output:
        "results/report.html",
    log:
        "logs/write_report.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=get_settings("exposure", "outcomes", "questionnaires", "synthetic", "disclosure", "seed"),
        validation_md=f"{workflow.basedir}/docs/validation.md",
    script:
        "../../scripts/write_report.py"


# The brief: the report's summary as a two-page PDF (WeasyPrint), from the disclosure-checked tables only.
rule write_brief:
    input:
        rules.publish_results.output,
        rules.refute_effects.output,
    output:
        "results/brief.pdf",
    log:
        "logs/write_brief.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=get_settings("exposure", "outcomes", "questionnaires", "synthetic", "disclosure"),
    script:
        "../../scripts/write_brief.py"
