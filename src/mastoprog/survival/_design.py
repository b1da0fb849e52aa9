"""Covariates a researcher chooses: a formula-like list of terms -> design matrix of a fit.

Terms (lifelines-style formula ``"a + b + bs(age, 3)"`` or a list of the same strings):

* a **factor of the evidence predictor** (:data:`mastoprog.survival._predictor.PREDICTOR_FACTORS`:
  ``age_decades``, ``hb_lt_10``, ``plt_lt_150``, ``alp_gt_uln``, ``sar_1``, ``sar_2plus``,
  ``splenomegaly``), computed exactly as the calibrated model computes it
  (:func:`~mastoprog.survival._predictor.predictor_features`, cut-points in
  ``data/survival_effects.csv``); a model fitted on such terms (and the composite's flags) draws
  curves;
* a **published factor** named in a risk data file (``data/risk_*.csv``, rows ``kind == factor``),
  e.g. ``age_gt_60``, ``splenomegaly``, ``alp_gt_uln``, ``sar_1``, ``sar_2plus`` (MAPS/mastoprog),
  ``hb_lt_10``, ``plt_lt_100`` (MARS): 0/1 at the cut-point stated in the file with its source;
  the cut-point is never written in code;
* a **continuous finding**: a numeric column of the data dictionary (``age``, ``alp``,
  ``hemoglobin``, ``platelets``, ``sar_count``, ...), linear, or ``log(column)``;
* ``bs(column, df)``: a cubic B-spline basis of ``df`` columns (knots at quantiles of the observed
  values, as ``patsy``'s ``bs``); the natural way to let age act on the excess hazard when the
  background hazard already carries it.

Each term keeps the finding columns it is computed from (``sources``), so missing findings can be
imputed on their own scale (:mod:`mastoprog.survival._imputation`) and the terms recomputed.

References
----------
Perperoglou A, Sauerbrei W, Abrahamowicz M, Schmid M. A review of spline function procedures in R.
BMC Med Res Methodol 2019;19:46. doi:10.1186/s12874-019-0666-3
Pardanani A et al., Blood Adv 2018;2:2964-72 (MAPS factors); Jawhar M et al., J Clin Oncol
2019;37:2846-56 (MARS factors): the cut-points, as stored in ``data/risk_*.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from .._resources import load_table
from ..exceptions import FindingsError
from ..findings import ensure_findings
from ._predictor import PREDICTOR_FACTORS, model_features, numeric_findings, predictor_features

__all__ = ["CONTINUOUS_KINDS", "Term", "design_features", "finding_values", "parse_terms",
           "published_factors", "term_from_spec"]

#: Term kinds whose design columns are real-valued (never a 0/1 range: the finding is required).
CONTINUOUS_KINDS = ("linear", "log", "bs")

_CALL = re.compile(r"^(?P<fun>bs|log)\((?P<col>[A-Za-z_][A-Za-z0-9_]*)(?:\s*,\s*(?P<df>\d+))?\)$")
_COMPARE = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal}


@lru_cache(maxsize=1)
def published_factors() -> pd.DataFrame:
    """Every ``kind == factor`` row of the risk data files, indexed by factor name (first file wins).

    Returns
    -------
    DataFrame
        ``column``, ``comparison``, ``threshold`` (a number or a column name such as ``alp_uln``),
        ``unit``, ``source`` and ``file``.
    """
    frames = []
    for name in ("risk_mastoprog.csv", "risk_mars.csv", "risk_maps.csv", "risk_ipsm.csv"):
        t = load_table(name).astype({"threshold": str})
        t = t[t["kind"] == "factor"].assign(file=name)
        frames.append(t[["factor", "column", "comparison", "threshold", "unit", "source", "file"]])
    out = pd.concat(frames, ignore_index=True).drop_duplicates("factor")
    return out.set_index("factor")


@dataclass(frozen=True)
class Term:
    """One term of a fit's linear predictor.

    Attributes
    ----------
    name : str
        As written by the researcher (``"bs(age, 3)"``, ``"alp_gt_uln"``).
    kind : {"predictor", "factor", "linear", "log", "bs"}
    column : str
        The finding it is computed from.
    df : int
        Columns of a spline basis (1 otherwise).
    knots : tuple of float
        Spline knots (boundary knots repeated), fixed from the fitting data.
    """

    name: str
    kind: str
    column: str
    df: int = 1
    knots: tuple[float, ...] = ()

    def spec(self) -> dict[str, Any]:
        """The term as JSON-able data (stored in a fitted model's state)."""
        return {"name": self.name, "kind": self.kind, "column": self.column, "df": self.df,
                "knots": list(self.knots)}

    @property
    def columns(self) -> list[str]:
        """Design-matrix column names of the term."""
        return [self.name] if self.df == 1 else [f"{self.name}[{j}]" for j in range(self.df)]

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, df) term values for findings ``frame`` (NaN where the finding is unknown)."""
        if self.kind == "predictor":
            return predictor_features(frame)[[self.name]].to_numpy(float)
        x = finding_values(frame, self.column)
        if self.kind == "factor":
            return _factor_values(frame, self.name, x)[:, None]
        if self.kind == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)[:, None]
        if self.kind == "bs":
            return _bspline(x, np.asarray(self.knots))
        return x[:, None]


def finding_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Numeric values of finding ``column`` (NaN where unknown or the column is absent)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column].astype("Float64"), errors="coerce").to_numpy(float, na_value=np.nan)


def _factor_values(frame: pd.DataFrame, name: str, x: np.ndarray) -> np.ndarray:
    row = published_factors().loc[name]
    thr = row["threshold"]
    try:
        cut = np.full(len(x), float(thr))
    except ValueError:  # a column reference (alp_uln) with the file's default when absent
        cut = finding_values(frame, thr)
        cut = np.where(np.isnan(cut), _default(thr), cut)
    with np.errstate(invalid="ignore"):
        out = _COMPARE[row["comparison"]](x, cut).astype(float)
    return np.where(np.isnan(x) | np.isnan(cut), np.nan, out)


def _default(column: str) -> float:
    t = load_table("risk_mastoprog.csv")
    hit = t[(t["kind"] == "default") & (t["factor"] == column)]
    return float(hit["value"].iloc[0]) if len(hit) else np.nan


def _bspline(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Cubic B-spline basis without its first column (the intercept lives in the baselines)."""
    from scipy.interpolate import BSpline  # heavy: only when a spline term is used

    out = np.full((len(x), len(knots) - 4 - 1), np.nan)
    ok = ~np.isnan(x)
    if not ok.any():
        return out
    xc = np.clip(x[ok], knots[0], knots[-1])
    basis = BSpline.design_matrix(xc, knots, 3, extrapolate=False).toarray()
    out[ok] = basis[:, 1:]
    return out


