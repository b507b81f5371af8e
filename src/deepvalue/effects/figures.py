"""The forest plot of every whole-cohort estimate with its 95% CI (and the synthetic truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.core.plotting import plt, save_figure

ESTIMAND_COLOURS = {"ATT": "#c44e52", "ATE": "#4c72b0", "ATO": "#55a868", "LATE": "#8172b2", "ITT": "#937860"}


def plot_forest(estimates: pd.DataFrame, path: str | Path, truth: dict | None = None) -> None:
    """Forest plot: one panel per outcome, every method's estimate with its 95% CI (whole cohort).

    Dose-response rows (per 0.1 of the index), km_ipw's RMST rows (days) and a questionnaire outcome's
    baseline_sd and share_meaningful_change rows are on other scales and are left out; rows
    without an estimate (skipped methods) are listed with their reason in estimates.csv only.
    With a synthetic truth, dashed lines mark the true ATT and ATE.
    """
    # km_ipw's RMST difference is in days, not on the outcome's scale: it is in km_curves.png and the table
    keep = (estimates["method"] != "dose_response") & (estimates["scale"] != "rmst_difference_days")
    # a questionnaire outcome is drawn on its points scale (its baseline_sd and share rows are in the table)
    keep &= ~estimates["scale"].isin(["baseline_sd", "share_meaningful_change"])
    whole = estimates[(estimates["subgroup"] == "") & keep]
    outcomes = list(dict.fromkeys(whole["outcome"]))
    heights = [max(2.0, 0.32 * (whole["outcome"] == o).sum() + 1.0) for o in outcomes]
    fig, axes = plt.subplots(
        len(outcomes), 1, figsize=(8, sum(heights)), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for ax, outcome in zip(axes[:, 0], outcomes):
        rows = whole[(whole["outcome"] == outcome) & whole["estimate"].notna()].iloc[::-1]
        y = np.arange(len(rows))
        for yi, row in zip(y, rows.itertuples()):
            colour = ESTIMAND_COLOURS.get(row.estimand, "black")
            ax.plot([row.ci_lower, row.ci_upper], [yi, yi], color=colour, linewidth=1.8)
            ax.plot(row.estimate, yi, "o", color=colour, markersize=5)
        ax.set_yticks(y, [f"{r.method} ({r.estimand})" for r in rows.itertuples()], fontsize=8)
        ax.axvline(0, color="grey", linewidth=0.8)
        if truth and outcome in truth:
            for estimand in ("ATT", "ATE"):
                value = truth[outcome].get(estimand.lower())
                if value is not None:
                    ax.axvline(
                        value, color=ESTIMAND_COLOURS[estimand], linestyle="--", linewidth=1, label=f"true {estimand}"
                    )
            ax.legend(fontsize=7, frameon=False, loc="best")
        scale = rows["scale"].iloc[0] if len(rows) else ""
        ax.set_title(f"{outcome} ({scale.replace('_', ' ')})", fontsize=10)
    axes[-1, 0].set_xlabel("effect of continuous vs fragmented service, 95% CI")
    fig.tight_layout()
    save_figure(fig, path)
