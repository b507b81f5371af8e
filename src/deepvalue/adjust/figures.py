"""Figures of the match stage: the Love plot (balance per covariate) and the propensity overlap plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from deepvalue.adjust.balance import UNADJUSTED
from deepvalue.core.plotting import plt, save_figure
from deepvalue.core.small_cells import DEFAULT_MIN_CELL, merge_sparse_bins

ADJUSTMENT_LABELS = {
    UNADJUSTED: "unadjusted",
    "matched": "matched",
    "ipw_ate": "IPW (ATE)",
    "ipw_att": "IPW (ATT)",
    "overlap": "overlap weights (ATO)",
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


def plot_love(balance: pd.DataFrame, path: str | Path, threshold: float = 0.1) -> None:
    """Love plot: |SMD| per covariate, one marker per adjustment, with the threshold line.

    Covariates are sorted by their unadjusted |SMD| (largest at the top), so the plot shows at a
    glance which imbalances adjustment had to remove and whether any remain past the threshold.
    """
    table = balance.assign(abs_smd=balance["smd"].abs())
    wide = table.pivot(index="covariate", columns="adjustment", values="abs_smd")
    adjustments = list(dict.fromkeys(table["adjustment"]))  # keep the table's order
    wide = wide[adjustments].sort_values(UNADJUSTED, kind="stable")
    y = np.arange(len(wide))
    fig, ax = plt.subplots(figsize=(7, 1.5 + 0.24 * len(wide)))
    for i, name in enumerate(adjustments):
        # unadjusted as open circles, so the adjusted markers stand out against them
        hollow = {"facecolors": "none", "edgecolors": "black"} if name == UNADJUSTED else {}
        ax.scatter(
            wide[name],
            y,
            marker=MARKERS[i % len(MARKERS)],
            s=22,
            zorder=3,
            label=ADJUSTMENT_LABELS.get(name, name),
            **hollow,
        )
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(y, wide.index, fontsize=8)
    ax.set_xlim(left=0)
    ax.set_xlabel("absolute standardised mean difference (SD of the unadjusted sample)")
    ax.grid(axis="y", color="0.9", zorder=0)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_title("Covariate balance before and after adjustment")
    save_figure(fig, path)


def overlap_histogram(
    score: npt.ArrayLike,
    weight: npt.ArrayLike,
    min_cell: int = DEFAULT_MIN_CELL,
    allow_zero: bool = True,
    bins: int = 40,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """One group's step histogram of propensity scores: (bin edges, height per edge interval).

    ``weight`` is the clients' weight in the panel (1, or the number of times a control is used; 0 leaves a
    client out). Bins of width 1/``bins`` are merged with their neighbours until each holds zero clients or
    at least ``min_cell`` (:func:`deepvalue.core.small_cells.merge_sparse_bins`), counting clients, not
    weights; the height is the group's weighted share per 1/``bins`` of score, so merged bins keep the scale.
    Fewer than ``min_cell`` clients in all: nothing to draw (empty arrays).
    """
    e = np.asarray(score, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    clients = np.histogram(e[w > 0], bins=edges)[0]
    mass = np.histogram(e, bins=edges, weights=w)[0]
    total = mass.sum()
    groups = merge_sparse_bins(clients.tolist(), min_cell, allow_zero)
    if total <= 0 or clients.sum() < min_cell:
        return np.zeros(0), np.zeros(0)
    out_edges = [edges[groups[0][0]]] + [edges[stop] for _, stop in groups]
    heights = [mass[a:b].sum() / total / (b - a) for a, b in groups]
    return np.asarray(out_edges), np.asarray(heights)


def plot_overlap(
    score: npt.ArrayLike,
    treatment: npt.ArrayLike,
    matched_weights: npt.ArrayLike,
    path: str | Path,
    min_cell: int = DEFAULT_MIN_CELL,
    allow_zero: bool = True,
) -> None:
    """Propensity score distributions by group, in the whole cohort and in the matched sample.

    Each panel shows the share of each group's (weighted) clients per score bin, so groups of
    different sizes compare directly; the matched panel uses the matching weights, so a reused
    control counts as often as it is used. Bins with fewer than ``min_cell`` clients are merged with their
    neighbours (:func:`overlap_histogram`), and the titles give no client counts.
    """
    e = np.asarray(score, dtype=np.float64)
    t = np.asarray(treatment).astype(bool)
    w = np.asarray(matched_weights, dtype=np.float64)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True, sharey=True)
    panels = ((axes[0], np.ones_like(e), "all clients"), (axes[1], w, "matched sample (weights: times used)"))
    for ax, weight, title in panels:
        for member, label, colour in ((t, "treated (continuous)", "#c44e52"), (~t, "control (fragmented)", "#4c72b0")):
            edges, heights = overlap_histogram(e[member], weight[member], min_cell, allow_zero)
            if heights.size:
                ax.stairs(heights, edges, linewidth=1.5, color=colour, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("propensity score")
        ax.set_xlim(0, 1)
    axes[0].set_ylabel("share of group per 0.025 of score")
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle(
        f"Overlap of propensity scores before and after matching (bins of fewer than {min_cell} clients merged)"
    )
    save_figure(fig, path)
