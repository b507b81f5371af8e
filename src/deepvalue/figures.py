"""Figures, written deterministically (Agg backend, no timestamp or software tag in the PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .continuity import INDEX_NAMES  # noqa: E402

INDEX_LABELS = {
    "upc": "UPC", "coc": "Bice-Boxerman COC", "secon": "SECON", "hhi": "HHI", "mmci": "MMCI",
    "k_index": "Ejlertsson K",
}


def save_figure(fig, path: str | Path) -> None:
    """Save a PNG with no metadata that changes between runs, then close the figure."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)


def plot_index_distributions(analysis: pd.DataFrame, path: str | Path, threshold: float, index: str) -> None:
    """Distribution of each continuity index by service: share of clients at each value.

    Over a fixed window of K contacts each index takes only a few values, so bars at the exact
    values (side by side per service) show it better than a histogram would.
    """
    services = sorted(analysis["service"].unique())
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharey=True)
    width = 0.8 / max(len(services), 1)
    for ax, name in zip(axes.ravel(), INDEX_NAMES):
        rounded = analysis[name].round(3)
        values = np.sort(rounded.dropna().unique())
        x = np.arange(values.size)
        for j, service in enumerate(services):
            sub = rounded[analysis["service"] == service]
            share = sub.value_counts(normalize=True).reindex(values, fill_value=0.0).to_numpy()
            ax.bar(x + (j - (len(services) - 1) / 2) * width, share, width=width, label=service)
        ax.set_xticks(x, [f"{v:.2f}" for v in values], fontsize=8, rotation=45 if values.size > 6 else 0)
        title = INDEX_LABELS[name]
        if name == index:
            title += f" (treatment: >= {threshold:g})"
            ax.set_facecolor("#f4f4f4")
        ax.set_title(title, fontsize=10)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of clients")
    axes[0, 0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"Continuity over the exposure window, by service (n = {len(analysis):,})")
    fig.tight_layout()
    save_figure(fig, path)


def plot_share_continuous(analysis: pd.DataFrame, path: str | Path) -> None:
    """Share of clients with continuous service by site, with 95% Wilson intervals."""
    g = analysis.groupby("site", sort=True)["treatment"].agg(["sum", "count"])
    p = g["sum"] / g["count"]
    z = 1.959963984540054
    n = g["count"]
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(g))
    ax.bar(x, p, color="#4c72b0")
    ax.errorbar(x, centre, yerr=half, fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(x, g.index)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share continuous (treatment = 1)")
    ax.set_title("Continuous service by site (95% Wilson intervals)")
    save_figure(fig, path)


ESTIMAND_COLOURS = {"ATT": "#c44e52", "ATE": "#4c72b0", "ATO": "#55a868", "LATE": "#8172b2"}


def plot_forest(estimates: pd.DataFrame, path: str | Path, truth: dict | None = None) -> None:
    """Forest plot: one panel per outcome, every method's estimate with its 95% CI (whole cohort).

    Dose-response rows are on another scale (per 0.1 of the index) and are left out; rows
    without an estimate (skipped methods) are listed with their reason in estimates.csv only.
    With a synthetic truth, dashed lines mark the true ATT and ATE.
    """
    whole = estimates[(estimates["subgroup"] == "") & (estimates["method"] != "dose_response")]
    outcomes = list(dict.fromkeys(whole["outcome"]))
    heights = [max(2.0, 0.32 * (whole["outcome"] == o).sum() + 1.0) for o in outcomes]
    fig, axes = plt.subplots(len(outcomes), 1, figsize=(8, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
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
                    ax.axvline(value, color=ESTIMAND_COLOURS[estimand], linestyle="--", linewidth=1,
                               label=f"true {estimand}")
            ax.legend(fontsize=7, frameon=False, loc="best")
        scale = rows["scale"].iloc[0] if len(rows) else ""
        ax.set_title(f"{outcome} ({scale.replace('_', ' ')})", fontsize=10)
    axes[-1, 0].set_xlabel("effect of continuous vs fragmented service, 95% CI")
    fig.tight_layout()
    save_figure(fig, path)
