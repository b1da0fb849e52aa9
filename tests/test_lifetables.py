"""General-population mortality: HMD US period tables, the diagonal path rule, exact sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mastoprog import LifeTable, ModelFileError


@pytest.fixture(scope="module")
def lt() -> LifeTable:
    return LifeTable.hmd_us()


def _mx(lt: LifeTable, sex: str, year: int, age: int) -> float:
    s = {"F": 0, "M": 1}[sex]
    return float(lt.mx[s, min(year, lt.last_year) - lt.first_year, min(age, lt.max_age)])


def test_hmd_us_table_values_match_the_shipped_files(lt):
    # Values read off lifetables/data/hmd/mltper_1x1.txt (HMD US males, last rows of 2022 and 1933).
    assert (lt.first_year, lt.last_year, lt.max_age) == (1933, 2022, 110)
    assert _mx(lt, "M", 2022, 110) == pytest.approx(0.72900)
    assert _mx(lt, "M", 2022, 109) == pytest.approx(0.70358)
    assert _mx(lt, "M", 1933, 0) == pytest.approx(0.06818)
    assert "Human Mortality Database" in lt.citation and "www.mortality.org" in lt.citation
    assert "1933-2022" in lt.citation


def test_cumulative_hazard_follows_the_diagonal_path_with_last_year_carried_forward(lt):
    # Male, 60.7 years old, diagnosed 2020, followed 5.5 years: ages 60..65, years 2020, 2021, 2022,
    # then 2022 again (last table year); the sixth year counts half.
    path = [
        _mx(lt, "M", y, a) for y, a in zip([2020, 2021, 2022, 2022, 2022, 2022], range(60, 66), strict=True)
    ]
    expected = sum(path[:5]) + 0.5 * path[5]
    got = lt.cumulative_hazard(60.7, "M", 2020, 66.0)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_open_age_interval_and_years_outside_the_table(lt):
    # 115-year-old: the 110+ rate forever; year 2040 uses 2022; year 1900 uses 1933.
    assert float(lt.cumulative_hazard(115, "F", 2040, 24.0)) == pytest.approx(2 * _mx(lt, "F", 2022, 110))
    assert float(lt.cumulative_hazard(30, "F", 1900, 12.0)) == pytest.approx(_mx(lt, "F", 1933, 30))


def test_broadcasting_and_survival(lt):
    ages = np.array([40.0, 85.0])
    t = np.array([0.0, 60.0, 120.0])
    S = lt.survival(ages[:, None], np.array(["F", "M"])[:, None], 2022, t[None, :])
    assert S.shape == (2, 3)
    assert np.all(S[:, 0] == 1.0)
    assert np.all(np.diff(S, axis=1) < 0)
    assert S[1, 2] < S[0, 2]  # an 85-year-old man dies faster than a 40-year-old woman
    # the values themselves, summed by hand along the diagonal (2022 is the last table year, so
    # every later year reuses it): exp(-(m40 + ... + m44)) and exp(-(m85 + ... + m94))
    f40 = np.exp(-sum(_mx(lt, "F", 2022, a) for a in range(40, 45)))
    m85 = np.exp(-sum(_mx(lt, "M", 2022, a) for a in range(85, 95)))
    assert S[0, 1] == pytest.approx(f40, rel=1e-12)
    assert S[1, 2] == pytest.approx(m85, rel=1e-12)


def test_hazard_is_piecewise_constant_per_year(lt):
    h = lt.hazard(50, "F", 2010, np.array([0.0, 6.0, 11.99, 12.0]))
    assert h[0] == h[1] == h[2] == pytest.approx(_mx(lt, "F", 2010, 50) / 12)
    assert h[3] == pytest.approx(_mx(lt, "F", 2011, 51) / 12)


def test_sample_death_times_inverts_the_cumulative_hazard_exactly(lt):
    rng = np.random.default_rng(11)
    n = 5000
    age = rng.uniform(0, 100, n)
    sex = rng.choice(["F", "M"], n)
    year = rng.integers(1940, 2030, n)
    times = lt.sample_death_times(age, sex, year, np.random.default_rng(5))
    e = np.random.default_rng(5).standard_exponential(n)  # the same draws the method used
    assert np.allclose(lt.cumulative_hazard(age, sex, year, times), e, rtol=1e-10, atol=1e-12)


def test_sampled_death_times_follow_the_survival_curve(lt):
    # 40,000 draws: the empirical 10- and 20-year survival has SE < 0.0025, tolerance 0.01.
    n = 40_000
    times = lt.sample_death_times(
        np.full(n, 70.0), np.full(n, "F"), np.full(n, 2000), np.random.default_rng(3)
    )
    for t in (120.0, 240.0):
        assert np.mean(times > t) == pytest.approx(float(lt.survival(70.0, "F", 2000, t)), abs=0.01)


def test_from_frame_round_trip_and_user_table():
    frame = LifeTable.hmd_us().to_frame()
    again = LifeTable.from_frame(frame, name="copy")
    assert np.array_equal(again.mx, LifeTable.hmd_us().mx)
    # A toy country with a constant rate 0.01/year: S(t) = exp(-0.01 t / 12) exactly.
    toy = pd.DataFrame(
        [(y, a, s, 0.01) for y in (2000, 2001) for a in range(0, 3) for s in "FM"],
        columns=["year", "age", "sex", "mx"],
    )
    t = LifeTable.from_frame(toy, name="toy")
    assert float(t.survival(1, "M", 2000, 600.0)) == pytest.approx(np.exp(-0.01 * 50))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.drop(columns="mx"), r"lacks the column\(s\) \['mx'\]"),
        (lambda d: d.iloc[1:], r"incomplete: no mx for sex 'F', year 2000, age 0"),
        (lambda d: d.assign(mx=-1.0), r"column 'mx': got -1.0; expected a death rate >= 0"),
        (lambda d: d.assign(sex="X"), r"column 'sex': got 'X'"),
    ],
    ids=["missing_column", "incomplete_grid", "negative_rate", "bad_sex"],
)
def test_from_frame_rejects_malformed_tables(edit, match):
    toy = pd.DataFrame(
        [(y, a, s, 0.01) for s in "FM" for y in (2000, 2001) for a in range(0, 3)],
        columns=["year", "age", "sex", "mx"],
    )
    with pytest.raises(ModelFileError, match=match):
        LifeTable.from_frame(edit(toy))


def test_sex_codes_are_read_as_f_m_or_0_1_and_nothing_else():
    """Integer codes outside 0/1 used to index past the table (2: IndexError) or into the male
    table (-1: a wrong number without a word); numpy integers inside an object array are codes too."""
    from mastoprog.exceptions import FindingsError

    lt = LifeTable.hmd_us()
    age, year, t = np.array([60.0, 60.0]), np.array([2000.0, 2000.0]), np.array([12.0, 12.0])
    by_letter = lt.hazard(age, np.array(["F", "M"]), year, t)
    np.testing.assert_array_equal(lt.hazard(age, np.array([0, 1]), year, t), by_letter)
    mixed = np.array([np.int64(0), "M"], dtype=object)
    np.testing.assert_array_equal(lt.hazard(age, mixed, year, t), by_letter)
    for bad in (np.array([0, 2]), np.array([-1, 1])):
        with pytest.raises(FindingsError, match=r"sex: got .*expected 'F' or 'M' \(or codes 0 = F, 1 = M\)"):
            lt.hazard(age, bad, year, t)
