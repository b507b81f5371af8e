"""Each workflow stage as one function of paths and settings: what the rule scripts call.

``config`` is what the rule's ``params: settings`` carries (the validated config sections that
stage reads, see ``workflow/rules/common.smk``), or a config file's path (the CLI), which is
validated here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepvalue.core.config import load_config
from deepvalue.core.settings import Settings, load_settings
from deepvalue.extract.ingest import ingest_extract, write_interim
from deepvalue.pipeline.provenance import build_provenance, write_provenance

log = logging.getLogger("deepvalue")


def _settings(config: Settings | Mapping[str, Any] | str | Path) -> Settings:
    """A rule's settings from its config sections, or a whole config file validated."""
    if isinstance(config, Settings):
        return config
    if isinstance(config, (str, Path)):
        return load_settings(config)
    return Settings.from_sections(config)


def synthesize_stage(
    n_clients: int, seed: int, messy: bool, out_dir: str | Path, recording: str = "measured", scenario: str = "default"
) -> None:
    from deepvalue.synth.generate import generate_extract
    from deepvalue.synth.write import write_extract

    extract = generate_extract(n_clients, seed=seed, messy=messy, scenario=scenario, recording=recording)
    paths = write_extract(extract, out_dir)
    log.info(
        "synthetic extract: %d clients, %d contacts -> %s",
        len(extract.clients),
        len(extract.contacts),
        ", ".join(str(p) for p in paths.values()),
    )


def ingest_stage(config: Mapping[str, Any] | str | Path, interim_dir: str | Path, report_path: str | Path) -> None:
    settings = _settings(config)
    extract = ingest_extract(settings)
    write_interim(extract, interim_dir, report_path)
    for name, rep in extract.report["tables"].items():
        log.info(
            "%s: %d rows read, %d written, dropped %s",
            name,
            rep["rows_read"],
            rep["rows_written"],
            {d["reason"]: d["rows"] for d in rep["dropped"]},
        )
        for w in rep["warnings"]:
            log.warning("%s: %s", name, w)


def cohort_stage(
    config: Mapping[str, Any] | str | Path,
    interim: dict[str, str | Path],
    ingest_report: str | Path,
    analysis_path: str | Path,
    flow_path: str | Path,
    outcome_flow_path: str | Path,
    reliability_path: str | Path | None = None,
) -> None:
    import pandas as pd

    from deepvalue.cohort.build import build_cohort
    from deepvalue.core.tabular import write_csv, write_parquet

    settings = _settings(config)
    tables = {name: pd.read_parquet(path) for name, path in interim.items()}
    # the ingest's extract date (the config's, or the run date it recorded), so that follow-up
    # is judged against the date the contacts were cut at
    report = json.loads(Path(ingest_report).read_text())
    log.info("extract date %s (%s)", report["extract_date"], report.get("extract_date_source", "config"))
    cohort = build_cohort(tables, settings, report["extract_date"])
    write_parquet(cohort.analysis, analysis_path)
    write_csv(cohort.flow, flow_path)
    write_csv(cohort.outcome_flow, outcome_flow_path)
    if reliability_path is not None:  # internal consistency of the questionnaires (empty without any)
        write_csv(cohort.reliability, reliability_path)
    for row in cohort.flow.itertuples():
        log.info("flow: %s %s (remaining %d, excluded %d)", row.step, row.reason, row.n_remaining, row.n_excluded)
    log.info("treated share %.3f", cohort.analysis["treatment"].mean())


# The figures leave the secure environment inside the report, so they apply the threshold of the published
# tables (config section ``disclosure``). They are rules of their own: a changed threshold redraws them and
# republishes the tables, and reruns nothing upstream.


