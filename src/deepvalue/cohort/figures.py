"""Figures of the cohort stage: the continuity index by service and the share continuous by site.

Both apply the threshold rule of the published tables (``disclosure.min_cell``): a figure leaves the secure
environment inside the report, so no bar, group or interval may stand for fewer than ``min_cell`` clients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.cohort.continuity import INDEX_NAMES
from deepvalue.core.plotting import plt, save_figure
from deepvalue.core.small_cells import DEFAULT_MIN_CELL, is_small

INDEX_LABELS = {
    "upc": "UPC",
    "coc": "Bice-Boxerman COC",
    "secon": "SECON",
    "hhi": "HHI",
    "mmci": "MMCI",
    "k_index": "Ejlertsson K",
}


def index_shares(
    analysis: pd.DataFrame, name: str, min_cell: int = DEFAULT_MIN_CELL, allow_zero: bool = True
) -> pd.DataFrame:
    """The bars of one panel: per service and group of index values, the clients and their share.

    The index takes a few ordered values. A value that holds a small count of clients in some service is
    merged with its neighbour (the one with fewer clients) until every bar holds zero or at least
    ``min_cell`` clients, so every client stays in a bar and no bar, nor a remainder, is small. A service
    with fewer than ``min_cell`` clients in all is not drawn. Returns service, label, low, high, clients
    and share (of the service's clients).
    """
    rounded = analysis[name].round(3)
    values = [float(v) for v in np.sort(rounded.dropna().unique())]
    services = [
        s for s in sorted(analysis["service"].unique()) if rounded[analysis["service"] == s].notna().sum() >= min_cell
    ]
    counts = {s: rounded[analysis["service"] == s].value_counts().reindex(values, fill_value=0) for s in services}
    groups = [[v] for v in values]

    def size(group: list[float], service: str) -> int:
        return int(counts[service].loc[group].sum())

    while len(groups) > 1:
        bad = [i for i, g in enumerate(groups) if any(is_small(size(g, s), min_cell, allow_zero) for s in services)]
        if not bad:
            break
        i = bad[0]
        total = [sum(size(g, s) for s in services) for g in groups]
        j = i - 1 if i == len(groups) - 1 or (i > 0 and total[i - 1] <= total[i + 1]) else i + 1
        lo, hi = min(i, j), max(i, j)
        groups[lo : hi + 1] = [groups[lo] + groups[hi]]
    rows = []
    for service in services:
        n = int(counts[service].sum())
        for g in groups:
            label = f"{g[0]:.2f}" if len(g) == 1 else f"{g[0]:.2f}-{g[-1]:.2f}"
            rows.append(
                {
                    "service": service,
                    "label": label,
                    "low": g[0],
                    "high": g[-1],
                    "clients": size(g, service),
                    "share": size(g, service) / n,
                }
            )
    return pd.DataFrame(rows, columns=["service", "label", "low", "high", "clients", "share"])


def plot_index_distributions(
    analysis: pd.DataFrame,
    path: str | Path,
    threshold: float,
    index: str,
    min_cell: int = DEFAULT_MIN_CELL,
    allow_zero: bool = True,
) -> None:
    """Distribution of each continuity index by service: share of clients at each value.

    Over a fixed window of K contacts each index takes only a few values, so bars at the exact
    values (side by side per service) show it better than a histogram would. Values with a small count
    of clients are merged with a neighbour (:func:`index_shares`), and the title gives no client count.
    """
    services = sorted(analysis["service"].unique())
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharey=True)
    width = 0.8 / max(len(services), 1)
    merged, hidden = False, set()
    for ax, name in zip(axes.ravel(), INDEX_NAMES):
        bars = index_shares(analysis, name, min_cell, allow_zero)
        labels = list(dict.fromkeys(bars["label"]))
        merged |= any("-" in label[1:] for label in labels)
        hidden |= set(services) - set(bars["service"])
        x = np.arange(len(labels))
        for j, service in enumerate(services):
            share = bars[bars["service"] == service].set_index("label")["share"].reindex(labels).fillna(0.0)
            ax.bar(x + (j - (len(services) - 1) / 2) * width, share, width=width, label=service)
        ax.set_xticks(x, labels, fontsize=8, rotation=45 if len(labels) > 6 else 0)
        title = INDEX_LABELS[name]
        if name == index:
            title += f" (treatment: >= {threshold:g})"
            ax.set_facecolor("#f4f4f4")
        ax.set_title(title, fontsize=10)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of clients")
    axes[0, 0].legend(fontsize=8, frameon=False)
    fig.suptitle("Continuity over the exposure window, by service")
    notes = []
    if merged:
        notes.append(f"values with fewer than {min_cell} clients in a service are merged with a neighbour (a-b)")
    if hidden:
        notes.append(f"not drawn (fewer than {min_cell} clients): {', '.join(sorted(hidden))}")
    if notes:
        fig.text(0.5, -0.01, "; ".join(notes) + " (disclosure.min_cell)", ha="center", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


OTHER_SITES = "other sites"


def site_shares(
    analysis: pd.DataFrame, min_cell: int = DEFAULT_MIN_CELL, allow_zero: bool = True
) -> tuple[pd.DataFrame, str]:
    """The bars of the share-continuous-by-site figure and the sentence that says what was pooled.

    A site is drawn when it has at least ``min_cell`` clients and neither its treated nor its controls are
    a small count (the share and its Wilson interval would give them). The other sites are pooled as
    "other sites" when the pool passes the same rule, and left out otherwise.

    Returns a frame with site, treated, clients, share, centre and half (the Wilson interval), in site
    order with the pool last, and the note ("" when every site is drawn).
    """
    g = analysis.groupby("site", sort=True)["treatment"].agg(["sum", "count"])
    g.columns = ["treated", "clients"]

    def passes(treated: float, clients: float) -> bool:
        return clients >= min_cell and not any(is_small(v, min_cell, allow_zero) for v in (treated, clients - treated))

    ok = [passes(t, n) for t, n in zip(g["treated"], g["clients"])]
    shown = g[ok]
    rest = g[[not x for x in ok]]
    note = ""
    if len(rest):
        pool_t, pool_n = int(rest["treated"].sum()), int(rest["clients"].sum())
        sites = f"{len(rest)} site{'s' if len(rest) > 1 else ''}"
        what = f"{sites} with fewer than {min_cell} clients (or treated, or controls)"
        if passes(pool_t, pool_n):
            shown = pd.concat([shown, pd.DataFrame({"treated": [pool_t], "clients": [pool_n]}, index=[OTHER_SITES])])
            note = f"{what} pooled as '{OTHER_SITES}'"
        else:
            note = f"{what} left out: pooled they are still below the threshold"
    p = shown["treated"] / shown["clients"]
    n = shown["clients"]
    z = 1.959963984540054
    out = pd.DataFrame(
        {
            "site": shown.index.astype(str),
            "treated": shown["treated"].astype(int).to_numpy(),
            "clients": n.astype(int).to_numpy(),
            "share": p.to_numpy(),
            "centre": ((p + z**2 / (2 * n)) / (1 + z**2 / n)).to_numpy(),
            "half": (z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)).to_numpy(),
        }
    )
    return out, note


def plot_share_continuous(
    analysis: pd.DataFrame, path: str | Path, min_cell: int = DEFAULT_MIN_CELL, allow_zero: bool = True
) -> None:
    """Share of clients with continuous service by site, with 95% Wilson intervals; small sites pooled or
    left out (:func:`site_shares`), as the note under the plot says."""
    bars, note = site_shares(analysis, min_cell, allow_zero)
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(bars))
    ax.bar(x, bars["share"], color="#4c72b0")
    ax.errorbar(x, bars["centre"], yerr=bars["half"], fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(x, bars["site"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share continuous (treatment = 1)")
    ax.set_title("Continuous service by site (95% Wilson intervals)")
    if note:
        ax.set_xlabel(f"{note} (disclosure.min_cell)", fontsize=8)
    save_figure(fig, path)
