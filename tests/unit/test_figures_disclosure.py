"""The report's figures obey the threshold of the published tables (issue 13, item 8 of the reliability
review): the data each figure plots, tested before it becomes pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepvalue.adjust.figures import overlap_histogram
from deepvalue.cohort.figures import OTHER_SITES, index_shares, plot_share_continuous, site_shares
from deepvalue.core.small_cells import merge_sparse_bins


def cohort(sites: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Clients per site: (clients, treated)."""
    rows = []
    for site, (n, treated) in sites.items():
        rows += [{"site": site, "service": "employment", "treatment": int(i < treated)} for i in range(n)]
    return pd.DataFrame(rows)


def test_a_site_with_3_clients_is_not_in_the_site_figure(tmp_path):
    # review: the per-site share figure showed sites of 3 and 4 clients, and its Wilson intervals gave n
    analysis = cohort({"S01": (200, 120), "S02": (150, 60), "S03": (3, 2), "S04": (4, 1)})
    bars, note = site_shares(analysis)
    assert list(bars["site"]) == ["S01", "S02"]
    assert note == (
        "2 sites with fewer than 10 clients (or treated, or controls) left out: pooled they are still below the "
        "threshold"
    )
    plot_share_continuous(analysis, tmp_path / "share.png")
    assert (tmp_path / "share.png").stat().st_size > 0


def test_small_sites_are_pooled_when_the_pool_passes():
    analysis = cohort({"S01": (200, 120), "S03": (3, 2), "S04": (4, 2), "S05": (30, 8)})
    bars, note = site_shares(analysis)
    assert list(bars["site"]) == ["S01", OTHER_SITES]
    pool = bars.set_index("site").loc[OTHER_SITES]
    assert (pool["clients"], pool["treated"]) == (37, 12)
    assert note == f"3 sites with fewer than 10 clients (or treated, or controls) pooled as '{OTHER_SITES}'"


def test_a_site_whose_controls_are_few_is_pooled_like_a_small_site():
    analysis = cohort({"S01": (200, 120), "S02": (150, 145), "S03": (100, 40)})
    bars, _ = site_shares(analysis)
    assert "S02" not in set(bars["site"])  # 5 controls: the share and its interval would give them
    assert list(bars["site"]) == ["S01", "S03"]


def test_a_site_without_controls_is_shown_unless_zeros_are_small_cells():
    analysis = cohort({"S01": (200, 120), "S02": (50, 50)})
    assert list(site_shares(analysis)[0]["site"]) == ["S01", "S02"]
    assert list(site_shares(analysis, allow_zero=False)[0]["site"]) == ["S01"]


def test_the_threshold_reaches_the_site_figure_from_the_settings():
    analysis = cohort({"S01": (200, 120), "S02": (25, 12)})
    assert list(site_shares(analysis, min_cell=10)[0]["site"]) == ["S01", "S02"]
    assert list(site_shares(analysis, min_cell=20)[0]["site"]) == ["S01"]


def test_a_small_value_of_the_index_figure_is_merged_with_its_neighbour():
    employment = [0.25] * 3 + [0.5] * 500 + [0.75] * 40 + [1.0] * 25
    welfare = [0.25] * 30 + [0.5] * 300 + [0.75] * 4 + [1.0] * 200
    analysis = pd.DataFrame(
        {"service": ["employment"] * len(employment) + ["welfare"] * len(welfare), "upc": employment + welfare}
    )
    bars = index_shares(analysis, "upc")
    assert list(dict.fromkeys(bars["label"])) == ["0.25-0.50", "0.75-1.00"]
    assert bars["clients"].min() >= 10  # every client is in a bar, and no bar is small
    shares = bars.set_index(["service", "label"])["share"]
    assert shares["employment", "0.25-0.50"] == pytest.approx(503 / 568)
    assert shares.groupby(level=0).sum().tolist() == pytest.approx([1.0, 1.0])


def test_a_service_with_few_clients_is_left_out_of_the_index_figure():
    analysis = pd.DataFrame({"service": ["a"] * 200 + ["b"] * 6, "upc": [0.5, 1.0] * 100 + [1.0] * 6})
    bars = index_shares(analysis, "upc")
    assert set(bars["service"]) == {"a"}


def test_merged_histogram_bins_each_hold_zero_or_at_least_min_cell():
    rng = np.random.default_rng(4)
    for _ in range(50):
        counts = rng.choice([0, 0, 1, 2, 5, 9, 10, 30], size=40).tolist()
        groups = merge_sparse_bins(counts)
        assert groups[0][0] == 0 and groups[-1][1] == 40
        assert all(a[1] == b[0] for a, b in zip(groups, groups[1:]))
        sums = [sum(counts[a:b]) for a, b in groups]
        if sum(counts) >= 10:
            assert all(s == 0 or s >= 10 for s in sums)


def test_the_propensity_histogram_has_no_bin_of_few_clients():
    rng = np.random.default_rng(1)
    score = np.concatenate([rng.uniform(0.3, 0.7, 400), [0.01, 0.02, 0.97, 0.985, 0.99]])
    weight = np.ones(score.size)
    edges, heights = overlap_histogram(score, weight)
    clients = np.histogram(score, bins=edges)[0]
    assert all(n == 0 or n >= 10 for n in clients)
    assert np.sum(heights * np.diff(edges) * 40) == pytest.approx(1.0)  # shares per 0.025 of score
    matched = np.where(np.arange(score.size) < 200, 2.0, 0.0)  # half the clients, each used twice
    edges, _ = overlap_histogram(score, matched)
    assert all(n == 0 or n >= 10 for n in np.histogram(score[matched > 0], bins=edges)[0])
    assert overlap_histogram(score[:9], weight[:9])[1].size == 0  # fewer than 10 clients: nothing drawn


def test_the_forest_plot_leaves_out_what_the_published_estimates_hide(tmp_path, monkeypatch):
    from deepvalue.effects import figures
    from deepvalue.pipeline.stages import forest_stage

    rows = pd.DataFrame(
        {
            "outcome": ["job_start"] * 3,
            "subgroup": ["", "", ""],
            "method": ["naive", "dose_levels", "dose_levels"],
            "estimand": ["ATE", "level_contrast", "level_contrast"],
            "estimate": [0.1, 0.2, 0.3],
            "std_error": [0.02] * 3,
            "ci_lower": [0.06, 0.16, 0.26],
            "ci_upper": [0.14, 0.24, 0.34],
            "p_value": [0.01] * 3,
            "n_treated": [400, 300, 100],
            "n_control": [350, 5, 5],
            "scale": ["risk_difference", "upc_0.5_vs_0.25", "upc_1_vs_0.25"],
            "notes": ["", "", ""],
        }
    )
    rows.to_csv(tmp_path / "estimates.csv", index=False)
    plotted = {}
    monkeypatch.setattr(figures, "plot_forest", lambda frame, path, truth=None: plotted.update(frame=frame))
    forest_stage({"disclosure": {"min_cell": 10, "allow_zero": True}}, tmp_path / "estimates.csv", None, "f.png")
    drawn = plotted["frame"].dropna(subset=["estimate"])
    assert list(drawn["method"]) == ["naive"]  # the dose levels against 5 clients are suppressed
    forest_stage({"disclosure": {"min_cell": 5, "allow_zero": True}}, tmp_path / "estimates.csv", None, "f.png")
    assert len(plotted["frame"].dropna(subset=["estimate"])) == 3
