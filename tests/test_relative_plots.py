"""plot_net_survival, plot_crude_mortality and plot_years_lost: assert on what was drawn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mastoprog.plotting import plot_crude_mortality, plot_net_survival, plot_years_lost
from mastoprog.relative import crude_mortality, net_survival, years_lost


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 300
    return pd.DataFrame({"time": rng.exponential(50.0, n), "event": rng.integers(0, 2, n),
                         "age": rng.uniform(40, 85, n), "sex": rng.choice(["F", "M"], n),
                         "diagnosis_year": rng.integers(1995, 2020, n)})


def _by_gid(items, gid):
    return next(item for item in items if item.get_gid() == gid)


def test_net_survival_plot_draws_the_table(cohort: pd.DataFrame) -> None:
    res = net_survival(cohort)
    fig, ax = plt.subplots()
    try:
        assert plot_net_survival(res, ax=ax) is ax
        x, y = _by_gid(ax.get_lines(), "net_survival").get_data()
        np.testing.assert_allclose(x[1:], res.table["time"] / 12.0)
        np.testing.assert_allclose(y[1:], res.table["estimate"])
        assert (x[0], y[0]) == (0.0, 1.0)
        assert _by_gid(ax.collections, "net_survival_band") is not None
        assert "hmd_us 1933-2022" in ax.get_title(loc="left")
        assert "Pohar Perme" in ax.get_legend().get_texts()[-1].get_text()
    finally:
        plt.close(fig)


def test_crude_plot_draws_both_causes(cohort: pd.DataFrame) -> None:
    res = crude_mortality(cohort, times=[12, 24, 60, 120])
    ax = plot_crude_mortality(res)
    try:
        for cause in ("disease", "other"):
            x, y = _by_gid(ax.get_lines(), f"crude_{cause}").get_data()
            part = res.table[res.table["cause"] == cause]
            np.testing.assert_allclose(x, [0, 1, 2, 5, 10])
            np.testing.assert_allclose(y[1:], part["estimate"])
            assert _by_gid(ax.collections, f"crude_{cause}_band") is not None
    finally:
        plt.close(ax.figure)


def test_grouped_results_draw_one_curve_per_group(cohort: pd.DataFrame) -> None:
    net = net_survival(cohort, group_col="sex")
    ax = plot_net_survival(net)
    try:
        for sex in ("F", "M"):
            _, y = _by_gid(ax.get_lines(), f"net_survival:{sex}").get_data()
            np.testing.assert_allclose(y[1:], net.table.loc[net.table["group"] == sex, "estimate"])
    finally:
        plt.close(ax.figure)
    crude = crude_mortality(cohort, group_col="sex", times=[12, 60])
    ax = plot_crude_mortality(crude)
    try:
        gids = {line.get_gid() for line in ax.get_lines()}
        assert gids == {"crude_disease:F", "crude_other:F", "crude_disease:M", "crude_other:M"}
    finally:
        plt.close(ax.figure)


def test_years_lost_plot_draws_the_table_and_its_band(cohort: pd.DataFrame) -> None:
    res = years_lost(cohort, measure="yl2017", times=[12, 24, 60, 120])
    ax = plot_years_lost(res)
    try:
        x, y = _by_gid(ax.get_lines(), "years_lost").get_data()
        np.testing.assert_allclose(x, [0, 1, 2, 5, 10])
        np.testing.assert_allclose(y[1:], res.table["years_lost"])
        band = _by_gid(ax.collections, "years_lost_band").get_paths()[0].vertices
        assert band[:, 1].min() == pytest.approx(min(0.0, res.table["lower"].min()))
        assert band[:, 1].max() == pytest.approx(res.table["upper"].max())
        assert "Andersen 2017" in ax.get_title(loc="left") and "interval" not in ax.get_title(loc="left")
    finally:
        plt.close(ax.figure)
    res13 = years_lost(cohort, measure="yl2013", times=[12, 60])
    ax = plot_years_lost(res13)
    try:
        assert all(c.get_gid() != "years_lost_band" for c in ax.collections)
        assert "no interval" in ax.get_title(loc="left")
    finally:
        plt.close(ax.figure)
