"""Validation against known truth: run the estimators over many synthetic extracts.

Each replicate draws an extract with :func:`deepvalue.synth.generate_extract` (seed = first seed
+ replicate number), runs the real stages (ingest from files, cohort, matching, estimates) and
compares every whole-cohort ATT and ATE with the generator's truth for that extract (computed
from potential-outcome means, so the target is exact). The summary per outcome, method and
estimand gives bias, RMSE, the mean standard error, the SD of the estimates and the coverage of
the 95% intervals.

    deepvalue simulate --reps 200 --clients 5000 --out results/validation.csv --docs docs/validation.md

The same study as independent jobs, one per chunk of seeds (workflow/validation.smk, so that the
replicates spread over a cluster): :func:`validation_settings` checks its config, :func:`chunks`
splits the seeds, :func:`run_chunk` runs one chunk and :func:`summarise_chunks` joins them. A
replicate's seed depends only on its number, so the outputs are byte-identical whatever the chunk
size, and equal to ``deepvalue simulate`` with the same reps, clients and first seed.

    snakemake -s workflow/validation.smk --cores 2 --config reps=200 clients=5000 seeds_per_job=10
"""

from __future__ import annotations

import copy
import logging
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from deepvalue.adjust.matched_cohort import run_matching
from deepvalue.cohort.build import Cohort, build_cohort
from deepvalue.core.config import load_config
from deepvalue.core.settings import Settings
from deepvalue.effects.table import compare_with_truth, run_estimates
from deepvalue.extract.ingest import ingest_extract
from deepvalue.robustness.sensitivity import sensitivity_table
from deepvalue.synth.generate import SyntheticExtract, generate_extract
from deepvalue.synth.parameters import SCENARIOS
from deepvalue.synth.write import write_extract

VALIDATED_METHODS = (
    "naive",
    "regression",
    "logit_ame",
    "poisson_ra",
    "psm",
    "ipw",
    "aipw",
    "km_ipw",
    "within_worker_regression",
    "within_worker_aipw",
    "departure_reduced_form",
    "iv",
)


def _merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


#: The questionnaire outcomes and the mediator off: for studies of the settings' outcomes only (each
#: estimator's refit would otherwise estimate the questionnaires too).
DROP_QUESTIONNAIRES = {"questionnaires": [], "mediation": {"mediator": None}}


def only_outcomes(raw: dict, names: Sequence[str] | None, overrides: Mapping | None = None) -> dict:
    """``raw`` with :data:`DROP_QUESTIONNAIRES` and ``overrides`` merged in, and only the outcomes named in
    ``names`` (all of them when None): the override of a study of some outcomes."""
    out = _merge(raw, {**DROP_QUESTIONNAIRES, **dict(overrides or {})})
    if names is not None:
        out["outcomes"] = [o for o in out["outcomes"] if o["name"] in names]
    return out


@dataclass(frozen=True)
class SyntheticCohort:
    """One synthetic extract taken through the workflow's ingest and cohort steps."""

    extract: SyntheticExtract
    settings: Settings
    cohort: Cohort


def synthetic_cohort(
    seed: int,
    n_clients: int,
    overrides: Mapping | Callable[[dict], dict] | None = None,
    scenario: str = "default",
    recording: str = "measured",
) -> SyntheticCohort:
    """Generate an extract, write it with its config to a temporary folder, apply ``overrides`` to that
    config (a mapping merged into it, or a function of the raw config that returns the new one), and
    ingest it and build its cohort as the workflow does. Every study starts here."""
    extract = generate_extract(n_clients, seed=seed, scenario=scenario, recording=recording)
    with tempfile.TemporaryDirectory() as tmp:
        raw = load_config(write_extract(extract, tmp)["config"])
        raw = overrides(raw) if callable(overrides) else _merge(raw, dict(overrides or {}))
        cfg = Settings.from_sections(load_config(raw))
        ingested = ingest_extract(cfg)
    return SyntheticCohort(extract, cfg, build_cohort(ingested.tables, cfg, ingested.extract_date))


def run_seeds(
    replicate: Callable[[int], pd.DataFrame],
    seeds: Sequence[int],
    out: Path,
    summarise_with: Callable[[pd.DataFrame], pd.DataFrame],
) -> pd.DataFrame:
    """A study's main loop: ``replicate(seed)`` for every seed, the rows so far written to
    ``<out stem>_replicates.csv`` after every seed (so a stopped study keeps what it has), and the
    summary of all of them to ``out``; returns the summary."""
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for seed in seeds:
        parts.append(replicate(seed))
        pd.concat(parts, ignore_index=True).to_csv(out.with_name(out.stem + "_replicates.csv"), index=False)
        print(f"seed {seed} done", flush=True)
    summary = summarise_with(pd.concat(parts, ignore_index=True))
    summary.to_csv(out, index=False)
    print(summary.to_string(index=False))
    return summary


