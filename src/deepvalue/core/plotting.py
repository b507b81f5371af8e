"""Matplotlib set up once for files (Agg, no screen), with byte-stable PNGs: every figure is saved
through :func:`save_figure`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, no screen
import matplotlib.pyplot as plt  # noqa: E402

# labels are plain text: a site called "Unit $2" must not be parsed as mathtext (and crash)
matplotlib.rcParams["text.parse_math"] = False

__all__ = ["plt", "save_figure"]


def save_figure(fig, path: str | Path) -> None:
    """Save a PNG with no metadata that changes between runs, then close the figure."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
