"""plot_patient_curve: assert on what was plotted, not only that it ran."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mastoprog import RESEARCH_USE_NOTICE, load_model
from mastoprog.plotting import plot_patient_curve


@pytest.fixture(scope="module")
def model():
    return load_model("lim2009")


def _line(ax, gid):
    return next(line for line in ax.get_lines() if line.get_gid() == gid)


def test_plot_shows_curve_population_band_median_and_notice(model):
    p = {
        "patient_id": "P",
        "age": 58,
        "sex": "M",
        "who_subtype": "ASM",
        "splenomegaly": True,
        "alp": 260.0,
        "alp_uln": 120.0,
        "sar_count": 1,
    }
    t = np.arange(0.0, 121.0, 3.0)
    fig, ax = plt.subplots()
    out = plot_patient_curve(model, p, ax=ax, times=t)
    assert out is ax
    curve = _line(ax, "patient")
    assert np.allclose(curve.get_xdata(), t / 12)
    assert np.allclose(curve.get_ydata(), model.predict_survival_function(p, t)["P"].to_numpy())
    assert np.allclose(
        _line(ax, "population").get_ydata(), model.predict_population_survival(p, t)["P"].to_numpy()
    )
    med = model.predict_median(p)["median"].iloc[0]
    mx, my = _line(ax, "median").get_data()
    assert mx[0] == pytest.approx(med / 12) and my[0] == 0.5
    band = next(c for c in ax.collections if c.get_gid() == "band")
    verts = band.get_paths()[0].vertices
    iv = model.predict(p, t)
    assert verts[:, 1].min() == pytest.approx(iv.lower["P"].min())
    assert verts[:, 1].max() == pytest.approx(iv.upper["P"].max())
    texts = {t.get_gid(): t.get_text() for t in ax.texts}
    assert texts["notice"] == RESEARCH_USE_NOTICE
    assert "disease-related hazard x" in texts["score"]
    # age 58 (0) + splenomegaly (1) + ALP > ULN (1) + one S/A/R gene (1) = 3 points, high risk
    assert "mastoprog score 3 points (high risk)" in texts["score"]
    title = ax.get_title(loc="left")
    assert "ASM" in title and "58 y, male" in title
    assert "calibrated to lim2009 (Mayo Clinic 1976-2007, before KIT inhibitors" in title  # the era
    assert 2.0 <= ax.get_xlim()[1] <= 20.0  # fitted to the prognosis (an ASM median of ~1 year)
    plt.close(fig)


def test_missing_findings_are_said_on_the_plot(model):
    p = {"age": 45, "sex": "F", "who_subtype": "ISM"}
    ax = plot_patient_curve(model, p, times=np.arange(0.0, 61.0, 6.0))
    texts = {t.get_gid(): t.get_text() for t in ax.texts}
    assert "missing findings" in texts["score"]
    assert "mastoprog score 0-" in texts["score"]
    assert any("range over missing findings" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(ax.figure)


def test_plot_refuses_several_patients(model):
    import pandas as pd

    two = pd.DataFrame({"age": [50, 60], "sex": ["F", "M"], "who_subtype": ["ISM", "ASM"]})
    with pytest.raises(ValueError, match="one patient"):
        plot_patient_curve(model, two)


def test_cli_curve_table_and_plot(tmp_path, capsys):
    from mastoprog.cli import main

    assert main(["curve", "example:patient.json", "--table"]) == 0
    out = capsys.readouterr().out
    assert "subtype: ASM" in out and "Research software" in out
    rows = [
        line.split()
        for line in out.splitlines()
        if line.strip().startswith(("1.000", "2.000", "5.000", "10.000"))
    ]
    assert [r[0] for r in rows] == ["1.000", "2.000", "5.000", "10.000"]
    for r in rows:  # survival within its band, below the population
        s, lo, up, pop = map(float, r[1:])
        assert lo <= s <= up and s <= pop
    png = tmp_path / "curve.png"
    assert main(["curve", "example:patient.json", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["curve", "example:patient.json", "-o", str(png)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["curve", "example", "--table"]) == 2  # eight patients: one is needed
    assert "holds 8 patients" in capsys.readouterr().err
