# Publish: disclosure-checked copies of the tables meant to leave a secure environment.


rule publish_results:
    input:
        unpack(get_publishable_tables),
    output:
        directory("results/publish"),
    log:
        "logs/publish_results.log",
    benchmark:
        "logs/benchmarks/publish_results.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=get_settings("disclosure"),
    script:
        "../../scripts/publish_results.py"
