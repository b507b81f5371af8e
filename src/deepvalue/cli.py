"""The `deepvalue` command line: every stage callable without Snakemake.

User mistakes (bad config, bad extract) print one message per problem and exit with status 2,
without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from deepvalue.core.errors import DeepvalueError

SCENARIOS = ("default", "worker_quality", "engagement", "null")  # deepvalue.synth.parameters.SCENARIOS
SCENARIO_HELP = (
    "the generator's world: default (known effects, no unmeasured confounding), worker_quality (the allocated "
    "worker's unmeasured quality also keeps clients with them), engagement (an unmeasured client trait raises "
    "continuity and outcomes) or null (no effect of continuity)"
)


def _cmd_synth(args: argparse.Namespace) -> int:
    from deepvalue.synth.generate import generate_extract
    from deepvalue.synth.write import write_extract

    t0 = time.perf_counter()
    extract = generate_extract(
        args.clients, seed=args.seed, messy=args.messy, scenario=args.scenario, recording=args.recording
    )
    paths = write_extract(extract, args.out)
    elapsed = time.perf_counter() - t0
    print(
        f"wrote {len(extract.clients)} clients, {len(extract.contacts)} contacts, "
        f"{len(extract.outcomes)} outcome rows, {len(extract.workers)} workers to {args.out} "
        f"in {elapsed:.1f} s"
    )
    print(f"run it with: snakemake --cores all --configfile {paths['config']}")
    return 0


def _values_file(settings) -> Path:
    """The config's value.file, else the bundled values file (as the Snakefile chooses it)."""
    if settings.value.file:
        return Path(settings.value.file)
    here = Path.cwd() / "config" / "values.yaml"
    return here if here.is_file() else Path(__file__).resolve().parents[2] / "config" / "values.yaml"


def _validate_one(config: str, report: str | None) -> None:
    from deepvalue.core.settings import load_settings
    from deepvalue.extract.ingest import ingest_extract
    from deepvalue.value.valuation import check_values_file

    settings = load_settings(config)
    _, value_warnings = check_values_file(
        _values_file(settings), [o.name for o in settings.outcomes], settings.estimation.methods
    )
    import dataclasses

    from deepvalue.core.primary import resolve_primary, values_file_primary

    resolve_primary(
        dataclasses.asdict(settings.estimation.primary),
        values_file_primary(_values_file(settings)),
        [o.name for o in settings.outcomes],
        values_path=str(_values_file(settings)),
        methods=settings.estimation.methods,
    )
    extract = ingest_extract(settings)
    print(f"{config}: the extract is valid.")
    for name, rep in extract.report["tables"].items():
        dropped = sum(d["rows"] for d in rep["dropped"])
        print(f"  {name}: {rep['rows_read']} rows read, {rep['rows_written']} kept, {dropped} dropped")
        for d in rep["dropped"]:
            if d["rows"]:
                print(f"    - {d['rows']}: {d['reason']}")
        for w in rep["warnings"]:
            print(f"    ! {w}")
    for w in value_warnings:
        print(f"  ! {w}")
    if report:
        Path(report).write_text(json.dumps(extract.report, indent=2, sort_keys=True) + "\n")


def _cmd_validate(args: argparse.Namespace) -> int:
    configs = []
    for given in args.config:
        path = Path(given)
        # a folder stands for every config.yaml below it (one study per sub-folder)
        configs.extend(sorted(str(p) for p in path.glob("**/config.yaml")) if path.is_dir() else [given])
    if args.report and len(configs) > 1:
        print("deepvalue validate: --report takes one config", file=sys.stderr)
        return 2
    failed = 0
    for config in configs:
        try:
            _validate_one(config, args.report)
        except DeepvalueError as exc:
            failed += 1
            print(f"{config}:\n{exc}", file=sys.stderr)
    if len(configs) > 1:
        print(f"{len(configs) - failed} of {len(configs)} configs valid", file=sys.stderr if failed else sys.stdout)
    return 2 if failed else 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from deepvalue.pipeline.stages import ingest_stage

    out = Path(args.out)
    ingest_stage(str(args.config), out / "interim", out / "ingest_report.json")
    print(f"wrote {out / 'interim'}/*.parquet and {out / 'ingest_report.json'}")
    return 0


