"""External-validation sample size by simulation (validation/_sample_size.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mastoprog.exceptions import MetricInputError
from mastoprog.validation import external_validation_sample_size, oe_closed_form_n

_SMALL = {"n_replicates": 40, "n_pilot": 300, "pool_size": 6000, "horizon": 60.0}


def test_oe_closed_form_by_hand():
    # phi = 0.4, width 0.2 at O/E = 1: SE = asinh(0.1) / 1.959964 = 0.0509368;
    # n = 0.6 / (0.4 * 0.0509368^2) = 578.14 (Riley et al. 2021, SE(ln O/E) = sqrt((1-phi)/(n phi)))
    assert oe_closed_form_n(0.4, 0.2) == pytest.approx(578.14, abs=0.01)
    with pytest.raises(MetricInputError, match="phi in"):
        oe_closed_form_n(1.2, 0.2)


def test_oe_widths_and_n_match_riley_closed_form():
    """Without censoring the simulated O/E interval width at the pilot n and the n meeting the
    target agree with Riley's closed form within 4 Monte Carlo SEs (plus 1 for rounding up)."""
    res = external_validation_sample_size(targets={"oe_ci_width": 0.3}, random_state=11, **_SMALL)
    row = res.criteria.iloc[0]
    assert abs(row["n_required"] - row["closed_form_n"]) <= 4 * row["mcse"] + 1.0, row
    pilot = res.grid[(res.grid["stage"] == "pilot") & (res.grid["criterion"] == "oe_ci_width")].iloc[0]
    pool = res.design["pool_summary"]
    phi, oe = pool["observed_risk"], pool["oe_ratio"]
    width = 2 * oe * math.sinh(1.959964 * math.sqrt((1 - phi) / (pilot["n"] * phi)))
    assert abs(pilot["mean_width"] - width) <= 4 * pilot["mcse"] + 0.002, (pilot, width)


def test_sample_size_is_deterministic_and_a_table():
    a = external_validation_sample_size(targets={"oe_ci_width": 0.3, "c_index_ci_width": 0.15},
                                        random_state=5, **_SMALL)
    b = external_validation_sample_size(targets={"oe_ci_width": 0.3, "c_index_ci_width": 0.15},
                                        random_state=5, **_SMALL)
    pd.testing.assert_frame_equal(a.grid, b.grid)
    assert a.n_required == b.n_required == a.criteria["n_required"].max()
    assert a.criteria["binding"].sum() == 1
    assert set(a.grid["stage"]) == {"pilot", "local", "check"}
    assert a.design["targets"] == {"oe_ci_width": 0.3, "c_index_ci_width": 0.15}
    assert (a.criteria["exponent"].between(-0.8, -0.3)).all()  # widths fall about as 1/sqrt(n)
    c = external_validation_sample_size(targets={"oe_ci_width": 0.3}, random_state=6, **_SMALL)
    assert not a.grid["mean_width"].iloc[:1].equals(c.grid["mean_width"].iloc[:1])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"targets": {"auc_width": 0.1}}, "targets"),
    ({"targets": {"oe_ci_width": -1}}, "CI width > 0"),
    ({"statistic": 1.5}, "quantile"),
    ({"n_replicates": 3}, ">= 10"),
    ({"n_pilot": 10}, "n_pilot"),
])
def test_sample_size_bad_arguments(kwargs, match):
    with pytest.raises(MetricInputError, match=match):
        external_validation_sample_size(**kwargs)


def test_sample_size_on_dask_equals_serial():
    from dask.distributed import Client, LocalCluster

    kw = {**_SMALL, "targets": {"oe_ci_width": 0.3}, "random_state": 2, "n_replicates": 10}
    serial = external_validation_sample_size(**kw)
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        on_dask = external_validation_sample_size(client=client, **kw)
    pd.testing.assert_frame_equal(serial.grid, on_dask.grid)