def cohort_figures_stage(
    config: Mapping[str, Any] | str | Path, analysis_path: str | Path, index_figure: str | Path, site_figure: str | Path
) -> None:
    """The continuity indices by service and the share continuous by site."""
    import pandas as pd

    from deepvalue.cohort.continuity import INDEX_NAMES
    from deepvalue.cohort.figures import plot_index_distributions, plot_share_continuous

    settings = _settings(config)
    exposure, disclosure = settings.exposure, settings.disclosure
    analysis = pd.read_parquet(analysis_path, columns=["site", "service", "treatment", *INDEX_NAMES])
    plot_index_distributions(
        analysis, index_figure, exposure.threshold, exposure.index, disclosure.min_cell, disclosure.allow_zero
    )
    plot_share_continuous(analysis, site_figure, disclosure.min_cell, disclosure.allow_zero)


def overlap_figure_stage(
    config: Mapping[str, Any] | str | Path, propensity_path: str | Path, weights_path: str | Path, out_path: str | Path
) -> None:
    """The propensity score overlap, in the cohort and in the matched sample."""
    import pandas as pd

    from deepvalue.adjust.figures import plot_overlap

    disclosure = _settings(config).disclosure
    propensity = pd.read_parquet(propensity_path, columns=["client_id", "score", "treatment"])
    weights = pd.read_parquet(weights_path, columns=["client_id", "w_matched"])
    if not propensity["client_id"].equals(weights["client_id"]):
        weights = propensity[["client_id"]].merge(weights, on="client_id", how="left")
    plot_overlap(
        propensity["score"],
        propensity["treatment"],
        weights["w_matched"],
        out_path,
        disclosure.min_cell,
        disclosure.allow_zero,
    )


def _truth_effects(truth_path: str | Path | None) -> dict | None:
    """A synthetic truth.json's effects by outcome name: its outcomes and questionnaire outcomes."""
    if not truth_path:
        return None
    truth = json.loads(Path(truth_path).read_text())
    return {**truth["outcomes"], **(truth.get("questionnaires") or {})}


def forest_stage(
    config: Mapping[str, Any] | str | Path,
    estimates_path: str | Path,
    truth_path: str | Path | None,
    out_path: str | Path,
) -> None:
    """The forest plot, drawn from the rows as the disclosure check of estimates.csv leaves them: an estimate
    the published table hides is not in the figure either."""
    from deepvalue.effects.figures import plot_forest
    from deepvalue.publish.disclosure import check_table

    disclosure = _settings(config).disclosure
    estimates = _read_estimates(estimates_path)
    checked, _ = check_table(estimates, "estimates.csv", disclosure.min_cell, disclosure.allow_zero)
    truth = _truth_effects(truth_path)
    plot_forest(checked.assign(subgroup=checked["subgroup"].fillna("")), out_path, truth)


def km_figure_stage(
    config: Mapping[str, Any] | str | Path, analysis_path: str | Path, propensity_path: str | Path, out_path: str | Path
) -> None:
    """km_ipw's figure: weighted cumulative incidence by arm for each time-to-event outcome, each step
    holding at least ``disclosure.min_cell`` events (:func:`deepvalue.effects.survival_figures.disclosed_steps`)."""
    import pandas as pd

    from deepvalue.adjust.design import STRUCTURAL
    from deepvalue.effects.survival import km_figure_curves
    from deepvalue.effects.survival_figures import plot_km_curves
    from deepvalue.effects.table import trimmed_clients

    settings = _settings(config)
    disclosure = settings.disclosure
    panels = []
    if "km_ipw" in settings.estimation.methods:
        propensity = pd.read_parquet(propensity_path, columns=["client_id", "trimmed"])
        analysis = pd.read_parquet(analysis_path)
        panels = km_figure_curves(analysis, settings, trimmed_clients(propensity), STRUCTURAL)
    plot_km_curves(panels, out_path, disclosure.min_cell, disclosure.allow_zero)


