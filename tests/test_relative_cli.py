"""``mastoprog net-survival``: table, files, --force, a user's life table, bad input (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mastoprog import LifeTable
from mastoprog.cli import EXIT_BAD_INPUT, EXIT_OK, main
from mastoprog.relative import net_survival


@pytest.fixture()
def cohort_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(8)
    n = 200
    df = pd.DataFrame({"months": np.round(rng.exponential(40.0, n), 2), "dead": rng.integers(0, 2, n),
                       "age": rng.integers(30, 90, n), "sex": rng.choice(["F", "M"], n),
                       "diagnosis_year": rng.integers(2000, 2015, n)})
    path = tmp_path / "cohort.csv"
    df.to_csv(path, index=False)
    return path


COLS = ["--duration-col", "months", "--event-col", "dead"]


def test_prints_yearly_net_survival(cohort_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["net-survival", str(cohort_csv), *COLS]) == EXIT_OK
    out = capsys.readouterr().out
    assert "pohar-perme net survival of 200 patients" in out and "hmd_us (1933-2022)" in out
    assert "not a medical device" in out
    expected = net_survival(pd.read_csv(cohort_csv), duration_col="months", event_col="dead", times=[12.0])
    assert f"{expected.table['estimate'].iloc[0]:.6f}" in out


def test_writes_table_and_refuses_to_overwrite(cohort_csv: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "net.csv"
    assert main(["net-survival", str(cohort_csv), *COLS, "--times", "12", "36", "-o", str(out)]) == EXIT_OK
    table = pd.read_csv(out)
    assert table["time"].tolist() == [12.0, 36.0]
    assert {"estimate", "std_error", "lower", "upper", "n_at_risk"} <= set(table.columns)
    out.write_text("the user's own file\n")
    assert main(["net-survival", str(cohort_csv), *COLS, "-o", str(out)]) == EXIT_BAD_INPUT
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "the user's own file\n"
    assert main(["net-survival", str(cohort_csv), *COLS, "-o", str(out), "--force",
                 "--method", "ederer2"]) == EXIT_OK
    assert len(pd.read_csv(out)) > 2
    assert main(["net-survival", str(cohort_csv), *COLS, "--group-col", "sex", "--times", "12",
                 "-o", str(out), "--force"]) == EXIT_OK
    assert pd.read_csv(out)["group"].tolist() == ["F", "M"]
    assert not list(tmp_path.glob(".*partial*"))


def test_plot_and_user_life_table(cohort_csv: Path, tmp_path: Path) -> None:
    idx = pd.MultiIndex.from_product([range(1990, 2021), range(101), ["F", "M"]],
                                     names=["year", "age", "sex"])
    lt = pd.DataFrame({"mx": 0.01}, index=idx).reset_index()
    lt_path = tmp_path / "flat.csv"
    lt.to_csv(lt_path, index=False)
    png = tmp_path / "net.png"
    args = ["net-survival", str(cohort_csv), *COLS, "--life-table", str(lt_path)]
    assert main([*args, "-o", str(png)]) == EXIT_OK
    assert png.read_bytes()[:4] == b"\x89PNG"
    csv = tmp_path / "flat_net.csv"
    assert main(["net-survival", str(cohort_csv), *COLS, "--life-table", str(lt_path), "--times", "24",
                 "-o", str(csv)]) == EXIT_OK
    ours = net_survival(pd.read_csv(cohort_csv), duration_col="months", event_col="dead", times=[24.0],
                        life_table=LifeTable.from_frame(lt))
    assert pd.read_csv(csv)["estimate"].item() == pytest.approx(ours.table["estimate"].item(), rel=1e-12)


def test_bad_cohort_exits_2_naming_the_value(cohort_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.read_csv(cohort_csv)
    df.loc[3, "age"] = -5
    df.to_csv(cohort_csv, index=False)
    assert main(["net-survival", str(cohort_csv), *COLS]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "row 3, column 'age': got '-5'; expected an age at diagnosis between 0 and 130 (years)" in err
    assert "Traceback" not in err