def _cmd_cohort(args: argparse.Namespace) -> int:
    from deepvalue.pipeline.stages import cohort_figures_stage, cohort_stage

    out = Path(args.out)
    interim = Path(args.interim)
    tables = {name: interim / f"{name}.parquet" for name in ("clients", "contacts", "outcomes", "workers")}
    if (interim / "responses.parquet").exists():  # written by every ingest since the questionnaires
        tables["responses"] = interim / "responses.parquet"
    report = Path(args.ingest_report) if args.ingest_report else interim.parent / "ingest_report.json"
    missing = [str(p) for p in (*tables.values(), report) if not p.exists()]
    if missing:
        print(f"deepvalue cohort: missing {', '.join(missing)}; run `deepvalue ingest` first", file=sys.stderr)
        return 2
    cohort_stage(
        str(args.config),
        tables,
        report,
        out / "analysis.parquet",
        out / "flow.csv",
        out / "outcome_flow.csv",
        out / "questionnaire_reliability.csv",
    )
    cohort_figures_stage(
        str(args.config),
        out / "analysis.parquet",
        out / "figures" / "continuity_by_service.png",
        out / "figures" / "continuous_share_by_site.png",
    )
    print(f"wrote {out}/analysis.parquet, flow.csv, outcome_flow.csv and figures/")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    import yaml

    from deepvalue.simulate.study import (
        VALIDATED_METHODS,
        simulate,
        summarise,
        update_validation_page,
        validation_markdown,
        write_validation,
    )

    overrides = yaml.safe_load(args.set) if args.set else None
    methods = VALIDATED_METHODS
    if args.methods:
        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
        unknown = [m for m in methods if m not in VALIDATED_METHODS]
        if unknown:
            print(
                f"deepvalue simulate: --methods {', '.join(unknown)} is not validated; use a comma-separated "
                f"subset of {', '.join(VALIDATED_METHODS)}",
                file=sys.stderr,
            )
            return 2
    t0 = time.perf_counter()
    reps = simulate(
        args.reps,
        args.clients,
        first_seed=args.seed,
        workers=args.workers,
        overrides=overrides,
        scenario=args.scenario,
        recording=args.recording,
        methods=methods,
    )
    summary = summarise(reps)
    write_validation(reps, summary, args.out)
    command = " ".join(["deepvalue simulate"] + sys.argv[2:]) if sys.argv[1:2] == ["simulate"] else "deepvalue simulate"
    if args.docs:
        section = validation_markdown(
            summary, args.reps, args.clients, command, first_seed=args.seed, scenario=args.scenario
        )
        docs = Path(args.docs)
        Path(args.docs).write_text(update_validation_page(docs.read_text() if docs.is_file() else None, section))
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"{args.reps} replicates in {time.perf_counter() - t0:.0f} s; wrote {args.out}")
    return 0