def one_replicate(
    seed: int,
    n_clients: int,
    overrides: dict | None = None,
    methods: Sequence[str] = VALIDATED_METHODS,
    scenario: str = "default",
    recording: str = "measured",
) -> pd.DataFrame:
    """Estimates of one synthetic extract next to its truth (one row per outcome x method x estimand).

    ``recording``: the generator's (``events``: job starts and crisis contacts as dated
    occurrences, some clients' follow-up incomplete at the extract date).

    PSM rows also carry ``rosenbaum_rejects``: whether the two-sided Rosenbaum test at Gamma = 1
    (1:1 pairs re-matched without replacement, as the sensitivity stage runs it) rejects at 0.05.
    """
    run = synthetic_cohort(seed, n_clients, overrides, scenario, recording)
    extract, cfg, cohort = run.extract, run.settings, run.cohort
    adjusted = run_matching(cohort.analysis, cfg)
    estimates = run_estimates(
        cohort.analysis,
        cfg,
        adjusted.propensity,
        methods=methods,
        subgroups=[],
    )
    truth = {**extract.truth["outcomes"], **extract.truth.get("questionnaires", {})}
    table = compare_with_truth(estimates, truth)
    table.insert(0, "seed", seed)
    sens = sensitivity_table(
        estimates[estimates["method"] == "psm"],
        cohort.analysis,
        None,
        {o.name: o.type for o in cfg.outcomes},
        propensity=adjusted.propensity,
        matching=cfg.matching,
        seed=cfg.seed,
    )
    gamma = sens[sens["measure"] == "rosenbaum_gamma"].set_index(["outcome", "method", "estimand"])["value"]
    key = pd.MultiIndex.from_frame(table[["outcome", "method", "estimand"]])
    values = gamma.reindex(key).to_numpy(dtype=float)
    rejects = np.where(np.isnan(values), np.nan, (values > 1.0).astype(float))
    table["rosenbaum_rejects"] = np.where(table["method"].eq("psm").to_numpy(), rejects, np.nan)
    return table


def summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE, mean SE, SD of estimates and 95% CI coverage per outcome, method and estimand.

    ``sd_estimate`` is the SD of the estimates over seeds, the sampling SD of the estimator of the
    population effect, which the influence-function SEs estimate; ``sd_error`` is the SD of
    estimate - truth, with truth.json's per-seed effect over that extract's analysed clients (the
    sample effect). ``coverage`` is of that sample truth, so it reads against ``mean_se / sd_error``;
    ``coverage_population`` is of the mean of the truths over the seeds (the scenario's population
    effect), and reads against ``mean_se / sd_estimate``.
    ``sd_error`` < ``sd_estimate`` exactly when Cov(estimate, truth) > Var(truth) / 2, as when the
    sample truth moves with the estimate (individual effects that differ); then a correct SE of
    the population effect covers the sample truth more than 95% of the time. For the ATE the
    sample effect's asymptotic variance is never above the population effect's (Imbens 2004); for
    the ATT it can be (Yiu 2024, arXiv:2402.05844), so the ATT rows can read either way."""
    replicates = replicates.assign(
        rejects_zero=(replicates["ci_lower"] > 0) | (replicates["ci_upper"] < 0),
        rosenbaum_rejects=pd.to_numeric(replicates["rosenbaum_rejects"], errors="coerce")
        if "rosenbaum_rejects" in replicates
        else np.nan,
    )
    # km_ipw gives two scales per estimand (older replicate files have no scale column)
    keys = ["outcome", "method", "estimand", *(["scale"] if "scale" in replicates else [])]
    # coverage of the effect in the generator's population: every seed of a scenario draws its
    # extract (clients, workers, sites) from one data-generating process, so the mean of the
    # per-seed sample truths estimates that population effect (its own MC error is sd(truth) /
    # sqrt(reps), small beside an SE); this is the target of the clustered influence-function SEs
    mean_truth = replicates.groupby(keys, sort=False)["truth"].transform("mean")
    replicates = replicates.assign(
        covers_mean_truth=(replicates["ci_lower"] <= mean_truth) & (replicates["ci_upper"] >= mean_truth)
    )
    g = replicates.groupby(keys, sort=False)
    out = pd.DataFrame(
        {
            "reps": g.size(),
            "mean_truth": g["truth"].mean(),
            "mean_estimate": g["estimate"].mean(),
            "bias": g["error"].mean(),
            "rmse": g["error"].apply(lambda e: float(np.sqrt(np.mean(e**2)))),
            "mean_se": g["std_error"].mean(),
            "sd_estimate": g["estimate"].std(ddof=1),
            "sd_error": g["error"].std(ddof=1),
            "coverage": g["covered"].mean(),
            "coverage_population": g["covers_mean_truth"].mean(),
            "rejects_zero": g["rejects_zero"].mean(),
            "rosenbaum_rejection": g["rosenbaum_rejects"].mean() if "rosenbaum_rejects" in replicates else np.nan,
        }
    ).reset_index()
    out["bias_over_se"] = out["bias"] / out["mean_se"]
    # Monte Carlo standard error of the coverage, to read it against its nominal 0.95
    out["coverage_mcse"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["reps"])
    return out


def simulate(
    reps: int,
    n_clients: int,
    first_seed: int = 1,
    workers: int = 1,
    overrides: dict | None = None,
    methods: Sequence[str] = VALIDATED_METHODS,
    scenario: str = "default",
    recording: str = "measured",
) -> pd.DataFrame:
    """All replicates (seeds first_seed .. first_seed + reps - 1), in seed order whatever the workers."""
    seeds = list(range(first_seed, first_seed + reps))
    if workers <= 1:
        parts = [one_replicate(s, n_clients, overrides, methods, scenario, recording) for s in seeds]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(
                pool.map(
                    one_replicate,
                    seeds,
                    [n_clients] * reps,
                    [overrides] * reps,
                    [tuple(methods)] * reps,
                    [scenario] * reps,
                    [recording] * reps,
                )
            )
    return pd.concat(parts, ignore_index=True)


HEADER = """# Validation against known truth

Each scenario's section below is written by its command: synthetic extracts with known truth, each
run through ingest, cohort, matching and estimation; every whole-cohort ATT and ATE is compared with
the generator's truth for that extract (from potential-outcome means).