def match_stage(config: Mapping[str, Any] | str | Path, analysis_path: str | Path, out: dict[str, str | Path]) -> None:
    """Propensity, matching, weights and balance; `out` maps output names (as in the rule) to paths."""
    import pandas as pd

    from deepvalue.adjust.matched_cohort import run_matching, write_match_outputs

    settings = _settings(config)
    outputs = run_matching(pd.read_parquet(analysis_path), settings)
    write_match_outputs(
        outputs,
        propensity_path=out["propensity"],
        matched_path=out["matched"],
        weights_path=out["weights"],
        balance_path=out["balance"],
        summary_path=out["summary"],
        flow_path=out["flow"],
        love_plot_path=out["love_plot"],
        overlap_plot_path=out.get("overlap_plot"),  # rule plot_propensity_overlap draws it in the workflow
        pairs_path=out["pairs"],
        balance_summary_path=out["balance_summary"],
    )
    s = outputs.summary
    log.info("matched %s of %s treated clients", s.get("n_treated_matched"), s.get("n_treated"))


def dowhy_bootstrap_stage(
    config: Mapping[str, Any] | str | Path, analysis_path: str | Path, job: int, out_path: str | Path
) -> None:
    """One job's share of DoWhy's bootstrap replicates (``estimation.dowhy.bootstrap_jobs`` jobs)."""
    import pandas as pd

    from deepvalue.core.tabular import write_parquet
    from deepvalue.robustness.dowhy_tables import bootstrap_rows

    settings = _settings(config)
    jobs = settings.estimation.dowhy.bootstrap_jobs
    table = bootstrap_rows(pd.read_parquet(analysis_path), settings, int(job), jobs)
    write_parquet(table, out_path)
    log.info("bootstrap job %s of %s: %s replicate estimates", int(job) + 1, jobs, len(table))


def dowhy_stage(
    config: Mapping[str, Any] | str | Path,
    analysis_path: str | Path,
    out_path: str | Path,
    bootstrap_paths: Sequence[str | Path] | None = None,
) -> None:
    """DoWhy's estimates; their bootstrap SEs from the replicates of the dowhy_bootstrap jobs."""
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.robustness.dowhy_tables import dowhy_rows

    replicates = None
    if bootstrap_paths is not None:
        replicates = pd.concat([pd.read_parquet(p) for p in bootstrap_paths], ignore_index=True)
    write_csv(dowhy_rows(pd.read_parquet(analysis_path), _settings(config), replicates), out_path)


def refute_stage(config: Mapping[str, Any] | str | Path, analysis_path: str | Path, out_path: str | Path) -> None:
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.robustness.dowhy_tables import refutation_rows

    table = refutation_rows(pd.read_parquet(analysis_path), _settings(config))
    write_csv(table, out_path)
    for row in table.itertuples():
        log.info("refutation %s %s: %s", row.outcome, row.refuter, getattr(row, "reading", ""))


def estimate_stage(
    config: Mapping[str, Any] | str | Path,
    analysis_path: str | Path,
    propensity_path: str | Path,
    out_path: str | Path,
) -> None:
    """Our estimators (every method, outcome and subgroup), before DoWhy's rows are added.

    ``propensity_path``: the match stage's scores; PSM rematches each outcome's population on them,
    and the clients trimmed there (``weighting.trim``) leave the weighting estimators' sample.
    """
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.table import run_estimates

    settings = _settings(config)
    estimates = run_estimates(
        pd.read_parquet(analysis_path),
        settings,
        pd.read_parquet(propensity_path),
        methods=settings.estimation.methods,
        subgroups=settings.estimation.subgroups,
    )
    write_csv(estimates, out_path)
    for row in estimates[estimates["estimate"].isna()].itertuples():
        log.info("not estimated: %s %s %s %s: %s", row.outcome, row.subgroup, row.method, row.estimand, row.notes)


