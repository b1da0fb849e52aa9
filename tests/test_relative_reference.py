"""mastoprog.relative against its plain reference (``tests/relative_reference.py``), bad input, ranges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relative_reference import reference_crude, reference_net_survival

from mastoprog import LifeTable
from mastoprog.exceptions import MetricInputError
from mastoprog.relative import crude_mortality, net_survival, years_lost


def small_cohort(n: int, seed: int) -> pd.DataFrame:
    """Ages 30-99 (past HMD's open age 110 within follow-up for some), 1930-2030 (outside the table on
    both sides), follow-up up to 40 years, ties in time, fractional months."""
    rng = np.random.default_rng(seed)
    time = np.round(rng.exponential(60.0, n), 1)
    time[: n // 10] = time[n // 10: 2 * (n // 10)]  # tied follow-up times
    return pd.DataFrame({
        "time": np.minimum(time, 480.0), "event": rng.integers(0, 2, n), "age": rng.uniform(30, 99.9, n),
        "sex": rng.choice(["F", "M"], n), "diagnosis_year": rng.integers(1925, 2031, n)})


@pytest.mark.parametrize("method", ["pohar-perme", "ederer2"])
@pytest.mark.parametrize("seed", [0, 1])
def test_net_survival_equals_reference(method: str, seed: int) -> None:
    df = small_cohort(400, seed)
    ours = net_survival(df, method=method).table
    ref = reference_net_survival(df["time"].to_numpy(), df["event"].to_numpy(), df["age"].to_numpy(),
                                 df["sex"].to_numpy(), df["diagnosis_year"].to_numpy(),
                                 LifeTable.hmd_us(), method)
    np.testing.assert_allclose(ours["time"], ref["time"])
    np.testing.assert_array_equal(ours["n_at_risk"], ref["n_at_risk"])
    np.testing.assert_allclose(ours["estimate"], ref["estimate"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours["std_error_log"], ref["std_error_log"], rtol=1e-10)


def test_crude_equals_reference() -> None:
    df = small_cohort(300, 2)
    res = crude_mortality(df).table
    ref = reference_crude(df["time"].to_numpy(), df["event"].to_numpy(), df["age"].to_numpy(),
                          df["sex"].to_numpy(), df["diagnosis_year"].to_numpy(), LifeTable.hmd_us())
    for cause in ("disease", "other"):
        part = res[res["cause"] == cause]
        np.testing.assert_allclose(part["estimate"], ref[cause], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(part["variance"], ref[f"var_{cause}"], rtol=1e-8, atol=1e-15)


def test_requested_times_lie_on_the_full_curve() -> None:
    """Reporting times between follow-up times adds grid points; the curve at follow-up times is unchanged."""
    df = small_cohort(200, 3)
    full = net_survival(df).table.set_index("time")
    some = net_survival(df, times=[12.0, 60.0, 60.05, full.index[40]]).table.set_index("time")
    assert some.loc[full.index[40], "estimate"] == pytest.approx(full.iloc[40]["estimate"], rel=1e-12)
    assert list(some.index) == sorted(some.index)


def test_years_lost_with_a_population_that_never_dies() -> None:
    """mx = 0: F_E is 1 - KM, so yl2013 = yl2017 = the area above the Kaplan-Meier curve."""
    idx = pd.MultiIndex.from_product([[2000], range(111), ["F", "M"]], names=["year", "age", "sex"])
    zero = LifeTable.from_frame(pd.DataFrame({"mx": 0.0}, index=idx).reset_index(), name="zero")
    df = pd.DataFrame({"time": [10.0, 20.0, 30.0, 40.0], "event": [1, 0, 1, 1], "age": 50, "sex": "F",
                       "diagnosis_year": 2000})
    # KM: 1 on [0,10), 3/4 on [10,30), 3/8 on [30,40): area above = (10*0.25 + 10*0.625) / 12 years
    expected = (20 * 0.25 + 10 * 0.625) / 12
    for measure in ("yl2013", "yl2017"):
        got = years_lost(df, life_table=zero, measure=measure, times=[40.0]).table["years_lost"].item()
        assert got == pytest.approx(expected, rel=1e-12)
    # the restricted mean's variance by hand (Klein & Moeschberger 4.5): deaths at 10 (4 at risk) and
    # 30 (2 at risk; at 40 the last one dies, a term survival sets to 0); area after 10 = 10*0.75 +
    # 10*0.375, after 30 = 10*0.375 (months)
    variance = (18.75**2 * 1 / (4 * 3) + 3.75**2 * 1 / (2 * 1)) / 144
    got = years_lost(df, life_table=zero, measure="yl2017", times=[40.0]).table["std_error"].item()
    assert got == pytest.approx(np.sqrt(variance), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 60), st.integers(0, 10_000))
def test_intervals_stay_in_range(n: int, seed: int) -> None:
    df = small_cohort(n, seed)
    net = net_survival(df).table
    assert (net["lower"] >= 0).all() and (net["estimate"] >= 0).all()
    assert (net["lower"] <= net["estimate"] + 1e-12).all() and (net["estimate"] <= net["upper"] + 1e-12).all()
    crude = crude_mortality(df).table
    assert crude["lower"].between(0, 1).all() and crude["upper"].between(0, 1).all()
    lost = years_lost(df, measure="yl2017").table  # observed part in [0, tau]: the range of the measure
    assert (lost["lower"] >= -lost["population_years_lost"] - 1e-12).all()
    assert (lost["upper"] <= lost["time"] / 12 - lost["population_years_lost"] + 1e-12).all()
    assert (lost["lower"] <= lost["years_lost"] + 1e-12).all()
    assert (lost["years_lost"] <= lost["upper"] + 1e-12).all()
    assert (lost["std_error"] >= 0).all()


# --------------------------------------------------------------------------- bad input


def test_every_invalid_value_is_named() -> None:
    df = pd.DataFrame({"months": [12.0, -3.0, 5.0], "dead": [1, 0, 2], "age": [50, 140, 60],
                       "sex": ["F", "M", "X"], "year": [2001, 2002, None]})
    with pytest.raises(MetricInputError, match=r"5 invalid input values") as err:
        net_survival(df, duration_col="months", event_col="dead", year_col="year")
    text = str(err.value)
    assert "row 1, column 'months': got -3.0; expected a finite follow-up time >= 0 (months)" in text
    assert "row 2, column 'dead': got 2; expected 1 (death observed) or 0 (censored)" in text
    assert "row 1, column 'age': got 140; expected an age at diagnosis between 0 and 130 (years)" in text
    assert "row 2, column 'sex': got 'X'" in text
    assert "row 2, column 'year': got nan; expected a calendar year of diagnosis" in text


def test_missing_column_and_unknown_method() -> None:
    df = small_cohort(10, 0)
    with pytest.raises(MetricInputError, match=r"column 'diagnosis_year'.*no such column"):
        net_survival(df.drop(columns="diagnosis_year"))
    with pytest.raises(MetricInputError, match=r"column 'method': got 'hakulinen'; expected one of"):
        net_survival(df, method="hakulinen")
    with pytest.raises(MetricInputError, match=r"column 'integration': got 'simpson'"):
        net_survival(df, integration="simpson")
    with pytest.raises(MetricInputError, match=r"got 'yd'.*'yd' without delayed entry is 'yl2017'"):
        years_lost(df, measure="yd")
    with pytest.raises(MetricInputError, match=r"at least one patient"):
        crude_mortality(df.iloc[:0])


def test_times_after_follow_up_are_refused() -> None:
    df = small_cohort(20, 0)
    last = df["time"].max()
    message = rf"got 9999.0; expected times in months between 0 and the last follow-up time \({last:g} months"
    with pytest.raises(MetricInputError, match=message):
        net_survival(df, times=[12, 9999.0])
    with pytest.raises(MetricInputError, match=r"got 'five'"):
        crude_mortality(df, times=["five"])


def test_notes_say_what_was_done() -> None:
    df = small_cohort(50, 4)
    res = net_survival(df)
    assert any("before 1933" in n for n in res.notes) and any("after 2022" in n for n in res.notes)
    assert res.life_table["name"] == "hmd_us" and res.life_table["first_year"] == 1933


def test_yl2017_population_part_by_quadrature() -> None:
    """The closed-form population area equals a fine trapezoid rule on LifeTable.survival."""
    df = small_cohort(60, 6)
    horizons = np.array([7.3, 36.0, 100.5])
    res = years_lost(df, measure="yl2017", times=horizons).table
    grid = np.linspace(0.0, horizons[-1], 200_001)
    surv = LifeTable.hmd_us().survival(df["age"].to_numpy()[:, None], df["sex"].to_numpy()[:, None],
                                       df["diagnosis_year"].to_numpy()[:, None], grid[None, :]).mean(0)
    lost = np.concatenate([[0.0], np.cumsum(np.diff(grid) * (1 - (surv[1:] + surv[:-1]) / 2))])
    np.testing.assert_allclose(res["population_years_lost"], np.interp(horizons, grid, lost) / 12, rtol=1e-7)


@settings(max_examples=20, deadline=None)
@given(st.integers(3, 80), st.integers(0, 10_000))
def test_a_population_that_never_dies_gives_kaplan_meier(n: int, seed: int) -> None:
    """mx = 0: both estimators are the Kaplan-Meier curve (lifelines as the independent reference)."""
    from lifelines import KaplanMeierFitter

    idx = pd.MultiIndex.from_product([[2000], range(111), ["F", "M"]], names=["year", "age", "sex"])
    zero = LifeTable.from_frame(pd.DataFrame({"mx": 0.0}, index=idx).reset_index(), name="zero")
    df = small_cohort(n, seed)
    km = KaplanMeierFitter().fit(df["time"], df["event"])
    for method in ("pohar-perme", "ederer2"):
        ours = net_survival(df, life_table=zero, method=method).table
        expected = km.survival_function_at_times(ours["time"]).to_numpy()
        np.testing.assert_allclose(ours["estimate"], expected, rtol=1e-12, atol=1e-14)


def test_groups_are_the_cohorts_one_by_one() -> None:
    df = small_cohort(300, 7).assign(stage=lambda d: np.where(d["age"] > 65, "late", "early"))
    horizon = [12.0, 250.0]
    by_stage = net_survival(df, group_col="stage", times=horizon)
    for stage in ("early", "late"):
        part = df[df["stage"] == stage]
        alone = net_survival(part, times=[t for t in horizon if t <= part["time"].max()]).table
        got = by_stage.table[by_stage.table["group"] == stage].drop(columns="group")
        pd.testing.assert_frame_equal(got.reset_index(drop=True), alone)
    assert by_stage.n_patients == 300
    crude = crude_mortality(df, group_col="stage", times=[12.0]).table
    assert list(crude.columns[:2]) == ["group", "time"] and len(crude) == 4


def test_group_reported_up_to_its_own_follow_up() -> None:
    df = small_cohort(100, 8)
    df["arm"] = "A"
    df.loc[df.index[:20], "arm"] = "B"
    df.loc[df.index[:20], "time"] = 5.0
    res = net_survival(df, group_col="arm", times=[1.0, 100.0])
    assert res.table.loc[res.table["group"] == "B", "time"].tolist() == [1.0]
    assert any("group 'B': not reported after its last follow-up (5 months)" in n for n in res.notes)


def test_missing_group_label_is_named() -> None:
    df = small_cohort(10, 9).assign(arm="A")
    df.loc[df.index[4], "arm"] = None
    with pytest.raises(MetricInputError, match=r"row 4, column 'arm': got None; expected a group label"):
        net_survival(df, group_col="arm")
    with pytest.raises(MetricInputError, match=r"column 'site': got 'no such column'; expected the group"):
        crude_mortality(df, group_col="site")
