"""Natural direct and indirect effects of continuity through a mediator (issue 17, item 3).

Regression-based mediation with an exposure-mediator interaction (VanderWeele and Vansteelandt
2009, Statistics and Its Interface 2:457-468; Valeri and VanderWeele 2013, Psychological Methods
18:137-150), on the clients with the outcome, its baseline and the mediator measured:

.. math::
    M = \\beta_0 + \\beta_1 D + \\beta_2'(C - \\bar c) + e_M, \\qquad
    Y = \\theta_0 + \\theta_1 D + \\theta_2 M + \\theta_3 D M + \\theta_4'(C - \\bar c) + e_Y

with C the confounders of the other estimators (:func:`deepvalue.adjust.design.covariate_design`:
covariates, service, site, start quarter) and, for a questionnaire outcome, its baseline score
(the ANCOVA of :mod:`deepvalue.effects.questionnaire`), in *both* models: the formulas assume the
same C removes the exposure-outcome, exposure-mediator and mediator-outcome confounding. For
continuity (D = 1) against fragmented service (D = 0), at the covariates :math:`\\bar c`:

.. math::
    NDE = \\theta_1 + \\theta_3 \\beta_0, \\qquad NIE = (\\theta_2 + \\theta_3) \\beta_1, \\qquad
    TE = NDE + NIE, \\qquad PM = NIE / TE

(:math:`\\beta_0 = E[M | D=0, \\bar c]` because C is centred), with :math:`\\bar c` the mean over the
analysed clients (``ATE``) or over the analysed treated (``ATT``). By default (``by_covariate``) both
models also carry the terms :math:`D (C - \\bar c)`, as Lin's regression does, so the effects may vary
with C and are g-computation averages over the target population; with C centred the formulas above
stay as they are (:math:`\\theta_1`, :math:`\\beta_0` and :math:`\\beta_1` are then the effects at
:math:`\\bar c`), and the influence functions below gain the terms of the D x C coefficients
(:math:`(\\theta_5 + \\theta_3\\beta_2)'(C_i - \\bar c) w_i` for NDE,
:math:`(\\theta_2 + \\theta_3)\\beta_3'(C_i - \\bar c) w_i` for NIE).

These are the population natural effects E[Y(1, M(0)) - Y(0, M(0))] and
E[Y(1, M(1)) - Y(1, M(0))] of truth.json's ``natural_direct_effect_with_mediator`` and
``natural_indirect_effect_with_mediator`` (``ate`` and ``att``): the analysed clients are those
with the mediator measured.

Inference. Each model is OLS; its coefficients' influence functions
:math:`n (X'X)^{-1} x_i e_i` are stacked with the centring mean's
(:math:`w_i (C_i - \\bar c)`, :math:`w = 1` or :math:`D/\\bar D`), and the effects' influence
functions follow by the delta method:

.. math::
    \\psi^{NDE} = \\psi^{\\theta_1} + \\beta_0 \\psi^{\\theta_3} + \\theta_3 \\psi^{\\beta_0}
                 + \\theta_3 \\beta_2'(C_i - \\bar c) w_i, \\qquad
    \\psi^{NIE} = \\beta_1 (\\psi^{\\theta_2} + \\psi^{\\theta_3}) + (\\theta_2 + \\theta_3) \\psi^{\\beta_1}

:math:`\\psi^{PM} = (\\psi^{NIE} - PM\\,\\psi^{TE}) / TE`. Variances are
:math:`\\frac{G}{G-1}\\sum_g (\\sum_{i \\in g}\\psi_i)^2 / n^2`, clustered by the allocated worker as
the other influence-function estimators (:func:`deepvalue.effects.base._variance_of_mean`);
normal 95% intervals. The stage (:func:`run_mediation`) uses instead the delete-one-cluster jackknife (both
models and the covariate means refitted without each worker's clients, by downdating the Gram matrices) with
t(G - 1) intervals (the jackknife variance has G - 1 degrees of freedom, as Stata's ``jackknife`` and the
CR2 rows of estimates.csv use), 6-7% wider and closer to the estimates' spread over synthetic extracts
(docs/validation.md, Mediation). The delta method for NIE, a product, is the Sobel-type interval of Valeri
and VanderWeele. Both are tested (tests/unit/test_mediation.py): the sandwich against the stacked
M-estimation sandwich written out by hand, the jackknife against refitting without each cluster. The
proportion mediated is a ratio: when the total effect's interval includes 0 its row says the proportion is
not interpretable (its delta-method interval is then meaningless).

Identification needs, besides no unmeasured exposure-outcome and exposure-mediator confounding,
no unmeasured mediator-outcome confounding and no mediator-outcome confounder affected by the
exposure. The last two are not testable: :func:`mediation_sensitivity` gives the bias of an
unmeasured mediator-outcome confounder (docs/design.md, Mediation).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Literal, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from deepvalue.adjust.design import STRUCTURAL, covariate_design
from deepvalue.core.errors import AnalysisError
from deepvalue.core.settings import Covariate, NotGiven, Questionnaire, Settings
from deepvalue.effects.base import (
    CLUSTER_NAME,
    ArrayLike,
    FloatArray,
    _check_clusters,
    _design,
    _prune,
    _sample,
    _variance_of_mean,
    _wald,
)

log = logging.getLogger("deepvalue")

MediationEstimand = Literal["ATE", "ATT"]
SEMethod = Literal["sandwich", "jackknife"]
EFFECTS = ("total", "natural_direct", "natural_indirect", "proportion_mediated")
MEDIATION_COLUMNS = (
    "outcome",
    "mediator",
    "effect",
    "estimand",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
    "n_treated",
    "n_control",
    "notes",
)
SENSITIVITY_COLUMNS = (
    "outcome",
    "mediator",
    "effect",
    "estimand",
    "delta",
    "gamma",
    "bias",
    "estimate",
    "estimate_corrected",
    "ci_lower_corrected",
    "ci_upper_corrected",
    "notes",
)
#: the grid of the sensitivity table: gamma (the confounder's effect on the outcome) in outcome SDs
#: and delta (its prevalence difference between the arms given the mediator and covariates)
GAMMA_SD = (0.1, 0.25, 0.5)
DELTA = (0.1, 0.2, 0.3, 0.5)


@dataclasses.dataclass(frozen=True)
class MediationRow:
    """One row of ``results/mediation.csv``."""

    outcome: str
    mediator: str
    effect: str
    estimand: str
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    n_treated: int
    n_control: int
    notes: str = ""


@dataclasses.dataclass(frozen=True)
class MediationFit:
    """The effects of one outcome and estimand, their influence functions and the fitted pieces."""

    rows: tuple[MediationRow, ...]
    psi: dict[str, FloatArray]  # the sandwich's influence functions (mean scale), whatever ``se`` the rows use
    theta: FloatArray  # theta_1, theta_2, theta_3
    beta: FloatArray  # beta_0, beta_1
    outcome_sd: float  # residual SD of the outcome model (the sensitivity grid's unit)

    def row(self, effect: str) -> MediationRow:
        return next(r for r in self.rows if r.effect == effect)


def _ols_pieces(
    y: FloatArray, M: FloatArray, wanted: Sequence[int]
) -> tuple[FloatArray, npt.NDArray[np.bool_], FloatArray, FloatArray]:
    """OLS of ``y`` on the columns of ``M`` (collinear ones dropped): all coefficients (0 where dropped),
    the kept mask, the residuals and, for the ``wanted`` columns (which must be kept), the
    influence functions ``n [(M'M)^{-1} M_i]_j e_i`` (n x len(wanted))."""
    Mk, gram, keep = _prune(M)
    for j in wanted:
        if not keep[j]:
            raise ValueError(j)
    norms = np.sqrt(np.diag(gram))
    pos = np.cumsum(keep) - 1
    units = np.zeros((gram.shape[0], len(wanted)))
    for c, j in enumerate(wanted):
        units[pos[j], c] = 1.0
    rhs = np.column_stack([(y @ Mk) / norms, units / norms[:, None]])
    sol = np.linalg.solve(gram / np.outer(norms, norms), rhs) / norms[:, None]
    coef = np.zeros(keep.size)
    coef[keep] = sol[:, 0]
    resid = y - Mk @ sol[:, 0]
    psi = y.size * (Mk @ sol[:, 1:]) * resid[:, None]
    return coef, keep, resid, psi


def _effects_of(b: FloatArray, t: FloatArray, cbar: FloatArray, p: int, interaction: bool, by_covariate: bool):
    """NDE, NIE of the *uncentred* fits (coefficients in design order, 0 where dropped) at covariates ``cbar``:
    NDE = theta_1 + theta_3 (beta_0 + beta_2'c) + theta_5'c, NIE = (theta_2 + theta_3)(beta_1 + beta_3'c)."""
    beta3 = b[2 + p : 2 + 2 * p] if by_covariate else 0.0 * cbar
    theta3 = t[3] if interaction else 0.0
    at = 4 if interaction else 3
    theta5 = t[at + p : at + 2 * p] if by_covariate else 0.0 * cbar
    nde = t[1] + theta3 * (b[0] + b[2 : 2 + p] @ cbar) + theta5 @ cbar
    nie = (t[2] + theta3) * (b[1] + beta3 @ cbar)
    return float(nde), float(nie)


def _solve(gram: FloatArray, rhs: FloatArray) -> FloatArray:
    """Least squares from a Gram matrix, with unit-norm columns; a column the deleted cluster emptied gets 0."""
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    safe = np.where(norms > 0, norms, 1.0)
    sol = np.linalg.lstsq(gram / np.outer(safe, safe), rhs / safe, rcond=None)[0] / safe
    return np.where(norms > 0, sol, 0.0)


def _cluster_jackknife(mv, y, d, x, codes, target, interaction: bool, by_covariate: bool) -> dict[str, FloatArray]:
    """The effects refitted without each cluster in turn (both regressions and the covariate mean): per effect
    the G delete-one-cluster estimates. The Gram matrices are downdated, so a refit costs one small solve."""
    p = x.shape[1]
    dx = x * d[:, None]
    Mm = _design(1.0, d, x, dx) if by_covariate else _design(1.0, d, x)
    blocks: list = [1.0, d, mv] + ([d * mv] if interaction else []) + [x] + ([dx] if by_covariate else [])
    Wy = _design(*blocks)
    Mk, gram_m, keep_m = _prune(Mm)
    Wk, gram_w, keep_w = _prune(Wy)
    rhs_m, rhs_w = Mk.T @ mv, Wk.T @ y
    tx, tn = (x * target[:, None]).sum(axis=0), target.sum()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(int(codes.max()) + 2))
    out: dict[str, list[float]] = {"natural_direct": [], "natural_indirect": []}
    b, t = np.zeros(keep_m.size), np.zeros(keep_w.size)
    for g in range(bounds.size - 1):
        rows = order[bounds[g] : bounds[g + 1]]
        mg, wg = Mk[rows], Wk[rows]
        b[keep_m] = _solve(gram_m - mg.T @ mg, rhs_m - mg.T @ mv[rows])
        t[keep_w] = _solve(gram_w - wg.T @ wg, rhs_w - wg.T @ y[rows])
        left = tn - target[rows].sum()
        cbar = (tx - (x[rows] * target[rows, None]).sum(axis=0)) / left if left > 0 else tx / tn
        nde, nie = _effects_of(b, t, cbar, p, interaction, by_covariate)
        out["natural_direct"].append(nde)
        out["natural_indirect"].append(nie)
    res = {k: np.asarray(v) for k, v in out.items()}
    res["total"] = res["natural_direct"] + res["natural_indirect"]
    with np.errstate(divide="ignore", invalid="ignore"):
        res["proportion_mediated"] = res["natural_indirect"] / res["total"]
    return res


def _jackknife_se(values: FloatArray) -> float:
    g = values.size
    return float(math.sqrt((g - 1) / g * np.sum((values - values.mean()) ** 2)))


def natural_effects(
    y: ArrayLike,
    d: ArrayLike,
    m: ArrayLike,
    X: pd.DataFrame | FloatArray,
    cluster: ArrayLike | None,
    estimand: MediationEstimand = "ATE",
    *,
    interaction: bool = True,
    by_covariate: bool = True,
    se: SEMethod = "sandwich",
    outcome: str | None = None,
    mediator: str = "",
    notes: Sequence[str] = (),
) -> MediationFit:
    """Natural direct, indirect and total effects and the proportion mediated (module docstring).

    Parameters
    ----------
    y, d, m
        Outcome, treatment (0/1) and mediator per client; rows with a missing outcome or mediator
        are dropped (counted in the notes).
    X
        The confounders (no intercept), the same in both models.
    cluster
        Cluster ids (the allocated worker), or None for HC0 influence-function SEs.
    estimand
        ``ATE``: NDE at the covariates' mean over the analysed clients; ``ATT``: over the treated.
    interaction
        Whether the outcome model has the D x M term (False: the product-of-coefficients method,
        NDE = theta_1, NIE = theta_2 beta_1).
    by_covariate
        Whether both models have D x C terms (centred C, as Lin's regression): the effects are then
        g-computation averages over the target population, allowing effects that vary with C.
    se
        ``sandwich``: the delta method on the stacked influence functions (clustered when ``cluster``
        is given); ``jackknife``: the delete-one-cluster jackknife (needs ``cluster``; the stage's choice,
        since the sandwich was 7-9% short for the indirect effect over 200 synthetic extracts).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 2000; x = rng.normal(size=(n, 1)); d = (rng.random(n) < 0.5).astype(float)
    >>> m = 1 + 0.5 * d + x[:, 0] + rng.normal(size=n)
    >>> y = 0.3 * d + 0.4 * m + 0.2 * d * m + x[:, 0] + rng.normal(size=n)
    >>> fit = natural_effects(y, d, m, x, None)
    >>> round(fit.row("natural_indirect").estimate, 2)  # (0.4 + 0.2) * 0.5 = 0.3
    0.31
    """
    if estimand not in ("ATE", "ATT"):
        raise ValueError(f"estimand must be 'ATE' or 'ATT', got {estimand!r}")
    if se not in ("sandwich", "jackknife"):
        raise ValueError(f"se must be 'sandwich' or 'jackknife', got {se!r}")
    se_method = se
    mm = np.asarray(m, dtype=float)
    s = _sample(y, d, "mediation", outcome, "", extra_keep=~np.isnan(mm), extra_reason="with the mediator not measured")
    mv = mm[s.keep]
    x = s.take(X, "X")
    if x.ndim == 1:
        x = x[:, None]
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    n = s.y.size
    w = s.d / s.d.mean() if estimand == "ATT" else np.ones(n)
    centre = (w[:, None] * x).mean(axis=0)
    xc = x - centre
    p = xc.shape[1]
    dxc = xc * s.d[:, None]
    # mediator model: [1, D, C - c (, D (C - c))]
    m_blocks = (1.0, s.d, xc, dxc) if by_covariate else (1.0, s.d, xc)
    try:
        b, b_keep, _, psi_b = _ols_pieces(mv, _design(*m_blocks), (0, 1))
    except ValueError:
        raise s.error("treatment", "is collinear with the confounders in the mediator model", _OVERLAP) from None
    beta0, beta1 = b[0], b[1]
    beta2 = b[2 : 2 + p]
    beta3 = b[2 + p :] if by_covariate else np.zeros(p)
    # outcome model: [1, D, M (, D M), C - c (, D (C - c))]
    y_blocks: list = [1.0, s.d, mv] + ([s.d * mv] if interaction else []) + [xc] + ([dxc] if by_covariate else [])
    wanted = (1, 2, 3) if interaction else (1, 2)
    try:
        t, t_keep, resid_y, psi_t = _ols_pieces(s.y, _design(*y_blocks), wanted)
    except ValueError:
        raise s.error(
            "mediator", "is collinear with the treatment or the confounders in the outcome model", _OVERLAP
        ) from None
    theta1, theta2 = t[1], t[2]
    theta3 = t[3] if interaction else 0.0
    at = 4 if interaction else 3
    theta5 = t[at + p :] if by_covariate else np.zeros(p)
    zero = np.zeros(n)
    psi_t1, psi_t2 = psi_t[:, 0], psi_t[:, 1]
    psi_t3 = psi_t[:, 2] if interaction else zero
    # the effects' dependence on c-bar: beta_0 moves by beta_2'dc, beta_1 by beta_3'dc, theta_1 by theta_5'dc
    centring_nde = (xc @ (theta5 + theta3 * beta2)) * w
    centring_nie = (theta2 + theta3) * (xc @ beta3) * w
    nde = theta1 + theta3 * beta0
    nie = (theta2 + theta3) * beta1
    te = nde + nie
    psi = {
        "natural_direct": psi_t1 + beta0 * psi_t3 + theta3 * psi_b[:, 0] + centring_nde,
        "natural_indirect": beta1 * (psi_t2 + psi_t3) + (theta2 + theta3) * psi_b[:, 1] + centring_nie,
    }
    psi["total"] = psi["natural_direct"] + psi["natural_indirect"]
    est = {"total": te, "natural_direct": nde, "natural_indirect": nie}
    if te != 0:
        est["proportion_mediated"] = nie / te
        psi["proportion_mediated"] = (psi["natural_indirect"] - nie / te * psi["total"]) / te
    se = {k: math.sqrt(_variance_of_mean(psi[k], codes)) for k in psi}
    df = None  # normal intervals for the sandwich; t(G - 1) for the cluster jackknife (G - 1 df)
    if se_method == "jackknife" and codes is not None:
        target = s.d if estimand == "ATT" else np.ones(n)
        jack = _cluster_jackknife(mv, s.y, s.d, x, codes, target, interaction, by_covariate)
        se = {k: _jackknife_se(jack[k]) for k in se}
        df = int(codes.max())
    common = [
        *s.notes,
        *notes,
        "regression-based natural effects (VanderWeele and Vansteelandt 2009)"
        + (" with the exposure-mediator interaction" if interaction else ", no exposure-mediator interaction"),
        f"covariates at the {'treated' if estimand == 'ATT' else 'analysed clients'}' means",
        _se_note(codes, se_method),
    ]
    if by_covariate:
        common.append("both models with treatment x covariate terms (effects may vary with the covariates)")
    dropped = int((~b_keep).sum() + (~t_keep).sum())
    if dropped:
        common.append(f"{dropped} collinear columns dropped")
    rows = []
    for effect in EFFECTS:
        extra: list[str] = []
        if effect not in est:
            rows.append(_skipped_row(s.outcome, mediator, effect, estimand, "the total effect is exactly 0", s))
            continue
        if effect == "proportion_mediated":
            te_low, te_high, _ = _wald(te, se["total"], df)
            extra.append("NIE / total, delta-method SE")
            if te_low <= 0 <= te_high:
                extra.append("not interpretable: the total effect's 95% CI includes 0, so the ratio is unstable")
        lower, upper, p = _wald(est[effect], se[effect], df)
        rows.append(
            MediationRow(
                s.outcome,
                mediator,
                effect,
                estimand,
                float(est[effect]),
                se[effect],
                lower,
                upper,
                p,
                s.n_treated,
                s.n_control,
                "; ".join([*common, *extra]),
            )
        )
    outcome_sd = float(math.sqrt(resid_y @ resid_y / max(n - int(t_keep.sum()), 1)))
    return MediationFit(tuple(rows), psi, np.array([theta1, theta2, theta3]), np.array([beta0, beta1]), outcome_sd)


_OVERLAP = "the treated and control groups must overlap in the confounders, and the mediator must vary"


def _se_note(codes: npt.NDArray[np.int64] | None, method: str = "sandwich") -> str:
    what = "delta method on the stacked influence functions of both models and the covariate means"
    if codes is not None and method == "jackknife":
        return (
            f"SE: delete-one-cluster jackknife by {CLUSTER_NAME} ({int(codes.max()) + 1} clusters; both models "
            f"and the covariate means refitted), t({int(codes.max())}) intervals"
        )
    if codes is None:
        return f"SE: {what} (robust, HC0)"
    return f"SE: {what}, cluster-robust by {CLUSTER_NAME} ({int(codes.max()) + 1} clusters)"


def _skipped_row(outcome, mediator, effect, estimand, reason, sample=None, n_treated=0, n_control=0) -> MediationRow:
    nan = float("nan")
    n_t = sample.n_treated if sample is not None else int(n_treated)
    n_c = sample.n_control if sample is not None else int(n_control)
    return MediationRow(outcome, mediator, effect, estimand, nan, nan, nan, nan, nan, n_t, n_c, f"skipped: {reason}")


def mediation_frame(rows: Sequence[MediationRow]) -> pd.DataFrame:
    """The rows as the ``results/mediation.csv`` table (columns :data:`MEDIATION_COLUMNS`)."""
    frame = pd.DataFrame([dataclasses.asdict(r) for r in rows], columns=list(MEDIATION_COLUMNS))
    types = {c: float for c in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")}
    types |= {"n_treated": "int64", "n_control": "int64"}
    types |= {c: str for c in ("outcome", "mediator", "effect", "estimand", "notes")}
    return frame.astype(types)


# ----------------------------------------------------------------------------------------------
# sensitivity to an unmeasured mediator-outcome confounder
# ----------------------------------------------------------------------------------------------


def mediation_sensitivity(
    fit: MediationFit, gammas: Sequence[float] | None = None, deltas: Sequence[float] = DELTA
) -> list[dict]:
    """The natural effects corrected for an unmeasured binary mediator-outcome confounder U.

    VanderWeele's (2010) bias formula, under his simplifying assumptions (U's effect on the
    outcome, gamma, the same in both arms and at every mediator level; the difference in U's
    prevalence between the arms given the mediator and covariates, delta, the same at every
    mediator level): the natural direct effect is biased by ``gamma x delta`` and, as the total
    effect is not biased, the natural indirect effect by ``-gamma x delta``. So the corrected
    NIE = NIE + gamma x delta, and its interval is the estimated one shifted by the same amount
    (the bias parameters are taken as known). Positive gamma x delta (U raises the outcome and is
    more common among the continuous clients at a given alliance) means the estimated NIE is too
    small. ``gammas`` default to 0.1, 0.25 and 0.5 residual SDs of the outcome model. Rows also
    give the smallest gamma x delta that moves the NIE's interval to include 0
    (``delta = gamma = NaN``, ``bias`` that product).
    """
    nie = fit.row("natural_indirect")
    if not np.isfinite(nie.estimate):
        return []
    gammas = [g * fit.outcome_sd for g in GAMMA_SD] if gammas is None else list(gammas)
    out = []
    base = dict(outcome=nie.outcome, mediator=nie.mediator, effect="natural_indirect", estimand=nie.estimand)
    for gamma in gammas:
        for delta in deltas:
            # the NIE is biased by -gamma * delta: an estimate larger than the truth when U raises
            # the outcome and is more common among the treated (the estimated direct effect carries it)
            bias = -gamma * delta
            out.append(
                {
                    **base,
                    "delta": float(delta),
                    "gamma": float(gamma),
                    "bias": bias,
                    "estimate": nie.estimate,
                    "estimate_corrected": nie.estimate - bias,
                    "ci_lower_corrected": nie.ci_lower - bias,
                    "ci_upper_corrected": nie.ci_upper - bias,
                    "notes": f"gamma = {gamma / fit.outcome_sd:.2g} residual SD of the outcome model; "
                    "VanderWeele (2010) bias formula, binary U",
                }
            )
    # the product gamma x delta that would bring the interval's nearer limit to 0
    if nie.ci_lower > 0:
        need = nie.ci_lower
        what = "gamma x delta (U raising the outcome, more common among the fragmented) that moves the lower limit to 0"
    elif nie.ci_upper < 0:
        need = -nie.ci_upper
        what = "gamma x delta that moves the upper limit to 0"
    else:
        need, what = 0.0, "the NIE's interval already includes 0"
    nan = float("nan")
    out.append(
        {
            **base,
            "delta": nan,
            "gamma": nan,
            "bias": float(need),
            "estimate": nie.estimate,
            "estimate_corrected": nie.estimate - need if nie.ci_lower > 0 else nie.estimate + need,
            "ci_lower_corrected": nie.ci_lower - need if nie.ci_lower > 0 else nie.ci_lower + need,
            "ci_upper_corrected": nie.ci_upper - need if nie.ci_lower > 0 else nie.ci_upper + need,
            "notes": f"explain-away: {what}; in residual SDs of the outcome: {need / fit.outcome_sd:.3g}",
        }
    )
    return out


def sensitivity_frame(rows: Sequence[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(SENSITIVITY_COLUMNS))
    numeric = ("delta", "gamma", "bias", "estimate", "estimate_corrected", "ci_lower_corrected", "ci_upper_corrected")
    return frame.astype({**{c: float for c in numeric}, **{c: str for c in SENSITIVITY_COLUMNS if c not in numeric}})


# ----------------------------------------------------------------------------------------------
# the stage: every questionnaire outcome through the configured mediator
# ----------------------------------------------------------------------------------------------


def configured_mediator(settings: Settings) -> tuple[Questionnaire | None, str]:
    """The ``questionnaires`` entry named by ``mediation.mediator``, or None with the reason."""
    mediation = settings.mediation
    if isinstance(mediation, NotGiven) or mediation is None or mediation.mediator is None:
        return None, "no mediator is configured (mediation.mediator)"
    for q in settings.questionnaires:
        if q.name == mediation.mediator and q.role == "mediator":
            return q, ""
    return None, f"mediation.mediator {mediation.mediator!r} is not a questionnaires entry with role: mediator"


def run_mediation(
    analysis: pd.DataFrame, settings: Settings, cluster_column: str | None = "first_worker"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``results/mediation.csv`` and ``results/mediation_sensitivity.csv`` of a cohort.

    Every questionnaire outcome (its follow-up score ``name``, baseline ``name_baseline``) through
    the configured mediator, ATE and ATT. Always a table: a row per effect skipped with the reason
    when no mediator is configured, the columns are missing, or there are too few clients
    (``estimation.min_rows_per_parameter`` per parameter of the outcome model).
    """
    from deepvalue.effects.questionnaire import baseline_column, questionnaire_outcomes
    from deepvalue.effects.table import _cluster_codes, too_few_rows
    from deepvalue.questionnaires.instruments import INSTRUMENTS

    spec, reason = configured_mediator(settings)
    outcomes = questionnaire_outcomes(settings) if spec is not None else ()
    rows: list[MediationRow] = []
    sens: list[dict] = []
    name = "" if spec is None else spec.name

    def skip_all(outcome: str, why: str, n_t: int = 0, n_c: int = 0) -> None:
        log.warning("mediation%s: not estimated: %s", f" of {outcome}" if outcome else "", why)
        for estimand in ("ATE", "ATT"):
            rows.extend(_skipped_row(outcome, name, e, estimand, why, n_treated=n_t, n_control=n_c) for e in EFFECTS)

    if spec is None:
        skip_all("", reason)
    elif not outcomes:
        skip_all("", "no questionnaire outcome (role: outcome) to mediate")
    for q in outcomes:
        base = baseline_column(q)
        if q.name not in analysis or base not in analysis or name not in analysis:
            skip_all(q.name, f"the analysis table has no {q.name}, {base} or {name} column; rebuild the cohort")
            continue
        inst = INSTRUMENTS[q.instrument]
        measured = analysis[q.name].notna() & analysis[base].notna() & analysis[name].notna()
        rows_q = analysis.loc[measured].reset_index(drop=True)
        d = rows_q["treatment"].to_numpy(dtype=float)
        n_t, n_c = int((d == 1).sum()), int((d == 0).sum())
        adjusted = dataclasses.replace(settings, covariates=tuple(settings.covariates) + (Covariate(base, "numeric"),))
        X = covariate_design(rows_q, adjusted.covariates, structural=STRUCTURAL).X
        few = too_few_rows(
            len(rows_q),
            4 + 2 * X.shape[1],
            settings.estimation.min_rows_per_parameter,
            "with the outcome, its baseline and the mediator measured",
        )
        if few or min(n_t, n_c) < 2:
            skip_all(
                q.name,
                few
                or f"{n_t} continuous and {n_c} fragmented clients with the outcome, its baseline and the mediator "
                "measured (at least 2 of each)",
                n_t,
                n_c,
            )
            continue
        y = inst.direction * rows_q[q.name].to_numpy(dtype=float)
        cluster = _cluster_codes(rows_q[cluster_column]) if cluster_column else None
        sign = (
            "" if inst.higher_is_better else "; the outcome's sign reversed so that a positive effect is an improvement"
        )
        note = (
            f"{name} measured within {spec.measured_within_days} days after the index date; {base} among the "
            f"confounders of both models{sign}"
        )
        for estimand in ("ATE", "ATT"):
            try:
                fit = natural_effects(
                    y,
                    d,
                    rows_q[name].to_numpy(dtype=float),
                    X,
                    cluster,
                    estimand,
                    se="jackknife",
                    outcome=q.name,
                    mediator=name,
                    notes=[note],
                )
            except AnalysisError as exc:
                why = "; ".join(p.message for p in exc.problems)
                log.warning("mediation of %s %s: not estimated: %s", q.name, estimand, why)
                rows.extend(_skipped_row(q.name, name, e, estimand, why, n_treated=n_t, n_control=n_c) for e in EFFECTS)
                continue
            rows.extend(fit.rows)
            sens.extend(mediation_sensitivity(fit))
    return mediation_frame(rows), sensitivity_frame(sens)