def dml_stage(
    config: Mapping[str, Any] | str | Path,
    analysis_path: str | Path,
    out_path: str | Path,
    sensitivity_path: str | Path,
    signals_path: str | Path | None = None,
) -> None:
    """The ``dml`` rows (DoubleML, whole cohort per outcome) and DoubleML's sensitivity table.

    Without ``dml`` among ``estimation.methods`` both files are written with their header only.
    ``signals_path``: the ATE fits' pseudo-outcomes, folds and propensity scores (Parquet), which
    the heterogeneity and targeting rules reuse.
    """
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.base import estimates_frame
    from deepvalue.effects.dml import SENSITIVITY_COLUMNS, SIGNAL_COLUMNS, run_dml

    settings = _settings(config)
    signals: list[pd.DataFrame] = []
    if "dml" in settings.estimation.methods:
        rows, sensitivity = run_dml(pd.read_parquet(analysis_path), settings, signals=signals)
    else:
        rows, sensitivity = [], pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    write_csv(estimates_frame(rows), out_path)
    write_csv(sensitivity, sensitivity_path)
    if signals_path is not None:
        frame = pd.concat(signals, ignore_index=True) if signals else pd.DataFrame(columns=SIGNAL_COLUMNS)
        frame.to_parquet(signals_path, index=False)


def heterogeneity_stage(
    config: Mapping[str, Any] | str | Path,
    analysis_path: str | Path,
    signals_path: str | Path,
    out_path: str | Path,
    groups_path: str | Path,
) -> None:
    """results/heterogeneity.csv (BLP and sorted group effects) and the fifths' characteristics."""
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.heterogeneity import run_heterogeneity

    het, groups = run_heterogeneity(pd.read_parquet(analysis_path), pd.read_parquet(signals_path), _settings(config))
    write_csv(het, out_path)
    write_csv(groups, groups_path)


def mediation_stage(
    config: Mapping[str, Any] | str | Path,
    analysis_path: str | Path,
    out_path: str | Path,
    sensitivity_path: str | Path,
) -> None:
    """results/mediation.csv (natural direct and indirect effects) and results/mediation_sensitivity.csv."""
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.mediation import run_mediation

    table, sensitivity = run_mediation(pd.read_parquet(analysis_path), _settings(config))
    write_csv(table, out_path)
    write_csv(sensitivity, sensitivity_path)


def unit_present_values(values_path: str | Path, outcomes: Sequence[str]) -> dict[str, float]:
    """Per outcome the GBP of one unit of effect per client: the value stage's unit value uprated to
    the price year, times its present-value factor, (1 - deadweight) and (1 - attribution)."""
    from deepvalue.value.valuation import present_value_factor, uprate
    from deepvalue.value.values_file import load_values

    values = load_values(values_path, outcomes)
    out = {}
    for name in outcomes:
        spec = (values.get("outcomes") or {}).get(name)
        if not spec or spec.get("unit_value_gbp") is None:
            continue
        unit = uprate(spec["unit_value_gbp"], spec["price_year"], values["price_year"], values["uprating"]["index"])
        pv = present_value_factor(spec["duration_years"], spec["drop_off"], values["discount_rate"])
        out[name] = unit * pv * (1.0 - spec["deadweight"]) * (1.0 - spec["attribution"])
    return out


def targeting_stage(
    config: Mapping[str, Any] | str | Path,
    analysis_path: str | Path,
    signals_path: str | Path,
    values_path: str | Path,
    out_path: str | Path,
    rules_path: str | Path,
) -> None:
    """results/targeting.csv (the policy tree's gain at each capacity) and the tree as a rule."""
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.targeting import run_targeting

    settings = _settings(config)
    units = unit_present_values(values_path, [o.name for o in settings.outcomes])
    table, rules = run_targeting(pd.read_parquet(analysis_path), pd.read_parquet(signals_path), settings, units)
    write_csv(table, out_path)
    write_csv(rules, rules_path)


