"""Sensitivity measures: E-values, Rosenbaum bounds, robustness values, and the table.

Reference values and where they come from (each also written beside its assertion):

- E-values: VanderWeele and Ding (2017, Ann Intern Med 167:268), breastfeeding example, RR 3.9
  (95% CI 1.8 to 8.7) -> E-value 7.26, CI limit 3.0 (as quoted in the paper's text and in the
  episensr 0.9.3 blog post reproducing it: 7.263034); the R package EValue's vignette
  "unmeasured-confounding" (CRAN), ``evalues.RR(est = 10.73, lo = 8.02, hi = 14.36)`` ->
  E-values 20.94777 and 15.52336 (Hammond and Horn smoking example, printed output);
  rmorie's documented wrapper of EValue, RR 3.9 with lower limit 2.4 -> 7.263034 and 4.23303;
  EValue's help page for ``evalues.RR``: symmetry, ``evalues.RR(0.80)`` equals
  ``evalues.RR(1/0.80)``. The continuous-outcome conversion is checked against the formula of
  EValue's ``evalues.MD`` source: CI limits ``exp(0.91*d -/+ 1.78*se)``.
- Robustness value: sensemakr (R) tests/testthat/test-02-darfur.R, Darfur example, estimate
  0.09731582, se 0.02325654, dof 783 -> partial R2 0.02187309, RV_1 0.1387764,
  RV_{1,0.05} 0.07625797 (sensemakr's own tolerance 1e-5). The non-binding branch follows
  sensemakr's R/sensitivity_stats.R ``robustness_value.numeric``.
- Rosenbaum bounds: the lead example of Rosenbaum (2002, Observational Studies, ch. 4; data as
  printed in rbounds' ``psens`` help page). Published anchors found: the signed-rank statistic
  V = 499 (exact Wilcoxon output for these data in D. Small's Stat 921 Notes 16, Wharton).
  No published table of the Gamma bounds with its data could be retrieved through the search
  tool, so the bounds are checked (i) at Gamma = 1 against scipy's independent
  normal-approximation signed-rank test, (ii) against the formulas of rbounds' R/psens.R source
  (E = p+ sum q, V = p+(1-p+) sum q^2), and (iii) the sign test against scipy's exact binomial
  test; the values at Gamma = 2..5 recorded below are from that computation, not a publication.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from deepvalue.robustness.evalues import count_md_to_rr, evalue_ci, evalue_rr, md_to_rr, rd_to_rr
from deepvalue.robustness.rosenbaum import rosenbaum_gamma, sign_test_upper_p, signed_rank_upper_p
from deepvalue.robustness.sensitivity import SENSITIVITY_COLUMNS, partial_r2, robustness_value, sensitivity_table

# Lead example, Rosenbaum (2002) ch. 4; data as printed in rbounds' psens() help page.
LEAD_TRT = np.array(
    [
        38,
        23,
        41,
        18,
        37,
        36,
        23,
        62,
        31,
        34,
        24,
        14,
        21,
        17,
        16,
        20,
        15,
        10,
        45,
        39,
        22,
        35,
        49,
        48,
        44,
        35,
        43,
        39,
        34,
        13,
        73,
        25,
        27,
    ],
    dtype=float,
)
LEAD_CTRL = np.array(
    [
        16,
        18,
        18,
        24,
        19,
        11,
        10,
        15,
        16,
        18,
        18,
        13,
        19,
        10,
        16,
        16,
        24,
        13,
        9,
        14,
        21,
        19,
        7,
        18,
        19,
        12,
        11,
        22,
        25,
        16,
        13,
        11,
        13,
    ],
    dtype=float,
)


# ----------------------------------------------------------------------------- E-values


def test_evalue_vanderweele_ding_2017_breastfeeding():
    # VanderWeele & Ding 2017 Ann Intern Med: RR 3.9 (1.8, 8.7) -> 7.26 and 3.0 (2 decimals
    # in the paper; 7.263034 in episensr's reproduction). Tolerance 5e-7 / 0.005.
    assert evalue_rr(3.9) == pytest.approx(7.263034, abs=5e-7)
    assert evalue_ci(3.9, 1.8, 8.7) == pytest.approx(3.0, abs=0.005)


def test_evalue_package_vignette_hammond_horn():
    # EValue vignette "unmeasured-confounding": evalues.RR(10.73, 8.02, 14.36) prints
    # E-values 20.94777 (point) and 15.52336 (lower). Tolerance 5e-6 (printed to 7 digits).
    assert evalue_rr(10.73) == pytest.approx(20.94777, abs=5e-6)
    assert evalue_ci(10.73, 8.02, 14.36) == pytest.approx(15.52336, abs=5e-6)


def test_evalue_rmorie_documented_output():
    # rmorie::morie_e_value(rr = 3.9, rr_lower = 2.4) documented output (wrapper of EValue):
    # 7.263034 and 4.23303. Tolerance 5e-6.
    assert evalue_rr(2.4) == pytest.approx(4.23303, abs=5e-6)
    assert evalue_ci(3.9, 2.4, 6.0) == pytest.approx(4.23303, abs=5e-6)


def test_evalue_protective_and_null_crossing():
    # EValue help page for evalues.RR: "demonstrate symmetry of E-value",
    # evalues.RR(0.80) == evalues.RR(1/0.80). Exact up to rounding (1e-12).
    assert evalue_rr(0.80) == pytest.approx(evalue_rr(1 / 0.80), rel=1e-12)
    # Protective CI (0.71, 0.91): the limit nearest the null is the upper one (0.91).
    assert evalue_ci(0.80, 0.71, 0.91) == pytest.approx(evalue_rr(1 / 0.91), rel=1e-12)
    # A CI containing the null gives 1 (VanderWeele & Ding 2017, Box 1).
    assert evalue_ci(1.3, 0.9, 1.8) == 1.0
    assert evalue_rr(1.0) == 1.0
    assert math.isnan(evalue_rr(-1.0)) and math.isnan(evalue_rr(float("nan")))


def test_conversions():
    # RD -> RR at the control risk: (0.2 + 0.1)/0.2 = 1.5 exactly.
    assert rd_to_rr(0.1, 0.2) == pytest.approx(1.5, rel=1e-15)
    assert math.isnan(rd_to_rr(-0.3, 0.2))  # p0 + RD <= 0: no ratio
    # Count: (2 - 0.5)/2 = 0.75.
    assert count_md_to_rr(-0.5, 2.0) == pytest.approx(0.75, rel=1e-15)
    # Continuous: exp(0.91 d), d = MD/SD (VanderWeele 2017). A 95% CI limit d -/+ 1.96 se gives
    # exp(0.91 d -/+ 1.78 se) as in EValue's evalues.MD source (0.91*1.96 = 1.7836, so agree to
    # within exp(0.0036 se)); here d = 0.5, se = 0.1: tolerance 1e-3 relative.
    d, se = 0.5, 0.1
    assert md_to_rr(d * 10, 10.0) == pytest.approx(math.exp(0.455), rel=1e-12)
    assert md_to_rr((d - 1.96 * se) * 10, 10.0) == pytest.approx(math.exp(0.91 * d - 1.78 * se), rel=1e-3)


# ----------------------------------------------------------------------------- robustness value


def test_robustness_value_darfur_sensemakr():
    # sensemakr tests/testthat/test-02-darfur.R: estimate 0.09731582, se 0.02325654, dof 783
    # -> r2yd.x 0.02187309, rv_q 0.1387764, rv_qa 0.07625797 (sensemakr tolerance 1e-5;
    # ours 1e-6 absolute, the reference being printed to 7 significant digits).
    t = 0.09731582 / 0.02325654
    assert t == pytest.approx(4.18445, abs=1e-5)
    assert partial_r2(t, 783) == pytest.approx(0.02187309, abs=1e-6)
    assert robustness_value(t, 783) == pytest.approx(0.1387764, abs=1e-6)
    assert robustness_value(t, 783, alpha=0.05) == pytest.approx(0.07625797, abs=1e-6)
    # Sign of t does not matter (sensemakr test "darfur sensemakr but negative").
    assert robustness_value(-t, 783, alpha=0.05) == pytest.approx(0.07625797, abs=1e-6)


def test_robustness_value_branches():
    # Not significant: RV_{q,alpha} = 0 (sensemakr: fqa < 0 -> 0).
    assert robustness_value(1.0, 100, alpha=0.05) == 0.0
    # Non-binding case fq > 1/f*, sensemakr's (fq^2 - f*^2)/(1 + fq^2); t = 12, df = 10.
    fq = 12 / math.sqrt(10)
    fcrit = abs(stats.t.ppf(0.025, 9)) / 3.0
    assert fq > 1 / fcrit
    assert robustness_value(12, 10, alpha=0.05) == pytest.approx((fq**2 - fcrit**2) / (1 + fq**2), rel=1e-12)
    # RV_{q,alpha} < RV_q, and q = 1/2 needs a weaker confounder.
    assert robustness_value(4, 500, alpha=0.05) < robustness_value(4, 500)
    assert robustness_value(4, 500, q=0.5) < robustness_value(4, 500)


# ----------------------------------------------------------------------------- Rosenbaum bounds


def test_signed_rank_lead_gamma_one_matches_scipy():
    d = LEAD_TRT - LEAD_CTRL
    nz = d[d != 0]
    q = stats.rankdata(np.abs(nz))
    # Stat 921 Notes 16 (Wharton): exact Wilcoxon signed-rank on these data, V = 499.
    assert q[nz > 0].sum() == 499
    # Gamma = 1 is the ordinary normal-approximation test without continuity correction
    # (DOS::senWilcox help: agrees with wilcox.test(exact=FALSE, correct=FALSE)); scipy's
    # implementation is independent of ours. Tolerance 1e-12 relative.
    ref = stats.wilcoxon(d, zero_method="wilcox", correction=False, alternative="greater", method="approx").pvalue
    assert signed_rank_upper_p(d, 1.0) == pytest.approx(ref, rel=1e-9)


def test_signed_rank_lead_gamma_bounds_psens_formula():
    d = LEAD_TRT - LEAD_CTRL
    nz = d[d != 0]
    q = stats.rankdata(np.abs(nz))
    t = q[nz > 0].sum()
    for g in (2.0, 3.0, 4.0, 5.0):
        p = g / (1 + g)
        z = (t - p * q.sum()) / math.sqrt(p * (1 - p) * (q**2).sum())  # rbounds R/psens.R
        assert signed_rank_upper_p(d, g) == pytest.approx(stats.norm.sf(z), rel=1e-12)
    # Values from that computation (not a publication), 4 d.p. as psens prints them:
    # Gamma 2: 0.0018, 3: 0.0131, 4: 0.0367, 5: 0.0694.
    got = [round(signed_rank_upper_p(d, g), 4) for g in (2, 3, 4, 5)]
    assert got == [0.0018, 0.0131, 0.0367, 0.0694]
    # The threshold lies between 4 and 5 (p crosses 0.05 there); bisection to 0.01.
    g_star = rosenbaum_gamma(LEAD_TRT, LEAD_CTRL, "continuous")
    assert 4.0 < g_star < 5.0
    assert signed_rank_upper_p(d, g_star) > 0.05
    assert signed_rank_upper_p(d, g_star - 0.015) <= 0.05  # within the stated 0.01 (+ rounding)


def test_sign_test_smoking_counts_exact_binomial():
    # Rosenbaum (2002) p. 112 / rbounds binarysens(12, 110) help: 110 discordant pairs with the
    # event in the treated (smoker) member, 12 in the control. Upper bound = P(Bin(122, G/(1+G))
    # >= 110), checked against scipy's exact binomial test (independent code), rel 1e-9.
    for g in (1.0, 3.0, 5.0, 6.0):
        ref = stats.binomtest(110, 122, g / (1 + g), alternative="greater").pvalue
        assert sign_test_upper_p(110, 12, g) == pytest.approx(ref, rel=1e-9)
    # Gamma* from treated/control 0/1 vectors reproducing those counts (plus concordant pairs,
    # which do not enter the test).
    y1 = np.r_[np.ones(110), np.zeros(12), np.ones(30), np.zeros(40)]
    y0 = np.r_[np.zeros(110), np.ones(12), np.ones(30), np.zeros(40)]
    g_star = rosenbaum_gamma(y1, y0, "binary")
    assert sign_test_upper_p(110, 12, g_star) > 0.05
    assert sign_test_upper_p(110, 12, g_star - 0.015) <= 0.05
    assert 5.0 < g_star < 6.0


def test_rosenbaum_gamma_edge_cases():
    rng = np.random.default_rng(3)
    y0 = rng.normal(size=50)
    # No effect: not significant at Gamma = 1 -> 1.0.
    assert rosenbaum_gamma(y0[::-1], y0, "continuous") == 1.0
    # Huge effect beyond the search limit -> inf.
    assert rosenbaum_gamma(np.full(200, 1.0), np.zeros(200), "binary", gamma_max=5.0) == float("inf")
    # Direction: a negative effect is tested with alternative="less".
    d = LEAD_TRT - LEAD_CTRL
    assert rosenbaum_gamma(LEAD_CTRL, LEAD_TRT, alternative="less") == rosenbaum_gamma(LEAD_TRT, LEAD_CTRL)
    # Missing pairs dropped; all missing -> NaN.
    assert math.isnan(rosenbaum_gamma([np.nan], [1.0]))
    assert d.size == 33
    with pytest.raises(ValueError):
        rosenbaum_gamma([1.0, 2.0], [1.0])


# ----------------------------------------------------------------------------- table


@pytest.fixture
def tiny():
    # Cohort: 10 treated, 10 control. job_start control risk p0 = 0.2; income SDs hand-set;
    # crisis control mean m0 = 2.0.
    analysis = pd.DataFrame(
        {
            "client_id": [f"T{i}" for i in range(10)] + [f"C{i}" for i in range(10)],
            "treatment": [1] * 10 + [0] * 10,
            "job_start": [1, 1, 1, 1, 1, 0, 0, 0, 0, 0] + [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            "income_gain_gbp": [float(v) for v in range(10, 20)] + [float(v) for v in range(0, 10)],
            "crisis_contacts": [1] * 10 + [2] * 10,
        }
    )
    pairs = pd.DataFrame(
        {
            "subclass": range(10),
            "treated_id": [f"T{i}" for i in range(10)],
            "control_id": [f"C{i}" for i in range(9)] + ["C0"],
            "distance": 0.0,
        }
    )
    nan = float("nan")
    estimates = pd.DataFrame(
        [
            # outcome, subgroup, method, estimand, estimate, se, lo, hi, n1, n0, scale, notes
            ("job_start", nan, "regression", "ATT", 0.1, 0.02, 0.06, 0.14, 10, 10, "risk_difference", "r"),
            ("job_start", nan, "psm", "ATT", 0.3, 0.1, 0.1, 0.5, 10, 9, "risk_difference", "m"),
            ("job_start", "service=x", "regression", "ATT", 0.2, 0.05, 0.1, 0.3, 5, 5, "risk_difference", "sub"),
            ("income_gain_gbp", nan, "naive", "ATE", 10.0, 1.0, 8.04, 11.96, 10, 10, "mean_difference", "n"),
            ("crisis_contacts", nan, "iv", "LATE", -0.5, 0.4, -1.3, 0.3, 10, 10, "mean_difference", "iv"),
            ("crisis_contacts", nan, "aipw", "ATE", nan, nan, nan, nan, 10, 10, "mean_difference", "no overlap"),
        ],
        columns=[
            "outcome",
            "subgroup",
            "method",
            "estimand",
            "estimate",
            "std_error",
            "ci_lower",
            "ci_upper",
            "n_treated",
            "n_control",
            "scale",
            "notes",
        ],
    )
    types = {"job_start": "binary", "income_gain_gbp": "continuous", "crisis_contacts": "count"}
    return estimates, analysis, pairs, types


def test_sensitivity_table_tiny(tiny):
    estimates, analysis, pairs, types = tiny
    out = sensitivity_table(estimates, analysis, pairs, types)
    assert list(out.columns) == SENSITIVITY_COLUMNS
    key = out.set_index(["outcome", "method", "estimand", "measure"])["value"]
    assert not key.index.duplicated().any()
    assert "sub" not in " ".join(out["notes"])  # subgroup rows are left out
    # Regression ATT row: the baseline is the treated clients' counterfactual risk, treated mean
    # 0.5 minus the ATT 0.1 = 0.4 (not the raw control risk 0.2): RR = 0.5/0.4 = 1.25; CI limit
    # 0.06 -> 0.46/0.4 = 1.15 (hand computation).
    assert key["job_start", "regression", "ATT", "evalue_point"] == pytest.approx(
        1.25 + math.sqrt(1.25 * 0.25), rel=1e-12
    )
    assert key["job_start", "regression", "ATT", "evalue_ci"] == pytest.approx(1.15 + math.sqrt(1.15 * 0.15), rel=1e-12)
    assert "treated mean 0.5000 - ATT" in out.loc[out["method"] == "regression", "notes"].iloc[0]
    # t = 5, df = 10 + 10 - 2 = 18.
    assert key["job_start", "regression", "ATT", "rv_q1"] == pytest.approx(robustness_value(5.0, 18), rel=1e-12)
    assert key["job_start", "regression", "ATT", "rv_q1_alpha"] == pytest.approx(
        robustness_value(5.0, 18, alpha=0.05), rel=1e-12
    )
    # PSM row, by hand: pairs (T2,C2), (T3,C3), (T4,C4) have the event in the treated member
    # only; (T9,C0) in the control only (C0 reused by two pairs); a = 3, b = 1, so the upper
    # bound at Gamma = 1 is P(Bin(4, 1/2) >= 3) = 5/16 > 0.05 and Gamma* = 1.
    y = analysis.set_index("client_id")["job_start"]
    dd = pairs["treated_id"].map(y).to_numpy() - pairs["control_id"].map(y).to_numpy()
    g_ref = rosenbaum_gamma(pairs["treated_id"].map(y).to_numpy(), pairs["control_id"].map(y).to_numpy(), "binary")
    assert key["job_start", "psm", "ATT", "rosenbaum_gamma"] == g_ref
    assert (dd > 0).sum() == 3 and (dd < 0).sum() == 1
    assert sign_test_upper_p(3, 1, 1.0) == pytest.approx(5 / 16, rel=1e-12)
    assert key["job_start", "psm", "ATT", "rosenbaum_gamma"] == 1.0
    psm_note = out.loc[out["measure"] == "rosenbaum_gamma", "notes"].iloc[0]
    assert "not significant at Gamma = 1" in psm_note
    assert "2 pairs share their control" in psm_note
    # Continuous: pooled SD of 10..19 and 0..9 is sd(0..9) = sqrt(110/12); d = 10/SD.
    sd = float(np.std(np.arange(10), ddof=1))
    rr = math.exp(0.91 * 10 / sd)
    assert key["income_gain_gbp", "naive", "ATE", "evalue_point"] == pytest.approx(evalue_rr(rr), rel=1e-12)
    assert key["income_gain_gbp", "naive", "ATE", "evalue_ci"] == pytest.approx(
        evalue_rr(math.exp(0.91 * 8.04 / sd)), rel=1e-12
    )
    # Count IV row: rate ratio (2 - 0.5)/2 = 0.75; CI crosses 0 -> 1.
    assert key["crisis_contacts", "iv", "LATE", "evalue_point"] == pytest.approx(evalue_rr(0.75), rel=1e-12)
    assert key["crisis_contacts", "iv", "LATE", "evalue_ci"] == 1.0
    # No robustness value for non-regression rows, no Gamma without pairs methods.
    assert ("crisis_contacts", "iv", "LATE", "rv_q1") not in key.index
    # Missing estimate -> one note row.
    skipped = out[(out["method"] == "aipw")]
    assert list(skipped["measure"]) == ["skipped"] and "no overlap" in skipped["notes"].iloc[0]
    assert skipped["value"].isna().all()
    # Deterministic.
    pd.testing.assert_frame_equal(out, sensitivity_table(estimates, analysis, pairs, types))


def test_km_ipw_restricted_mean_row_is_skipped_and_its_risk_row_gets_the_evalue(tiny):
    """km_ipw writes two rows per estimand (the risk difference at the horizon and the restricted mean
    time to event difference in days) under one (outcome, method, estimand) key: only the risk row is put
    on the ratio scale; the days row gets one skipped row with the reason (the default run's bug: days
    were converted as a risk difference and gave NaN E-values)."""
    estimates, analysis, pairs, types = tiny
    km = pd.DataFrame(
        [
            (
                "job_start",
                float("nan"),
                "km_ipw",
                "ATT",
                0.1,
                0.02,
                0.06,
                0.14,
                10,
                10,
                "risk_difference_at_horizon",
                "k",
            ),
            ("job_start", float("nan"), "km_ipw", "ATT", -12.0, 2.0, -16.0, -8.0, 10, 10, "rmst_difference_days", "k"),
        ],
        columns=estimates.columns,
    )
    out = sensitivity_table(pd.concat([estimates, km], ignore_index=True), analysis, pairs, types)
    rows = out[out["method"] == "km_ipw"]
    assert list(rows["measure"]) == ["evalue_point", "evalue_ci", "skipped"]
    # the scale column tells the two rows of the one key apart
    assert list(rows["scale"]) == ["risk_difference_at_horizon"] * 2 + ["rmst_difference_days"]
    assert "restricted mean time to event" in rows["notes"].iloc[2] and rows["value"].iloc[2:].isna().all()
    # the risk row is converted exactly as the regression row of the same estimate (treated mean 0.5 - 0.1)
    reg = out[(out["method"] == "regression") & out["measure"].isin(["evalue_point", "evalue_ci"])]
    assert rows["value"].iloc[:2].tolist() == pytest.approx(reg["value"].tolist(), rel=1e-12)


def test_sensitivity_table_without_pairs_and_unknown_type(tiny):
    estimates, analysis, _, types = tiny
    out = sensitivity_table(estimates, analysis, None, {k: v for k, v in types.items() if k != "income_gain_gbp"})
    g = out[out["measure"] == "rosenbaum_gamma"]
    assert len(g) == 1 and g["value"].isna().all() and "no matched pairs" in g["notes"].iloc[0]
    inc = out[out["outcome"] == "income_gain_gbp"]
    assert list(inc["measure"]) == ["skipped"]


def _exact_signed_rank_upper_p(d: np.ndarray, gamma: float) -> float:
    """Independent reference: the exact upper-bound p-value by convolution.

    Under Rosenbaum's bounding distribution each pair's difference is positive with probability
    Gamma / (1 + Gamma), independently (Rosenbaum 2002, sec. 4.3.3), so T+ = sum of ranks of
    positive differences has an exact distribution computable by dynamic programming over the
    (doubled, hence integer) ranks. Written here without the module's code, to check its normal
    approximation for Gamma > 1 where no published table with its data was found.
    """
    from scipy.stats import rankdata

    d = d[d != 0]
    ranks = np.rint(2 * rankdata(np.abs(d))).astype(int)  # average ranks are multiples of 1/2
    t_obs = int(ranks[d > 0].sum())
    p = gamma / (1 + gamma)
    dist = np.zeros(ranks.sum() + 1)
    dist[0] = 1.0
    for r in ranks:
        dist = np.concatenate([dist[:r] * (1 - p), dist[r:] * (1 - p) + dist[:-r] * p]) if r else dist
    return float(dist[t_obs:].sum())


def test_exact_reference_reproduces_the_published_exact_p_value():
    # D. Small, Stat 921 Notes 16 (Wharton): exact Wilcoxon signed-rank test on the lead data,
    # V = 499, two-sided p-value 8.037e-07, i.e. one-sided 4.02e-07 (R: wilcox.exact(paired=TRUE))
    d = LEAD_TRT - LEAD_CTRL
    assert _exact_signed_rank_upper_p(d, 1.0) == pytest.approx(8.037e-07 / 2, rel=1e-3)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0, 4.0, 4.5, 5.0])
def test_signed_rank_bound_agrees_with_the_exact_bound(gamma):
    # the module's large-sample bound (rbounds psens formula, no continuity correction) against the
    # exact bound computed independently above: within 0.015 on the 33 lead pairs, and never below
    # it (the approximation is conservative here, so Gamma* is, if anything, understated:
    # exact Gamma* lies in (4.5, 5], the approximation's in (4, 4.5])
    d = LEAD_TRT - LEAD_CTRL
    exact = _exact_signed_rank_upper_p(d, gamma)
    approx = signed_rank_upper_p(d, gamma)
    assert abs(approx - exact) < 0.015 and approx >= exact


@pytest.mark.parametrize("gamma", [1.0, 1.5, 2.0, 3.0])
def test_sign_test_bound_equals_scipy_binomial_at_every_gamma(gamma):
    # independent implementation: scipy's exact binomial test with p = Gamma / (1 + Gamma)
    from scipy.stats import binomtest

    a, b = 110, 12  # discordant pairs of Rosenbaum (2002, p. 112) smoking example, as in rbounds binarysens
    expected = binomtest(a, a + b, p=gamma / (1 + gamma), alternative="greater").pvalue
    assert sign_test_upper_p(a, b, gamma) == pytest.approx(expected, rel=1e-9)


def test_ate_baseline_is_the_control_models_mean_over_everyone():
    """E[Y(0)] for an ATE: OLS of Y on X among the controls, averaged over all clients
    (statsmodels as the reference), not the raw control mean."""
    import statsmodels.api as sm

    from deepvalue.core.settings import Covariate
    from deepvalue.robustness.evalues import counterfactual_baseline

    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype(int)
    y = (rng.random(n) < 0.2 + 0.1 * (x > 0) + 0.1 * d).astype(float)
    frame = pd.DataFrame({"treatment": d, "y": y, "x": x, "service": "a", "site": "s", "start_quarter": "2024Q1"})
    base, note = counterfactual_baseline(frame, "y", "ATE", 0.1, [Covariate("x", "numeric")])
    fit = sm.OLS(y[d == 0], sm.add_constant(x[d == 0])).fit()
    assert base == pytest.approx(fit.predict(sm.add_constant(x)).mean(), rel=1e-10)
    assert base != pytest.approx(y[d == 0].mean(), rel=1e-3) and "control-arm linear model" in note
    # without covariates (or for a LATE) the raw control mean, said so
    raw, note = counterfactual_baseline(frame, "y", "LATE", 0.1)
    assert raw == pytest.approx(y[d == 0].mean()) and "raw control mean" in note


def test_robustness_value_uses_the_classical_ols_t_of_y_on_d_and_x():
    """Review item 10: Cinelli and Hazlett's formula is for the classical t of Y ~ D + X, not a
    robust t of the interacted model; statsmodels OLS is the reference."""
    import statsmodels.api as sm

    from deepvalue.core.settings import Covariate
    from deepvalue.robustness.sensitivity import classical_ols_t

    rng = np.random.default_rng(5)
    n = 300
    x = rng.normal(size=n)
    d = (rng.random(n) < 0.5).astype(int)
    y = 0.3 * d + x + rng.normal(size=n) * (1 + d)
    frame = pd.DataFrame(
        {
            "client_id": [f"c{i}" for i in range(n)],
            "treatment": d,
            "y": y,
            "x": x,
            "service": "a",
            "site": "s",
            "start_quarter": "2024Q1",
        }
    )
    t, df = classical_ols_t(frame, "y", "treatment", [Covariate("x", "numeric")])
    ref = sm.OLS(y, sm.add_constant(np.column_stack([d, x]))).fit()
    assert t == pytest.approx(ref.tvalues[1], rel=1e-10) and df == ref.df_resid
    est = pd.DataFrame(
        [
            {
                "outcome": "y",
                "subgroup": "",
                "method": "regression",
                "estimand": "ATE",
                "estimate": 0.3,
                "std_error": 0.5,
                "ci_lower": -0.68,
                "ci_upper": 1.28,
                "n_treated": int(d.sum()),
                "n_control": int(n - d.sum()),
                "scale": "mean_difference",
                "notes": "",
            }
        ]
    )
    out = sensitivity_table(est, frame, None, {"y": "continuous"}, covariates=[Covariate("x", "numeric")])
    rv = out.set_index("measure").loc["rv_q1"]
    assert rv["value"] == pytest.approx(robustness_value(ref.tvalues[1], ref.df_resid), rel=1e-10)
    assert "classical t of OLS of y on treatment" in rv["notes"]


def test_rosenbaum_size_at_gamma_one_under_the_null():
    """Review defect 2 (reduced Monte Carlo; the full study is in docs/validation.md): with no
    effect, 1:1 pairs without replacement and a two-sided test reject at Gamma = 1 about 5% of the
    time; pairs with replacement and a one-sided test in the estimate's direction do not."""
    from deepvalue.adjust.matching import match_nearest
    from deepvalue.core.settings import MatchingSettings
    from deepvalue.robustness.rosenbaum import rematched_pairs

    matching = MatchingSettings(caliper=0.2, exact=(), order="random")
    new, old = [], []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = 400
        x = rng.normal(size=n)
        logit = -0.8 + x
        d = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        y = x + rng.normal(size=n)  # no effect of d; confounded by x, which the score balances
        frame = pd.DataFrame({"client_id": [f"c{i}" for i in range(n)], "treatment": d, "y": y})
        scores = pd.DataFrame({"client_id": frame["client_id"], "logit": logit})
        y1, y0, _ = rematched_pairs(frame, "y", scores, matching, seed)
        side = "greater" if (y1 - y0).mean() >= 0 else "less"
        new.append(rosenbaum_gamma(y1, y0, "continuous", alpha=0.025, alternative=side) > 1)
        m = match_nearest(logit, d, caliper=0.2, ratio=1, replace=True, seed=seed)
        t, c = m.pairs["treated"].to_numpy(), m.pairs["control"].to_numpy()
        side = "greater" if (y[t] - y[c]).mean() >= 0 else "less"
        old.append(rosenbaum_gamma(y[t], y[c], "continuous", alpha=0.05, alternative=side) > 1)
    rate_new, rate_old = np.mean(new), np.mean(old)
    # 300 draws: the Monte Carlo SE of a 5% rate is 1.3 points
    assert 0.02 <= rate_new <= 0.08, rate_new
    assert rate_old > 0.1, rate_old