Acceptance (issue 5): for regression, psm, ipw and aipw, coverage of the 95% CI within [0.90, 0.98]
and |bias| below a quarter of the mean SE; the naive comparison visibly biased. Issue 12 adds: under
the null scenario, the two-sided Rosenbaum test at Gamma = 1 rejects within [0.03, 0.07]; PSM with
replacement covers within [0.93, 0.97] with mean SE / SD within 10% of 1. `MCSE` is the Monte Carlo
standard error of the coverage. `rejects 0` is the share of 95% CIs that exclude zero (the power, or
under the null the type-I error). `Rosenbaum` is the share of PSM rows whose two-sided Rosenbaum
test at Gamma = 1 (1:1 pairs re-matched without replacement) rejects at 0.05. logit_ame is reported
but not part of the acceptance: its logit outcome model is misspecified for this generator.
"""


def validation_markdown(
    summary: pd.DataFrame, reps: int, n_clients: int, command: str, first_seed: int = 1, scenario: str = "default"
) -> str:
    """One scenario's section of docs/validation.md: what was run, and the table."""
    lines = [
        f"## Scenario: {scenario}",
        "",
        f"Command: `{command}`. {reps} synthetic extracts of {n_clients:,} clients "
        f"(seeds {first_seed}..{first_seed + reps - 1}).",
        "",
        "| outcome | method | estimand | reps | mean truth | bias | bias / SE | RMSE | mean SE "
        "| SD of estimates | SE / SD | SE / SD(estimate - truth) | coverage (MCSE) | coverage of the mean truth "
        "| rejects 0 | Rosenbaum |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary.itertuples():
        rosen = "" if not np.isfinite(r.rosenbaum_rejection) else f"{r.rosenbaum_rejection:.3f}"
        lines.append(
            f"| {r.outcome} | {_method_label(r)} | {r.estimand} | {r.reps} | {r.mean_truth:.4g} | {r.bias:.3g} | "
            f"{r.bias_over_se:+.2f} | {r.rmse:.3g} | {r.mean_se:.3g} | {r.sd_estimate:.3g} | "
            f"{r.mean_se / r.sd_estimate:.2f} | {r.mean_se / r.sd_error:.2f} | "
            f"{r.coverage:.3f} ({r.coverage_mcse:.3f}) | {r.coverage_population:.3f} | {r.rejects_zero:.3f} | "
            f"{rosen} |"
        )
    return "\n".join(lines) + "\n"


#: Scales shown beside the method: km_ipw's two, and a questionnaire outcome's three (issue 15).
_LABELLED_SCALES = ("points", "baseline_sd", "share_meaningful_change")


def scenario_comparison_markdown(summaries: Mapping[str, pd.DataFrame]) -> str:
    """One table across scenarios: per outcome, method and estimand, each scenario's bias / SE,
    SE / SD and coverage, and under ``null`` the coverage and the rejection rate of zero.

    ``summaries`` maps a scenario to its :func:`summarise` table; rows follow the first scenario's
    order, then any row only another scenario has. A method absent from a scenario gets empty cells.
    """
    names = list(summaries)
    keys = ["outcome", "method", "estimand", *(["scale"] if any("scale" in t for t in summaries.values()) else [])]
    order: list[tuple] = []
    indexed = {}
    for name, table in summaries.items():
        table = table.assign(**{k: table[k] if k in table else None for k in keys})
        indexed[name] = {tuple(r[k] for k in keys): r for r in table.to_dict("records")}
        order += [k for k in indexed[name] if k not in order]
    head = ["outcome", "method", "estimand"]
    for name in names:
        head += (
            [f"{name} rejects 0", f"{name} coverage"]
            if name == "null"
            else [
                f"{name} bias / SE",
                f"{name} SE / SD",
                f"{name} coverage",
            ]
        )
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    for key in order:
        label = f"{key[1]} ({key[3]})" if len(key) > 3 and key[1] == "km_ipw" and isinstance(key[3], str) else key[1]
        cells = [key[0], label, key[2]]
        for name in names:
            r = indexed[name].get(key)
            if r is None:
                cells += [""] * (2 if name == "null" else 3)
            elif name == "null":
                cells += [f"{r['rejects_zero']:.3f}", f"{r['coverage']:.3f}"]
            else:
                cells += [
                    f"{r['bias_over_se']:+.2f}",
                    f"{r['mean_se'] / r['sd_estimate']:.2f}",
                    f"{r['coverage']:.3f}",
                ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _method_label(row) -> str:
    """The method, with the scale for km_ipw (two rows per estimand) and questionnaire outcomes (three)."""
    scale = getattr(row, "scale", None)
    labelled = row.method == "km_ipw" or scale in _LABELLED_SCALES
    return f"{row.method} ({scale})" if labelled and isinstance(scale, str) else row.method


def update_validation_page(page: str | None, section: str) -> str:
    """docs/validation.md with one scenario's section put in (replacing that scenario's old one).

    >>> text = update_validation_page(None, "## Scenario: null\\n\\nx\\n")
    >>> text = update_validation_page(text, "## Scenario: default\\n\\ny\\n")
    >>> update_validation_page(text, "## Scenario: null\\n\\nz\\n").count("## Scenario")
    2
    """
    head = section.splitlines()[0]
    if not page or not page.startswith("# Validation"):
        page = HEADER
    parts = re.split(r"(?m)^(?=## Scenario: )", page)
    intro, blocks = parts[0], [b for b in parts[1:] if b.strip()]
    blocks = [b for b in blocks if b.splitlines()[0] != head] + [section]
    order = {"## Scenario: default": 0}
    blocks.sort(key=lambda b: (order.get(b.splitlines()[0], 1), b.splitlines()[0]))
    return intro.rstrip("\n") + "\n\n" + "\n".join(b.rstrip("\n") + "\n" for b in blocks)


def write_validation(replicates: pd.DataFrame, summary: pd.DataFrame, out: str | Path) -> None:
    from deepvalue.core.tabular import write_csv

    out = Path(out)
    write_csv(summary, out)
    write_csv(replicates, out.with_name(out.stem + "_replicates.csv"))


# --- the validation as independent jobs (workflow/validation.smk) ---------------------------------

#: The settings of workflow/validation.smk (``--config KEY=VALUE``) and their defaults.
VALIDATION_DEFAULTS = {
    "reps": 200,
    "clients": 5000,
    "first_seed": 1,
    "seeds_per_job": 10,
    "set": None,
    "scenario": "default",
    "recording": "measured",
}

#: The choices of the text settings (as ``deepvalue simulate --scenario`` and ``--recording``).
_CHOICES = {"scenario": SCENARIOS, "recording": ("measured", "events")}

#: Smallest allowed value of each whole-number setting.
_MINIMUM = {"reps": 1, "clients": 50, "first_seed": 0, "seeds_per_job": 1}

#: Column types of a replicates CSV; every other column is float64. Explicit, because a chunk's CSV
#: writes a float that happens to be whole as "1" and pyarrow would otherwise read it as int64.
_REPLICATE_TYPES = {
    "seed": "int64",
    "outcome": "string",
    "method": "string",
    "estimand": "string",
    "scale": "string",
    "covered": "bool",
}


def _yaml_scalars(value: object) -> object:
    """Snakemake parses ``--config set={a: {b: false}}`` with YAML's BaseLoader, which keeps every
    scalar a string; read each string scalar again as YAML (``"false"`` -> False, ``"2"`` -> 2)."""
    import yaml

    if isinstance(value, dict):
        return {k: _yaml_scalars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml_scalars(v) for v in value]
    if isinstance(value, str):
        return yaml.safe_load(value) if value.strip() else value
    return value


def validation_settings(config: Mapping) -> dict:
    """The settings of the validation workflow, with defaults filled and every value checked.

    Parameters
    ----------
    config : mapping
        Snakemake's ``config`` (from ``--config reps=... clients=... first_seed=... seeds_per_job=...
        set=...``). ``set`` holds config overrides for every replicate, as YAML text or as a mapping,
        read like ``deepvalue simulate --set``.

    Returns
    -------
    dict
        ``reps``, ``clients``, ``first_seed``, ``seeds_per_job`` (ints) and ``overrides`` (a dict).

    Raises
    ------
    ValueError
        On an unknown key or a bad value, with a one-line message naming the key and the fix.

    Examples
    --------
    >>> s = validation_settings({"reps": 20, "set": "{matching: {replace: false}}"})
    >>> s["reps"], s["clients"], s["seeds_per_job"], s["overrides"]
    (20, 5000, 10, {'matching': {'replace': False}})
    >>> validation_settings({"reps": 0})
    Traceback (most recent call last):
    ...
    ValueError: validation config: reps=0 is not allowed; fix: give a whole number >= 1, e.g. --config reps=200
    """
    import yaml

    from deepvalue.core.errors import did_you_mean

    for key in config:
        if key not in VALIDATION_DEFAULTS:
            hint = did_you_mean(key, VALIDATION_DEFAULTS)
            raise ValueError(
                f"validation config: unknown key '{key}'; fix: {hint}use only {', '.join(VALIDATION_DEFAULTS)}"
            )
    merged = {**VALIDATION_DEFAULTS, **dict(config)}
    out = {}
    for key, low in _MINIMUM.items():
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(
                f"validation config: {key}={value!r} is not allowed; fix: give a whole number "
                f">= {low}, e.g. --config {key}={VALIDATION_DEFAULTS[key]}"
            )
        out[key] = value
    for key, choices in _CHOICES.items():
        if merged[key] not in choices:
            raise ValueError(
                f"validation config: {key}={merged[key]!r} is not allowed; fix: use one of {', '.join(choices)}, "
                f"e.g. --config {key}={choices[-1]}"
            )
        out[key] = merged[key]
    raw = merged["set"]
    try:
        overrides = yaml.safe_load(raw) if isinstance(raw, str) else _yaml_scalars(raw)
    except yaml.YAMLError as exc:
        raise ValueError(
            f"validation config: set is not valid YAML ({str(exc).splitlines()[0]}); fix: quote "
            "it whole, e.g. --config set='{matching: {replace: false}}'"
        ) from None
    if overrides is not None and not isinstance(overrides, dict):
        raise ValueError(
            f"validation config: set={raw!r} is not a mapping; fix: give config overrides, e.g. "
            "--config set='{matching: {replace: false}}'"
        )
    out["overrides"] = overrides or {}
    return out


def chunks(reps: int, first_seed: int = 1, seeds_per_job: int = 10) -> list[tuple[int, int]]:
    """Split the seeds ``first_seed .. first_seed + reps - 1`` into consecutive chunks.

    Parameters
    ----------
    reps : int
        Number of replicates (seeds).
    first_seed : int
        The first seed.
    seeds_per_job : int
        Seeds per chunk; the last chunk holds what is left and may be shorter.

    Returns
    -------
    list of (int, int)
        ``(first, last)`` per chunk, ``last`` inclusive, in seed order; every seed in exactly one.

    Examples
    --------
    >>> chunks(7, first_seed=1, seeds_per_job=3)
    [(1, 3), (4, 6), (7, 7)]
    >>> chunks(4, first_seed=10, seeds_per_job=10)
    [(10, 13)]
    """
    if reps < 1 or seeds_per_job < 1:
        raise ValueError("reps and seeds_per_job must be at least 1")
    end = first_seed + reps - 1
    return [(s, min(s + seeds_per_job - 1, end)) for s in range(first_seed, end + 1, seeds_per_job)]


def run_chunk(
    first: int,
    last: int,
    n_clients: int,
    overrides: dict | None,
    out: str | Path,
    methods: Sequence[str] = VALIDATED_METHODS,
    scenario: str = "default",
    recording: str = "measured",
) -> pd.DataFrame:
    """Run the replicates of seeds ``first .. last`` (inclusive) in seed order and write their rows.

    Parameters
    ----------
    first, last : int
        The chunk's first and last seed.
    n_clients : int
        Clients per synthetic extract.
    overrides : dict or None
        Config overrides for every replicate (as ``deepvalue simulate --set``).
    out : str or Path
        The chunk's CSV (written with :func:`deepvalue.core.tabular.write_csv`).
    methods : sequence of str
        Estimators to validate.
    scenario, recording : str
        The generator's world and outcome recording (as ``deepvalue simulate --scenario --recording``).

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`one_replicate` for every seed, concatenated.
    """
    from deepvalue.core.tabular import write_csv

    log = logging.getLogger("deepvalue.simulate.study")
    parts = []
    for seed in range(first, last + 1):
        parts.append(one_replicate(seed, n_clients, overrides, methods, scenario=scenario, recording=recording))
        log.info("seed %d: %d rows (%d clients)", seed, len(parts[-1]), n_clients)
    rows = pd.concat(parts, ignore_index=True)
    write_csv(rows, out)
    return rows


def read_replicates(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate replicate CSVs (chunks) in the order given, with exact types and values.

    pyarrow writes each float as its shortest round-trip text, so reading it back as float64 gives
    the same bits; reading with explicit types keeps a whole-valued float column float64.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    frames = []
    for path in paths:
        with open(path) as fh:
            header = fh.readline().strip().split(",")
        names = [h.strip('"') for h in header]
        types = {n: pa.type_for_alias(_REPLICATE_TYPES.get(n, "float64")) for n in names}
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
        frames.append(table.to_pandas())
    return pd.concat(frames, ignore_index=True)


def summarise_chunks(
    paths: Sequence[str | Path],
    out: str | Path,
    markdown: str | Path | None,
    reps: int,
    n_clients: int,
    first_seed: int = 1,
    command: str = "",
) -> pd.DataFrame:
    """Join the chunks' replicates, summarise them and write what ``deepvalue simulate`` writes.

    Parameters
    ----------
    paths : sequence of str or Path
        The chunks' CSVs, in seed order (as :func:`chunks` lists them).
    out : str or Path
        The summary CSV; the replicates go beside it as ``<stem>_replicates.csv``
        (:func:`write_validation`, as ``deepvalue simulate --out``).
    markdown : str, Path or None
        Where to write the :func:`validation_markdown` page (skipped if None).
    reps, n_clients, first_seed : int
        The study's settings (checked against the seeds found, and shown on the page).
    command : str
        The command shown on the page.

    Returns
    -------
    pandas.DataFrame
        The summary (:func:`summarise`).

    Raises
    ------
    ValueError
        If the chunks' seeds are out of order or outside ``first_seed .. first_seed + reps - 1``.
    """
    replicates = read_replicates(paths)
    seeds = replicates["seed"].to_numpy()
    last = first_seed + reps - 1
    if len(seeds) and (np.any(np.diff(seeds) < 0) or seeds.min() < first_seed or seeds.max() > last):
        raise ValueError(
            f"the chunks' seeds are out of order or outside {first_seed}..{last}; give the chunks in seed order"
        )
    missing = sorted(set(range(first_seed, last + 1)) - set(seeds.tolist()))
    if missing:
        logging.getLogger("deepvalue.simulate.study").warning(
            "no estimates for %d seed(s) (first: %s)", len(missing), missing[:5]
        )
    summary = summarise(replicates)
    write_validation(replicates, summary, out)
    if markdown is not None:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        section = validation_markdown(summary, reps, n_clients, command, first_seed=first_seed)
        Path(markdown).write_text(update_validation_page(None, section))
    return summary