def instrument_balance_stage(
    config: Mapping[str, Any] | str | Path,
    analysis_path: str | Path,
    out_path: str | Path,
) -> None:
    """Is a departure as good as random? The confounders, the window length and continuity itself by
    whether the allocated worker left in the exposure window (``first_worker_left``).

    The balance table of :func:`deepvalue.adjust.balance.balance_table` with the instrument in the
    place of the treatment, on the clients whose instrument is known; no rows without a workers
    table. The ``treatment`` row is the first stage (the continuous share by departure).
    """
    import numpy as np
    import pandas as pd

    from deepvalue.adjust.balance import BALANCE_COLUMNS, balance_table
    from deepvalue.adjust.design import covariate_design
    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.table import window_days

    settings = _settings(config)
    analysis = pd.read_parquet(analysis_path)
    z = analysis["first_worker_left"] if "first_worker_left" in analysis else pd.Series(dtype=float)
    known = z.notna().to_numpy() if len(z) else np.zeros(len(analysis), dtype=bool)
    zk = z[known].astype(float).to_numpy() if known.any() else np.array([])
    if not known.any() or zk.min() == zk.max():
        write_csv(pd.DataFrame(columns=BALANCE_COLUMNS), out_path)
        return
    rows = analysis.loc[known].reset_index(drop=True)
    X = covariate_design(rows, settings.covariates).X.copy()
    days = window_days(rows)
    if days is not None:
        X["window_days"] = days
    X["treatment"] = rows["treatment"].to_numpy(dtype=float)
    write_csv(balance_table(X, zk, {}), out_path)


def joint_draws_stage(
    config: Mapping[str, Any] | str | Path,
    analysis_path: str | Path,
    propensity_path: str | Path,
    out_path: str | Path,
) -> None:
    """``results/joint_draws.parquet``: joint multiplier-bootstrap draws of the influence-function
    estimates (:func:`deepvalue.effects.joint.joint_draws`), for the value stage and multiplicity."""
    import pandas as pd

    from deepvalue.core.tabular import write_parquet
    from deepvalue.effects.joint import joint_draws

    settings = _settings(config)
    jd = settings.estimation.joint_draws
    methods = [m for m in jd.methods if m in settings.estimation.methods]
    draws = joint_draws(
        pd.read_parquet(analysis_path),
        settings,
        pd.read_parquet(propensity_path),
        draws=jd.draws,
        seed=settings.seed,
        methods=methods,
        multipliers=jd.multipliers,
    )
    write_parquet(draws, out_path)


def _read_estimates(path: str | Path):
    import pandas as pd

    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"subgroup": str, "notes": str})
    frame["subgroup"] = frame["subgroup"].fillna("")
    frame["notes"] = frame["notes"].fillna("")
    return frame


def combine_stage(
    methods_path: str | Path,
    dowhy_path: str | Path,
    estimates_path: str | Path,
    truth_path: str | Path | None,
    truth_table_path: str | Path,
    dml_path: str | Path | None = None,
) -> None:
    """estimates.csv (ours, then DoubleML's and DoWhy's rows) and the comparison with a synthetic truth."""
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.table import compare_with_truth

    estimates = _read_estimates(methods_path)
    for path in [dml_path, dowhy_path]:
        extra = _read_estimates(path) if path else None
        if extra is not None and len(extra):
            estimates = pd.concat([estimates, extra.astype(estimates.dtypes.to_dict())], ignore_index=True)
    write_csv(estimates, estimates_path)
    truth = _truth_effects(truth_path)
    # a real extract has no truth: the table is written with its header and no rows
    table = compare_with_truth(estimates, truth or {})
    write_csv(table, truth_table_path)
    if truth is not None:
        log.info(
            "synthetic truth covered by %d of %d whole-cohort ATT, ATE, LATE and ITT intervals",
            int(table["covered"].sum()),
            len(table),
        )


