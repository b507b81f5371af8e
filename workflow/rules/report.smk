# Report: one self-contained HTML file with every section, built from the checked tables.


rule write_report:
    input:
        get_report_inputs,
    output:
        "results/report.html",
    params:
        config=config,
        validation_md=f"{workflow.basedir}/docs/validation.md",
    log:
        "logs/write_report.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/deepvalue.yaml"
    script:
        "../../scripts/write_report.py"
