# Publish: disclosure-checked copies of the tables meant to leave a secure environment.


rule publish_results:
    input:
        unpack(get_publishable_tables),
    output:
        directory("results/publish"),
    params:
        config=config,
    log:
        "logs/publish_results.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/deepvalue.yaml"
    script:
        "../../scripts/publish_results.py"
