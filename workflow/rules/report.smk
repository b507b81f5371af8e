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
        settings=get_settings("exposure", "outcomes", "synthetic", "disclosure", "seed"),
        validation_md=f"{workflow.basedir}/docs/validation.md",
    script:
        "../../scripts/write_report.py"