def _spline_knots(x: np.ndarray, df: int) -> tuple[float, ...]:
    obs = x[~np.isnan(x)]
    inner = np.quantile(obs, np.linspace(0, 1, df - 1)[1:-1]) if df > 2 else np.array([])
    lo, hi = float(obs.min()), float(obs.max())
    return (lo,) * 4 + tuple(float(v) for v in inner) + (hi,) * 4


def parse_terms(formula: str | Sequence[str], frame: pd.DataFrame) -> list[Term]:
    """Terms of a formula (``"a + b + bs(age, 3)"``) or a list of term strings.

    Parameters
    ----------
    formula : str or sequence of str
        Published factor names, numeric finding columns, ``log(col)``, ``bs(col, df)``.
    frame : DataFrame
        The fitting data (spline knots are fixed from it).

    Returns
    -------
    list of Term

    Raises
    ------
    ValueError
        Naming a term that is neither a published factor, a numeric finding nor a known function.
    """
    parts = [p.strip() for p in (formula.split("+") if isinstance(formula, str) else formula)]
    numeric = _numeric_columns()
    terms = []
    for part in (p for p in parts if p):
        m = _CALL.match(part.replace(" ", ""))
        if part in PREDICTOR_FACTORS:
            terms.append(Term(part, "predictor", _predictor_columns()[part]))
        elif part in published_factors().index:
            terms.append(Term(part, "factor", published_factors().loc[part, "column"]))
        elif m and m["col"] in numeric:
            terms.append(_call_term(part, m, frame))
        elif part in numeric:
            terms.append(Term(part, "linear", part))
        else:
            raise ValueError(
                f"formula: unknown term {part!r}; expected a factor of the evidence predictor "
                f"({', '.join(PREDICTOR_FACTORS)}), a published factor "
                f"({', '.join(published_factors().index)}), a numeric finding "
                f"({', '.join(sorted(numeric))}), "
                "log(column) or bs(column, df)"
            )
    return terms


