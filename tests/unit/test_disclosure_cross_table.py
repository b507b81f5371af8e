"""Output checking across the published tables at once (issue 13, item 6 of the reliability review).

The tables below are small copies of what the workflow writes (same names, columns, steps and labels), with
the numbers of a 1,500-client synthetic extract whose sites S07 and S08 were made tiny. Each review case is
an attack on the published copies; the oracle at the top is a brute-force attacker written independently
of the checker: it differences every pair and triple of published counts that describe one outcome (or the
whole cohort), and adds up the published rows of a subgroup column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepvalue.core.tabular import write_csv
from deepvalue.effects.base import ESTIMATE_COLUMNS
from deepvalue.publish.disclosure import publish, read_table

MIN_CELL = 10
FLOW = ["step", "n_remaining", "n_excluded", "reason"]
EST = list(ESTIMATE_COLUMNS)


def cohort_flow() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("clients in the extract", 1500, 0, ""),
            ("excluded", 1500, 0, "no contacts (after cleaning)"),
            ("excluded", 1215, 285, "fewer than 4 contacts (window_contacts)"),
            ("excluded", 1184, 31, "contact 4 more than 120 days after the first (window_max_days)"),
            ("analysis cohort", 1184, 0, ""),
        ],
        columns=FLOW,
    )


def outcome_flow(job_on_or_before: int = 6) -> pd.DataFrame:
    job = [
        ("cohort", 1184, 0, ""),
        ("excluded", 720, 464, "no outcome row for this client"),
        ("excluded", 720, 0, "outcome_date missing: timing against the index date unknown"),
        (
            "excluded",
            720 - job_on_or_before,
            job_on_or_before,
            "outcome dated on or before the index date (overlaps the exposure window)",
        ),
        ("recoded", 720 - job_on_or_before, 0, "0 events dated after 182 days of follow-up counted as 0"),
        ("excluded", 720 - job_on_or_before, 0, "measured more than 182 days after the index date"),
        ("analysed", 720 - job_on_or_before, 0, ""),
    ]
    crisis = [
        ("cohort", 1184, 0, ""),
        ("excluded", 1184, 0, "no outcome row for this client"),
        ("excluded", 1184, 0, "outcome_date missing: timing against the index date unknown"),
        ("excluded", 1161, 23, "outcome dated on or before the index date (overlaps the exposure window)"),
        ("excluded", 1161, 0, "measured more than 365 days after the index date"),
        ("analysed", 1161, 0, ""),
    ]
    rows = [("job_start", *r) for r in job] + [("crisis_contacts", *r) for r in crisis]
    return pd.DataFrame(rows, columns=["outcome", *FLOW])


def match_flow(unmatched: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("treated clients in the cohort", 713, 0, ""),
            ("unmatched", 713, 0, "no control in exact stratum"),
            ("unmatched", 713 - unmatched, unmatched, "no control within caliper"),
            ("unmatched", 713 - unmatched, 0, "every control within caliper already used"),
            ("matched treated clients", 713 - unmatched, 0, ""),
        ],
        columns=FLOW,
    )


def balance_summary(unmatched: int = 2) -> pd.DataFrame:
    m = 713 - unmatched
    return pd.DataFrame(
        [
            ("unadjusted", "treated", 713, 713.0, 713.0),
            ("unadjusted", "control", 471, 471.0, 471.0),
            ("matched", "treated", m, float(m), float(m)),
            ("matched", "control", 277, float(m), 164.71847507331378),
            ("ipw_ate", "treated", 713, 707.6570916131434, 654.9999122229707),
            ("ipw_ate", "control", 471, 475.3178483974348, 395.10851397905304),
            ("ipw_att", "treated", 713, 713.0, 713.0),
            ("ipw_att", "control", 471, 713.0, 309.18403766400786),
            ("overlap", "treated", 713, 253.77946620707633, 623.2270618143658),
            ("overlap", "control", 471, 253.77946620707627, 428.45455214438095),
        ],
        columns=["adjustment", "group", "n", "sum_weights", "ess"],
    )


CRISIS_SITES = {  # site: (treated, control) among the clients with crisis_contacts measured
    "S01": (203, 86),
    "S02": (144, 100),
    "S03": (130, 68),
    "S04": (72, 96),
    "S05": (85, 68),
    "S06": (63, 43),
    "S07": (3, 0),
}


def estimate_row(outcome, subgroup, method, estimand, n_t, n_c, notes="", scale="risk_difference", estimate=0.1):
    return {
        "outcome": outcome,
        "subgroup": subgroup,
        "method": method,
        "estimand": estimand,
        "estimate": estimate,
        "std_error": 0.03,
        "ci_lower": estimate - 0.06,
        "ci_upper": estimate + 0.06,
        "p_value": 0.01,
        "n_treated": n_t,
        "n_control": n_c,
        "scale": scale,
        "notes": notes,
    }


def estimates(job=(448, 266), psm_job_treated=448, sites=None) -> pd.DataFrame:
    sites = CRISIS_SITES if sites is None else sites
    rows = []
    t, c = job
    for method, estimand in (("naive", "ATE"), ("regression", "ATT"), ("ipw", "ATT")):
        rows.append(estimate_row("job_start", "", method, estimand, t, c, "clustered (81 clusters)"))
    rows.append(
        estimate_row(
            "job_start",
            "",
            "psm",
            "ATT",
            psm_job_treated,
            166,
            f"166 distinct controls; matched within this population: {psm_job_treated} of {t} treated clients",
        )
    )
    total_t = sum(v[0] for v in sites.values())
    total_c = sum(v[1] for v in sites.values())
    for method, estimand in (("naive", "ATE"), ("regression", "ATT")):
        rows.append(estimate_row("crisis_contacts", "", method, estimand, total_t, total_c, scale="mean_difference"))
    for site, (st, sc) in sites.items():
        for method, estimand in (("naive", "ATE"), ("regression", "ATT")):
            skipped = sc == 0
            row = estimate_row(
                "crisis_contacts",
                f"site={site}",
                method,
                estimand,
                st,
                sc,
                "skipped: no variation to estimate from: the outcome is constant among the treated" if skipped else "",
                scale="mean_difference",
                estimate=np.nan if skipped else 0.2,
            )
            if skipped:
                row.update(std_error=np.nan, ci_lower=np.nan, ci_upper=np.nan, p_value=np.nan)
            rows.append(row)
    tested = [s for s, (st, sc) in sites.items() if sc > 0]
    for method, estimand in (("naive", "ATE"), ("regression", "ATT")):
        row = estimate_row(
            "crisis_contacts",
            "site: equal effects",
            method,
            estimand,
            sum(sites[s][0] for s in tested),
            sum(sites[s][1] for s in tested),
            f"Wald test of equal mean difference across {len(tested)} levels of site (chi2 = 4.2, df = 5); levels "
            "taken as independent samples (workers shared across levels make this approximate)",
            scale="wald_chi2_equal_effects",
            estimate=4.2,
        )
        row.update(std_error=np.nan, ci_lower=np.nan, ci_upper=np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=EST)


def refutations(job_rows: int = 714) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "outcome": ["job_start", "crisis_contacts"],
            "refuter": ["placebo_treatment_refuter", "placebo_treatment_refuter"],
            "estimate": [0.097, -0.3],
            "new_effect": [0.0035, 0.01],
            "p_value": [0.96, 0.8],
            "passed": [True, True],
            "reading": ["mean placebo effect 0.003526 vs estimate 0.09714", "mean placebo effect 0.01"],
            "n_used": [job_rows, 1161],
            "simulations": [100, 100],
        }
    )


def review_tables(**kw) -> dict[str, pd.DataFrame]:
    unmatched = kw.get("unmatched", 2)
    excluded = kw.get("job_on_or_before", 6)
    job = (448, 266 - (excluded - 6))
    sites = {**CRISIS_SITES, "S07": (kw.get("site_treated", 3), 0)}
    return {
        "cohort/flow.csv": cohort_flow(),
        "cohort/outcome_flow.csv": outcome_flow(excluded),
        "match/flow.csv": match_flow(unmatched),
        "match/balance_summary.csv": balance_summary(unmatched),
        "estimates.csv": estimates(job=job, sites=sites),
        "refutations.csv": refutations(sum(job)),
    }


def run_publish(tmp_path, tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    paths = {}
    for name, frame in tables.items():
        paths[name] = tmp_path / "in" / name
        write_csv(frame, paths[name])
    log = publish(paths, tmp_path / "out", min_cell=MIN_CELL)
    out = {name: read_table(tmp_path / "out" / name) for name in tables}
    return out, log


# ---------------------------------------------------------------------------------------------------- oracle


def _published(frame: pd.DataFrame, mask, column: str) -> list[int]:
    return [int(v) for v in frame.loc[mask, column] if pd.notna(v)]


def recoverable(tables: dict[str, pd.DataFrame]) -> set[tuple[str, int]]:
    """Small positive counts an attacker gets by differencing published counts of the same clients.

    The attacks: the cohort's treated minus the matched treated (match/flow.csv, balance_summary.csv); along
    an outcome's flow, a published n_remaining minus a later one (or n_treated + n_control of a published
    whole-cohort estimate, the analysed clients) minus the published exclusions between, when an exclusion
    between is hidden; a whole-cohort or "equal effects" row minus the published rows of a subgroup column
    when one is hidden, and the whole-cohort row minus the "equal effects" row (not for PSM, which matches
    within each level); the treated of an estimate
    row minus the fewer treated of another row of the same outcome and subgroup (the unmatched of PSM).
    """
    found = set()
    mflow, summary = tables.get("match/flow.csv"), tables.get("match/balance_summary.csv")
    if mflow is not None and summary is not None:
        treated = _published(mflow, mflow["step"] == "treated clients in the cohort", "n_remaining")
        treated += _published(summary, (summary["adjustment"] == "unadjusted") & (summary["group"] == "treated"), "n")
        matched = _published(mflow, mflow["step"] == "matched treated clients", "n_remaining")
        matched += _published(summary, (summary["adjustment"] == "matched") & (summary["group"] == "treated"), "n")
        found |= {("cohort", a - b) for a in treated for b in matched if 0 < a - b < MIN_CELL}
    est = tables.get("estimates.csv")
    est = None if est is None else est.assign(subgroup=est["subgroup"].fillna(""))
    oflow = tables.get("cohort/outcome_flow.csv")
    if oflow is not None:
        for outcome, chain in oflow.groupby("outcome", sort=False):
            chain = chain.reset_index(drop=True)
            ends = list(chain["n_remaining"])
            if est is not None:
                whole = est[(est["outcome"] == outcome) & (est["subgroup"] == "")]
                analysed = (whole["n_treated"] + whole["n_control"]).dropna()
                ends += [analysed.iloc[0]] if len(analysed) else [np.nan]
            for i, a in enumerate(ends):
                for j in range(i + 1, len(ends)):
                    b = ends[j]
                    between = chain["n_excluded"].iloc[i + 1 : min(j, len(chain) - 1) + 1]
                    if pd.isna(a) or pd.isna(b) or not between.isna().any():
                        continue
                    value = int(a - b - between.dropna().sum())
                    if 0 < value < MIN_CELL:
                        found.add((outcome, value))
    if est is not None:
        for (outcome, method, estimand), rows in est.groupby(["outcome", "method", "estimand"]):
            if method == "psm":  # matched within each level: its counts need not add up to the whole's
                continue
            whole = rows[rows["subgroup"] == ""]
            levels = rows[rows["subgroup"].str.contains("=")]
            tests = rows[rows["subgroup"].str.endswith("equal effects")]
            for column in ("n_treated", "n_control"):
                shown, hidden = levels[column].dropna().sum(), levels[column].isna().sum()
                for total in [*whole[column].dropna(), *tests[column].dropna()]:
                    if hidden and 0 < total - shown < MIN_CELL:
                        found.add((outcome, int(total - shown)))
                for a in whole[column].dropna():
                    for b in tests[column].dropna():
                        if 0 < a - b < MIN_CELL:
                            found.add((outcome, int(a - b)))
        for (outcome, subgroup), rows in est.groupby(["outcome", "subgroup"]):
            shown = rows["n_treated"].dropna()
            if len(shown) and 0 < shown.max() - shown.min() < MIN_CELL:
                found.add((outcome, int(shown.max() - shown.min())))
    return found


# ---------------------------------------------------------------------------------------------------- cases


def as_reviewed() -> dict[str, pd.DataFrame]:
    """The review tables as the one-table-at-a-time check published them (the cells it hid, by hand)."""
    tables = {
        name: frame.astype({c: "float" for c in frame if c == "n" or c.startswith("n_")})
        for name, frame in review_tables().items()
    }
    tables["match/flow.csv"].loc[2, ["n_remaining", "n_excluded"]] = np.nan
    tables["match/flow.csv"].loc[3:4, "n_remaining"] = np.nan
    oflow = tables["cohort/outcome_flow.csv"]
    oflow.loc[3, "n_excluded"] = np.nan
    oflow.loc[3:6, "n_remaining"] = np.nan
    est = tables["estimates.csv"]
    est.loc[est["subgroup"] == "site=S07", ["n_treated", "n_control"]] = np.nan
    return tables


def test_the_oracle_finds_each_review_case_in_the_tables_as_reviewed():
    found = recoverable(as_reviewed())
    assert ("cohort", 2) in found  # 713 treated - 711 matched
    assert ("job_start", 6) in found  # 720 - (448 + 266)
    assert ("crisis_contacts", 3) in found  # 700 - 697 published site rows


def test_matched_count_does_not_reveal_the_suppressed_unmatched(tmp_path):
    # review: balance_summary.csv published 713 treated and 711 matched while match/flow.csv hid the 2
    out, log = run_publish(tmp_path, review_tables())
    assert pd.isna(out["match/flow.csv"].at[2, "n_excluded"])
    assert ("cohort", 2) not in recoverable(out)
    summary = out["match/balance_summary.csv"]
    matched = summary[summary["adjustment"] == "matched"]
    assert matched[["n", "sum_weights", "ess"]].isna().all().all()  # sum_weights and ess of the treated are 711
    rules = set(log.loc[log["table"] == "match/balance_summary.csv", "rule"])
    assert "cross_table_differencing" in rules


def test_outcome_flow_exclusion_is_not_recovered_from_the_estimates(tmp_path):
    # review: n_remaining before the step minus n_treated + n_control of the estimates gave the hidden 6
    out, log = run_publish(tmp_path, review_tables())
    flow = out["cohort/outcome_flow.csv"]
    assert pd.isna(flow.at[3, "n_excluded"])
    assert ("job_start", 6) not in recoverable(out)
    # the estimates keep their sample sizes: the flow's own cells make the difference go
    est = out["estimates.csv"]
    assert (
        est.loc[(est["outcome"] == "job_start") & (est["method"] == "naive"), ["n_treated", "n_control"]]
        .notna()
        .all(axis=None)
    )


def test_a_small_site_is_not_recovered_from_the_whole_cohort_rows(tmp_path):
    # review: whole-cohort rows minus the published site rows gave a site's 3 treated and 0 controls
    out, log = run_publish(tmp_path, review_tables())
    est = out["estimates.csv"]
    s07 = est[est["subgroup"] == "site=S07"]
    assert s07["n_treated"].isna().all()
    assert ("crisis_contacts", 3) not in recoverable(out)
    assert set(log["rule"]) >= {"primary_min_cell", "cross_table_differencing"}


def test_all_cases_together_leave_nothing_small_to_recover(tmp_path):
    out, _ = run_publish(tmp_path, review_tables())
    assert not {value for _, value in recoverable(out)}


def test_tables_without_small_counts_are_published_unchanged(tmp_path):
    tables = review_tables(unmatched=0, job_on_or_before=16)
    sites = {site: counts for site, counts in CRISIS_SITES.items() if site != "S07"}
    tables["estimates.csv"] = estimates(job=(448, 256), sites=sites)
    out, log = run_publish(tmp_path, tables)
    assert log.empty
    for name in tables:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "in" / name).read_bytes(), name


@pytest.mark.parametrize("unmatched", [1, 3, 9])
def test_a_psm_row_does_not_reveal_the_treated_it_left_unmatched(tmp_path, unmatched):
    tables = review_tables(unmatched=0)
    tables["estimates.csv"] = estimates(psm_job_treated=448 - unmatched)
    out, log = run_publish(tmp_path, tables)
    est = out["estimates.csv"]
    job = est[(est["outcome"] == "job_start") & (est["subgroup"] == "")]
    shown = set(job["n_treated"].dropna().astype(int))
    assert not any(0 < a - b < MIN_CELL for a in shown for b in shown)
    psm = job[job["method"] == "psm"].iloc[0]
    assert pd.isna(psm["n_treated"]) and pd.notna(psm["estimate"])  # the estimate itself stays
    assert f"{448 - unmatched} of 448" not in str(psm["notes"])


@pytest.mark.parametrize(
    "unmatched, excluded, site", [(1, 1, 1), (2, 9, 5), (9, 3, 9), (0, 4, 2), (5, 0, 8), (3, 12, 11), (12, 7, 4)]
)
def test_other_small_counts_leave_nothing_to_recover_and_the_same_bytes(tmp_path, unmatched, excluded, site):
    tables = review_tables(unmatched=unmatched, job_on_or_before=excluded, site_treated=site)
    out, log = run_publish(tmp_path / "a", tables)
    assert not recoverable(out)
    run_publish(tmp_path / "b", tables)
    for name in [*tables, "disclosure_log.csv"]:
        assert (tmp_path / "a" / "out" / name).read_bytes() == (tmp_path / "b" / "out" / name).read_bytes()
