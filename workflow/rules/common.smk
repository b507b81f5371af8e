# Helper functions shared by the rules (no rules here).
import sys
from pathlib import Path

from deepvalue.core.config import load_config
from deepvalue.core.errors import ConfigError
from deepvalue.core.settings import SECTIONS, config_sections


def validated_config(raw):
    """The config with defaults filled, or a clear list of problems and a stop (no traceback)."""
    files = workflow.overwrite_configfiles or ["config/config.yaml"]
    try:
        return load_config(raw, source=", ".join(str(f) for f in files))
    except ConfigError as exc:
        sys.stderr.write(str(exc) + "\n")
        raise SystemExit(1)


config.update(validated_config(config))


def get_values_file(wildcards=None):
    """The unit values file: the config's value.file, else the bundled illustrative one."""
    given = (config.get("value") or {}).get("file")
    return given if given else f"{workflow.basedir}/config/values.yaml"


def checked_values_file():
    """Validate the values file against the study's outcomes before any job starts: a broken file
    stops here, not after the estimation; outcomes without a unit value are said (not valued)."""
    from deepvalue.core.primary import resolve_primary, values_file_primary
    from deepvalue.value.valuation import check_values_file

    outcomes = [o["name"] for o in config["outcomes"]]
    try:
        _, warnings = check_values_file(get_values_file(), outcomes, config["estimation"]["methods"])
        resolve_primary(
            config["estimation"].get("primary"),
            values_file_primary(get_values_file()),
            outcomes,
            values_path=get_values_file(),
            methods=config["estimation"]["methods"],
        )
    except ConfigError as exc:
        sys.stderr.write(str(exc) + "\n")
        raise SystemExit(1)
    for line in warnings:
        sys.stderr.write(f"deepvalue: {line}\n")


checked_values_file()


def get_settings(*sections):
    """The config sections that one rule reads, as its params (so a changed key reruns only the rules
    that read it, and what lies downstream); ``estimation.dowhy`` style names take one part."""
    return config_sections(config, sections)


def get_extract_tables(wildcards):
    """The extract's table files, by canonical table name (workers and responses only when configured)."""
    return {
        name: spec["path"]
        for name, spec in config["extract"].items()
        if name in ("clients", "contacts", "outcomes", "workers", "responses") and spec
    }


def get_extract_checksums():
    """SHA-256 of the extract files the workflow does not make itself, for the ingest rule's params:
    a changed file reruns the ingest even with an old modification time (unzip, cp -p)."""
    from deepvalue.pipeline.provenance import extract_checksums

    made = {str(Path(p)) for p in rules.synthesize_extract.output}
    given = {name: path for name, path in get_extract_tables(None).items() if str(Path(path)) not in made}
    return extract_checksums(given, ".snakemake/deepvalue/extract_sha256.json")


def get_synthetic_params(wildcards):
    synthetic = config.get("synthetic") or {}
    return {
        "clients": synthetic.get("clients", 5000),
        "seed": synthetic.get("seed", 1),
        "messy": synthetic.get("messy", False),
        "recording": synthetic.get("recording", "measured"),
        "scenario": synthetic.get("scenario", "default"),
    }


def get_truth_input(wildcards):
    """The synthetic truth.json as an input when the config names one, else nothing."""
    truth = (config.get("synthetic") or {}).get("truth")
    return {"truth": truth} if truth else {}


def dowhy_bootstrap_jobs(wildcards):
    """The dowhy_bootstrap jobs' outputs (estimation.dowhy.bootstrap_jobs of them)."""
    jobs = config["estimation"]["dowhy"]["bootstrap_jobs"]
    return [f"results/dowhy/bootstrap/job_{j}.parquet" for j in range(jobs)]


def get_publishable_tables(wildcards):
    """Tables that may leave the secure environment, by their path under results/publish/."""
    return {
        "estimates.csv": rules.combine_estimates.output.estimates,
        "refutations.csv": rules.refute_effects.output[0],
        "sensitivity.csv": rules.analyse_sensitivity.output[0],
        "dml/sensitivity.csv": rules.estimate_dml.output.sensitivity,
        "instrument_balance.csv": rules.instrument_balance.output[0],
        "heterogeneity.csv": rules.estimate_heterogeneity.output.heterogeneity,
        "heterogeneity_groups.csv": rules.estimate_heterogeneity.output.groups,
        "targeting.csv": rules.evaluate_targeting.output.targeting,
        "targeting_rules.csv": rules.evaluate_targeting.output.rules,
        "multiplicity.csv": rules.adjust_multiplicity.output[0],
        "mediation.csv": rules.estimate_mediation.output.mediation,
        "mediation_sensitivity.csv": rules.estimate_mediation.output.sensitivity,
        "value.csv": rules.value_effects.output[0],
        "value_tornado.csv": rules.value_effects.output.tornado,
        "cohort/flow.csv": rules.build_cohort.output.flow,
        "cohort/outcome_flow.csv": rules.build_cohort.output.outcome_flow,
        "match/flow.csv": rules.match_cohort.output.flow,
        "match/balance.csv": rules.match_cohort.output.balance,
        "match/balance_summary.csv": rules.match_cohort.output.balance_summary,
    }


def get_report_inputs(wildcards):
    """Everything the report shows (all outputs but the report and the manifest)."""
    return [
        *rules.ingest_extract.output,
        *rules.write_provenance.output,
        *rules.build_cohort.output,
        *rules.plot_cohort_figures.output,
        *rules.match_cohort.output,
        *rules.plot_propensity_overlap.output,
        *rules.estimate_dowhy.output,
        *rules.estimate_effects.output,
        *rules.estimate_dml.output,
        *rules.instrument_balance.output,
        *rules.combine_estimates.output,
        *rules.joint_draws.output,
        *rules.plot_forest.output,
        *rules.plot_km_curves.output,
        *rules.refute_effects.output,
        *rules.value_effects.output,
        *rules.analyse_sensitivity.output,
        *rules.estimate_heterogeneity.output,
        *rules.evaluate_targeting.output,
        *rules.adjust_multiplicity.output,
        *rules.estimate_mediation.output,
        *rules.publish_results.output,
    ]


def get_manifest_inputs(wildcards):
    """Every output the manifest covers: it is written last."""
    return [*get_report_inputs(wildcards), *rules.write_report.output, *rules.write_brief.output]


def print_answer():
    """The run's answer on the console when the workflow has finished (deepvalue.publish.answer):
    per outcome the primary estimate, the agreement of the methods, the robustness figures, the
    net value and the paths of the report and the brief. Nothing when the run made no estimates."""
    from deepvalue.publish.answer import console_summary

    if Path("results/estimates.csv").is_file():
        print(console_summary(Path("results"), config, Path("results/report.html"), Path("results/brief.pdf")))