def _cmd_estimate(args: argparse.Namespace) -> int:
    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.own_table import check_out_dir, estimate_own_table

    out = check_out_dir(args.out)
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()] if args.covariates else []
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    estimates = estimate_own_table(
        args.table,
        args.treatment,
        args.outcome,
        covariates,
        cluster=args.cluster,
        methods=methods,
        instrument=args.instrument,
        index=args.index,
        seed=args.seed,
    )
    write_csv(estimates, out / "estimates.csv")
    shown = estimates[["method", "estimand", "estimate", "std_error", "ci_lower", "ci_upper"]]
    print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"wrote {out / 'estimates.csv'}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from deepvalue.pipeline.reproduce import verify

    differences = verify(
        args.results, snakefile=args.snakefile, cores=args.cores, workdir=args.workdir, rerun=not args.hashes_only
    )
    if differences:
        what = "the manifest or the provenance" if args.hashes_only else "the manifest or the rerun"
        print(f"{args.results}: not reproduced ({len(differences)} differences from {what}):")
        for line in differences:
            print(f"  - {line}")
        return 1
    if args.hashes_only:
        print(f"{args.results}: every output matches the manifest and every input the provenance (not rerun).")
    else:
        print(f"{args.results}: reproduced; every output in the manifest is byte-identical.")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from deepvalue.pipeline.init_config import init_study

    tables = {
        "clients": args.clients_table,
        "contacts": args.contacts,
        "outcomes": args.outcomes,
        "workers": args.workers,
        "responses": args.responses,
    }
    result = init_study(tables, args.out, values_out=args.values, force=args.force)
    for name, mapping in result.mappings.items():
        shown = ", ".join(f"{canon} = {col!r}" for canon, col in mapping.columns.items())
        print(f"{name}: {shown}")
    print(f"covariates: {', '.join(f'{c.name} ({c.type})' for c in result.covariates if c.use) or 'none'}")
    print(f"outcomes: {', '.join(f'{o.name} ({o.type}, {o.recorded})' for o in result.outcomes) or 'none'}")
    print(f"wrote {result.config_path} and {result.values_path}")
    if result.checks:
        print(f"{len(result.checks)} thing(s) to check (marked '# CHECK:' in the files):")
        for check in result.checks:
            print(f"  - {check.render()}")
    print(f"then: deepvalue validate --config {result.config_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepvalue", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a synthetic extract with known true effects")
    p.add_argument("--clients", type=int, default=5000, help="number of clients (default 5000)")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--messy", action="store_true", help="inject the defects that cleaning must count")
    p.add_argument("--scenario", choices=SCENARIOS, default="default", help=SCENARIO_HELP)
    p.add_argument(
        "--recording",
        choices=("events", "measured"),
        default="events",
        help="events (default, as real extracts record them): job starts and crisis contacts as one dated row "
        "per occurrence, with some clients' follow-up incomplete at the extract date; measured: a row per "
        "client and outcome",
    )
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("validate", help="check a config and its extract without running the workflow")
    p.add_argument(
        "--config",
        required=True,
        nargs="+",
        help="the study config (YAML); several, or a folder (every config.yaml below it)",
    )
    p.add_argument("--report", help="also write the ingest report (JSON) here")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("init", help="write a commented study config (and a values stub) for a new extract")
    # dest clients_table: args.clients is synth's and simulate's number of clients
    p.add_argument("--clients", dest="clients_table", required=True, help="the clients table (CSV, XLSX or Parquet)")
    p.add_argument("--contacts", required=True, help="the contacts table")
    p.add_argument("--outcomes", required=True, help="the outcomes table (long: client, outcome, value)")
    p.add_argument("--workers", help="the workers table (optional; needed for the instrument)")
    p.add_argument("--responses", help="the questionnaire responses table (optional)")
    p.add_argument("--out", required=True, help="the config to write, e.g. study.yaml")
    p.add_argument("--values", help="the values-file stub to write (default: <out>_values.yaml beside --out)")
    p.add_argument("--force", action="store_true", help="replace --out and --values if they exist")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("ingest", help="validate, clean and write the extract as canonical Parquet")
    p.add_argument("--config", required=True, help="the study config (YAML)")
    p.add_argument("--out", default="results", help="writes OUT/interim/*.parquet and OUT/ingest_report.json")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("cohort", help="build the analysis cohort from ingested tables")
    p.add_argument("--config", required=True, help="the study config (YAML)")
    p.add_argument("--interim", default="results/interim", help="folder of the ingested tables")
    p.add_argument(
        "--ingest-report", help="the ingest report, for its extract date (default: ingest_report.json beside INTERIM)"
    )
    p.add_argument("--out", default="results/cohort", help="output folder")
    p.set_defaults(func=_cmd_cohort)

    p = sub.add_parser("estimate", help="the estimators on your own client-level table (CSV or Parquet)")
    p.add_argument("--table", required=True, help="one row per client")
    p.add_argument("--treatment", required=True, help="the 0/1 treatment column")
    p.add_argument("--outcome", required=True, help="the outcome column")
    p.add_argument("--covariates", default="", help="comma-separated confounder columns")
    p.add_argument("--cluster", help="column to cluster standard errors by (e.g. primary worker)")
    p.add_argument(
        "--methods",
        help="comma-separated subset of: naive, regression, logit_ame, poisson_ra, psm, ipw, aipw, overlap, iv, "
        "departure_reduced_form, dose_response, dose_levels, and with --cluster (the allocated worker) "
        "within_worker_regression, within_worker_aipw",
    )
    p.add_argument("--instrument", help="0/1 instrument column for the iv row")
    p.add_argument("--index", help="continuous continuity index column for the dose_response row")
    p.add_argument("--seed", type=int, default=20261125, help="seed of the matching order")
    p.add_argument("--out", required=True, help="folder for estimates.csv")
    p.set_defaults(func=_cmd_estimate)

    p = sub.add_parser("verify", help="rerun a study from its provenance and compare every output with the manifest")
    p.add_argument("results", help="the results folder of a complete run (with provenance.json and MANIFEST.sha256)")
    p.add_argument("--snakefile", help="the deepvalue Snakefile (default: the one beside this installation)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument(
        "--workdir",
        help="keep the rerun in this folder (its results/ to compare with the original); "
        "a folder with an earlier rerun of the same study is brought up to date, not recomputed",
    )
    p.add_argument(
        "--hashes-only",
        action="store_true",
        help="no rerun: check the outputs on disk against the manifest and the inputs against provenance.json",
    )
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("simulate", help="validate the estimators over many synthetic extracts with known truth")
    p.add_argument("--reps", type=int, default=200, help="number of synthetic extracts (default 200)")
    p.add_argument("--clients", type=int, default=5000, help="clients per extract (default 5000)")
    p.add_argument("--seed", type=int, default=1, help="first generator seed (default 1)")
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="default",
        help=SCENARIO_HELP,
    )
    p.add_argument(
        "--recording",
        choices=("measured", "events"),
        default="measured",
        help="the generator's outcome recording: measured (default, so earlier validation commands rerun as "
        "they were) or events (dated occurrences, some follow-up incomplete; km_ipw validated too)",
    )
    p.add_argument(
        "--methods",
        help="comma-separated subset of the validated methods (default all: naive, regression, logit_ame, "
        "poisson_ra, psm, ipw, aipw, km_ipw, within_worker_regression, within_worker_aipw, departure_reduced_form, iv)",
    )
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--set", help='config overrides as YAML, e.g. "{matching: {replace: true}}"')
    p.add_argument("--out", default="results/validation.csv", help="summary CSV (replicates beside it)")
    p.add_argument("--docs", help="also write the markdown summary here (e.g. docs/validation.md)")
    p.set_defaults(func=_cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # synth's and simulate's number of clients (init's --clients is a file: dest clients_table)
    if args.command in ("synth", "simulate") and args.clients < 50:
        print(f"deepvalue {args.command}: --clients must be at least 50", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except DeepvalueError as exc:
        print(str(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
