"""The tornado figure of the value stage: how far each uncertain input moves the net benefit per client."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_tornado(tornado: pd.DataFrame, path: str | Path, price_year: int) -> None:
    """One panel per account (monetary; monetary and wellbeing together when valued): a horizontal bar per
    input from the net benefit at its low to its high value, the others at their points, largest swing on
    top; the vertical line is the point net benefit, the dotted one zero. Same bytes for the same table."""
    from deepvalue.core.plotting import plt, save_figure

    accounts = list(dict.fromkeys(tornado["account"])) or ["monetary"]
    heights = [max(2.0, 0.45 * max(1, int((tornado["account"] == a).sum())) + 1.0) for a in accounts]
    fig, axes = plt.subplots(len(accounts), 1, figsize=(7.5, sum(heights)), squeeze=False)
    titles = {"monetary": "Net benefit per client (monetary)", "combined": "Net benefit per client with wellbeing"}
    for ax, account in zip(axes[:, 0], accounts):
        part = tornado[tornado["account"] == account].iloc[::-1]
        if part.empty:
            ax.text(0.5, 0.5, "no uncertain inputs", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        y = range(len(part))
        lo = part[["net_low", "net_high"]].min(axis=1)
        hi = part[["net_low", "net_high"]].max(axis=1)
        ax.barh(list(y), (hi - lo).to_list(), left=lo.to_list(), color="#4c72b0", height=0.6)
        ax.set_yticks(list(y), part["parameter"].to_list(), fontsize=8)
        ax.axvline(float(part["net_point"].iloc[0]), color="black", lw=1)
        ax.axvline(0.0, color="grey", lw=1, ls=":")
        ax.set_xlabel(f"GBP per treated client ({price_year} prices)")
        ax.set_title(titles.get(account, account), fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
