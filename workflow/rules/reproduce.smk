# Reproducibility: the manifest of every output (checked by `deepvalue verify`).


rule write_manifest:
    input:
        get_manifest_inputs,
    output:
        "results/MANIFEST.sha256",
    log:
        "logs/write_manifest.log",
    conda:
        "../envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/write_manifest.py"
