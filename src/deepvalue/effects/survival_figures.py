"""The km_ipw figure: IPW-weighted cumulative incidence by arm, coarsened for disclosure control."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.core.plotting import plt, save_figure
from deepvalue.core.small_cells import merge_sparse_bins

ARM_COLOURS = {"continuous": "#c44e52", "fragmented": "#4c72b0"}


def disclosed_steps(curve: pd.DataFrame, min_cell: int, allow_zero: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One arm's curve as the steps it may show: (times, cumulative incidence after each).

    Consecutive event times are merged until each step holds at least ``min_cell`` clients' events
    (:func:`deepvalue.core.small_cells.merge_sparse_bins`, a short last run joining the one before),
    so no step reveals fewer than ``min_cell`` events; the curve stops before the first time at which
    fewer than ``min_cell`` clients are at risk. Fewer than ``min_cell`` events in all: no steps.

    >>> c = pd.DataFrame({"time": [1., 2, 3, 4], "cumulative_incidence": [.1, .2, .3, .4],
    ...                   "n_at_risk": [100, 90, 80, 70], "n_events": [6, 6, 3, 9]})
    >>> disclosed_steps(c, 10)
    (array([2., 4.]), array([0.2, 0.4]))
    """
    at_risk = curve["n_at_risk"].to_numpy()
    shown = curve.iloc[: int(np.argmax(at_risk < min_cell)) if (at_risk < min_cell).any() else len(curve)]
    events = shown["n_events"].to_numpy()
    if events.sum() < min_cell:
        return np.empty(0), np.empty(0)
    groups = merge_sparse_bins(events.tolist(), min_cell, allow_zero)
    ends = np.array([stop - 1 for start, stop in groups if events[start:stop].sum() > 0], dtype=np.int64)
    return shown["time"].to_numpy()[ends], shown["cumulative_incidence"].to_numpy()[ends]


def plot_km_curves(
    panels: list[tuple[str, str, float, pd.DataFrame | str]],
    path: str | Path,
    min_cell: int,
    allow_zero: bool = True,
) -> None:
    """One panel per time-to-event outcome and estimand: weighted cumulative incidence by arm
    (:func:`deepvalue.effects.survival.km_figure_curves`), steps as :func:`disclosed_steps` leaves them.
    Without a time-to-event outcome the figure says so."""
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no time-to-event outcome (time_to_event) in this study", ha="center", va="center")
        save_figure(fig, path)
        return
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 3.0 * len(panels)), squeeze=False)
    for ax, (outcome, estimand, horizon, curves) in zip(axes[:, 0], panels):
        ax.set_title(f"{outcome}: weighted Kaplan-Meier ({estimand} weights)", fontsize=10)
        if isinstance(curves, str):
            ax.text(0.5, 0.5, f"not drawn: {curves}", ha="center", va="center", fontsize=8, transform=ax.transAxes)
            continue
        for arm, colour in ARM_COLOURS.items():
            times, incidence = disclosed_steps(curves[curves["arm"] == arm], min_cell, allow_zero)
            if not times.size:
                continue
            ax.step(np.r_[0.0, times], np.r_[0.0, incidence], where="post", color=colour, label=arm)
        ax.set_xlim(0, horizon)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("days from the index date")
        ax.set_ylabel("cumulative incidence")
        ax.legend(fontsize=8, frameon=False, loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)
