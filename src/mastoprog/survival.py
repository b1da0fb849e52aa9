"""The survival model: general-population survival times a calibrated (or fitted) excess survival.

For patient i of prognostic subtype s (months since diagnosis ``t``)::

    S_i(t) = S_pop,i(t) * exp(-exp(lp_i) * (t / lambda_s) ** rho_s)
    lp_i   = (x_i - c_s) @ beta

* ``S_pop,i`` is the general-population survival for the patient's age, sex and calendar year of
  diagnosis (:class:`~mastoprog.LifeTable`; default Human Mortality Database US period tables).
* ``x_i`` are :func:`mastoprog.risk.risk_features` (age > 60, splenomegaly, ALP > ULN, one S/A/R
  gene, two or more), ``beta`` their log hazard ratios on the *excess* hazard
  (:func:`mastoprog.risk.mastoprog_coefficients` for the calibrated model, estimated for a fitted one).
* Centering: ``c_s`` is the mean of the features in subtype s's reference cohort (calibrated model)
  or in the fitting data (fitted model), so ``lambda_s`` is the Weibull scale (months) of the excess
  hazard of a patient with average features and ``lp_i`` is the log relative excess hazard against
  that average patient.
* ``rho_s`` (Weibull shape) cannot be identified from one published median: it is an assumption
  stored with the targets (``data/targets_*.csv``, kind ``weibull_shape``).
* Prognostic subtypes: CM, ISM, SSM, SM-AHN, ASM, MCL; BMM counts as ISM and SM-AMN as SM-AHN
  (``classification.PROGNOSTIC_GROUP``). CM has no excess hazard (ECNM: 5-year OS 100 %); MCS has no
  confirmed survival figure, so asking for its curve raises :class:`~mastoprog.CalibrationError`.

Calibration (``calibrate``) solves ``lambda_s`` so that the *population-averaged* curve of a fixed
reference cohort of subtype s (``scenarios.reference_cohort``) meets the published target exactly:
a median, a survival probability at a time, or a relative survival (mean S / mean S_pop) at a time.

Missing findings: unknown features give a range of ``lp``; an undecided subtype gives several
candidate subtypes. The curve is then an *envelope* (lower/upper over the possibilities) and the
central curve sets each unknown binary feature to its reference mean ``c_s`` (zero contribution)
and averages the candidate subtypes' curves with equal weights; unknown sex gives the range over
F and M (central: their mean). Outputs flag such patients (``attrs["envelope"]``, ``notes``).
Age is required (it drives both the background and the age > 60 factor).

Subtype: ``who_subtype`` when given, else ``classify`` (the model's ``edition`` or ``edition=``);
when both exist and the classifier is decided and disagrees, a FindingsWarning is raised and
``who_subtype`` is used. Calendar year of diagnosis: an extra ``diagnosis_year`` column, else the
``year=`` argument, else the life table's last year.

Medians: bisection of S(t) = 0.5 on [0, 160 years]; with a life table whose open age interval has
a positive rate (HMD) every curve crosses 0.5, so ``inf`` appears only for user tables that never
let the population curve fall below 0.5.

Uncertainty bands: ``draws`` of the parameters (200 by default) stored in the model. For a calibrated
model they come from the published inputs (lognormal hazard-ratio draws from their 95 % intervals;
each target drawn from its sampling distribution given the number of patients / deaths behind it),
re-calibrated draw by draw. For a fitted model, multivariate normal draws from lifelines'
``variance_matrix_``. A band is the pointwise 2.5-97.5 % percentile of the curves over the draws.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._resources import load_table
from .exceptions import CalibrationError, FindingsError, FindingsWarning, MastoprogError, ModelFileError
from .findings import CANONICAL_COLUMNS, SUBTYPE_LABELS, _to_frame, ensure_findings
from .lifetables import LifeTable

__all__ = ["PROGNOSTIC_SUBTYPES", "SurvivalModel", "excess_survival", "load_model", "load_targets"]

#: Subtypes with their own excess-hazard parameters, in the model's internal order.
PROGNOSTIC_SUBTYPES: tuple[str, ...] = ("CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL")
SCHEMA_VERSION = 1
FORMAT = "mastoprog-survival-model"
TARGET_KINDS = ("median", "survival_at", "relative_survival_at", "zero_excess", "weibull_shape", "no_target")
BUILTIN_MODELS = ("lim2009", "mayo2025", "midostaurin")
DEFAULT_TIMES = np.arange(0.0, 241.0)  # months: 0-20 years, monthly
_Z975 = 1.959963984540054

# Method-level assumptions shown in every model card.
_METHOD_ASSUMPTIONS = (
    "relative-survival structure: overall survival = general-population survival (life table) x "
    "excess survival; the excess hazard is Weibull proportional hazards per prognostic subtype",
    "the risk factors multiply the excess hazard only (not the background), with the same log HR "
    "in every subtype (the seed review: splenomegaly and ALP predict prognosis in ISM and AdvSM)",
    "calibration matches the population-averaged curve of a synthetic reference cohort (scenario "
    "file) to each published figure; the cohort's covariate distributions are partly assumptions "
    "(see the scenario file)",
    "features are centred on the reference-cohort mean of each subtype; an unknown feature takes "
    "that mean in the central curve, and its 0/1 range in the envelope",
    "calendar years after the life table's last year use the last year (no projected mortality "
    "improvement); the default prediction year is the table's last year",
    "deaths behind a published median, when not reported, are taken as ceil(n/2) for the "
    "uncertainty draws (the fewest consistent with a reached median: a wider band)",
)

# Columns that cannot change the classification (survival, risk-only and bookkeeping columns).
_NON_DIAGNOSTIC = frozenset(
    {
        "patient_id",
        "age",
        "sex",
        "who_subtype",
        "alp",
        "alp_uln",
        "srsf2",
        "asxl1",
        "runx1",
        "sar_count",
        "time",
        "event",
    }
)

# Identical to classification.PROGNOSTIC_GROUP; used only if that module cannot be imported.
_LOCAL_GROUP = {label: label for label in SUBTYPE_LABELS} | {"BMM": "ISM", "SM-AMN": "SM-AHN"}


def _as_singletons(labels: np.ndarray) -> np.ndarray:
    """``(label,)`` per row, built once per distinct label rather than once per row."""
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object))
    singles = np.empty(len(uniques), dtype=object)
    singles[:] = [(u,) for u in uniques]
    return singles[codes]


def _prognostic_group() -> dict[str, str]:
    try:
        from .classification import PROGNOSTIC_GROUP
    except ImportError:  # pragma: no cover - classification not installed yet
        return dict(_LOCAL_GROUP)
    return {**_LOCAL_GROUP, **dict(PROGNOSTIC_GROUP)}


# --------------------------------------------------------------------------- targets


def load_targets(name_or_path: str | os.PathLike | pd.DataFrame = "lim2009") -> pd.DataFrame:
    """A calibration target set: one row per subtype and kind, with source and evidence.

    Parameters
    ----------
    name_or_path : str, path or DataFrame
        ``"lim2009"`` (default), ``"mayo2025"``, ``"midostaurin"``, a CSV path, or a frame with the
        columns ``subtype, kind, value, time_months, n_patients, events, value_low, value_high,
        source, evidence``. Kinds: ``median`` (value in months), ``survival_at`` (value = S at
        ``time_months``), ``relative_survival_at`` (mean S / mean S_pop at ``time_months``),
        ``zero_excess`` (like the general population), ``weibull_shape`` (value = rho),
        ``no_target`` (no confirmed figure: predictions raise CalibrationError).

    Raises
    ------
    ModelFileError
        Naming the row and column that is wrong.
    """
    if isinstance(name_or_path, pd.DataFrame):
        table, where = name_or_path.copy(), "targets frame"
    elif isinstance(name_or_path, str) and name_or_path in BUILTIN_MODELS:
        table, where = load_table(f"targets_{name_or_path}.csv"), f"targets_{name_or_path}.csv"
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise ModelFileError(
                f"target set {str(name_or_path)!r}: expected one of {list(BUILTIN_MODELS)} "
                "or an existing CSV file"
            )
        table, where = pd.read_csv(path), str(path)
    need = ["subtype", "kind", "value", "time_months", "source", "evidence"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ModelFileError(f"{where}: missing column(s) {missing}")
    for c in ("n_patients", "events", "value_low", "value_high"):
        if c not in table.columns:
            table[c] = np.nan
    problems = []
    for i, r in table.iterrows():
        line = i + 2
        if r["kind"] not in TARGET_KINDS:
            problems.append(
                f"line {line}, column 'kind': got {r['kind']!r}; expected one of {list(TARGET_KINDS)}"
            )
            continue
        if r["subtype"] not in (*PROGNOSTIC_SUBTYPES, "MCS"):
            problems.append(
                f"line {line}, column 'subtype': got {r['subtype']!r}; expected one of "
                f"{[*PROGNOSTIC_SUBTYPES, 'MCS']}"
            )
        v = pd.to_numeric(r["value"], errors="coerce")
        tm = pd.to_numeric(r["time_months"], errors="coerce")
        if r["kind"] == "median" and not (v > 0):
            problems.append(f"line {line}, column 'value': got {r['value']!r}; expected a median > 0 months")
        if r["kind"] in ("survival_at", "relative_survival_at"):
            if not (0 < v < 1):
                problems.append(
                    f"line {line}, column 'value': got {r['value']!r}; expected a probability in (0, 1)"
                )
            if not (tm > 0):
                problems.append(
                    f"line {line}, column 'time_months': got {r['time_months']!r}; expected > 0 months"
                )
        if r["kind"] == "weibull_shape" and not (v > 0):
            problems.append(f"line {line}, column 'value': got {r['value']!r}; expected a Weibull shape > 0")
    if problems:
        raise ModelFileError(f"{where}: " + "; ".join(problems))
    table.attrs["where"] = where
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------- the model


class SurvivalModel:
    """Relative-survival model: life-table background times a Weibull PH excess hazard per subtype.

    Parameters
    ----------
    life_table : LifeTable, optional
        General-population mortality; default :meth:`LifeTable.hmd_us`.
    edition : {"who2016", "who2022", "icc2022"}
        Classification edition used when ``who_subtype`` is not given.
    n_draws : int
        Parameter draws kept for the uncertainty bands (default 200).
    random_state : int
        Seed of those draws.

    Notes
    -----
    ``__init__`` stores its arguments only (scikit-learn convention). Get a usable model with
    :func:`load_model` (calibrated default), :meth:`calibrate` or :meth:`fit`. Fitted state lives in
    ``state_`` (a JSON-able dict, exactly what :meth:`save` writes).

    Examples
    --------
    >>> from mastoprog import load_model
    >>> model = load_model("lim2009")
    >>> s = model.predict_survival_at({"age": 58, "sex": "M", "who_subtype": "ASM"}, 41.0)
    >>> 0.0 < float(s.iloc[0]) < 1.0
    True
    """

    def __init__(
        self,
        life_table: LifeTable | None = None,
        edition: str = "who2016",
        n_draws: int = 200,
        random_state: int = 20090601,
    ):
        self.life_table = life_table
        self.edition = edition
        self.n_draws = n_draws
        self.random_state = random_state

    # ------------------------------------------------------------------ state helpers

    @property
    def life_table_(self) -> LifeTable:
        return self.life_table if self.life_table is not None else LifeTable.hmd_us()

    def _check_ready(self) -> dict:
        if not hasattr(self, "state_"):
            raise MastoprogError(
                "this SurvivalModel has no parameters yet: use load_model(), calibrate() or fit() first"
            )
        return self.state_

    @property
    def factors_(self) -> list[str]:
        return list(self._check_ready()["factors"])

    @property
    def beta_(self) -> pd.Series:
        st = self._check_ready()
        return pd.Series([st["beta"][f]["log_hr"] for f in st["factors"]], index=st["factors"], name="log_hr")

    @property
    def parameters_(self) -> pd.DataFrame:
        """One row per prognostic subtype: excess kind, log lambda (months), rho, source, evidence."""
        st = self._check_ready()
        rows = []
        for s in (*PROGNOSTIC_SUBTYPES, "MCS"):
            p = st["subtypes"].get(s)
            if p is None:
                continue
            rows.append(
                {
                    "subtype": s,
                    "excess": p["excess"],
                    "log_lambda": p.get("log_lambda"),
                    "lambda_months": math.exp(p["log_lambda"]) if p.get("log_lambda") is not None else None,
                    "rho": p.get("rho"),
                    "source": p.get("source"),
                    "evidence": p.get("evidence"),
                }
            )
        return pd.DataFrame(rows).set_index("subtype")

    def _arrays(self) -> dict[str, np.ndarray]:
        st = self._check_ready()
        cached = getattr(self, "_compiled", None)
        if cached is not None and cached[0] is st:
            return cached[1]
        F, S = st["factors"], PROGNOSTIC_SUBTYPES
        log_lambda = np.full(len(S), np.nan)
        rho = np.ones(len(S))
        excess = np.zeros(len(S), bool)
        usable = np.zeros(len(S), bool)
        center = np.zeros((len(S), len(F)))
        for k, s in enumerate(S):
            p = st["subtypes"].get(s)
            if p is None or p["excess"] == "uncalibrated":
                continue
            usable[k] = True
            if p["excess"] == "weibull":
                excess[k] = True
                log_lambda[k] = p["log_lambda"]
                rho[k] = p["rho"]
                center[k] = [p["center"][f] for f in F]
        beta = np.array([st["beta"][f]["log_hr"] for f in F])
        out = {
            "log_lambda": log_lambda,
            "rho": rho,
            "excess": excess,
            "usable": usable,
            "center": center,
            "beta": beta,
        }
        d = st.get("draws")
        if d:
            out["d_beta"] = np.asarray(d["beta"], float)
            out["d_log_lambda"] = np.array([d["log_lambda"].get(s, [np.nan] * d["n"]) for s in S], float).T
            out["d_log_rho"] = np.array([d["log_rho"].get(s, [0.0] * d["n"]) for s in S], float).T
            out["d_log_lambda"][:, ~excess] = np.nan
        self._compiled = (st, out)
        return out

    # ------------------------------------------------------------------ input preparation

    def _prepare(
        self, data: Any, year: float | None = None, edition: str | None = None, require_sex: bool = False
    ) -> dict[str, Any]:
        """Validated per-patient arrays: background inputs, candidate subtypes, features.

        Unknown sex is allowed unless ``require_sex``: the background is then the envelope over
        F and M (central curve: their mean), like any other missing finding.
        """
        from .risk import risk_features

        arr = self._arrays()
        raw, single = _to_frame(data)
        frame, _ = ensure_findings(raw, columns=("patient_id", "age", "sex", "who_subtype"))
        n = len(frame)
        age = frame["age"].to_numpy(float)
        sex = frame["sex"]
        problems = []
        if np.isnan(age).any():
            problems.append(
                f"column 'age': missing in row(s) {list(frame.index[np.isnan(age)][:5])}; "
                "expected the age at diagnosis in years (needed for population mortality)"
            )
        sex_unknown = sex.isna().to_numpy()
        if require_sex and sex_unknown.any():
            problems.append(
                f"column 'sex': missing in row(s) {list(frame.index[sex.isna().to_numpy()][:5])}; "
                "expected 'F' or 'M' (needed for population mortality)"
            )
        if problems:
            raise FindingsError("; ".join(problems))
        lt = self.life_table_
        default_year = float(lt.last_year if year is None else year)
        if "diagnosis_year" in raw.columns:
            y = pd.to_numeric(raw["diagnosis_year"], errors="coerce").to_numpy(float)
            y = np.where(np.isnan(y), default_year, y)
        else:
            y = np.full(n, default_year)
        if "patient_id" in frame.columns:
            pid = frame["patient_id"]
            labels = pd.Index(np.where(pid.isna(), frame.index.astype(object), pid.astype(object)))
        else:
            labels = frame.index
        cand, notes = self._candidates(raw, frame, edition or self.edition, labels)
        X = risk_features(raw)[self.factors_].to_numpy(float)
        lp_mid, lp_lo, lp_hi = self._lp_ranges(X, arr)
        # A feature range matters only for candidate subtypes that have an excess hazard.
        spread = (lp_hi - lp_lo > 1e-12) & cand & arr["excess"][None, :]
        envelope = (cand.sum(axis=1) > 1) | spread.any(axis=1) | sex_unknown
        if sex_unknown.any():
            notes.append(
                f"{int(sex_unknown.sum())} patient(s) without sex: general-population mortality is "
                "the range over F and M (central curve: their mean)"
            )
        return {
            "age": age,
            "sex": np.where(sex_unknown, "F", np.asarray(sex.astype(object))),
            "sex_unknown": sex_unknown,
            "year": y,
            "cand": cand,
            "X": X,
            "lp_mid": lp_mid,
            "lp_lo": lp_lo,
            "lp_hi": lp_hi,
            "envelope": envelope,
            "labels": labels,
            "single": single,
            "notes": notes,
            "n": n,
        }

    def _candidates(
        self, raw: pd.DataFrame, frame: pd.DataFrame, edition: str, labels: pd.Index
    ) -> tuple[np.ndarray, list[str]]:
        """(n, 6) bool matrix of possible prognostic subtypes per patient, and notes.

        Vectorised over distinct label patterns (a cohort has only a handful), not over patients.
        """
        group = _prognostic_group()
        usable = self._arrays()["usable"]
        n = len(frame)
        who = frame["who_subtype"].astype(object)
        given = who.notna().to_numpy()
        try:
            from .classification import classify
        except ImportError:  # pragma: no cover - classification not built yet
            classify = None
        # Classify when a subtype is missing, or when the input carries diagnostic findings that
        # could contradict a given who_subtype (then warn and keep who_subtype). A frame of only
        # survival/risk columns (e.g. a synthetic cohort) skips the classifier.
        diagnostic = any(c in raw.columns and c not in _NON_DIAGNOSTIC for c in CANONICAL_COLUMNS)
        if classify is None and (~given).any():  # pragma: no cover
            raise FindingsError(
                "column 'who_subtype': missing and the classifier is not available; "
                "give who_subtype (one of " + ", ".join(SUBTYPE_LABELS) + ")"
            )
        # One tuple of possible labels per patient: (who_subtype,) when given, else the
        # classifier's subtype, or its candidates when it is undecided.
        found = pd.Series([()] * 0, dtype=object)
        if classify is not None and ((~given).any() or diagnostic):
            classified = classify(raw, edition=edition)
            sub = classified["subtype"].astype(object).to_numpy()
            cands = classified["candidates"].to_numpy(object)
            decided = sub != "indeterminate"
            found = pd.Series(cands, index=frame.index, dtype=object)
            found[decided] = _as_singletons(sub[decided])
            g_who = who.map(group).to_numpy(object)
            g_cls = pd.Series(sub).map(group).to_numpy(object)
            clash = given & decided & (g_who != g_cls)
            if clash.any():
                first = np.flatnonzero(clash)[:5]
                what = "; ".join(
                    f"patient {labels[i]!r}: who_subtype {who.iloc[i]!r}, findings {sub[i]!r}" for i in first
                )
                warnings.warn(
                    f"who_subtype disagrees with the findings ({edition}) for {int(clash.sum())} "
                    f"patient(s), using who_subtype: {what}",
                    FindingsWarning,
                    stacklevel=4,
                )
        per_row = np.empty(n, dtype=object)
        if len(found):
            per_row[:] = found.to_numpy(object)
        per_row[given] = _as_singletons(who[given].to_numpy(object))
        codes, patterns = pd.factorize(pd.Series(per_row, dtype=object))
        index = {s: k for k, s in enumerate(PROGNOSTIC_SUBTYPES)}
        table = np.zeros((len(patterns), len(PROGNOSTIC_SUBTYPES)), bool)
        notes: list[str] = []
        errors = []
        for c, labs in enumerate(patterns):  # distinct patterns only
            groups = {group.get(lab, lab) for lab in labs}
            ok = {g for g in groups if g in index and usable[index[g]]}
            rows = np.flatnonzero(codes == c)
            if not ok:
                errors.append((labels[rows[0]], tuple(sorted(groups)), rows.size))
                continue
            dropped = groups - ok
            if dropped:
                notes.append(
                    f"{rows.size} patient(s) (first {labels[rows[0]]!r}): candidate subtype(s) "
                    f"{sorted(dropped)} have no calibrated curve and are left out of the envelope"
                )
            table[c, [index[g] for g in ok]] = True
        if errors:
            row, groups, _ = errors[0]
            total = sum(e[2] for e in errors)
            what = ", ".join(groups) if groups else "unknown"
            raise CalibrationError(
                f"{total} patient(s) have no calibrated survival curve; first: patient {row!r}, "
                f"subtype {what}: {self._no_curve_reason(groups)}"
            )
        return table[codes], notes

    def _no_curve_reason(self, groups: tuple[str, ...]) -> str:
        st = self._check_ready()
        if "MCS" in groups:
            p = st["subtypes"].get("MCS") or {}
            return p.get("reason", "no confirmed survival target exists for mast-cell sarcoma (MCS)")
        if "none" in groups:
            return "the findings give no mastocytosis ('none'); the model covers mastocytosis only"
        return "no calibrated parameters for this subtype in this model"

    def _lp_ranges(self, X: np.ndarray, arr: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Linear predictors (n, 6): central, minimum and maximum over unknown features."""
        beta, center = arr["beta"], arr["center"]
        F = self.factors_
        known = ~np.isnan(X)
        groups: list[list[int]] = []
        sar = [F.index(f) for f in ("sar_1", "sar_2plus") if f in F]
        if len(sar) == 2:
            groups.append(sar)
        groups += [[j] for j in range(len(F)) if j not in (sar if len(sar) == 2 else [])]
        n, S = X.shape[0], center.shape[0]
        mid = np.zeros((n, S))
        lo = np.zeros((n, S))
        hi = np.zeros((n, S))
        for g in groups:
            # Options for the group's 0/1 values (mutually exclusive indicators for S/A/R).
            opts = np.eye(len(g)) if len(g) > 1 else np.array([[1.0]])
            opts = np.vstack([np.zeros((1, len(g))), opts])  # (n_opt, |g|)
            xg = X[:, g]
            consistent = np.all(
                ~known[:, None, g] | (xg[:, None, :] == opts[None, :, :]), axis=2
            )  # (n, n_opt)
            for k in range(S):
                contrib_opt = (opts - center[k, g]) @ beta[g]  # (n_opt,)
                c = np.where(consistent, contrib_opt[None, :], np.nan)
                lo[:, k] += np.nanmin(c, axis=1)
                hi[:, k] += np.nanmax(c, axis=1)
                filled = np.where(known[:, g], xg, center[k, g])
                mid[:, k] += (filled - center[k, g]) @ beta[g]
        return mid, lo, hi

    # ------------------------------------------------------------------ closed form core

    @staticmethod
    def _excess_cumhaz(lp: np.ndarray, log_lambda: float, rho: float, t: np.ndarray) -> np.ndarray:
        """exp(lp) * (t / lambda) ** rho for lp (n,) and t (T,) -> (n, T)."""
        with np.errstate(divide="ignore"):
            log_t = np.log(t)
        return np.exp(lp[:, None] + rho * (log_t[None, :] - log_lambda))

    def _background(self, P: dict, t: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """General-population survival for each distinct (sex, year, whole age) path.

        Returns ``({"mid", "lo", "hi"}: (U, T) arrays, (n,) row index per patient)``. The
        background depends on nothing else, so 100,000 patients need a few thousand life-table
        paths. For unknown sex, ``mid`` is the mean of the F and M curves and ``lo``/``hi`` their
        pointwise minimum/maximum; for known sex the three are the same curve.
        """
        lt = self.life_table_
        unk = P["sex_unknown"]
        s, y, a = lt._start(P["age"], P["sex"], P["year"])
        s_key = np.where(unk, 2, s)
        key = (s_key * (lt.last_year - lt.first_year + 1) + y) * (lt.max_age + 1) + a
        inv, uniq = pd.factorize(key)
        first = np.zeros(uniq.size, np.int64)
        first[inv[::-1]] = np.arange(inv.size)[::-1]  # a row index of each distinct path
        sk, yk, ak = s_key[first], y[first] + lt.first_year, a[first]
        S = lt.survival(ak[:, None], np.where(sk == 2, 0, sk)[:, None], yk[:, None], t[None, :])
        out = {"mid": S, "lo": S, "hi": S}
        u = sk == 2
        if u.any():
            S_m = lt.survival(ak[u][:, None], 1, yk[u][:, None], t[None, :])
            out = {"mid": S.copy(), "lo": S.copy(), "hi": S.copy()}
            out["mid"][u] = 0.5 * (S[u] + S_m)
            out["lo"][u] = np.minimum(S[u], S_m)
            out["hi"][u] = np.maximum(S[u], S_m)
        return out, inv

    def _curves(
        self,
        P: dict,
        t: np.ndarray,
        params: dict | None = None,
        S_pop: np.ndarray | None = None,
        envelope: bool = True,
    ) -> dict[str, np.ndarray]:
        """Central (and, with ``envelope``, lower and upper) survival (n, T), closed form.

        Each distinct background path and each distinct linear predictor is evaluated once
        (risk features are binary, so a subtype has at most 24 distinct linear predictors) and
        gathered per patient.
        """
        arr = params or self._arrays()
        if S_pop is None:
            S_u, inv_bg = self._background(P, t)
        else:
            S_u, inv_bg = S_pop, np.arange(P["n"])
        n, T = P["n"], t.size
        cand = P["cand"]
        n_cand = cand.sum(axis=1)
        single = bool(np.all(n_cand == 1))
        mid = np.empty((n, T)) if single else np.zeros((n, T))
        lower = upper = None
        if envelope:
            lower = np.full((n, T), np.inf)
            upper = np.full((n, T), -np.inf)
        for k in range(len(PROGNOSTIC_SUBTYPES)):
            rows = np.flatnonzero(cand[:, k])
            if rows.size == 0:
                continue
            every = rows.size == n
            idx = inv_bg if every else inv_bg[rows]
            bg = S_u["mid"][idx]
            if arr["excess"][k]:
                ll, r = arr["log_lambda"][k], arr["rho"][k]
                e_mid = excess_survival(P["lp_mid"][rows, k], ll, r, t)
            else:
                e_mid = None
            val = bg if e_mid is None else np.multiply(e_mid, bg, out=e_mid)
            if single and every:
                mid = val
            elif single:
                mid[rows] = val  # one candidate per patient: each row is written exactly once
            else:
                mid[rows] += val
            if envelope:
                bg_lo, bg_hi = S_u["lo"][idx], S_u["hi"][idx]
                if e_mid is None:
                    lo_v, up_v = bg_lo, bg_hi
                else:
                    lo_v = excess_survival(P["lp_hi"][rows, k], ll, r, t) * bg_lo
                    up_v = excess_survival(P["lp_lo"][rows, k], ll, r, t) * bg_hi
                lower[rows] = np.minimum(lower[rows], lo_v)
                upper[rows] = np.maximum(upper[rows], up_v)
        if not single:
            mid /= n_cand[:, None]
        out = {"mid": mid, "lower": lower, "upper": upper}
        if S_pop is None:
            out["pop_u"], out["inv_bg"] = S_u, inv_bg
        return out

    def _population(self, c: dict, which: str = "mid") -> np.ndarray:
        return c["pop_u"][which][c["inv_bg"]]

    def _frame(self, values: np.ndarray, t: np.ndarray, P: dict, what: str) -> pd.DataFrame:
        out = pd.DataFrame(values.T, index=pd.Index(t, name="months"), columns=P["labels"])
        out.attrs["envelope"] = P["envelope"].tolist()
        out.attrs["notes"] = list(P["notes"])
        out.attrs["what"] = what
        return out

    @staticmethod
    def _times(times: Any) -> np.ndarray:
        t = DEFAULT_TIMES if times is None else np.atleast_1d(np.asarray(times, dtype=float))
        if t.ndim != 1 or np.any(np.isnan(t)) or np.any(t < 0):
            raise ValueError(f"times: expected a 1-D list of months >= 0; got {times!r}")
        return t

    # ------------------------------------------------------------------ public predictions

    def predict_survival(
        self, data: Any, times: Any = None, *, year: float | None = None, edition: str | None = None
    ) -> pd.DataFrame:
        """Overall survival curves: rows = times (months), columns = patients (like lifelines).

        Parameters
        ----------
        data : DataFrame, mapping or path
            Findings with at least ``age`` (years at diagnosis) and ``sex``; ``who_subtype`` or the
            findings the classifier needs; the risk findings (unknown = a range). An extra column
            ``diagnosis_year`` sets the calendar year per patient.
        times : array_like, optional
            Months since diagnosis (default 0-240 by 1).
        year : float, optional
            Calendar year of diagnosis when there is no ``diagnosis_year`` column (default: the
            life table's last year).
        edition : str, optional
            Classification edition (default: the model's ``edition``).

        Returns
        -------
        DataFrame
            ``attrs["envelope"]`` flags patients whose subtype or features are a range (then this is
            the central curve; see :meth:`predict_survival_envelope`), ``attrs["notes"]`` explains.

        Raises
        ------
        CalibrationError
            For a patient whose only possible subtype has no calibrated curve (MCS, no mastocytosis).
        """
        t = self._times(times)
        P = self._prepare(data, year, edition)
        return self._frame(self._curves(P, t, envelope=False)["mid"], t, P, "survival")

    def predict_survival_envelope(
        self, data: Any, times: Any = None, *, year: float | None = None, edition: str | None = None
    ) -> dict[str, pd.DataFrame]:
        """Lower and upper envelope over the possible subtypes/feature values (equal when known).

        Returns
        -------
        dict
            ``{"survival": central, "lower": ..., "upper": ..., "population": ...}`` DataFrames.
        """
        t = self._times(times)
        P = self._prepare(data, year, edition)
        c = self._curves(P, t)
        return {
            "survival": self._frame(c["mid"], t, P, "survival"),
            "lower": self._frame(c["lower"], t, P, "envelope lower"),
            "upper": self._frame(c["upper"], t, P, "envelope upper"),
            "population": self._frame(self._population(c), t, P, "population survival"),
        }

    def predict_survival_at(self, data: Any, t: float, **kwargs: Any) -> pd.Series:
        """Survival probability at ``t`` months for each patient (a Series indexed by patient)."""
        curve = self.predict_survival(data, [float(t)], **kwargs)
        s = curve.iloc[0].rename(f"survival_at_{float(t):g}_months")
        s.attrs = dict(curve.attrs)
        return s

    def predict_population_survival(
        self, data: Any, times: Any = None, *, year: float | None = None
    ) -> pd.DataFrame:
        """The matched general-population survival (same age, sex, calendar year) as a frame.

        Rows: months; columns: patients. Unknown sex gives the mean of the F and M curves.
        """
        t = self._times(times)
        raw, _ = _to_frame(data)
        frame, _ = ensure_findings(raw, columns=("patient_id", "age", "sex"))
        lt = self.life_table_
        y = np.full(len(frame), float(lt.last_year if year is None else year))
        if "diagnosis_year" in raw.columns:
            yy = pd.to_numeric(raw["diagnosis_year"], errors="coerce").to_numpy(float)
            y = np.where(np.isnan(yy), y, yy)
        unknown = frame["sex"].isna().to_numpy()
        P = {
            "age": frame["age"].to_numpy(float),
            "year": y,
            "sex_unknown": unknown,
            "sex": np.where(unknown, "F", np.asarray(frame["sex"].astype(object))),
        }
        S_u, inv = self._background(P, t)  # unknown sex: mean of the F and M curves
        labels = (
            frame["patient_id"].fillna(pd.Series(frame.index, index=frame.index))
            if "patient_id" in frame.columns
            else frame.index
        )
        return pd.DataFrame(S_u["mid"][inv].T, index=pd.Index(t, name="months"), columns=pd.Index(labels))

    def predict_median(
        self, data: Any, *, interval: bool = False, year: float | None = None, edition: str | None = None
    ) -> pd.Series | pd.DataFrame:
        """Median overall survival (months) per patient.

        The curve always reaches 0.5 when the life table's open age interval has a positive death
        rate (HMD: yes), so medians are finite; ``inf`` is returned only when a curve stays above 0.5
        for the whole horizon (160 years), e.g. with a user table of zero rates.

        Parameters
        ----------
        interval : bool
            Also return ``lower``/``upper``: the 2.5/97.5 % percentiles of the median over the
            parameter draws, widened by the envelope for patients with missing findings.

        Returns
        -------
        Series (or DataFrame with median_months, lower, upper, envelope when ``interval``)
        """
        P = self._prepare(data, year, edition)
        arr = self._arrays()
        n, S = P["n"], len(PROGNOSTIC_SUBTYPES)
        rows = {
            "age": P["age"],
            "sex": P["sex"],
            "sex_unknown": P["sex_unknown"],
            "year": P["year"],
            "cand": P["cand"],
            "ll": np.broadcast_to(arr["log_lambda"], (n, S)),
            "rho": np.broadcast_to(arr["rho"], (n, S)),
            "excess": arr["excess"],
        }
        med = self._median_rows(rows, P["lp_mid"], "mid")
        if not interval:
            return pd.Series(med, index=P["labels"], name="median_months")
        draws = self._draw_params()
        D = len(draws)
        lo_lp = np.concatenate([self._redo_lp(P, d)["lp_hi"] for d in draws])
        hi_lp = np.concatenate([self._redo_lp(P, d)["lp_lo"] for d in draws])
        rep = {
            "age": np.tile(P["age"], D),
            "sex": np.tile(P["sex"], D),
            "sex_unknown": np.tile(P["sex_unknown"], D),
            "year": np.tile(P["year"], D),
            "cand": np.tile(P["cand"], (D, 1)),
            "ll": np.repeat(np.array([d["log_lambda"] for d in draws]), n, axis=0),
            "rho": np.repeat(np.array([d["rho"] for d in draws]), n, axis=0),
            "excess": arr["excess"],
        }
        lows = self._median_rows(rep, lo_lp, "lower").reshape(D, n)
        highs = self._median_rows(rep, hi_lp, "upper").reshape(D, n)
        return pd.DataFrame(
            {
                "median_months": med,
                "lower": np.percentile(lows, 2.5, axis=0),
                "upper": np.percentile(highs, 97.5, axis=0),
                "envelope": P["envelope"],
            },
            index=P["labels"],
        )

    def _median_rows(self, R: dict, lp: np.ndarray, which: str) -> np.ndarray:
        """Vectorised bisection on S(t) = 0.5, one curve per row (60 halvings of 160 years).

        ``which``: ``"mid"`` averages the candidate subtypes' curves, ``"lower"`` takes their
        minimum and ``"upper"`` their maximum (pass the matching lp: max for lower, min for upper).
        """
        # Patients with the same whole age, sex, year, candidates, lp and parameters share a
        # curve: bisect each distinct curve once (a cohort of thousands has far fewer).
        lt = self.life_table_
        m0 = R["cand"].shape[0]
        shape = (m0, R["cand"].shape[1])
        key = np.column_stack(
            [
                np.floor(R["age"]),
                R["sex"] == "M",
                R["sex_unknown"],
                np.clip(np.floor(R["year"]), lt.first_year, lt.last_year),
                R["cand"],
                np.nan_to_num(lp),
                np.nan_to_num(np.broadcast_to(R["ll"], shape)),
                np.broadcast_to(R["rho"], shape),
            ]
        ).astype(float)
        _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
        R = {k: (v[first] if isinstance(v, np.ndarray) and v.shape[:1] == (m0,) else v) for k, v in R.items()}
        lp = lp[first]
        m = first.size
        lo = np.zeros(m)
        hi = np.full(m, 12.0 * 160)
        at_hi = self._surv_rows(R, lp, which, hi)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = self._surv_rows(R, lp, which, mid) <= 0.5
            hi = np.where(below, mid, hi)
            lo = np.where(below, lo, mid)
        return np.where(at_hi > 0.5, np.inf, hi)[inv.ravel()]

    def _surv_rows(self, R: dict, lp: np.ndarray, which: str, t_rows: np.ndarray) -> np.ndarray:
        lt = self.life_table_
        S_pop = lt.survival(R["age"], R["sex"], R["year"], t_rows)
        u = R["sex_unknown"]
        if u.any():  # unknown sex: mean (central), min (lower) or max (upper) over F and M
            S_m = lt.survival(R["age"][u], "M", R["year"][u], t_rows[u])
            combine = {"mid": lambda f, m: 0.5 * (f + m), "lower": np.minimum, "upper": np.maximum}[which]
            S_pop = S_pop.copy()
            S_pop[u] = combine(S_pop[u], S_m)
        with np.errstate(divide="ignore", over="ignore"):
            H = np.exp(lp + R["rho"] * (np.log(t_rows)[:, None] - R["ll"]))
        H = np.where(R["excess"][None, :], H, 0.0)
        S = np.exp(-H)
        cand = R["cand"]
        if which == "mid":
            exc = np.where(cand, S, 0.0).sum(axis=1) / cand.sum(axis=1)
        elif which == "lower":
            exc = np.where(cand, S, np.inf).min(axis=1)
        else:
            exc = np.where(cand, S, -np.inf).max(axis=1)
        return S_pop * exc

    def _draw_params(self) -> list[dict]:
        """Parameter sets of the stored draws (beta, lambda, rho); lp is recomputed per draw."""
        arr = self._arrays()
        if "d_beta" not in arr:
            raise CalibrationError(
                "this model has no parameter draws, so no uncertainty band; "
                "calibrate(..., draws=True) or fit() stores them"
            )
        out = []
        for d in range(arr["d_beta"].shape[0]):
            out.append(
                {
                    **arr,
                    "beta": arr["d_beta"][d],
                    "log_lambda": arr["d_log_lambda"][d],
                    "rho": np.exp(arr["d_log_rho"][d]),
                    "_draw": d,
                }
            )
        return out

    def predict_survival_interval(
        self,
        data: Any,
        times: Any = None,
        *,
        level: float = 0.95,
        year: float | None = None,
        edition: str | None = None,
        chunk: int | None = None,
    ) -> dict[str, pd.DataFrame]:
        """Central curve with a pointwise uncertainty band (default 95 %) from the parameter draws.

        The band is the ``(1 - level) / 2`` percentile of the envelope's lower curve and the
        ``(1 + level) / 2`` percentile of its upper curve over the stored draws; for patients with
        complete findings lower and upper envelope coincide, so this is the usual parameter band.

        Returns
        -------
        dict
            ``{"survival", "lower", "upper", "population"}`` DataFrames (rows: months).
        """
        if not 0 < level < 1:
            raise ValueError(f"level: expected a probability in (0, 1); got {level!r}")
        t = self._times(times)
        P = self._prepare(data, year, edition)
        central = self._curves(P, t, envelope=False)
        pop = self._population(central)
        bg = {w: self._population(central, w) for w in ("mid", "lo", "hi")}
        draws = self._draw_params()
        lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
        lower = np.empty((P["n"], t.size))
        upper = np.empty((P["n"], t.size))
        if chunk is None:  # patients per pass: keep the (draws x patients x times) stack near 100 MB
            chunk = max(1, int(1e8 / (8 * len(draws) * t.size)))
        for start in range(0, P["n"], chunk):
            sl = slice(start, min(start + chunk, P["n"]))
            sub = {
                k: (v[sl] if isinstance(v, np.ndarray) and v.shape[:1] == (P["n"],) else v)
                for k, v in P.items()
            }
            sub["n"] = sl.stop - sl.start
            S_pop = {w: v[sl] for w, v in bg.items()}
            lows, highs = [], []
            for params in draws:
                sub_d = self._redo_lp(sub, params)
                c = self._curves(sub_d, t, params, S_pop=S_pop)
                lows.append(c["lower"])
                highs.append(c["upper"])
            lower[sl] = np.percentile(np.array(lows), lo_q, axis=0)
            upper[sl] = np.percentile(np.array(highs), hi_q, axis=0)
        return {
            "survival": self._frame(central["mid"], t, P, "survival"),
            "lower": self._frame(lower, t, P, f"{level:.0%} band lower"),
            "upper": self._frame(upper, t, P, f"{level:.0%} band upper"),
            "population": self._frame(pop, t, P, "population survival"),
        }

    def predict_interval(self, data: Any, times: Any = None, **kwargs: Any) -> dict[str, pd.DataFrame]:
        """Alias of :meth:`predict_survival_interval` (the name in docs/architecture.md)."""
        return self.predict_survival_interval(data, times, **kwargs)

    def _redo_lp(self, P: dict, params: dict) -> dict:
        mid, lo, hi = self._lp_ranges(P["X"], params)
        return {**P, "lp_mid": mid, "lp_lo": lo, "lp_hi": hi}

    def predict_details(
        self, data: Any, *, year: float | None = None, edition: str | None = None
    ) -> pd.DataFrame:
        """Per patient: prognostic subtype(s), linear predictor range, envelope flag, year, notes."""
        P = self._prepare(data, year, edition)
        names = np.array(PROGNOSTIC_SUBTYPES)
        subtypes = [tuple(names[row]) for row in P["cand"]]
        lp_mid = np.nanmean(np.where(P["cand"], P["lp_mid"], np.nan), axis=1)
        lp_lo = np.nanmin(np.where(P["cand"], P["lp_lo"], np.nan), axis=1)
        lp_hi = np.nanmax(np.where(P["cand"], P["lp_hi"], np.nan), axis=1)
        return pd.DataFrame(
            {
                "subtype": [s[0] if len(s) == 1 else "indeterminate" for s in subtypes],
                "candidates": subtypes,
                "linear_predictor": lp_mid,
                "linear_predictor_min": lp_lo,
                "linear_predictor_max": lp_hi,
                "envelope": P["envelope"],
                "diagnosis_year": P["year"],
            },
            index=P["labels"],
        )

    def sample_event_times(
        self, frame: Any, rng: np.random.Generator, *, year: float | None = None, return_cause: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Exact draws of the time to death (months) from the model, one per patient.

        ``T = min(T_bg, T_exc)``: ``T_bg`` by exact inversion of the life-table hazard
        (:meth:`LifeTable.sample_death_times`), ``T_exc = lambda_s * (E / exp(lp)) ** (1 / rho_s)``
        with ``E ~ Exp(1)`` (closed-form Weibull PH draw; infinite for zero-excess CM).

        Parameters
        ----------
        frame : DataFrame or mapping
            Patients with a determinate subtype and known features (unknown features are set to
            the reference mean, as for the central curve).
        rng : numpy.random.Generator
        return_cause : bool
            Also return 1 = excess (disease) death, 0 = background death.

        Raises
        ------
        CalibrationError
            If a patient's subtype is undecided (several candidates) or has no curve.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng: expected a numpy.random.Generator (e.g. numpy.random.default_rng(0))")
        P = self._prepare(frame, year, require_sex=True)
        arr = self._arrays()
        multi = P["cand"].sum(axis=1) > 1
        if multi.any():
            raise CalibrationError(
                f"sample_event_times needs one subtype per patient; row(s) "
                f"{list(P['labels'][multi][:5])} have several candidates: give who_subtype"
            )
        k = P["cand"].argmax(axis=1)
        lp = P["lp_mid"][np.arange(P["n"]), k]
        t_bg = self.life_table_.sample_death_times(P["age"], P["sex"], P["year"], rng)
        e = rng.standard_exponential(P["n"])
        with np.errstate(over="ignore", invalid="ignore"):
            t_exc = np.where(
                arr["excess"][k], np.exp(arr["log_lambda"][k] + (np.log(e) - lp) / arr["rho"][k]), np.inf
            )
        t = np.minimum(t_bg, t_exc)
        if return_cause:
            return t, (t_exc < t_bg).astype(np.int8)
        return t

    # ------------------------------------------------------------------ calibration

    def calibrate(
        self,
        targets: Any = "lim2009",
        reference_cohort: Any = "lim2009",
        *,
        n: int = 200_000,
        seed: int = 20090601,
        draws: bool = True,
        weibull_shapes: Mapping[str, float] | None = None,
    ) -> SurvivalModel:
        """Solve each subtype's Weibull scale so that the reference cohort meets its target.

        Parameters
        ----------
        targets : str, path or DataFrame
            A target set (:func:`load_targets`). Subtypes it does not mention keep their current
            parameters (so ``mayo2025`` recalibrates MCL and SM-AHN of the default model only).
        reference_cohort : str, path, Scenario or mapping
            A scenario (``scenarios.reference_cohort(scenario, subtype, n, seed)`` is drawn per
            subtype) or a mapping ``{subtype: findings DataFrame}`` (with ``diagnosis_year``).
        n, seed : int
            Size and seed of the reference cohorts drawn from a scenario.
        draws : bool
            Also re-calibrate ``n_draws`` parameter draws for the uncertainty bands.
        weibull_shapes : mapping, optional
            Override the Weibull shape of some subtypes, e.g. ``{"ASM": 0.8}`` (an assumption).
            Otherwise a model keeps its own shapes (fitted, or from an earlier calibration) and a
            fresh model takes them from the target set's ``weibull_shape`` rows.

        Returns
        -------
        self

        Raises
        ------
        CalibrationError
            When a target cannot be met (e.g. the population alone already dies faster) or a
            subtype has no reference cohort.
        """
        from .risk import mastoprog_coefficients, risk_features

        tg = load_targets(targets)
        st = getattr(self, "state_", None)
        if st is None:
            coef = mastoprog_coefficients()
            st = {
                "kind": "calibrated",
                "factors": list(coef.index),
                "beta": {
                    f: {
                        "log_hr": float(r["log_hr"]),
                        "se_log_hr": float(r["se_log_hr"]),
                        "source": str(r["source"]),
                        "evidence": str(r["evidence"]),
                        "assumption": bool(r["assumption"]),
                    }
                    for f, r in coef.iterrows()
                },
                "subtypes": {},
                "draws": None,
                "residuals": [],
                "assumptions": [],
            }
        st = json.loads(json.dumps(st))  # deep copy; the old state stays valid until we succeed
        if st["kind"] not in ("calibrated",) and "recalibrated" not in st["kind"]:
            st["kind"] = f"{st['kind']}, recalibrated"
        F = st["factors"]
        beta = np.array([st["beta"][f]["log_hr"] for f in F])
        rng = np.random.default_rng(self.random_state)
        D = int(self.n_draws)
        old_draws = st.get("draws")
        if draws:
            if old_draws and len(old_draws["beta"]) == D:
                d_beta = np.asarray(old_draws["beta"], float)
            else:
                se = np.array([st["beta"][f].get("se_log_hr", 0.0) or 0.0 for f in F])
                d_beta = beta + se * rng.standard_normal((D, len(F)))
        set_name = str(targets) if isinstance(targets, str) else tg.attrs.get("where", "targets frame")
        scenario_name = (
            reference_cohort
            if isinstance(reference_cohort, str | os.PathLike)
            else getattr(reference_cohort, "name", "user mapping")
        )
        new_draws: dict[str, dict[str, list[float]]] = {"log_lambda": {}, "log_rho": {}}
        residuals = [r for r in st.get("residuals", []) if r["subtype"] not in set(tg["subtype"])]
        shapes = {r["subtype"]: r for _, r in tg[tg["kind"] == "weibull_shape"].iterrows()}
        lt = self.life_table_
        for _, r in tg[tg["kind"] != "weibull_shape"].iterrows():
            s, kind = r["subtype"], r["kind"]
            prov = {
                "target_set": set_name,
                "kind": kind,
                "value": _num(r["value"]),
                "time_months": _num(r["time_months"]),
                "n_patients": _num(r["n_patients"]),
                "events": _num(r["events"]),
                "source": str(r["source"]),
                "evidence": str(r["evidence"]),
                "note": str(r.get("note", "")) if pd.notna(r.get("note", np.nan)) else "",
            }
            if kind == "no_target":
                st["subtypes"][s] = {
                    "excess": "uncalibrated",
                    "source": prov["source"],
                    "evidence": prov["evidence"],
                    "target": prov,
                    "reason": f"no confirmed survival target exists for {s} "
                    f"({prov['note'] or prov['source']}); no calibrated curve",
                }
                continue
            if kind == "zero_excess":
                st["subtypes"][s] = {
                    "excess": "none",
                    "source": prov["source"],
                    "evidence": prov["evidence"],
                    "target": prov,
                    "rho": None,
                    "log_lambda": None,
                }
                residuals.append(
                    {"subtype": s, "kind": kind, "target": None, "achieved": None, "residual": 0.0}
                )
                continue
            prev = st["subtypes"].get(s, {})
            # Shape precedence: explicit override > the model's own (fitted or earlier) > target set.
            if weibull_shapes and s in weibull_shapes:
                rho = float(weibull_shapes[s])
                if not rho > 0:
                    raise CalibrationError(f"weibull_shapes[{s!r}]: expected a shape > 0; got {rho!r}")
                rho_src = {
                    "rho_source": "user override (calibrate(weibull_shapes=...))",
                    "rho_evidence": "assumption",
                }
            elif prev.get("rho") is not None:
                rho = float(prev["rho"])
                rho_src = {k: prev[k] for k in ("rho_source", "rho_evidence") if k in prev}
            elif s in shapes:
                rho = float(shapes[s]["value"])
                rho_src = {"rho_source": str(shapes[s]["source"]), "rho_evidence": str(shapes[s]["evidence"])}
            else:
                raise CalibrationError(
                    f"subtype {s}: no Weibull shape (kind 'weibull_shape') in the target "
                    "set and none in the model; add one (it is an assumption)"
                )
            cohort = self._reference_frame(reference_cohort, s, n, seed)
            X = risk_features(cohort)[F].to_numpy(float)
            known = ~np.isnan(X)
            count = known.sum(axis=0)
            # Mean of the known values; a feature unknown for everyone is centred at 0.
            center = np.where(count > 0, np.where(known, X, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
            Xc = np.where(np.isnan(X), 0.0, X - center)
            age = cohort["age"].to_numpy(float)
            sex = np.asarray(cohort["sex"].astype(object))
            year = (
                pd.to_numeric(cohort["diagnosis_year"], errors="coerce").to_numpy(float)
                if "diagnosis_year" in cohort.columns
                else np.full(len(cohort), float(lt.last_year))
            )
            year = np.where(np.isnan(year), float(lt.last_year), year)
            bg = (age, sex, year)
            lp = Xc @ beta
            value, tm = float(r["value"]), _num(r["time_months"])
            log_lambda = _solve_scale(lt, bg, lp, rho, kind, value, tm, s)
            achieved = _achieved(lt, bg, lp, rho, log_lambda, kind, tm)
            residuals.append(
                {
                    "subtype": s,
                    "kind": kind,
                    "target": value,
                    "time_months": tm,
                    "achieved": achieved,
                    "residual": achieved - value,
                    "reference_cohort": {"scenario": str(scenario_name), "n": len(cohort), "seed": seed},
                }
            )
            st["subtypes"][s] = {
                "excess": "weibull",
                "log_lambda": float(log_lambda),
                "rho": rho,
                **rho_src,
                "center": {f: float(c) for f, c in zip(F, center, strict=True)},
                "source": prov["source"],
                "evidence": prov["evidence"],
                "target": prov,
                "calibration": "population-averaged over the reference cohort",
                "reference_cohort": {
                    "scenario": str(scenario_name),
                    "subtype": s,
                    "n": len(cohort),
                    "seed": seed,
                    "age_median": float(np.median(age)),
                    "feature_means": {f: float(c) for f, c in zip(F, center, strict=True)},
                },
            }
            if draws:
                values = _draw_target(r, rng, D)
                sols = []
                for d in range(D):
                    lp_d = Xc @ d_beta[d]
                    tm_d = values[d] if kind == "median" else tm
                    val_d = 0.5 if kind == "median" else values[d]
                    k2 = "survival_at" if kind == "median" else kind
                    sols.append(_solve_scale(lt, bg, lp_d, rho, k2, val_d, tm_d, s, clip=True))
                new_draws["log_lambda"][s] = [float(v) for v in sols]
                new_draws["log_rho"][s] = [math.log(rho)] * D
        if draws:
            merged = {
                "n": D,
                "beta": d_beta.tolist(),
                "log_lambda": {},
                "log_rho": {},
                "method": "calibrated: beta ~ N(log HR, SE from the published 95 % CI); each target "
                "drawn from its sampling distribution (median: log-normal with "
                "var(log median) = 1/events; survival: complementary log-log normal with "
                "Greenwood variance from n; assumption ranges: uniform); lambda_s re-solved "
                "per draw on the same reference cohort (a drawn target above what the matched "
                "population alone reaches gives zero excess in that draw); rho fixed (assumption)",
                "seed": self.random_state,
            }
            if old_draws and len(old_draws["beta"]) == D:
                merged["log_lambda"].update(old_draws["log_lambda"])
                merged["log_rho"].update(old_draws["log_rho"])
            merged["log_lambda"].update(new_draws["log_lambda"])
            merged["log_rho"].update(new_draws["log_rho"])
            st["draws"] = merged
        else:
            st["draws"] = None  # old draws would not match the re-solved scales
        st["residuals"] = residuals
        st["life_table"] = lt.describe()
        st.setdefault("provenance", {})
        st["provenance"].setdefault("calibrations", []).append(
            {
                "targets": set_name,
                "subtypes": sorted(set(tg["subtype"])),
                "reference_cohort": str(scenario_name),
                "n": n,
                "seed": seed,
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            }
        )
        st["band_method"] = st["draws"]["method"] if st.get("draws") else "no parameter draws: no band"
        self.state_ = st
        self._compiled = None
        return self

    @staticmethod
    def _reference_frame(reference_cohort: Any, subtype: str, n: int, seed: int) -> pd.DataFrame:
        if isinstance(reference_cohort, Mapping):
            if subtype not in reference_cohort:
                raise CalibrationError(
                    f"no reference cohort for subtype {subtype}: the mapping has {sorted(reference_cohort)}"
                )
            frame = reference_cohort[subtype]
            return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
        from .scenarios import reference_cohort as draw

        return draw(reference_cohort, subtype, n=n, seed=seed)

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        df: Any,
        duration_col: str = "time",
        event_col: str = "event",
        *,
        year: float | None = None,
        alpha: float = 0.05,
        edition: str | None = None,
        zero_excess: tuple[str, ...] = ("CM",),
        min_events: int = 10,
    ) -> SurvivalModel:
        """Fit the excess-hazard model to a cohort by maximum likelihood (lifelines).

        Parameters
        ----------
        df : DataFrame or path
            Findings with ``time`` (months), ``event`` (0/1), ``age``, ``sex``, ``who_subtype`` (or
            findings the classifier decides), the risk findings (complete: rows with an unknown
            feature are refused) and optionally ``diagnosis_year``.
        year : float, optional
            Calendar year of diagnosis when there is no ``diagnosis_year`` column.
        alpha : float
            1 - level of the confidence intervals in ``fitter_.summary``.
        zero_excess : tuple of str
            Subtypes fixed at no excess hazard (default CM, as in the calibrated model): their
            rows carry no parameter, so they are left out of the likelihood.
        min_events : int
            Every other subtype in the data needs at least this many deaths to be fitted.

        Returns
        -------
        self
            With ``fitter_`` (the lifelines :class:`~mastoprog._excess_fitter.ExcessHazardFitter`:
            ``summary``, ``variance_matrix_``, ``AIC_``) and ``state_``.
        """
        from ._excess_fitter import ExcessHazardFitter
        from .risk import mastoprog_coefficients

        raw, _ = _to_frame(df)
        timing, _ = ensure_findings(raw, columns=("patient_id", "time", "event"))
        T = (
            timing[duration_col].to_numpy(float)
            if duration_col in timing
            else pd.to_numeric(raw[duration_col]).to_numpy(float)
        )
        E = (
            timing[event_col].to_numpy(float)
            if event_col in timing
            else pd.to_numeric(raw[event_col]).to_numpy(float)
        )
        bad = np.isnan(T) | (T <= 0) | np.isnan(E)
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise FindingsError(
                f"row {timing.index[i]!r}: fitting needs time > 0 months and event 0/1 in "
                f"every row; got time={T[i]!r}, event={E[i]!r}"
            )
        coef = mastoprog_coefficients()
        F = list(coef.index)
        # Reuse the prediction path for subtype and features (a temporary state: no excess at all).
        self.state_ = {
            "kind": "fitting",
            "factors": F,
            "subtypes": {s: {"excess": "none"} for s in PROGNOSTIC_SUBTYPES},
            "beta": {f: {"log_hr": 0.0} for f in F},
            "draws": None,
        }
        self._compiled = None
        try:
            P = self._prepare(raw, year, edition, require_sex=True)
        finally:
            del self.state_
            self._compiled = None
        if (P["cand"].sum(axis=1) > 1).any():
            rows = list(P["labels"][P["cand"].sum(axis=1) > 1][:5])
            raise FindingsError(
                f"fitting needs one subtype per patient; row(s) {rows} are undecided: give who_subtype"
            )
        if np.isnan(P["X"]).any():
            rows = list(P["labels"][np.isnan(P["X"]).any(axis=1)][:5])
            raise FindingsError(
                f"fitting needs complete risk features; row(s) {rows} have unknown ones "
                f"({', '.join(F)}): impute or drop them first"
            )
        k_all = P["cand"].argmax(axis=1)
        bad_zero = sorted(set(zero_excess) - set(PROGNOSTIC_SUBTYPES))
        if bad_zero:
            raise ValueError(
                f"zero_excess: {bad_zero} are not prognostic subtypes {list(PROGNOSTIC_SUBTYPES)}"
            )
        fixed = np.isin(k_all, [PROGNOSTIC_SUBTYPES.index(z) for z in zero_excess])
        k, T, E = k_all[~fixed], T[~fixed], E[~fixed]
        X = P["X"][~fixed]
        bgP = {key: P[key][~fixed] for key in ("age", "sex", "year")}
        present = [s for j, s in enumerate(PROGNOSTIC_SUBTYPES) if (k == j).any()]
        few = {s: int(E[k == PROGNOSTIC_SUBTYPES.index(s)].sum()) for s in present}
        few = {s: e for s, e in few.items() if e < min_events}
        if not present or few:
            raise FindingsError(
                f"too few deaths to fit: {few or 'no rows outside zero_excess'} (at least {min_events} "
                "per subtype); drop those patients, pass them in zero_excess=, or lower min_events"
            )
        centers = {s: X[k == PROGNOSTIC_SUBTYPES.index(s)].mean(axis=0) for s in present}
        Xc = X - np.array([centers[PROGNOSTIC_SUBTYPES[j]] for j in k])
        varying = [j for j in range(len(F)) if np.std(X[:, j]) > 0]
        lt = self.life_table_
        design = pd.DataFrame(
            {
                "T": T,
                "E": E,
                "bg_h": lt.hazard(bgP["age"], bgP["sex"], bgP["year"], T),
                "bg_H": lt.cumulative_hazard(bgP["age"], bgP["sex"], bgP["year"], T),
            }
        )
        dummies = [f"is_{s}" for s in present]
        for s, name in zip(present, dummies, strict=True):
            design[name] = (k == PROGNOSTIC_SUBTYPES.index(s)).astype(float)
        for j in varying:
            design[F[j]] = Xc[:, j]
        fitter = ExcessHazardFitter(alpha=alpha)
        fitter.fit(
            design,
            "T",
            "E",
            bg_hazard_col="bg_h",
            bg_cumhaz_col="bg_H",
            regressors={"beta_": [F[j] for j in varying], "log_lambda_": dummies, "log_rho_": dummies},
        )
        self.fitter_ = fitter
        params = fitter.params_
        cov = fitter.variance_matrix_
        se = np.sqrt(np.diag(cov.to_numpy()))
        se = pd.Series(se, index=params.index)
        beta_state = {}
        for f in F:
            if ("beta_", f) in params.index:
                beta_state[f] = {
                    "log_hr": float(params[("beta_", f)]),
                    "se_log_hr": float(se[("beta_", f)]),
                    "source": "fitted by maximum likelihood (mastoprog ExcessHazardFitter, lifelines)",
                    "evidence": "fitted",
                    "assumption": False,
                }
            else:
                beta_state[f] = {
                    "log_hr": 0.0,
                    "se_log_hr": 0.0,
                    "evidence": "fitted",
                    "assumption": True,
                    "source": "not estimable: the feature does not vary in the data; fixed at 0",
                }
        subtypes = {
            z: {
                "excess": "none",
                "source": "fixed at no excess hazard (fit(zero_excess=...))",
                "evidence": "assumption",
                "n": int((k_all == PROGNOSTIC_SUBTYPES.index(z)).sum()),
            }
            for z in zero_excess
        }
        for s, name in zip(present, dummies, strict=True):
            subtypes[s] = {
                "excess": "weibull",
                "log_lambda": float(params[("log_lambda_", name)]),
                "rho": float(np.exp(params[("log_rho_", name)])),
                "rho_source": "fitted",
                "rho_evidence": "fitted",
                "center": {f: float(c) for f, c in zip(F, centers[s], strict=True)},
                "source": "fitted by maximum likelihood",
                "evidence": "fitted",
                "n": int((k == PROGNOSTIC_SUBTYPES.index(s)).sum()),
                "events": int(E[k == PROGNOSTIC_SUBTYPES.index(s)].sum()),
            }
        rng = np.random.default_rng(self.random_state)
        D = int(self.n_draws)
        draws = rng.multivariate_normal(params.to_numpy(), cov.to_numpy(), size=D, method="svd")
        dd = pd.DataFrame(draws, columns=params.index)
        d_beta = np.column_stack([dd[("beta_", f)] if ("beta_", f) in dd.columns else np.zeros(D) for f in F])
        st = {
            "kind": "fitted",
            "factors": F,
            "beta": beta_state,
            "subtypes": subtypes,
            "draws": {
                "n": D,
                "beta": d_beta.tolist(),
                "log_lambda": {
                    s: dd[("log_lambda_", nm)].tolist() for s, nm in zip(present, dummies, strict=True)
                },
                "log_rho": {s: dd[("log_rho_", nm)].tolist() for s, nm in zip(present, dummies, strict=True)},
                "method": "fitted: multivariate normal draws from lifelines' variance_matrix_ "
                "(inverse observed information) of (beta, log lambda_s, log rho_s)",
                "seed": self.random_state,
            },
            "residuals": [],
            "life_table": lt.describe(),
            "fit": {
                "n": len(T),
                "events": int(E.sum()),
                "log_likelihood": float(fitter.log_likelihood_),
                "AIC": float(fitter.AIC_),
                "alpha": alpha,
                "variance_matrix": {"index": [list(i) for i in cov.index], "values": cov.to_numpy().tolist()},
            },
            "provenance": {"fitted": datetime.now(UTC).strftime("%Y-%m-%d")},
            "assumptions": [],
        }
        st["band_method"] = st["draws"]["method"]
        self.state_ = st
        self._compiled = None
        return self

    # ------------------------------------------------------------------ persistence and card

    def to_dict(self) -> dict[str, Any]:
        """The JSON document :meth:`save` writes."""
        from . import RESEARCH_USE_NOTICE, __version__

        st = self._check_ready()
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "mastoprog_version": __version__,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "edition": self.edition,
            "notice": RESEARCH_USE_NOTICE,
            "model": st,
        }

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the model as JSON (no pickle). Refuses to replace a file unless ``overwrite``.

        Raises
        ------
        MastoprogError
            If ``path`` exists and ``overwrite`` is False.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise MastoprogError(f"{str(path)!r} exists; pass overwrite=True to replace it")
        doc = self.to_dict()
        text = json.dumps(doc, indent=1, allow_nan=False, default=_json_default)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    def card(self, markdown: bool = False) -> dict[str, Any] | str:
        """Model card: every parameter with source and evidence, reference cohorts, residuals,
        life table, band method, assumptions and the research-use notice."""
        from . import RESEARCH_USE_NOTICE

        st = self._check_ready()
        params = []
        for f in st["factors"]:
            b = st["beta"][f]
            params.append(
                {
                    "parameter": f"log HR {f}",
                    "value": b["log_hr"],
                    "se": b.get("se_log_hr"),
                    "source": b.get("source", ""),
                    "evidence": b.get("evidence", ""),
                    "assumption": b.get("assumption", False),
                }
            )
        for s in (*PROGNOSTIC_SUBTYPES, "MCS"):
            p = st["subtypes"].get(s)
            if p is None:
                continue
            if p["excess"] == "weibull":
                params.append(
                    {
                        "parameter": f"{s} lambda (months)",
                        "value": math.exp(p["log_lambda"]),
                        "source": p.get("source", ""),
                        "evidence": p.get("evidence", ""),
                        "target": p.get("target"),
                    }
                )
                params.append(
                    {
                        "parameter": f"{s} rho (Weibull shape)",
                        "value": p["rho"],
                        "source": p.get("rho_source", ""),
                        "evidence": p.get("rho_evidence", ""),
                    }
                )
            else:
                params.append(
                    {
                        "parameter": f"{s} excess hazard",
                        "value": p["excess"],
                        "source": p.get("source", ""),
                        "evidence": p.get("evidence", ""),
                        "note": p.get("reason", ""),
                    }
                )
        assumptions = list(_METHOD_ASSUMPTIONS) + list(st.get("assumptions", []))
        assumptions += [
            f"{q['parameter']}: {q['source']}" for q in params if q.get("evidence") == "assumption"
        ]
        targets = [
            {"subtype": s, **p["target"]}
            for s, p in st["subtypes"].items()
            if isinstance(p.get("target"), dict)
        ]
        assumptions += [
            f"{t['subtype']} target ({t['target_set']}): {t['note']}"
            for t in targets
            if t.get("note") and ("assum" in t["note"] or t.get("evidence") == "assumption")
        ]
        card = {
            "kind": st["kind"],
            "structure": "S(t) = S_pop(t; age, sex, year) * exp(-exp(lp) * (t/lambda_s)^rho_s), "
            "lp = (x - c_s) @ beta, t in months",
            "parameters": params,
            "residuals": st.get("residuals", []),
            "targets": targets,
            "reference_cohorts": {
                s: p.get("reference_cohort") for s, p in st["subtypes"].items() if p.get("reference_cohort")
            },
            "life_table": st.get("life_table"),
            "band_method": st.get("band_method"),
            "provenance": st.get("provenance"),
            "assumptions": assumptions,
            "fit": {k: v for k, v in st.get("fit", {}).items() if k != "variance_matrix"} or None,
            "notice": RESEARCH_USE_NOTICE,
        }
        if not markdown:
            return card
        lines = [
            "# mastoprog survival model card",
            "",
            f"> {RESEARCH_USE_NOTICE}",
            "",
            f"Kind: {card['kind']}. Structure: `{card['structure']}`.",
            "",
            "## Parameters",
            "",
            "| parameter | value | evidence | source |",
            "|---|---|---|---|",
        ]
        for q in params:
            v = q["value"]
            vs = f"{v:.4g}" if isinstance(v, float) else str(v)
            lines.append(f"| {q['parameter']} | {vs} | {q['evidence']} | {q['source']} |")
        lines += ["", "## Calibration residuals (achieved - target)", ""]
        for r in card["residuals"]:
            if r.get("target") is not None:
                lines.append(
                    f"- {r['subtype']} {r['kind']}: target {r['target']:.6g}, achieved "
                    f"{r['achieved']:.6g}, residual {r['residual']:.2e}"
                )
        lines += ["", "## Targets", ""]
        for t in targets:
            when = f" at {t['time_months']:g} months" if t.get("time_months") else ""
            val = f" {t['value']:g}" if t.get("value") is not None else ""
            n_txt = "not reported" if t.get("n_patients") is None else f"{t['n_patients']:g}"
            e_txt = "not reported" if t.get("events") is None else f"{t['events']:g}"
            lines.append(
                f"- {t['subtype']} ({t['target_set']}): {t['kind']}{val}{when}, n = {n_txt}, "
                f"events = {e_txt}, evidence {t['evidence']}; {t['source']}. {t.get('note', '')}"
            )
        lines += ["", "## Reference cohorts", ""]
        for s, rc in card["reference_cohorts"].items():
            lines.append(
                f"- {s}: scenario {rc['scenario']}, n = {rc['n']}, seed {rc['seed']}, "
                f"median age {rc['age_median']:.1f} y"
            )
        lt = card["life_table"] or {}
        lines += [
            "",
            "## Life table",
            "",
            f"{lt.get('citation', '')}",
            "",
            f"Rule: {lt.get('rule', '')}",
            "",
            "## Uncertainty band",
            "",
            str(card["band_method"]),
            "",
            "## Assumptions",
            "",
        ]
        lines += [f"- {a}" for a in assumptions]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- calibration helpers


def excess_survival(lp: np.ndarray, log_lambda: float, rho: float, t: np.ndarray) -> np.ndarray:
    """Excess (disease) survival ``exp(-exp(lp) * (t / lambda) ** rho)``, shape (len(lp), len(t)).

    Each distinct linear predictor is evaluated once and gathered (``np.take``): risk features are
    binary, so a cohort of any size has at most a few dozen distinct ``lp`` per subtype.

    Parameters
    ----------
    lp : ndarray (n,)
        Linear predictors (log relative excess hazard).
    log_lambda : float
        Log Weibull scale, months.
    rho : float
        Weibull shape.
    t : ndarray (T,)
        Months since diagnosis.
    """
    inv, uniq = pd.factorize(np.asarray(lp, dtype=float))  # hash-based: faster than np.unique
    with np.errstate(divide="ignore"):
        log_t = np.log(t)
    E_u = np.exp(-np.exp(uniq[:, None] + rho * (log_t[None, :] - log_lambda)))
    return np.take(E_u, inv, axis=0)


def _num(v: Any) -> float | None:
    x = pd.to_numeric(v, errors="coerce")
    return None if pd.isna(x) else float(x)


def _pop_mean(lt: LifeTable, bg: tuple, t: float) -> np.ndarray:
    return lt.survival(bg[0], bg[1], bg[2], np.full(len(bg[0]), t))


def _achieved(lt, bg, lp, rho, log_lambda, kind, tm):
    """The target statistic of the population-averaged curve with these parameters."""
    if kind == "median":
        from scipy.optimize import brentq

        def f(t):
            return (
                float(np.mean(_pop_mean(lt, bg, t) * np.exp(-np.exp(lp + rho * (math.log(t) - log_lambda)))))
                - 0.5
            )

        return float(brentq(f, 1e-9, 12 * 160, xtol=1e-12))
    s_pop = _pop_mean(lt, bg, tm)
    s = np.exp(-np.exp(lp + rho * (math.log(tm) - log_lambda))) * s_pop
    return float(s.mean() / s_pop.mean()) if kind == "relative_survival_at" else float(s.mean())


def _solve_scale(lt, bg, lp, rho, kind, value, tm, subtype, clip: bool = False) -> float:
    """log lambda solving the population-averaged target (monotone in log lambda: brentq).

    With ``clip`` (uncertainty draws only), a drawn target at or above what the matched population
    alone reaches gives (practically) zero excess hazard instead of an error.
    """
    from scipy.optimize import brentq

    t = value if kind == "median" else tm
    goal = 0.5 if kind == "median" else value
    s_pop = _pop_mean(lt, bg, t)
    denom = s_pop.mean() if kind == "relative_survival_at" else 1.0
    ceiling = s_pop.mean() / denom
    log_t = math.log(t)
    lo, hi = log_t - 60.0 / rho, log_t + 60.0 / rho
    if ceiling <= goal and clip:
        return hi
    if ceiling <= goal:
        raise CalibrationError(
            f"{subtype}: target {kind}={value:g} cannot be met: the matched general population of the "
            f"reference cohort alone gives {ceiling:.4f} at {t:g} months (the excess hazard cannot "
            "be negative)"
        )

    def f(u):
        return float(np.mean(s_pop * np.exp(-np.exp(lp + rho * (log_t - u))))) / denom - goal

    if clip and f(hi) <= 0:
        return hi
    return float(brentq(f, lo, hi, xtol=1e-12, rtol=1e-14, maxiter=500))


def _draw_target(r: pd.Series, rng: np.random.Generator, D: int) -> np.ndarray:
    """D draws of a target value from its sampling distribution (see ``calibrate`` docs)."""
    kind, v = r["kind"], float(r["value"])
    lo, hi = _num(r.get("value_low")), _num(r.get("value_high"))
    if lo is not None and hi is not None:
        return rng.uniform(lo, hi, D)
    if kind == "median":
        events = _num(r.get("events"))
        if events is None or events <= 0:
            raise CalibrationError(
                f"{r['subtype']}: the median target needs 'events' (or an assumed "
                "count) for its uncertainty draws"
            )
        return np.exp(math.log(v) + rng.standard_normal(D) / math.sqrt(events))
    n = _num(r.get("n_patients"))
    if n is None or n <= 0:
        raise CalibrationError(
            f"{r['subtype']}: the {kind} target needs 'n_patients' or value_low/value_high"
        )
    se = math.sqrt(v * (1 - v) / n) / (v * abs(math.log(v)))  # delta method on log(-log S)
    return np.exp(-np.exp(math.log(-math.log(v)) + se * rng.standard_normal(D)))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------- loading


def load_model(
    name_or_path: str | os.PathLike = "lim2009", *, life_table: LifeTable | None = None
) -> SurvivalModel:
    """A calibrated model shipped with mastoprog, or one saved with :meth:`SurvivalModel.save`.

    Parameters
    ----------
    name_or_path : str or path
        ``"lim2009"`` (default: Lim 2009 medians), ``"mayo2025"``, ``"midostaurin"``, or a JSON path.
        Rebuild the shipped files with ``python scripts/build_default_model.py``.
    life_table : LifeTable, optional
        Needed only for a model built on a user-supplied life table.

    Raises
    ------
    ModelFileError
        Naming what is wrong with the file (format, schema version, missing or invalid field).
    """
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_MODELS:
        from ._resources import data_path

        with data_path(f"models/{name_or_path}.json").open("r", encoding="utf-8") as fh:
            text = fh.read()
        where = f"built-in model {name_or_path!r}"
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise ModelFileError(
                f"model {str(name_or_path)!r}: expected one of {list(BUILTIN_MODELS)} or an "
                "existing JSON file"
            )
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{where}: not valid JSON ({exc})") from None
    st = _validate_doc(doc, where)
    lt_info = st["life_table"]
    if lt_info.get("name") != "hmd_us" and life_table is None:
        raise ModelFileError(
            f"{where}: built on the life table {lt_info.get('name')!r}; pass it as "
            "load_model(..., life_table=LifeTable.from_frame(df))"
        )
    model = SurvivalModel(
        life_table=life_table,
        edition=doc.get("edition", "who2016"),
        n_draws=(st.get("draws") or {}).get("n", 200),
    )
    model.state_ = st
    model._compiled = None
    return model


def _validate_doc(doc: Any, where: str) -> dict:
    def bad(msg: str) -> ModelFileError:
        return ModelFileError(f"{where}: {msg}")

    if not isinstance(doc, dict):
        raise bad("expected a JSON object at the top level")
    if doc.get("format") != FORMAT:
        raise bad(f"field 'format': got {doc.get('format')!r}; expected {FORMAT!r}")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise bad(f"field 'schema_version': got {doc.get('schema_version')!r}; expected {SCHEMA_VERSION}")
    st = doc.get("model")
    if not isinstance(st, dict):
        raise bad("field 'model': missing or not an object")
    for key in ("kind", "factors", "beta", "subtypes", "life_table"):
        if key not in st:
            raise bad(f"field 'model.{key}' is missing")
    F = st["factors"]
    if not isinstance(F, list) or not all(isinstance(f, str) for f in F):
        raise bad("field 'model.factors': expected a list of factor names")
    for f in F:
        b = st["beta"].get(f) if isinstance(st["beta"], dict) else None
        if not isinstance(b, dict) or not _finite(b.get("log_hr")):
            raise bad(f"field 'model.beta.{f}.log_hr': missing or not a finite number")
    if not isinstance(st["subtypes"], dict):
        raise bad("field 'model.subtypes': expected an object")
    for s, p in st["subtypes"].items():
        if s not in (*PROGNOSTIC_SUBTYPES, "MCS"):
            raise bad(f"field 'model.subtypes': unknown subtype {s!r}")
        if not isinstance(p, dict) or p.get("excess") not in ("weibull", "none", "uncalibrated"):
            raise bad(f"field 'model.subtypes.{s}.excess': expected 'weibull', 'none' or 'uncalibrated'")
        if p["excess"] == "weibull":
            if not _finite(p.get("log_lambda")):
                raise bad(f"field 'model.subtypes.{s}.log_lambda': missing or not a finite number")
            if not _finite(p.get("rho")) or p["rho"] <= 0:
                raise bad(f"field 'model.subtypes.{s}.rho': expected a number > 0")
            c = p.get("center")
            if not isinstance(c, dict) or any(not _finite(c.get(f)) for f in F):
                raise bad(f"field 'model.subtypes.{s}.center': expected a number for each of {F}")
    d = st.get("draws")
    if d is not None:
        if not isinstance(d, dict) or not isinstance(d.get("n"), int):
            raise bad("field 'model.draws.n': expected an integer")
        b = np.asarray(d.get("beta"), dtype=object)
        if b.shape != (d["n"], len(F)):
            raise bad(f"field 'model.draws.beta': expected {d['n']} x {len(F)} numbers; got shape {b.shape}")
        for part in ("log_lambda", "log_rho"):
            for s, v in (d.get(part) or {}).items():
                if not isinstance(v, list) or len(v) != d["n"] or not all(_finite(x) for x in v):
                    raise bad(f"field 'model.draws.{part}.{s}': expected {d['n']} finite numbers")
    return st


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
