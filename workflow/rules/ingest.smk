# Ingest: validate the extract, clean it with a count per reason, write canonical Parquet.


rule ingest_extract:
    input:
        unpack(get_extract_tables),
    output:
        clients="results/interim/clients.parquet",
        contacts="results/interim/contacts.parquet",
        outcomes="results/interim/outcomes.parquet",
        workers="results/interim/workers.parquet",
        responses="results/interim/responses.parquet",
        report="results/ingest_report.json",
    log:
        "logs/ingest_extract.log",
    benchmark:
        "logs/benchmarks/ingest_extract.tsv"
    conda:
        "../envs/deepvalue.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=20,
    params:
        settings=get_settings("extract", "covariates", "outcomes", "questionnaires"),
        # content, not modification time, decides whether a given extract file changed
        sha256=get_extract_checksums(),
    script:
        "../../scripts/ingest_extract.py"


rule write_provenance:
    input:
        unpack(get_extract_tables),
        report=rules.ingest_extract.output.report,
    output:
        "results/provenance.json",
    log:
        "logs/write_provenance.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=get_settings(*SECTIONS),
        code_dir=workflow.basedir,
    script:
        "../../scripts/write_provenance.py"