def value_stage(
    config: Mapping[str, Any] | str | Path,
    estimates_path: str | Path,
    values_path: str | Path,
    out_path: str | Path,
    analysis_path: str | Path | None = None,
    joint_path: str | Path | None = None,
    tornado_path: str | Path | None = None,
    figure_path: str | Path | None = None,
) -> None:
    """value.csv (and the tornado table and figure): the effects in money, with the probabilistic
    analysis over the joint draws of the effects and the ranges of the unit values."""
    import pandas as pd

    from deepvalue.core.errors import ConfigError, Problem
    from deepvalue.core.tabular import write_csv
    from deepvalue.value.valuation import check_values_file, cohort_counts, value_analysis, values_warnings

    settings = _settings(config)
    questionnaires = [q for q in settings.questionnaires if q.role == "outcome"]
    study = [o.name for o in settings.outcomes] + [q.name for q in questionnaires]
    values, _ = check_values_file(values_path, study)
    wb = values.get("wellby") or {}
    in_wellbys = {q.name for q in questionnaires if q.instrument in (wb.get("instruments") or ())}
    # an outcome valued in WELLBYs from the wellby block needs no entry of its own: no warning for it
    for line in values_warnings(values, [o for o in study if o not in in_wellbys], Path(values_path).name):
        log.warning(line)
    # the row valued is the stated primary analysis (estimation.primary, or the values file's primary)
    primary = study_primary(settings, values_path)
    values["primary"] = {"method": primary["method"], "estimand": primary["estimand"]}
    estimates = pd.read_csv(estimates_path, keep_default_na=False, na_values=[""], dtype={"subgroup": str})
    estimates["subgroup"] = estimates["subgroup"].fillna("")
    joint = pd.read_parquet(joint_path) if joint_path is not None else None
    try:
        counts = {}
        if analysis_path is not None:
            n_treated, applies = cohort_counts(pd.read_parquet(analysis_path), study)
            counts = {"n_clients": n_treated, "applies_to": applies}
        table, tornado = value_analysis(
            estimates,
            values,
            seed=settings.seed,
            draws=settings.value.draws,
            outcomes=study,
            joint=joint,
            instruments={q.name: q.instrument for q in questionnaires},
            **counts,
        )
    except ValueError as exc:
        raise ConfigError(
            [
                Problem(
                    "values",
                    None,
                    str(exc),
                    "check primary.method and primary.estimand in the values file against results/estimates.csv",
                    path=str(values_path),
                )
            ],
            headline="the effects cannot be valued",
        ) from None
    write_csv(table, out_path)
    if tornado_path is not None:
        write_csv(tornado, tornado_path)
    if figure_path is not None:
        from deepvalue.value.figures import plot_tornado

        plot_tornado(tornado, figure_path, int(values["price_year"]))
    total = table[(table["level"] == "per_client") & (table["outcome"] == "total")]
    for row in total.itertuples():
        log.info(
            "per client %s: %.4g (95%% interval %.4g to %.4g; probabilistic %.4g to %.4g)",
            row.quantity,
            row.value,
            row.ci_lower,
            row.ci_upper,
            row.psa_lower,
            row.psa_upper,
        )


def study_primary(settings: Settings, values_path: str | Path | None) -> dict[str, str]:
    """The primary analysis ``{outcome, method, estimand}`` from estimation.primary and the values file."""
    import dataclasses

    from deepvalue.core.primary import resolve_primary, values_file_primary

    return resolve_primary(
        dataclasses.asdict(settings.estimation.primary),
        values_file_primary(values_path),
        [o.name for o in settings.outcomes],
        values_path=str(values_path),
    )


def multiplicity_stage(
    config: Mapping[str, Any] | str | Path,
    estimates_path: str | Path,
    values_path: str | Path,
    out_path: str | Path,
    draws_path: str | Path,
) -> None:
    """results/multiplicity.csv: the primary method's rows with Holm and Romano-Wolf adjusted p-values (the
    latter from the joint draws), the confirmatory one first."""
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.effects.multiplicity import multiplicity_table

    primary = study_primary(_settings(config), values_path)
    estimates = pd.read_csv(
        estimates_path, keep_default_na=False, na_values=[""], dtype={"subgroup": str, "scale": str}
    )
    table = multiplicity_table(estimates, primary, pd.read_parquet(draws_path))
    write_csv(table, out_path)
    adjusted = "Holm and Romano-Wolf" if table["p_romano_wolf"].notna().any() else "Holm"
    log.info("primary analysis: %s; %d tests in the family (%s)", " ".join(primary.values()), len(table), adjusted)


