"""Validation metrics, each cross-checked against an independent implementation on the same data.

Reference implementations: lifelines (Harrell's C, Kaplan-Meier, Cox), scikit-survival (Uno's C,
cumulative/dynamic AUC, Brier, integrated Brier; installed by the [test] extra, so required here) and
R's ``survival`` package (values stored in ``tests/data/validation_R_reference.csv``, R code in
the docstrings of the ``..._against_R`` tests). Data: lifelines' Rossi recidivism data
(``tests/data/validation_rossi.csv``) and a seeded synthetic set
(``tests/data/validation_synthetic.csv``; Weibull(1.3) times, scale 60 (A) / 30 (B) months times
exp(-0.7 x), uniform(10, 150) censoring, seed 20240611).
"""

from __future__ import annotations

import threading
import time as clock
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastoprog.exceptions import MetricInputError
from mastoprog.metrics import (
    brier_score,
    calibration_at,
    concordance_index,
    integrated_brier_score,
    median_recovery,
    time_dependent_auc,
)
from mastoprog.validation import bootstrap_optimism
from mastoprog.validation._simulation import _one_replicate as _REAL_REPLICATE

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return pd.read_csv(DATA / "validation_rossi.csv")


@pytest.fixture(scope="module")
def synth() -> pd.DataFrame:
    return pd.read_csv(DATA / "validation_synthetic.csv")


@pytest.fixture(scope="module")
def r_ref() -> dict[tuple[str, str], float]:
    ref = pd.read_csv(DATA / "validation_R_reference.csv")
    return {(d, q): v for d, q, v in ref.itertuples(index=False)}