def test_evalues_only_on_scales_that_are_differences_of_the_outcome(tiny):
    """Rows on a scale that is not a difference of the outcome (a questionnaire's baseline SDs or share
    with a meaningful change, an unknown scale) get one skipped row with the reason; dose_levels' level
    contrasts (upc_0.5_vs_0.25, ...) are differences and are converted, each with its own scale."""
    estimates, analysis, pairs, types = tiny
    base = estimates[(estimates["outcome"] == "job_start") & (estimates["method"] == "regression")].iloc[[0]]
    extra = pd.concat(
        [
            base.assign(method="dose_levels", estimand="level_contrast", scale="upc_0.5_vs_0.25"),
            base.assign(method="dose_levels", estimand="level_contrast", scale="upc_1_vs_0.25", estimate=0.2),
            base.assign(method="other", scale="baseline_sd"),
            base.assign(method="other2", scale="share_meaningful_change"),
            base.assign(method="other3", scale="odds_ratio"),
        ],
        ignore_index=True,
    )
    out = sensitivity_table(pd.concat([estimates, extra], ignore_index=True), analysis, pairs, types)
    levels = out[out["method"] == "dose_levels"]
    assert list(levels["scale"]) == ["upc_0.5_vs_0.25"] * 2 + ["upc_1_vs_0.25"] * 2
    points = levels[levels["measure"] == "evalue_point"]["value"]
    assert points.notna().all() and points.iloc[1] > points.iloc[0] > 1.0  # a larger risk difference
    for method, words in (("other", "baseline SDs"), ("other2", "meaningful change"), ("other3", "'odds_ratio'")):
        rows = out[out["method"] == method]
        assert list(rows["measure"]) == ["skipped"] and words in rows["notes"].iloc[0], rows
