# The synthetic extract with known true effects (DESIGN section 6). Runs only when the
# configured extract paths are these files and they do not exist yet.


rule synthesize_extract:
    output:
        clients="data/synthetic/clients.csv",
        contacts="data/synthetic/contacts.csv",
        outcomes="data/synthetic/outcomes.csv",
        workers="data/synthetic/workers.csv",
        responses="data/synthetic/responses.csv",
        truth="data/synthetic/truth.json",
        config="data/synthetic/config.yaml",
    log:
        "logs/synthesize_extract.log",
    benchmark:
        "logs/benchmarks/synthesize_extract.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        synthetic=get_synthetic_params,
    script:
        "../../scripts/synthesize_extract.py"