def _call_term(part: str, m: re.Match, frame: pd.DataFrame) -> Term:
    if m["fun"] == "log":
        return Term(part, "log", m["col"])
    df = int(m["df"] or 3)
    if df < 2:
        raise ValueError(f"formula: {part!r} needs df >= 2 spline columns")
    return Term(part, "bs", m["col"], df=df, knots=_spline_knots(finding_values(frame, m["col"]), df))


@lru_cache(maxsize=1)
def _predictor_columns() -> dict[str, str]:
    """The finding each predictor factor is computed from (``data/survival_effects.csv``)."""
    eff = load_table("survival_effects.csv")
    eff = eff[eff["kind"] == "effect"]
    return {str(f): str(c) for f, c in zip(eff["factor"], eff["column"], strict=True)}


def _numeric_columns() -> frozenset[str]:
    return numeric_findings() - {"time"}


def design_matrix(terms: list[Term], frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """``(column names, (n, p) values)`` of the terms for findings ``frame`` (NaN = unknown)."""
    names = [c for t in terms for c in t.columns]
    if not terms:
        return names, np.zeros((len(frame), 0))
    pred = [t.name for t in terms if t.kind == "predictor"]
    features = predictor_features(frame)[pred] if pred else None  # once for all predictor terms
    return names, np.column_stack([features[[t.name]].to_numpy(float) if features is not None
                                   and t.kind == "predictor" else t.values(frame) for t in terms])


def canonical(frame: Any) -> pd.DataFrame:
    """Findings in canonical dtypes (booleans 0/1, numbers float) for :meth:`Term.values`."""
    out, _ = ensure_findings(frame)
    return out


def term_from_spec(spec: dict[str, Any]) -> Term:
    """The :class:`Term` of :meth:`Term.spec` data."""
    return Term(str(spec["name"]), str(spec["kind"]), str(spec["column"]), int(spec.get("df", 1)),
                tuple(float(k) for k in spec.get("knots", ())))


def design_features(data: Any, factors: list[str] | tuple[str, ...],
                    specs: list[dict[str, Any]]) -> np.ndarray:
    """(n, F) values of a fitted model's ``factors`` for new patients, from its stored terms.

    Columns of the stored terms (``specs``, :meth:`Term.spec`) are computed as in the fit (spline
    knots from the fitting data); other factors as the prediction path computes them
    (:func:`~mastoprog.survival._predictor.model_features`). A 0/1 factor may be unknown (NaN: the
    curve becomes a range); a continuous term's finding may not.

    Parameters
    ----------
    data : DataFrame, mapping or path
        Findings of the patients.
    factors : list of str
        The model's factors (design column names).
    specs : list of dict
        The fitted terms.

    Returns
    -------
    ndarray

    Raises
    ------
    FindingsError
        Naming the term, its finding and the first rows where that finding is unknown.

    Examples
    --------
    >>> t = Term("log(alp)", "log", "alp")
    >>> design_features({"alp": 100.0}, ["log(alp)"], [t.spec()]).round(3).tolist()
    [[4.605]]
    """
    frame = canonical(data)
    terms = [term_from_spec(s) for s in specs]
    names, X = design_matrix(terms, frame)
    problems = []
    for t in (t for t in terms if t.kind in CONTINUOUS_KINDS):
        unknown = np.isnan(t.values(frame)).any(axis=1)
        if unknown.any():
            problems.append(f"term {t.name!r} needs {t.column!r} (a number), unknown in row(s) "
                            f"{list(frame.index[unknown][:5])}")
    if problems:
        raise FindingsError("this fitted model's curve needs every continuous term: " + "; ".join(problems))
    out = np.empty((len(frame), len(factors)))
    other = [f for f in factors if f not in names]
    if other:
        out[:, [list(factors).index(f) for f in other]] = model_features(data, other)
    for j, f in enumerate(factors):
        if f in names:
            out[:, j] = X[:, names.index(f)]
    return out