def _weibull_ph_cohort(n: int, seed: int, beta: float = 0.8, lam: float = 40.0, rho: float = 1.2):
    """Weibull PH truth: S(t | x) = exp(-(t / lam)^rho exp(beta x)); uniform(5, 120) censoring."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    u = rng.uniform(size=n)
    t_event = lam * (-np.log(u) * np.exp(-beta * x)) ** (1.0 / rho)
    cens = rng.uniform(5.0, 120.0, size=n)
    time = np.minimum(t_event, cens)
    event = t_event <= cens

    def surv(t: float, coef: float = beta) -> np.ndarray:
        return np.exp(-((t / lam) ** rho) * np.exp(coef * x))

    return time, event, x, surv


def _brute_harrell(time, event, pred):
    """O(n^2) definition: comparable if i died first (or tied with j censored); ties in pred = 1/2."""
    t = np.asarray(time, float)
    e = np.asarray(event, bool)
    p = np.asarray(pred, float)
    ti, tj = t[:, None], t[None, :]
    comp = e[:, None] & ((ti < tj) | ((ti == tj) & ~e[None, :]))
    score = np.where(p[:, None] < p[None, :], 1.0, np.where(p[:, None] == p[None, :], 0.5, 0.0))
    return (comp * score).sum() / comp.sum()


# --------------------------------------------------------------------------- Harrell's C


def test_harrell_matches_lifelines_rossi(rossi):
    from lifelines.utils import concordance_index as lifelines_c

    for pred in (rossi["age"], -rossi["prio"], rossi["age"] - 2 * rossi["prio"]):
        ours = concordance_index(rossi["week"], rossi["arrest"], pred).estimate
        assert ours == pytest.approx(lifelines_c(rossi["week"], pred, rossi["arrest"]), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 8), st.booleans(), st.integers(0, 4)), min_size=2,
                max_size=40))
def test_harrell_equals_pairwise_definition_with_ties(rows):
    time, event, pred = (np.array(c) for c in zip(*rows, strict=True))
    comparable = (event[:, None] & ((time[:, None] < time[None, :]) |
                                    ((time[:, None] == time[None, :]) & ~event[None, :]))).any()
    if not comparable:
        with pytest.raises(MetricInputError, match="no comparable pair"):
            concordance_index(time, event, pred)
        return
    assert concordance_index(time, event, pred).estimate == pytest.approx(
        _brute_harrell(time, event, pred), abs=1e-12)


def test_harrell_direction_is_lifelines_convention():
    time = [5.0, 10.0, 15.0, 20.0]
    event = [1, 1, 1, 0]
    longer_is_higher = [1.0, 2.0, 3.0, 4.0]
    assert concordance_index(time, event, longer_is_higher).estimate == 1.0
    assert concordance_index(time, event, [-v for v in longer_is_higher]).estimate == 0.0


def test_harrell_against_R(rossi, synth, r_ref):
    """R 4.x, survival 3.5-3 (reference values in validation_R_reference.csv)::

        library(survival)
        r <- read.csv("tests/data/validation_rossi.csv")
        s <- read.csv("tests/data/validation_synthetic.csv")
        c1 <- concordance(Surv(week, arrest) ~ age, data=r)        # c1$concordance, sqrt(c1$var)
        c2 <- concordance(Surv(week, arrest) ~ I(-prio), data=r)
        c3 <- concordance(Surv(time, event) ~ I(-x), data=s)
    """
    cases = [
        ("rossi", "age", rossi["week"], rossi["arrest"], rossi["age"]),
        ("rossi", "negprio", rossi["week"], rossi["arrest"], -rossi["prio"]),
        ("synthetic", "negx", synth["time"], synth["event"], -synth["x"]),
    ]
    for dataset, name, time, event, pred in cases:
        res = concordance_index(time, event, pred)
        assert res.estimate == pytest.approx(r_ref[dataset, f"harrell_c_{name}"], abs=1e-10)
        # infinitesimal-jackknife standard error, as survival::concordance
        assert res.se == pytest.approx(r_ref[dataset, f"harrell_se_{name}"], rel=1e-8)
        assert res.ci_low < res.estimate < res.ci_high


def test_uno_against_R(synth, r_ref):
    """R: ``concordance(Surv(time, event) ~ I(-x), data=s, timewt="n/G2", ymax=100)``."""
    res = concordance_index(synth["time"], synth["event"], -synth["x"], method="uno", tau=100)
    assert res.estimate == pytest.approx(r_ref["synthetic", "uno_c_negx_tau100"], abs=1e-10)


def test_tau_truncation_drops_late_deaths(synth):
    full = concordance_index(synth["time"], synth["event"], -synth["x"])
    trunc = concordance_index(synth["time"], synth["event"], -synth["x"], tau=40)
    assert trunc.n_comparable < full.n_comparable
    # only deaths before tau anchor pairs: same as the pairwise definition with later deaths
    # treated as never anchoring (their own time still makes them comparable to earlier deaths)
    t = synth["time"].to_numpy()
    e = synth["event"].to_numpy().astype(bool)
    p = -synth["x"].to_numpy()
    comp = (e & (t < 40))[:, None] & (t[:, None] < t[None, :])
    score = np.where(p[:, None] < p[None, :], 1.0, np.where(p[:, None] == p[None, :], 0.5, 0.0))
    pairs_from_early = (comp * score).sum() / comp.sum()
    assert trunc.estimate == pytest.approx(pairs_from_early, abs=1e-12)


# --------------------------------------------------------------------------- scikit-survival


@pytest.fixture(scope="module")
def sksurv_metrics():
    # scikit-survival is in the [test] extra: a missing reference must fail, not skip silently in CI
    import sksurv.metrics

    return sksurv.metrics


@pytest.fixture(scope="module")
def weibull_small():
    time, event, x, surv = _weibull_ph_cohort(800, seed=11)
    return time, event, x, surv


def _surv_array(event, time):
    from sksurv.util import Surv

    return Surv.from_arrays(event=np.asarray(event, bool), time=np.asarray(time, float))


@pytest.mark.parametrize("tau", [None, 60.0], ids=["no_tau", "tau_60_months"])
def test_uno_matches_sksurv(sksurv_metrics, weibull_small, tau):
    time, event, x, _ = weibull_small
    y = _surv_array(event, time)
    ref = sksurv_metrics.concordance_index_ipcw(y, y, x, tau=tau)[0]  # sksurv: higher = riskier
    ours = concordance_index(time, event, -x, method="uno", tau=tau).estimate
    assert ours == pytest.approx(ref, abs=1e-10)


def test_time_dependent_auc_matches_sksurv(sksurv_metrics, weibull_small):
    time, event, x, surv = weibull_small
    y = _surv_array(event, time)
    times = [12.0, 36.0, 60.0]
    ref_auc, ref_mean = sksurv_metrics.cumulative_dynamic_auc(y, y, x, times)
    res = time_dependent_auc(time, event, -x, times)
    np.testing.assert_allclose(res.table["auc"], ref_auc, atol=1e-10)
    assert res.mean_auc == pytest.approx(ref_mean, abs=1e-10)
    # per-horizon predictions (rows: horizons, columns: patients), with ties in the prediction
    pred = np.vstack([np.round(surv(h), 1) for h in times])
    ref2, _ = sksurv_metrics.cumulative_dynamic_auc(y, y, -pred.T, times)
    np.testing.assert_allclose(time_dependent_auc(time, event, pred, times).table["auc"], ref2,
                               atol=1e-10)


def test_time_dependent_auc_bootstrap_interval_has_nominal_coverage():
    """Known truth: Weibull PH with score -x. The true AUC(t) comes from 200,000 uncensored
    patients (no weights needed; Monte Carlo SE < 0.002). Over 60 independent censored cohorts
    (n = 400) the bootstrap SE matches the spread of the estimates and the 95 % percentile
    intervals cover the truth (binomial sd of the coverage 0.028 around 0.95)."""
    times = [12.0, 36.0]
    # uncensored truth: the same model without censoring
    rng = np.random.default_rng(7)
    x_all = rng.normal(size=200_000)
    t_all = 40.0 * (-np.log(rng.uniform(size=200_000)) * np.exp(-0.8 * x_all)) ** (1 / 1.2)
    truth = time_dependent_auc(t_all, np.ones(t_all.size, bool), -x_all, times,
                               n_bootstrap=0).table["auc"].to_numpy()
    est, se, hit = [], [], []
    for r in range(60):
        time, event, x, _ = _weibull_ph_cohort(400, seed=5000 + r)
        tab = time_dependent_auc(time, event, -x, times, n_bootstrap=200, random_state=r).table
        est.append(tab["auc"].to_numpy())
        se.append(tab["se"].to_numpy())
        hit.append(((tab["ci_low"] <= truth) & (truth <= tab["ci_high"])).to_numpy())
        assert (tab["n_bootstrap"] == 200).all()
    ratio = np.mean(se, axis=0) / np.std(est, axis=0, ddof=1)
    # an SD from 60 draws has a relative SE of ~9 %: bounds at about +-4 SE. (Over 300 cohorts
    # of n = 400 / 1,500 the ratios were 0.95-1.11 and the coverage 0.93-0.96 at 12/36/60 months.)
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio
    coverage = np.mean(hit, axis=0)
    # 0.85 is 3.6 binomial sd below 0.95 (no upper bound: at 0.95, 60 of 60 happens in 5 % of
    # seeds; over-wide intervals are caught by the SE ratio above)
    assert np.all(coverage >= 0.85), coverage
    # Mean of 60 estimates vs the truth. Its Monte Carlo se is sd / sqrt(60) = 0.0037 / 0.0027 at
    # 12 / 36 months (plus the truth's own < 0.002); the old fixed 0.01 was 2.7 / 3.7 se and, with
    # the estimator's small-sample bias (-0.003 / -0.005 here), only 1.8 se from failing at 36.
    mcse = np.hypot(np.std(est, axis=0, ddof=1) / np.sqrt(len(est)), 0.002)
    assert np.all(np.abs(np.mean(est, axis=0) - truth) < 4.5 * mcse), (np.mean(est, axis=0), truth, mcse)


def test_time_dependent_auc_interval_is_reproducible_and_optional(weibull_small):
    time, event, x, _ = weibull_small
    a = time_dependent_auc(time, event, -x, [24.0, 48.0])
    b = time_dependent_auc(time, event, -x, [24.0, 48.0], random_state=0)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.mean_auc_ci[0] < a.mean_auc < a.mean_auc_ci[1]
    assert ((a.table["ci_low"] < a.table["auc"]) & (a.table["auc"] < a.table["ci_high"])).all()
    none = time_dependent_auc(time, event, -x, [24.0, 48.0], n_bootstrap=0)
    np.testing.assert_array_equal(none.table["auc"], a.table["auc"])
    assert none.table[["se", "ci_low", "ci_high"]].isna().all().all()
    with pytest.raises(MetricInputError, match="'n_bootstrap': got -1"):
        time_dependent_auc(time, event, -x, [24.0], n_bootstrap=-1)


def test_brier_and_ibs_match_sksurv(sksurv_metrics, weibull_small):
    time, event, _, surv = weibull_small
    y = _surv_array(event, time)
    times = np.arange(6.0, 97.0, 6.0)
    pred = pd.DataFrame(np.vstack([surv(h) for h in times]), index=times)
    _, ref = sksurv_metrics.brier_score(y, y, pred.to_numpy().T, times)
    ours = [brier_score(time, event, pred.loc[h], h).estimate for h in times]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    ref_ibs = sksurv_metrics.integrated_brier_score(y, y, pred.to_numpy().T, times)
    assert integrated_brier_score(time, event, pred, times) == pytest.approx(ref_ibs, abs=1e-12)


# --------------------------------------------------------------------------- Brier by hand


def test_brier_without_censoring_is_mean_squared_error():
    time = np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    event = np.ones(5, dtype=bool)
    pred = np.array([0.1, 0.2, 0.6, 0.7, 0.9])
    alive = (time > 5.0).astype(float)
    res = brier_score(time, event, pred, 5.0)
    assert res.estimate == pytest.approx(np.mean((alive - pred) ** 2))
    assert res.ci_low < res.estimate < res.ci_high


def test_ibs_checks_index_against_times(weibull_small):
    time, event, _, surv = weibull_small
    pred = pd.DataFrame(np.vstack([surv(h) for h in (12.0, 24.0)]), index=[12.0, 25.0])
    with pytest.raises(MetricInputError, match="horizons in 'times'"):
        integrated_brier_score(time, event, pred, [12.0, 24.0])


# --------------------------------------------------------------------------- Kaplan-Meier / medians


def test_kaplan_meier_against_R(rossi, r_ref):
    """R: ``fit <- survfit(Surv(week, arrest) ~ 1, data=r, conf.type="log-log");
    summary(fit, times=c(10, 26, 52))`` -> surv, std.err, lower, upper."""
    from mastoprog.metrics import kaplan_meier

    km = kaplan_meier(rossi["week"], rossi["arrest"])
    weeks = [10, 26, 52]
    lo, hi = km.ci_at(weeks)
    for k, w in enumerate(weeks):
        assert km.at(w) == pytest.approx(r_ref["rossi", f"km_surv_{w}"], abs=1e-12)
        assert km.se_at(w) == pytest.approx(r_ref["rossi", f"km_se_{w}"], rel=1e-9)
        assert lo[k] == pytest.approx(r_ref["rossi", f"km_lower_{w}"], rel=1e-9)
        assert hi[k] == pytest.approx(r_ref["rossi", f"km_upper_{w}"], rel=1e-9)


def test_median_recovery_against_R(synth, r_ref):
    """R: ``fs <- survfit(Surv(time, event) ~ group, data=s, conf.type="log-log");
    quantile(fs, probs=0.5)`` -> quantile, lower, upper per group."""
    # predicted: each group's true marginal curve would do; use a flat 0.5 crossing at 40 months
    grid = np.arange(0.0, 151.0)
    curve = np.clip(1.0 - grid / 80.0, 0.0, 1.0)  # reaches 0.5 at exactly 40 months
    pred = pd.DataFrame(np.repeat(curve[:, None], len(synth), axis=1), index=grid)
    res = median_recovery(synth["time"], synth["event"], synth["group"], pred).set_index("group")
    for g in ("A", "B"):
        assert res.loc[g, "km_median"] == pytest.approx(r_ref["synthetic", f"km_median_{g}"], abs=1e-9)
        assert res.loc[g, "km_median_low"] == pytest.approx(r_ref["synthetic", f"km_median_lower_{g}"],
                                                            abs=1e-9)
        assert res.loc[g, "km_median_high"] == pytest.approx(
            r_ref["synthetic", f"km_median_upper_{g}"], abs=1e-9)
        assert res.loc[g, "predicted_median"] == pytest.approx(40.0)
    # A: 36.7-61.3 covers 40; B: 18.4-28.2 does not
    assert res.loc["A", "covered"] and not res.loc["B", "covered"]


def test_median_recovery_of_true_curves():
    """With the true Weibull curves as predictions, the KM median interval covers the truth."""
    time, event, x, surv = _weibull_ph_cohort(4000, seed=3, beta=0.0)
    grid = np.arange(0.0, 121.0, 0.5)
    pred = pd.DataFrame(np.vstack([surv(h) for h in grid]), index=grid)
    res = median_recovery(time, event, np.where(x > 0, "hi", "lo"), pred)
    true_median = 40.0 * np.log(2.0) ** (1 / 1.2)
    np.testing.assert_allclose(res["predicted_median"], true_median, rtol=2e-3)
    assert res["covered"].all()


# --------------------------------------------------------------------------- calibration


def test_cox_helper_matches_lifelines():
    from lifelines import CoxPHFitter

    from mastoprog.metrics._cox import cox_fit

    time, event, x, _ = _weibull_ph_cohort(600, seed=5)
    z = np.random.default_rng(6).normal(size=600)
    fit = cox_fit(time, event, np.column_stack([x, z]))
    df = pd.DataFrame({"t": time, "e": event.astype(int), "x": x, "z": z})
    ref = CoxPHFitter().fit(df, "t", "e")
    np.testing.assert_allclose(fit.beta, ref.params_.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), ref.standard_errors_.to_numpy(), rtol=1e-5)
    # at an observed death time (lifelines interpolates its baseline between death times)
    t0 = float(np.sort(time[event])[100])
    s_ref = ref.predict_survival_function(df.iloc[:5], times=[t0]).to_numpy().ravel()
    np.testing.assert_allclose(fit.survival_at(np.column_stack([x, z])[:5], t0), s_ref, rtol=1e-6)


def test_calibration_of_true_model_is_near_perfect():
    time, event, _, surv = _weibull_ph_cohort(5000, seed=21)
    cal = calibration_at(time, event, surv(36.0), 36.0)
    # Bounds from 81 seeds of this design (100-179 and 21): "95 % interval contains 1" failed for
    # the O/E in 7.5 % of seeds, ">= 9 of 10 group intervals cover" in ~9 %, and ICI < 0.02 once
    # in 40 (ICI mean 0.008, sd 0.005; E90 mean 0.013, sd 0.008, max 0.031). Now: slope and O/E
    # within 4 se of 1 (largest |z| seen 2.1 / 2.7), each group within 4.5 KM se of its mean
    # prediction (largest of 10 seen 3.1), ICI < 0.03, E90 < 0.05 (a doubled log HR gives ICI 0.10).
    for est, lo, hi in ((cal.slope, cal.slope_low, cal.slope_high), (cal.oe_ratio, cal.oe_low, cal.oe_high)):
        assert abs(est - 1) < 4 * (hi - lo) / 3.92, (est, lo, hi)
    assert cal.ici < 0.03 and cal.e90 < 0.05
    g = cal.groups
    assert len(g) == 10 and g["n"].sum() == 5000
    se = (g["observed_high"] - g["observed_low"]) / 3.92
    assert ((g["observed_survival"] - g["predicted_survival"]).abs() < 4.5 * se).all(), g


def test_calibration_slope_recovers_known_overfit():
    """Predictions with the log hazard ratio doubled: log(-log S_pred) = log H0 + 2 lp, so the
    true slope on that scale is exactly 1/2."""
    time, event, _, surv = _weibull_ph_cohort(5000, seed=22)
    cal = calibration_at(time, event, surv(36.0, coef=1.6), 36.0)
    # over 40 seeds: mean slope 0.507, sd 0.011 (the smoother's small upward bias); 0.05 leaves
    # 3.8 sd (0.04 left 2.9)
    assert cal.slope == pytest.approx(0.5, abs=0.05)
    assert cal.slope_high < 0.6
    assert cal.ici > 0.03


def test_calibration_groups_match_lifelines_km():
    from lifelines import KaplanMeierFitter

    time, event, _, surv = _weibull_ph_cohort(1000, seed=8)
    pred = surv(24.0)
    cal = calibration_at(time, event, pred, 24.0, n_groups=4)
    order = np.argsort(1 - pred, kind="stable")
    for k, idx in enumerate(np.array_split(order, 4)):
        km = KaplanMeierFitter().fit(time[idx], event[idx])
        assert cal.groups.loc[k, "observed_survival"] == pytest.approx(
            km.survival_function_at_times(24.0).iloc[0], abs=1e-12)
        assert cal.groups.loc[k, "predicted_survival"] == pytest.approx(pred[idx].mean())
    s = cal.summary()
    assert list(s["metric"]) == ["observed_risk", "expected_risk", "oe_ratio", "calibration_intercept",
                                 "calibration_slope", "ici", "e50", "e90", "emax"]


# --------------------------------------------------------------------------- errors


def test_errors_name_row_column_value_and_expected():
    time = pd.Series([3.0, -1.0, 5.0], index=["p1", "p2", "p3"])
    with pytest.raises(MetricInputError, match=r"row 'p2', column 'time': got -1.0; expected a finite "
                                               r"follow-up time >= 0 \(months\)"):
        concordance_index(time, [1, 0, 1], [1, 2, 3])
    with pytest.raises(MetricInputError, match=r"column 'event': got 2; expected 1 \(event observed\)"):
        concordance_index([1, 2, 3], [1, 2, 0], [1, 2, 3])
    with pytest.raises(MetricInputError, match=r"column 'predicted': got nan; expected a finite number"):
        concordance_index([1, 2, 3], [1, 1, 0], [1, np.nan, 3])
    with pytest.raises(MetricInputError, match=r"got '2 values'; expected one per patient"):
        concordance_index([1, 2, 3], [1, 1], [1, 2, 3])
    with pytest.raises(MetricInputError, match="method"):
        concordance_index([1, 2, 3], [1, 1, 0], [1, 2, 3], method="somers")
    with pytest.raises(MetricInputError, match=r"got 1.5; expected a probability between 0 and 1"):
        brier_score([1, 2, 3], [1, 1, 0], [0.5, 1.5, 0.2], 1.5)
    with pytest.raises(MetricInputError, match=r"below the largest follow-up time \(3\)"):
        brier_score([1, 2, 3], [1, 1, 0], [0.5, 0.5, 0.2], 3.0)
    assert issubclass(MetricInputError, ValueError)


# --------------------------------------------------------------------------- bootstrap optimism


class CoxEstimator:
    """Minimal estimator for the protocol: Cox PH on the given covariates (our Newton fit)."""

    def __init__(self, covariates: list[str]):
        self.covariates = covariates

    def fit(self, df: pd.DataFrame) -> CoxEstimator:
        from mastoprog.metrics._cox import cox_fit

        self.fit_ = cox_fit(df["time"].to_numpy(), df["event"].to_numpy(bool),
                            df[self.covariates].to_numpy())
        return self

    def predict_survival_at(self, df: pd.DataFrame, t: float) -> np.ndarray:
        return self.fit_.survival_at(df[self.covariates].to_numpy(), t)


def _overfit_data(n: int, seed: int, n_noise: int = 10) -> pd.DataFrame:
    time, event, x, _ = _weibull_ph_cohort(n, seed=seed, beta=0.5)
    rng = np.random.default_rng(seed + 1000)
    df = pd.DataFrame(rng.normal(size=(n, n_noise)), columns=[f"z{k}" for k in range(n_noise)])
    df["x"] = x
    df["time"] = time
    df["event"] = event.astype(int)
    return df


def test_bootstrap_optimism_corrects_towards_external_performance():
    """Harrell's corrected C targets the expected performance of the model-building procedure on
    new patients: averaged over 12 training sets (n = 120, 11 covariates of which 10 are noise),
    corrected C is close to C on a large external cohort while apparent C is clearly optimistic."""
    covs = ["x"] + [f"z{k}" for k in range(10)]
    test = _overfit_data(5000, seed=999)
    rows = []
    for r in range(12):
        train = _overfit_data(120, seed=100 + r)
        res = bootstrap_optimism(CoxEstimator(covs), train, 36.0, n_bootstrap=25, random_state=r,
                                 progress=False)
        tab = res.table.set_index("metric")
        model = CoxEstimator(covs).fit(train)
        ext = concordance_index(test["time"], test["event"], model.predict_survival_at(test, 36.0))
        rows.append((tab.loc["c_index", "apparent"], tab.loc["c_index", "corrected"], ext.estimate,
                     tab.loc["calibration_slope", "apparent"], tab.loc["calibration_slope", "corrected"],
                     tab.loc["brier", "optimism"]))
        assert (tab["ci_low"] < tab["corrected"]).all() and (tab["corrected"] < tab["ci_high"]).all()
        assert len(res.replicates) == 25 * 4 and not res.interrupted
        assert (res.table["horizon"] == 36.0).all()
    apparent, corrected, external, slope_app, slope_corr, brier_opt = np.array(rows).mean(axis=0)
    assert apparent - external > 0.04
    assert abs(corrected - external) < 0.5 * (apparent - external)
    assert slope_corr < 0.9 < slope_app  # shrinkage needed: noise covariates
    assert brier_opt < 0  # Brier: lower is better, so the apparent Brier is too low


def test_bootstrap_is_deterministic_per_random_state():
    df = _overfit_data(100, seed=41, n_noise=2)
    est = CoxEstimator(["x", "z0", "z1"])
    a = bootstrap_optimism(est, df, [12.0, 24.0], n_bootstrap=5, random_state=7, progress=False)
    b = bootstrap_optimism(est, df, [12.0, 24.0], n_bootstrap=5,
                           random_state=np.random.default_rng(7), progress=False)
    c = bootstrap_optimism(est, df, [12.0, 24.0], n_bootstrap=5, random_state=8, progress=False)
    assert len(a.table) == 8 and list(a.table["horizon"].unique()) == [12.0, 24.0]
    # the 24-month rows equal a single-horizon run with the same seed (same resamples)
    single = bootstrap_optimism(est, df, 24.0, n_bootstrap=5, random_state=7, progress=False)
    pd.testing.assert_frame_equal(a.table[a.table["horizon"] == 24.0].reset_index(drop=True),
                                  single.table)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not a.table["optimism"].equals(c.table["optimism"])
    assert not hasattr(est, "fit_")  # the estimator passed in is never mutated


class _InterruptingEstimator(CoxEstimator):
    calls = 0

    def fit(self, df):
        type(self).calls += 1
        if type(self).calls == 5:  # 1 full fit + 3 replicates, then Ctrl-C
            raise KeyboardInterrupt
        return super().fit(df)


def test_bootstrap_interrupt_returns_finished_replicates():
    df = _overfit_data(100, seed=51, n_noise=1)
    _InterruptingEstimator.calls = 0
    with pytest.warns(RuntimeWarning, match="interrupted after 3 of 20"):
        res = bootstrap_optimism(_InterruptingEstimator(["x", "z0"]), df, 24.0, n_bootstrap=20,
                                 random_state=1, progress=False)
    assert res.interrupted and (res.table["n_bootstrap"] == 3).all()


class _FragileCox(CoxEstimator):
    """Refuses to fit with fewer than ``min_rare`` deaths among the rare ``flag == 1`` patients,
    like ``SurvivalModel.fit`` with too few MCL deaths."""

    def __init__(self, covariates: list[str], min_rare: int):
        super().__init__(covariates)
        self.min_rare = min_rare

    def fit(self, df: pd.DataFrame) -> CoxEstimator:
        rare = int(df.loc[df["flag"] == 1, "event"].sum())
        if rare < self.min_rare:
            raise ValueError(f"too few deaths in the rare group: {rare}")
        return super().fit(df)


def _fragile_data() -> pd.DataFrame:
    df = _overfit_data(150, seed=71, n_noise=1)
    df["flag"] = 0
    rare_dead = np.flatnonzero(df["event"].to_numpy() == 1)[:8]  # 8 deaths in the rare group
    df.loc[rare_dead, "flag"] = 1
    return df


def test_bootstrap_skips_and_counts_failed_resamples():
    """A resample in which the estimator cannot be fitted is skipped, counted and reported, never
    silently dropped: exactly the resamples with fewer than 8 rare deaths fail (replayed here
    from the same seed; each resample is drawn before fitting, so skips do not shift the rest)."""
    df = _fragile_data()
    with pytest.warns(RuntimeWarning, match=r"bootstrap: \d+ of 30 resamples failed"):
        res = bootstrap_optimism(_FragileCox(["x", "z0"], min_rare=8), df, 24.0, n_bootstrap=30,
                                 random_state=3, progress=False)
    rng = np.random.default_rng(3)
    flag, event = df["flag"].to_numpy(), df["event"].to_numpy()
    expected_fail = [b for b in range(30)
                     if (lambda i: int(event[i][flag[i] == 1].sum()))(rng.integers(0, 150, 150)) < 8]
    assert 3 <= len(expected_fail) <= 27  # the test exercises both outcomes
    assert list(res.failures["replicate"]) == expected_fail
    assert set(res.failures["stage"]) == {"fit"} and set(res.failures["error"]) == {"ValueError"}
    used = sorted(res.replicates["replicate"].unique())
    assert sorted(used + expected_fail) == list(range(30))
    assert (res.table["n_bootstrap"] == len(used)).all()
    assert (res.table["n_failed"] == len(expected_fail)).all()
    assert res.n_failed == len(expected_fail) and res.n_requested == 30
    assert f"{len(used)} of 30 bootstrap resamples used; {len(expected_fail)} skipped" in res.summary()
    # below the warning threshold: counted, no warning (filterwarnings=error would fail the test)
    quiet = bootstrap_optimism(_FragileCox(["x", "z0"], min_rare=8), df, 24.0, n_bootstrap=30,
                               random_state=3, progress=False, max_failed_fraction=1.0)
    assert quiet.n_failed == len(expected_fail)
    with pytest.raises(ValueError, match="too few deaths in the rare group"):
        bootstrap_optimism(_FragileCox(["x", "z0"], min_rare=8), df, 24.0, n_bootstrap=30,
                           random_state=3, progress=False, on_error="raise")
    with pytest.raises(MetricInputError, match="3 of 3 resamples failed"):  # nothing to average
        _raise_all_fail(df)


def _raise_all_fail(df: pd.DataFrame) -> None:
    class _Never(CoxEstimator):
        calls = 0

        def fit(self, d):
            type(self).calls += 1
            if type(self).calls > 1:  # the full-data fit works, every resample fails
                raise np.linalg.LinAlgError("singular")
            return super().fit(d)

    bootstrap_optimism(_Never(["x"]), df, 24.0, n_bootstrap=3, random_state=0, progress=False,
                       max_failed_fraction=1.0)


def test_bootstrap_bad_input():
    df = _overfit_data(50, seed=61, n_noise=1).drop(columns="event")
    with pytest.raises(MetricInputError, match="column 'event': got 'missing column'"):
        bootstrap_optimism(CoxEstimator(["x"]), df, 24.0, n_bootstrap=5, progress=False)


# --------------------------------------------------------------------------- validate / report / CLI


@pytest.fixture(scope="module")
def lim_model():
    from mastoprog.survival import load_model

    return load_model("lim2009")


@pytest.fixture(scope="module")
def lim_cohort(lim_model):
    from mastoprog.synthetic import simulate_cohort

    # independent censoring (2 %/year drop-out, at most 40 years): KM estimates the marginal curve
    return simulate_cohort(1500, "lim2009", random_state=5, model=lim_model, assign_subtype=True,
                           censoring={"dropout_per_year": 0.02, "max_followup_months": 480.0})


@pytest.fixture(scope="module")
def lim_result(lim_model, lim_cohort):
    from mastoprog.validation import validate

    return validate(lim_model, lim_cohort, horizons=(12, 60, 120))


def test_validate_true_model_on_its_own_cohort(lim_model, lim_cohort, lim_result):
    """The generating model, scored on a cohort drawn from it: calibrated (slope and O/E within 4
    standard errors of 1, small ICI), and every subtype's KM median within 4.5 standard errors of
    the predicted median.

    Not "every 95 % interval contains the truth": that is 11 intervals (slope and O/E at 3
    horizons, 5 medians), and over seeds 5-12 of this cohort 3 of 8 seeds had one miss (slope at
    120 months z = 2.4, 2.2; a median interval missed). Over seeds 5-24 the largest |z| were 2.4
    (slope/O-E; se = CI width / 3.92) and 3.5 (medians, MCL's 22 patients), the largest ICI 0.023.
    """
    res = lim_result
    m = res.metrics.set_index(["metric", "horizon"])
    assert set(res.metrics["section"]) == {"discrimination", "calibration", "overall"}
    for h in (12.0, 60.0, 120.0):
        for metric in ("calibration_slope", "oe_ratio"):
            est, lo, hi = m.loc[(metric, h), ["estimate", "ci_low", "ci_high"]]
            assert abs(est - 1) < 4 * (hi - lo) / 3.92, (metric, h, est, lo, hi)
        assert m.loc[("ici", h), "estimate"] < 0.03
        # same number as calling the metric directly on the model's predictions
        s = lim_model.predict_survival_at(lim_cohort, h).to_numpy()
        direct = concordance_index(lim_cohort["time"], lim_cohort["event"], s, tau=h)
        assert m.loc[("c_harrell", h), "estimate"] == pytest.approx(direct.estimate, abs=1e-12)
        assert m.loc[("brier", h), "estimate"] == pytest.approx(
            brier_score(lim_cohort["time"], lim_cohort["event"], s, h).estimate, abs=1e-12)
    med = res.medians
    se = (med["km_median_high"] - med["km_median_low"]) / 3.92
    assert (med["difference"].abs() < 4.5 * se).all(), med
    assert med["covered"].tolist() == ((med["km_median_low"] <= med["predicted_median"])
                                       & (med["predicted_median"] <= med["km_median_high"])).tolist()
    assert set(res.medians["group"]) == {"ISM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN"}
    assert res.data_summary.set_index("group").loc["all", "n"] == 1500
    assert res.data_summary.set_index("group").loc["all", "deaths"] == int(lim_cohort["event"].sum())


def test_validate_every_metric_has_an_interval_or_says_why_not(lim_cohort, lim_result):
    """Every row of the tidy table carries a ``ci_note``: how its interval was obtained, or (when
    ``ci_low``/``ci_high`` are NaN) why there is none. Rows with an interval bracket the estimate."""
    from mastoprog.metrics import kaplan_meier

    m = lim_result.metrics
    assert (m["ci_note"].str.len() > 10).all()
    has_ci = m["ci_low"].notna() & m["ci_high"].notna()
    assert (has_ci | m["ci_note"].str.startswith("no CI:")).all()
    assert (~has_ci | ~m["ci_note"].str.startswith("no CI:")).all()
    ok = m[has_ci]
    assert ((ok["ci_low"] <= ok["estimate"]) & (ok["estimate"] <= ok["ci_high"])).all(), ok
    by = m.set_index(["metric", "horizon"])
    assert set(m.loc[~has_ci, "metric"]) == {"expected_risk", "ici", "e50", "e90", "emax"}
    assert "weights treated as fixed" in by.loc[("c_uno", 60.0), "ci_note"]
    assert "bootstrap" in by.loc[("auc", 60.0), "ci_note"]
    assert "not proportional" in by.loc[("calibration_slope", 60.0), "ci_note"]
    # the observed risk's interval is 1 - the Kaplan-Meier band at the horizon
    lo, hi = kaplan_meier(lim_cohort["time"].to_numpy(), lim_cohort["event"].to_numpy(bool)).ci_at(60.0)
    assert by.loc[("observed_risk", 60.0), "ci_low"] == pytest.approx(1 - hi, abs=1e-12)
    assert by.loc[("observed_risk", 60.0), "ci_high"] == pytest.approx(1 - lo, abs=1e-12)
    # the AUC row is the function's own bootstrap interval (random_state 0 when None)
    s = np.vstack([lim_result.predicted[np.searchsorted(lim_result.grid, h)]
                   for h in lim_result.horizons])
    auc = time_dependent_auc(lim_result.time, lim_result.event, s, list(lim_result.horizons),
                             random_state=0).table.set_index("time")
    assert by.loc[("auc", 60.0), "ci_low"] == pytest.approx(auc.loc[60.0, "ci_low"], abs=1e-12)


def test_an_entry_time_column_is_reported_as_not_used(lim_model, lim_cohort):
    """validate has no delayed entry: a column that looks like one is named in the notes, not
    silently ignored, and the figures are those of the same cohort without it."""
    from mastoprog.validation import validate

    part = lim_cohort.iloc[:300]
    with_entry = validate(lim_model, part.assign(Entry_Time=6.0), horizons=(12,))
    said = [n for n in with_entry.notes if "not used" in n]
    assert len(said) == 1, with_entry.notes
    assert said[0].startswith("column 'Entry_Time' is not used") and "no delayed entry" in said[0]
    plain = validate(lim_model, part, horizons=(12,))
    assert not any("not used" in n for n in plain.notes)
    pd.testing.assert_frame_equal(with_entry.metrics, plain.metrics)


def test_validate_drops_horizons_beyond_followup(lim_model, lim_cohort):
    from mastoprog.validation import validate

    res = validate(lim_model, lim_cohort.iloc[:300], horizons=(12, 5000))
    assert res.horizons == (12.0,)
    assert "dropped" in res.notes[0]
    # the canonical frame has every canonical column: an absent one is read as wholly empty
    with pytest.raises(MetricInputError, match=r"column 'time': got 'missing column \(every value empty\)'"):
        validate(lim_model, lim_cohort.drop(columns="time"))


def test_validation_plots_are_built_from_the_result(lim_result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter

    from mastoprog.validation._plots import at_risk_table

    def check_km_lines(ax, labels):
        # one KM step line and one dashed predicted line per group (+ the legend proxy); each step
        # line is lifelines' Kaplan-Meier of that group (independent estimator), each dashed line the
        # mean of the group's predicted curves on the grid
        lines = ax.get_lines()
        assert len(lines) == 2 * len(set(labels.tolist())) + 1
        tmax = max(lim_result.horizons)
        in_grid = lim_result.grid <= tmax
        for k, g in enumerate(sorted(set(labels.tolist()), key=str)):
            m = labels == g
            step, dashed = lines[2 * k], lines[2 * k + 1]
            assert step.get_label() == f"{g} (n={int(m.sum())})"
            km = KaplanMeierFitter().fit(lim_result.time[m], lim_result.event[m])
            x = np.asarray(step.get_xdata(), float)
            np.testing.assert_allclose(step.get_ydata(), km.survival_function_at_times(x).to_numpy(),
                                       rtol=1e-10)
            np.testing.assert_allclose(dashed.get_xdata(), lim_result.grid[in_grid])
            np.testing.assert_allclose(dashed.get_ydata(),
                                       lim_result.predicted[in_grid][:, m].mean(axis=1), rtol=1e-12)

    ax = lim_result.plot_km("subtype")
    check_km_lines(ax, lim_result.subtype)
    groups = sorted(set(lim_result.subtype.tolist()))
    ticks = np.array([0.0, 60.0, 120.0])
    table = at_risk_table(lim_result.time, lim_result.subtype, ticks)
    for g in groups:
        t = lim_result.time[lim_result.subtype == g]
        assert list(table[g]) == [int((t >= x).sum()) for x in ticks]
    ax2 = lim_result.plot_calibration(60.0)
    line = next(ln for ln in ax2.get_lines() if ln.get_label() == "smoothed (Cox, RCS)")
    np.testing.assert_allclose(line.get_ydata(), lim_result.calibration[60.0].curve["observed_risk"])
    check_km_lines(lim_result.plot_km("risk_group"), lim_result.risk_group)
    plt.close("all")


def test_html_report_is_self_contained(lim_result, tmp_path):
    from mastoprog import RESEARCH_USE_NOTICE

    out = tmp_path / "report.html"
    text = lim_result.to_html(out, model_name="lim2009")
    assert out.read_text(encoding="utf-8") == text
    for section in ("1. Data", "2. Model", "3. Discrimination", "4. Calibration",
                    "5. Internal validation"):
        assert section in text
    assert RESEARCH_USE_NOTICE in text
    # 3 calibration plots + 2 KM plots + the decision curve
    assert text.count("data:image/png;base64,") == 3 + 2 + 1
    assert "decision curve at 60 months" in text and "index of prediction accuracy" in text
    assert "<script" not in text and 'src="http' not in text and "<link" not in text
    # the calibration-slope caveat (background + excess hazards are not proportional) is visible
    # in the report and in the docstrings
    assert "Calibration slope caveat" in text and "not proportional" in text
    from mastoprog.validation import validate

    for doc in (validate.__doc__, calibration_at.__doc__):
        assert "not proportional" in " ".join(doc.split())


def test_cli_validate_writes_report(lim_cohort, tmp_path, capsys):
    from mastoprog.cli import main

    cohort = tmp_path / "cohort.csv"
    lim_cohort.iloc[:400].to_csv(cohort, index=False)
    out = tmp_path / "r.html"
    assert main(["validate", str(cohort), "-o", str(out), "--horizons", "12,60"]) == 0
    assert "5. Internal validation" in out.read_text(encoding="utf-8")
    assert main(["validate", str(cohort), "-o", str(out)]) == 2  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert main(["validate", str(cohort), "--horizons", "a,b"]) == 2
    assert "expected comma-separated months" in capsys.readouterr().err
    metrics = tmp_path / "m.csv"
    assert main(["validate", str(cohort), "-o", str(metrics), "--horizons", "60"]) == 0
    assert set(pd.read_csv(metrics)["metric"]) >= {"c_harrell", "calibration_slope", "brier"}


# --------------------------------------------------------------------------- simulation studies


@pytest.mark.slow
def test_simulation_study_recovers_subtype_medians():
    """Acceptance (reduced): 20 replicates of n = 2,000 from the lim2009 model. The KM median's
    95 % intervals cover the true marginal subtype medians (pooled over the 5 subtypes, 100
    intervals; binomial sd 0.022 around 0.95) and the bias is within 4.5 Monte Carlo SEs.
    ``benchmarks/bench_simulation_study.py`` runs the full 200 replicates.

    Margins (seed 2024): pooled coverage 0.97; |bias| / MCSE at most 1.0 (medians) and 2.3 (O/E).
    An MCSE from 20 replicates is itself noisy, so bias / MCSE is ~ t with 19 df: P(|t| > 3) =
    0.0074 per check, ~ 6 % over the 8 checks below, too seed-lucky; P(|t| > 4.5) = 0.00025 per
    check, ~ 0.2 % over 8."""
    from mastoprog.validation import simulation_study

    res = simulation_study("lim2009", 2000, 20, random_state=2024, truth_n=4000, progress=False)
    km = res.summary[(res.summary["estimator"] == "km") & (res.summary["quantity"] == "median")]
    assert set(km["group"]) == {"ISM", "SSM", "SM-AHN", "ASM", "MCL"}
    pooled = (km["coverage"] * km["n_replicates"]).sum() / km["n_replicates"].sum()
    # lower bound 2.7 binomial sd below 0.95 (P(<= 88 of 100 | 0.95) = 0.004). No upper bound:
    # the KM median intervals are conservative (0.97 here) and at 0.97 all 100 intervals cover in
    # 4.8 % of seeds, so the old "<= 0.995" was a coin toss away from flaking.
    assert pooled >= 0.89, pooled
    mcse = km["empirical_se"] / np.sqrt(km["n_finite"])
    assert (km["bias"].abs() < 4.5 * mcse).all(), km[["group", "truth", "mean", "bias", "empirical_se"]]
    # the generating model scored on its own cohorts: O/E unbiased for 1; the Cox-based slope is
    # exactly 1 only under proportional hazards, which background + excess hazards are not, so
    # a correct relative-survival model scores slightly above 1 (about 1.03 here)
    s = res.summary[res.summary["estimator"] == "truth"]
    oe = s[s["quantity"] == "oe_ratio"]
    slope = s[s["quantity"] == "calibration_slope"]
    assert list(oe["horizon"]) == [12.0, 60.0, 120.0]
    assert (oe["bias"].abs() < 4.5 * oe["empirical_se"] / np.sqrt(oe["n_finite"])).all()
    # mean slopes 1.012 / 1.020 / 1.035 at 12 / 60 / 120 months, MCSE 0.013 / 0.008 / 0.007: 0.07
    # leaves >= 4.5 MCSE at each horizon (0.06 left only 3.6 at 120 months)
    assert ((slope["mean"] - 1.0).abs() < 0.07).all(), slope[["horizon", "mean", "empirical_se"]]
    # the slope's estimand is its population value (200,000 patients: 1.010 / 1.010 / 1.024 at
    # seeds 1-2, SE 0.005 / 0.003 / 0.003; here 50,000, SE <= 0.01), above 1 at every horizon; the
    # replicates are unbiased for it within 4.5 MCSE (the truth's own SE added in quadrature)
    assert (slope["truth"] > 1.0).all() and (slope["truth"] < 1.1).all(), slope[["horizon", "truth"]]
    truth_se = 0.01  # upper bound of the 50,000-patient truth's SE at these horizons
    mcse = np.hypot(slope["empirical_se"] / np.sqrt(slope["n_finite"]), truth_se)
    assert (slope["bias"].abs() < 4.5 * mcse).all(), slope[["horizon", "truth", "mean", "bias"]]
    assert "not 1" in res.design["estimands"]["calibration_slope"]
    assert len(res.replicates["replicate"].unique()) == 20 and not res.interrupted


_ONE_FINISHED = threading.Event()


def _interrupt_replicate_five(rep, seed, spec):
    """Replicate 5 is hit by Ctrl-C. Dask may start it first (under load it did), and an interrupt
    before any replicate finished re-raises KeyboardInterrupt by design, so it waits until another
    replicate has returned. Module level (not a closure): Dask pickles the task, and an Event's lock
    cannot be pickled by value."""
    if rep == 5:
        _ONE_FINISHED.wait(timeout=120)
        clock.sleep(0.5)
        raise KeyboardInterrupt
    out = _REAL_REPLICATE(rep, seed, spec)
    _ONE_FINISHED.set()
    return out


def test_simulation_study_is_deterministic_across_backends(monkeypatch):
    """Identical replicates serially and on a 2-worker Dask cluster; and a KeyboardInterrupt inside
    a Dask task (which would otherwise kill the worker and be retried until ``KilledWorker``)
    stops the study cleanly with the finished replicates."""
    from dask.distributed import Client, LocalCluster

    import mastoprog.validation._simulation as sim
    from mastoprog.validation import simulation_study

    kw = {"n_patients": 300, "n_replicates": 3, "random_state": 3, "truth_n": 1000, "progress": False}
    serial = simulation_study("lim2009", **kw)
    real = sim._one_replicate
    flaky = _interrupt_replicate_five
    _ONE_FINISHED.clear()

    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        on_dask = simulation_study("lim2009", backend="dask", client=client, **kw)
        monkeypatch.setattr(sim, "_one_replicate", flaky)
        with pytest.warns(RuntimeWarning, match=r"interrupted after \d+ of 10"):
            cut = simulation_study("lim2009", backend="dask", client=client,
                                   **{**kw, "n_replicates": 10, "n_patients": 150})
        monkeypatch.setattr(sim, "_one_replicate", real)
        assert cut.interrupted and 5 not in set(cut.replicates["replicate"])
        assert not client.processing() or not any(client.processing().values())
    pd.testing.assert_frame_equal(serial.replicates, on_dask.replicates)
    other = simulation_study("lim2009", **{**kw, "random_state": 4})
    assert not serial.replicates["estimate"].equals(other.replicates["estimate"])


def test_simulation_study_interrupt_and_bad_input(monkeypatch):
    import mastoprog.validation._simulation as sim
    from mastoprog.validation import simulation_study

    real = sim._one_replicate

    def flaky(rep, seed, spec):
        if rep == 2:
            raise KeyboardInterrupt
        return real(rep, seed, spec)

    monkeypatch.setattr(sim, "_one_replicate", flaky)
    with pytest.warns(RuntimeWarning, match="interrupted after 2 of 5"):
        res = simulation_study("lim2009", 200, 5, random_state=1, truth_n=500, progress=False)
    assert res.interrupted and sorted(res.replicates["replicate"].unique()) == [0, 1]
    with pytest.raises(MetricInputError, match="'backend': got 'spark'"):
        simulation_study("lim2009", 200, 2, backend="spark")


def test_simulation_study_joblib_interrupt_returns_finished_replicates(monkeypatch):
    """Ctrl-C reaching a joblib worker (a KeyboardInterrupt inside replicate 5) stops the study:
    the pool is aborted, the finished replicates are returned with a warning, as serially. (With
    2 workers, replicate 5 starts only after 4 others finished, so there are results to keep.)"""
    import time

    import mastoprog.validation._simulation as sim
    from mastoprog.validation import simulation_study

    real = sim._one_replicate

    def flaky(rep, seed, spec):  # a local function: joblib ships it to the workers by value
        if rep == 5:
            raise KeyboardInterrupt
        return real(rep, seed, spec)

    monkeypatch.setattr(sim, "_one_replicate", flaky)
    kw = {"random_state": 1, "truth_n": 500, "progress": False, "horizons": (60.0,), "auc_bootstrap": 0}
    start = time.perf_counter()
    with pytest.warns(RuntimeWarning, match=r"interrupted after \d+ of 40"):
        res = simulation_study("lim2009", 150, 40, n_jobs=2, **kw)
    done = sorted(res.replicates["replicate"].unique())
    assert res.interrupted and 5 not in done and 4 <= len(done) < 40
    assert any("interrupted after" in n for n in res.notes)
    assert time.perf_counter() - start < 60  # queued replicates were not run


class _NeedsMCLPatients:
    """Like ``SurvivalModel.fit`` with too few MCL deaths: refuses cohorts with fewer than ``k``
    MCL patients; otherwise returns the generating model (picklable for worker processes)."""

    def __init__(self, k: int):
        self.k = k

    def fit(self, df: pd.DataFrame):
        from mastoprog.survival import load_model

        n_mcl = int((df["true_subtype"] == "MCL").sum())
        if n_mcl < self.k:
            raise ValueError(f"only {n_mcl} MCL patients")
        return load_model("lim2009")


def test_simulation_study_skips_and_counts_failed_estimators():
    """An estimator that fails in some replicates is skipped there and counted (summary
    ``n_failed``, ``failures``, ``notes``, a warning above 5 %); the other estimators and the KM
    medians of those replicates are kept. Which replicates fail is checked against the MCL
    counts the study itself reports (``n_in_group``)."""
    from mastoprog.validation import simulation_study

    kw = {"n_patients": 150, "n_replicates": 8, "random_state": 12, "truth_n": 500, "progress": False,
          "horizons": (60.0,), "auc_bootstrap": 0}
    with pytest.warns(RuntimeWarning, match=r"estimator 'fragile' failed in \d+ of 8 replicates "
                                             r"\(e\.g\. ValueError: only \d+ MCL patients\)"):
        res = simulation_study("lim2009", estimators={"truth": "truth", "fragile": _NeedsMCLPatients(3)},
                               **kw)
    reps = res.replicates
    mcl = reps[(reps["estimator"] == "km") & (reps["group"] == "MCL")].set_index("replicate")["n_in_group"]
    mcl = mcl.reindex(range(8), fill_value=0)
    expected = sorted(mcl.index[mcl < 3])
    assert 1 <= len(expected) <= 7, mcl.to_dict()
    assert list(res.failures["replicate"]) == expected
    assert set(res.failures["estimator"]) == {"fragile"} and set(res.failures["stage"]) == {"fit"}
    assert set(reps.loc[reps["estimator"] == "fragile", "replicate"]) == set(range(8)) - set(expected)
    assert set(reps.loc[reps["estimator"] == "truth", "replicate"]) == set(range(8))
    s = res.summary
    assert (s.loc[s["estimator"] == "fragile", "n_failed"] == len(expected)).all()
    assert (s.loc[s["estimator"] != "fragile", "n_failed"] == 0).all()
    assert any(f"failed in {len(expected)} of 8" in n for n in res.notes)
    with pytest.raises(ValueError, match="MCL patients"):
        simulation_study("lim2009", estimators={"fragile": _NeedsMCLPatients(3)}, on_error="raise",
                         **kw)


def test_simulation_study_scenario_censoring_counts_reached_medians():
    """With the scenario's study end as censoring, ISM's median (about 390 months) is reached in
    only some replicates: ``n_reached`` counts them and bias, SE and coverage are computed over
    those only (and the summary's note says so) instead of averaging infinities or mixing them."""
    from mastoprog.validation import simulation_study

    res = simulation_study("lim2009", 400, 6, random_state=11, truth_n=1000, censoring="scenario",
                           horizons=(60.0,), auc_bootstrap=0, progress=False)
    reps = res.replicates
    km = reps[(reps["estimator"] == "km") & (reps["group"] == "ISM")]
    reached = np.isfinite(km["estimate"].to_numpy())
    assert 1 <= reached.sum() < 6  # some, not all (seeded)
    row = res.summary.set_index(["estimator", "quantity", "group"]).loc[("km", "median", "ISM")]
    assert row["n_reached"] == reached.sum() and row["n_replicates"] == 6
    truth = res.truth["ISM"]
    assert row["bias"] == pytest.approx(km["estimate"][reached].mean() - truth, rel=1e-12)
    sub = km[reached]
    assert row["coverage"] == pytest.approx(
        ((sub["ci_low"] <= truth) & (truth <= sub["ci_high"])).mean(), abs=1e-12)
    assert f"median reached in {reached.sum()} of 6 replicates" in row["note"]
    assert any("ISM: median reached in" in n for n in res.notes)
    # subtypes whose median is always reached: n_reached == n_replicates and no note
    asm = res.summary.set_index(["estimator", "quantity", "group"]).loc[("km", "median", "ASM")]
    assert asm["n_reached"] == 6 and asm["note"] == ""
    assert res.summary.loc[res.summary["quantity"] != "median", "n_reached"].isna().all()


def test_validate_with_bootstrap_refits_the_model(lim_model, lim_cohort):
    """Internal validation of the package's own model: the excess-hazard structure is refitted on
    each resample. ``SurvivalModel.fit`` needs >= 10 deaths per subtype and these 600 patients
    have exactly 10 MCL deaths, so resamples with fewer fail: they are skipped, counted in the
    table, the result's summary and the report, with a warning (more than 5 % failed)."""
    from mastoprog.validation import validate

    cohort = lim_cohort.iloc[:600]
    mcl = cohort["who_subtype"] == "MCL"
    assert int(cohort.loc[mcl, "event"].sum()) == 10
    with pytest.warns(RuntimeWarning, match=r"2 of 4 resamples failed .*FindingsError: too few "
                                             r"deaths to fit: \{'MCL'"):
        res = validate(lim_model, cohort, horizons=(60,), n_bootstrap=4, random_state=0)
    opt = res.optimism
    tab = opt.table.set_index("metric")
    assert list(tab.index) == ["c_index", "calibration_slope", "calibration_intercept", "brier"]
    assert (tab["n_bootstrap"] == 2).all() and (tab["n_failed"] == 2).all()
    assert (tab["horizon"] == 60.0).all()
    assert 0.5 < tab.loc["c_index", "corrected"] < 1.0
    assert set(opt.failures["error"]) == {"FindingsError"} and set(opt.failures["stage"]) == {"fit"}
    # the failed resamples really had fewer than 10 MCL deaths (replayed from the same seed)
    rng = np.random.default_rng(0)
    dead_mcl = (mcl & (cohort["event"] == 1)).to_numpy()
    short = [b for b in range(4) if dead_mcl[rng.integers(0, 600, 600)].sum() < 10]
    assert list(opt.failures["replicate"]) == short
    text = res.to_html()
    assert "Harrell's bootstrap optimism correction (2 replicates used)" in text
    assert "2 of 4 bootstrap resamples used; 2 skipped" in text
    assert "Leave-one-out bootstrap and .632+" in text and "estimate_632plus" in text


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_validate_three_patients_stays_in_range(lim_model, seed):
    """Issue 12: three patients give intervals inside each metric's range (Brier >= 0, C and AUC
    in [0, 1], IPA <= 1), say why a slope is missing and flag every horizon as imprecise."""
    from mastoprog.synthetic import simulate_cohort
    from mastoprog.validation import validate

    cohort = simulate_cohort(3, "lim2009", random_state=seed, censoring="scenario")
    res = validate(lim_model, cohort, horizons=(12, 60, 120))
    m = res.metrics.set_index("metric")
    for name in ("c_harrell", "c_uno", "auc", "brier", "integrated_brier"):
        assert (m.loc[[name], ["ci_low", "estimate", "ci_high"]].stack().between(0.0, 1.0)).all(), name
    assert (m.loc[["ipa"], "ci_high"] <= 1.0).all()
    slope = m.loc[["calibration_slope"]]
    assert slope["estimate"].isna().all() and slope["note"].str.startswith("not estimable").all()
    assert m.loc[["ici"], "note"].str.contains("overall observed risk").all()
    assert len(res.notes) >= 2 and all("imprecise" in n or "dropped" in n for n in res.notes)


def test_validate_calibration_bootstrap_gives_ici_intervals(lim_model, lim_cohort):
    """ICI/E50/E90 rows get the percentile intervals of metrics.calibration_uncertainty (same
    resamples: same numbers) and say so in ci_note; without it they stay 'no CI'."""
    from mastoprog.metrics import calibration_uncertainty
    from mastoprog.validation import validate

    part = lim_cohort.iloc[:400]
    res = validate(lim_model, part, horizons=(60,), calibration_bootstrap=20, random_state=4)
    m = res.metrics.set_index("metric")
    s60 = lim_model.predict_survival_at(part, 60.0).to_numpy()
    ref = calibration_uncertainty(part["time"], part["event"], s60, 60.0, n_bootstrap=20,
                                  random_state=4).set_index("metric")
    for name in ("ici", "e50", "e90"):
        assert m.loc[name, "ci_low"] == pytest.approx(ref.loc[name, "ci_low"], rel=1e-9)
        assert m.loc[name, "ci_low"] <= m.loc[name, "estimate"] <= m.loc[name, "ci_high"]
        assert m.loc[name, "ci_note"].startswith("percentile bootstrap (20 resamples")
    plain = validate(lim_model, part, horizons=(60,)).metrics.set_index("metric")
    assert plain.loc["ici", "ci_note"].startswith("no CI")
