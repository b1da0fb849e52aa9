"""Leave-one-out bootstrap, .632 / .632+ and the optimism-corrected calibration intercept
(validation/_bootstrap.py). The older optimism tests are in test_validation.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mastoprog.exceptions import MetricInputError
from mastoprog.metrics import brier_score, censoring_survival, concordance_index, integrated_brier_score
from mastoprog.validation import bootstrap_optimism
from mastoprog.validation._bootstrap import _brier_no_information, _plus632


class _Fixed:
    """An 'estimator' whose predictions do not depend on the data it is fitted on."""

    def fit(self, df: pd.DataFrame) -> _Fixed:
        return self

    def predict_survival_at(self, df: pd.DataFrame, t: float) -> np.ndarray:
        return np.exp(-t / 40.0 * np.exp(0.8 * df["x"].to_numpy()))

    def predict_survival_function(self, df: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        return np.exp(-np.asarray(times)[:, None] / 40.0 * np.exp(0.8 * df["x"].to_numpy())[None, :])


def _cohort(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_event = rng.exponential(40.0 * np.exp(-0.8 * x))
    cens = rng.uniform(5.0, 120.0, size=n)
    return pd.DataFrame({"x": x, "time": np.minimum(t_event, cens), "event": (t_event <= cens).astype(int)})


def test_plus632_by_hand():
    # Efron & Tibshirani 1997: err = 0.10, Err1 = 0.20, gamma = 0.30 -> R = 0.5,
    # w = 0.632 / (1 - 0.184) = 0.774510, .632+ = 0.1 + 0.774510 * 0.1
    r, w, e632, e632p = _plus632(0.10, 0.20, 0.30)
    assert r == pytest.approx(0.5) and w == pytest.approx(0.632 / 0.816)
    assert e632 == pytest.approx(0.368 * 0.1 + 0.632 * 0.2)
    assert e632p == pytest.approx(0.1 + 0.632 / 0.816 * 0.1)
    # Err1 above gamma is capped at gamma (R = 1, w = 1): .632+ = gamma
    assert _plus632(0.10, 0.40, 0.30)[3] == pytest.approx(0.30)
    # no overfitting (Err1 <= err): R = 0, w = 0.632
    assert _plus632(0.20, 0.15, 0.30)[:2] == (0.0, 0.632)


def test_brier_no_information_equals_all_pairs():
    """O(n) formula = the n x n definition: mean over i, j of w_i (Y_i - S_j)^2."""
    df = _cohort(60, seed=4)
    t, e = df["time"].to_numpy(), df["event"].to_numpy(bool)
    s = _Fixed().predict_survival_at(df, 24.0)
    cens = censoring_survival(t, e)
    pairs = np.mean([brier_score(t, e, np.full(t.size, sj), 24.0).estimate for sj in s])
    assert _brier_no_information(t, e, s, 24.0, cens) == pytest.approx(pairs, rel=1e-12)


def test_loob_of_a_data_independent_model_is_its_apparent_brier():
    """Known truth: when refits change nothing, every out-of-bag Brier term is the patient's own
    apparent term, so LOOB = apparent Brier (every patient is out of bag at least once), R = 0,
    and .632+ = .632 = apparent; the out-of-bag C is the mean of C on the out-of-bag subsets."""
    df = _cohort(150, seed=2)
    res = bootstrap_optimism(_Fixed(), df, 24.0, n_bootstrap=40, random_state=3, progress=False)
    loob = res.loob.set_index("metric")
    assert loob.loc["brier", "n_never_oob"] == 0
    assert loob.loc["brier", "loob"] == pytest.approx(loob.loc["brier", "apparent"], rel=1e-12)
    assert loob.loc["brier", "relative_overfitting"] == 0.0
    assert loob.loc["brier", "estimate_632plus"] == pytest.approx(loob.loc["brier", "apparent"], rel=1e-12)
    # the integrated Brier score (months 1-24, the model predicts whole curves) likewise
    assert loob.loc["integrated_brier", "loob"] == pytest.approx(loob.loc["integrated_brier", "apparent"],
                                                                 rel=1e-12)
    s_grid = _Fixed().predict_survival_function(df, np.arange(1.0, 25.0))
    ibs = integrated_brier_score(df["time"], df["event"], s_grid, np.arange(1.0, 25.0))
    assert loob.loc["integrated_brier", "apparent"] == pytest.approx(ibs, rel=1e-12)
    assert 0 < loob.loc["integrated_brier", "apparent"] < loob.loc["integrated_brier", "no_information"]
    # C: recompute the out-of-bag C of each resample (same resamples: same generator draws)
    rng = np.random.default_rng(3)
    s = _Fixed().predict_survival_at(df, 24.0)
    cs = []
    for _ in range(40):
        oob = np.ones(len(df), bool)
        oob[rng.integers(0, len(df), size=len(df))] = False
        cs.append(concordance_index(df["time"][oob], df["event"][oob], s[oob]).estimate)
    assert loob.loc["c_index", "loob"] == pytest.approx(np.mean(cs), rel=1e-12)


def test_632plus_moves_towards_external_performance():
    """Overfitted Cox models (n = 120, 10 noise covariates), averaged over 6 training sets: the
    .632+ C and Brier lie between the apparent and the external values, much closer to the
    external ones; the optimism-corrected calibration intercept is reported beside the slope."""
    from test_validation import CoxEstimator, _overfit_data

    covs = ["x"] + [f"z{k}" for k in range(10)]
    test = _overfit_data(5000, seed=999)
    rows = []
    for r in range(6):
        train = _overfit_data(120, seed=200 + r)
        res = bootstrap_optimism(CoxEstimator(covs), train, 36.0, n_bootstrap=30, random_state=r,
                                 progress=False)
        loob = res.loob.set_index("metric")
        model = CoxEstimator(covs).fit(train)
        s_ext = model.predict_survival_at(test, 36.0)
        rows.append((loob.loc["c_index", "apparent"], loob.loc["c_index", "estimate_632plus"],
                     concordance_index(test["time"], test["event"], s_ext).estimate,
                     loob.loc["brier", "apparent"], loob.loc["brier", "estimate_632plus"],
                     brier_score(test["time"], test["event"], s_ext, 36.0).estimate))
        tab = res.table.set_index("metric")
        assert "calibration_intercept" in tab.index
        assert tab.loc["calibration_intercept", "corrected"] == pytest.approx(
            tab.loc["calibration_intercept", "apparent"] - tab.loc["calibration_intercept", "optimism"])
    c_app, c_632p, c_ext, b_app, b_632p, b_ext = np.array(rows).mean(axis=0)
    assert abs(c_632p - c_ext) < 0.5 * (c_app - c_ext)
    assert abs(b_632p - b_ext) < 0.5 * (b_ext - b_app)


class _RossiCox:
    """Cox PH on age and prio (Breslow ties, our Newton fit), as R coxph(ties = "breslow")."""

    def fit(self, df: pd.DataFrame) -> _RossiCox:
        from mastoprog.metrics._cox import cox_fit

        self.fit_ = cox_fit(df["time"].to_numpy(float), df["event"].to_numpy(bool),
                            df[["age", "prio"]].to_numpy(float))
        return self

    def predict_survival_at(self, df: pd.DataFrame, t: float) -> np.ndarray:
        return self.fit_.survival_at(df[["age", "prio"]].to_numpy(float), t)


def test_loob_brier_equals_riskregression_on_rossi():
    """Same 20 resamples as riskRegression::Score(split.method = "loob", B = 20, seed = 7) on
    lifelines' rossi (tests/data/loob_rossi_R.R): the LOOB Brier at 20 and 40 weeks agrees to
    1e-9 (relative; both are exact computations of the same sums)."""
    from pathlib import Path

    data = Path(__file__).parent / "data"
    df = pd.read_csv(data / "validation_rossi.csv").rename(columns={"week": "time", "arrest": "event"})
    draws = pd.read_csv(data / "loob_rossi_R_indices.csv").to_numpy().T - 1  # R: 1-based columns
    ref = pd.read_csv(data / "loob_rossi_R.csv").set_index("horizon")["brier_loob"]
    res = bootstrap_optimism(_RossiCox(), df, [20.0, 40.0], resamples=draws, progress=False)
    got = res.loob[res.loob["metric"] == "brier"].set_index("horizon")["loob"]
    for h in (20, 40):
        assert got[float(h)] == pytest.approx(ref[h], rel=1e-9)
    assert (res.table["n_bootstrap"] == 20).all()


def test_resamples_are_checked():
    df = _cohort(30, seed=1)
    with pytest.raises(MetricInputError, match="resamples"):
        bootstrap_optimism(_Fixed(), df, 24.0, resamples=np.zeros((3, 29), int), progress=False)