def sensitivity_stage(
    config: Mapping[str, Any] | str | Path,
    estimates_path: str | Path,
    analysis_path: str | Path,
    propensity_path: str | Path,
    out_path: str | Path,
) -> None:
    import pandas as pd

    from deepvalue.core.tabular import write_csv
    from deepvalue.robustness.questionnaire_sensitivity import questionnaire_sensitivity
    from deepvalue.robustness.sensitivity import sensitivity_table

    settings = _settings(config)
    estimates = pd.read_csv(estimates_path, keep_default_na=False, na_values=[""], dtype={"subgroup": str})
    estimates["subgroup"] = estimates["subgroup"].fillna("")
    analysis, propensity = pd.read_parquet(analysis_path), pd.read_parquet(propensity_path)
    questionnaire_rows = estimates["outcome"].isin([q.name for q in settings.questionnaires])
    table = sensitivity_table(
        estimates[~questionnaire_rows],
        analysis,
        None,
        {o.name: o.type for o in settings.outcomes},
        covariates=settings.covariates,
        propensity=propensity,
        matching=settings.matching,
        seed=settings.seed,
    )
    # questionnaire outcomes: on their points scale, with their baseline among the confounders
    extra = questionnaire_sensitivity(estimates[questionnaire_rows], analysis, settings, propensity)
    write_csv(pd.concat([table, extra], ignore_index=True) if len(extra) else table, out_path)


def publish_stage(config: Mapping[str, Any] | str | Path, tables: dict[str, str | Path], out_dir: str | Path) -> None:
    from deepvalue.publish.disclosure import publish

    disclosure = _settings(config).disclosure
    logbook = publish(tables, out_dir, min_cell=disclosure.min_cell, allow_zero=disclosure.allow_zero)
    log.info(
        "published %d tables to %s; %d cells suppressed (see disclosure_log.csv)", len(tables), out_dir, len(logbook)
    )


def report_stage(
    config: Mapping[str, Any] | str | Path,
    results_dir: str | Path,
    out_path: str | Path,
    validation_md: str | Path | None = None,
) -> None:
    from deepvalue.publish.report import build_report

    # the report renders whatever sections it is given (a missing one is shown as missing), so it
    # takes the validated sections as plain data: exposure, outcomes, synthetic, disclosure, seed
    cfg = dict(load_config(config)) if isinstance(config, (str, Path)) else dict(config)
    md = Path(validation_md) if validation_md and Path(validation_md).is_file() else None
    # the validation study describes the synthetic generator: show it only for a synthetic extract
    if not (cfg.get("synthetic") or {}).get("truth"):
        md = None
    build_report(Path(results_dir), cfg, Path(out_path), md)
    log.info("report written to %s", out_path)


def brief_stage(config: Mapping[str, Any] | str | Path, results_dir: str | Path, out_path: str | Path) -> None:
    from deepvalue.publish.brief import build_brief

    # the brief is the report's summary as a PDF: the same plain-data sections as the report
    cfg = dict(load_config(config)) if isinstance(config, (str, Path)) else dict(config)
    pages = build_brief(Path(results_dir), cfg, Path(out_path))
    log.info("brief written to %s (%d page%s)", out_path, pages, "" if pages == 1 else "s")


def provenance_stage(
    config: Mapping[str, Any] | str | Path, report_path: str | Path, out_path: str | Path, code_dir: str | Path
) -> None:
    # provenance records the whole resolved config, as data
    cfg = load_config(config) if isinstance(config, (str, Path)) else dict(config)
    report = json.loads(Path(report_path).read_text())
    write_provenance(build_provenance(cfg, report, code_dir), out_path)
