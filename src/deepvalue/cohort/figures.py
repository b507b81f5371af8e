"""Figures of the cohort stage: the continuity index by arm and the share continuous by site."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.cohort.continuity import INDEX_NAMES
from deepvalue.core.plotting import plt, save_figure

INDEX_LABELS = {
    "upc": "UPC",
    "coc": "Bice-Boxerman COC",
    "secon": "SECON",
    "hhi": "HHI",
    "mmci": "MMCI",
    "k_index": "Ejlertsson K",
}


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
