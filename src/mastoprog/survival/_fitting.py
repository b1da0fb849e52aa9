"""Fitting the excess-hazard model to a registry extract: design, missing data, entry, penalty.

``fit_state`` takes the patients as the prediction path prepares them (one prognostic subtype per
patient) and the raw extract, and returns the model state and the fitter:

* **terms** (``formula=``, :mod:`._design`): the model's risk features by default; published
  factors at the cut-points of the data files, continuous findings, ``log`` and ``bs`` splines on
  request. A model whose terms are all risk features predicts curves; other terms give an
  estimation-only fit (curves refused with a reason);
* **delayed entry** (``entry_col=``): left truncation of both the excess and the background hazard
  (:mod:`._excess_fitter`);
* **missing findings** (``missing=``): terms never observed are dropped (reported); partly missing
  ones are multiply imputed (:mod:`._imputation`: SMC-FCS with this excess-hazard model as the
  substantive model by default, Rubin's rules; the bands then carry the between-imputation
  variance) or the incomplete rows are dropped (``"complete"``, reported);
* **small samples** (``ridge=``): ridge on the log-HRs toward 0 or toward ``prior`` (e.g. the
  published effects), stated or chosen by cross-validation (``"cv"``); the fit reports events per
  parameter and Riley's sample-size criteria and warns below them (``SampleSizeWarning``).

The fit report is data: ``state["fit"]["report"]`` (JSON-able) and :func:`fit_report`.

References
----------
Esteve J, Benhamou E, Croasdale M, Raymond L. Relative survival and the estimation of net survival:
elements for further discussion. Stat Med 1990;9:529-38. doi:10.1002/sim.4780090506
Bartlett JW, Seaman SR, White IR, Carpenter JR. Multiple imputation of covariates by fully
conditional specification: accommodating the substantive model. Stat Methods Med Res
2015;24:462-87. doi:10.1177/0962280214521348
White IR, Royston P. Imputing missing covariate values for the Cox model. Stat Med 2009;28:1982-98.
Riley RD et al. Minimum sample size for developing a multivariable prediction model: part II -
binary and time-to-event outcomes. Stat Med 2019;38:1276-96. doi:10.1002/sim.7992
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..exceptions import FindingsError, SampleSizeWarning
from ..findings import ensure_findings
from ..lifetables import LifeTable
from ._curves import PROGNOSTIC_SUBTYPES
from ._design import Term, design_matrix, finding_values, parse_terms, published_factors
from ._excess_data import ExcessData
from ._imputation import ImputationGroup, Pooled, impute_terms, nelson_aalen, rubin, smcfcs
from ._predictor import CONTINUOUS_FACTORS, PREDICTOR_FACTORS
from ._sample_size import sample_size_report

_DRAWS_METHOD = (
    "fitted: multivariate normal draws from lifelines' variance_matrix_ "
    "(inverse observed information) of (beta, log lambda_s, log rho_s)"
)
_DRAWS_METHOD_MI = (
    "fitted with multiple imputation: multivariate normal draws from the Rubin's-rules total "
    "variance (within + (1 + 1/m) between imputations) of (beta, log lambda_s, log rho_s)"
)
MISSING_MODES = ("impute", "complete", "refuse")
IMPUTATION_METHODS = ("smcfcs", "chained")
RIDGE_GRID = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


@dataclass(frozen=True)
class FitOptions:
    """What a researcher chooses in ``SurvivalModel.fit(**options)``.

    Attributes
    ----------
    entry_col : str, optional
        Column of months from diagnosis to study entry (delayed entry / left truncation).
    formula : str or list of str, optional
        Terms of the linear predictor (:mod:`mastoprog.survival._design`); default the model's
        risk features.
    missing : {"impute", "complete", "refuse"}
        Partly missing terms: multiple imputation (default), complete cases, or an error.
    imputations : int
        Number of imputations ``m`` (default 20).
    ridge : float or "cv"
        Ridge penalty on the log-HRs (0 = maximum likelihood); ``"cv"`` chooses it from
        ``RIDGE_GRID`` by ``cv_folds``-fold cross-validated log-likelihood.
    prior : mapping, optional
        ``{term: log_hr}`` centre of the ridge penalty (informative prior); default 0.
    cv_folds : int
        Folds of the cross-validation.
    imputation : {"smcfcs", "chained"}
        How ``missing="impute"`` draws: substantive-model-compatible chained equations with the
        excess-hazard model (default; Bartlett et al. 2015), or the approximate chained equations
        with the event and the Nelson-Aalen cumulative hazard as predictors (White & Royston 2009;
        biased toward the null when missingness depends strongly on the outcome: kept for
        comparison).
    imputation_iterations : int
        Rounds of each SMC-FCS chain (default 10, as R ``smcfcs``).
    """

    entry_col: str | None = None
    formula: Any = None
    missing: str = "impute"
    imputations: int = 20
    ridge: Any = 0.0
    prior: Any = None
    cv_folds: int = 5
    imputation: str = "smcfcs"
    imputation_iterations: int = 10


@dataclass
class _Rows:
    """The rows that enter the likelihood (zero-excess subtypes removed)."""

    k: np.ndarray
    T: np.ndarray
    E: np.ndarray
    entry: np.ndarray
    bg_h: np.ndarray
    bg_dH: np.ndarray
    frame: pd.DataFrame
    labels: pd.Index
    notes: list[str] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)

    def subset(self, keep: np.ndarray) -> _Rows:
        return _Rows(self.k[keep], self.T[keep], self.E[keep], self.entry[keep], self.bg_h[keep],
                     self.bg_dH[keep], self.frame[keep], self.labels[keep], self.notes, self.unobserved)


def fit_state(
    P: dict,
    T: np.ndarray,
    E: np.ndarray,
    F: list[str],
    *,
    life_table: LifeTable,
    alpha: float,
    zero_excess: tuple[str, ...],
    min_events: int,
    n_draws: int,
    random_state: int,
    raw: pd.DataFrame | None = None,
    **options: Any,
) -> tuple[dict, Any]:
    """``(state, fitter)`` of the excess-hazard model fitted to prepared patients.

    Parameters
    ----------
    P : dict
        Patients from the prediction path (``_patients.prepare``).
    T, E : ndarray
        Exit time (months > 0) and death indicator (0/1) per patient.
    F : list of str
        The model's risk-feature names (``P["X"]`` columns).
    life_table, alpha, zero_excess, min_events, n_draws, random_state
        See :meth:`SurvivalModel.fit`.
    raw : DataFrame, optional
        The extract as given (entry column, findings for other terms and for imputation).
    **options
        :class:`FitOptions` fields.

    Returns
    -------
    tuple
        The model state (a dict) and the fitter (lifelines; pooled estimates under imputation).

    Raises
    ------
    FindingsError
        Undecided subtypes, bad entry times, missing terms with ``missing="refuse"``, too few deaths.
    """
    # The matrices here are small (tens of columns): multi-threaded BLAS only adds overhead, and on
    # a loaded machine 2 BLAS threads made a 3000 x 25 product 200x slower than one.
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_state(P, T, E, F, life_table=life_table, alpha=alpha, zero_excess=zero_excess,
                          min_events=min_events, n_draws=n_draws, random_state=random_state, raw=raw,
                          **options)


def _fit_state(P, T, E, F, *, life_table, alpha, zero_excess, min_events, n_draws, random_state, raw,
               **options):
    opts = _options(options)
    _check_undecided(P)
    raw = pd.DataFrame(index=P["labels"]) if raw is None else raw
    k_all, fixed = _zero_excess_rows(P, zero_excess)
    entry = _entry_months(raw, opts.entry_col, T)
    rows = _rows(P, T, E, entry, raw, life_table).subset(~fixed)
    terms = _terms(opts.formula, rows.frame, F)
    Xs, terms, rows = _complete_designs(terms, rows, F, opts, random_state)
    _check_events(rows, min_events)
    fits, centers, ridge, cv = _fit_all(Xs, terms, rows, opts, alpha)
    st = _state(fits, terms, F, rows, centers, zero_excess, k_all, life_table, alpha,
                n_draws, random_state)
    report = _report(fits, terms, rows, opts, ridge, cv, len(P["labels"]))
    st["fit"]["report"] = report
    if report["sample_size"]["below"]:
        warnings.warn(SampleSizeWarning(report["sample_size"]["message"]), stacklevel=3)
    return st, fits[0].fitter


def _options(options: dict[str, Any]) -> FitOptions:
    unknown = sorted(set(options) - set(FitOptions.__dataclass_fields__))
    if unknown:
        raise TypeError(f"fit() got unexpected option(s) {unknown}; known: "
                        f"{sorted(FitOptions.__dataclass_fields__)}")
    opts = FitOptions(**options)
    if opts.missing not in MISSING_MODES:
        raise ValueError(f"missing: expected one of {MISSING_MODES}; got {opts.missing!r}")
    if opts.imputation not in IMPUTATION_METHODS:
        raise ValueError(f"imputation: expected one of {IMPUTATION_METHODS}; got {opts.imputation!r}")
    if isinstance(opts.imputations, bool) or not isinstance(opts.imputations, int) or opts.imputations < 2:
        raise ValueError(f"imputations: expected a whole number >= 2; got {opts.imputations!r}")
    if not (opts.ridge == "cv" or (isinstance(opts.ridge, int | float) and opts.ridge >= 0)):
        raise ValueError(f"ridge: expected a number >= 0 or 'cv'; got {opts.ridge!r}")
    return opts


def _check_undecided(P: dict) -> None:
    if (P["cand"].sum(axis=1) > 1).any():
        rows = list(P["labels"][P["cand"].sum(axis=1) > 1][:5])
        raise FindingsError(
            f"fitting needs one subtype per patient; row(s) {rows} are undecided: give who_subtype"
        )


def _zero_excess_rows(P: dict, zero_excess: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    k_all = P["cand"].argmax(axis=1)
    bad_zero = sorted(set(zero_excess) - set(PROGNOSTIC_SUBTYPES))
    if bad_zero:
        raise ValueError(
            f"zero_excess: {bad_zero} are not prognostic subtypes {list(PROGNOSTIC_SUBTYPES)}"
        )
    return k_all, np.isin(k_all, [PROGNOSTIC_SUBTYPES.index(z) for z in zero_excess])


def _entry_months(raw: pd.DataFrame, entry_col: str | None, T: np.ndarray) -> np.ndarray:
    """Months from diagnosis to entry per row, checked: 0 <= entry < exit time."""
    if entry_col is None:
        return np.zeros(len(T))
    if entry_col not in raw.columns:
        raise FindingsError(f"entry_col: column {entry_col!r} missing; expected the months from "
                            "diagnosis to study entry of every patient")
    entry = pd.to_numeric(raw[entry_col], errors="coerce").to_numpy(float)
    bad = np.isnan(entry) | (entry < 0) | (entry >= T)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FindingsError(
            f"{int(bad.sum())} bad entry time(s); first: row {raw.index[i]!r}, column {entry_col!r}: "
            f"got {raw[entry_col].iloc[i]!r}; expected months >= 0 and < the exit time "
            f"({float(T[i]):g} months)"
        )
    return entry


def _rows(P: dict, T, E, entry, raw: pd.DataFrame, lt: LifeTable) -> _Rows:
    age, sex, year = P["age"], P["sex"], P["year"]
    bg_dH = lt.cumulative_hazard(age, sex, year, T) - np.where(
        entry > 0, lt.cumulative_hazard(age, sex, year, entry), 0.0)
    frame, _ = ensure_findings(raw.reset_index(drop=True))
    return _Rows(P["cand"].argmax(axis=1), np.asarray(T, float), np.asarray(E, float), entry,
                 lt.hazard(age, sex, year, T), bg_dH, frame, P["labels"], [])


def _terms(formula: Any, frame: pd.DataFrame, F: list[str]) -> list[Term]:
    if formula is None:
        factors = published_factors()
        return [Term(f, "factor", factors.loc[f, "column"]) for f in F]
    return parse_terms(formula, frame)


def term_values(terms: list[Term], frame: pd.DataFrame, F: list[str]) -> np.ndarray:
    """(n, columns) values of ``terms``; the composite's flags as the prediction path computes
    them (:func:`mastoprog.risk.risk_features`), other terms from :mod:`._design`."""
    from ..risk import risk_features

    flags = [t.name for t in terms if t.name in F and t.kind != "predictor"]
    feats = risk_features(frame)[flags] if flags else None
    _, X = design_matrix(terms, frame)
    for t in terms:
        if feats is not None and t.name in flags:
            X[:, _col(terms, t.name)] = feats[t.name].to_numpy(float)
    return X


def _complete_designs(terms: list[Term], rows: _Rows, F: list[str], opts: FitOptions,
                      random_state: int) -> tuple[list[np.ndarray], list[Term], _Rows]:
    """Design matrices without missing values: one, or one per imputation."""
    X = term_values(terms, rows.frame, F)
    widths = [len(t.columns) for t in terms]
    col_of = np.repeat(np.arange(len(terms)), widths)
    never = [t for j, t in enumerate(terms) if np.isnan(X[:, col_of == j]).all()]
    if never:
        rows.notes.append(f"term(s) {[t.name for t in never]} not observed in any row: left out "
                          "(fixed at no effect)")
        rows.unobserved.extend(t.name for t in never)
        terms = [t for t in terms if t not in never]
        X = term_values(terms, rows.frame, F)
    incomplete = np.isnan(X).any(axis=1)
    if not incomplete.any():
        return [X], terms, rows
    if opts.missing == "refuse":
        raise FindingsError(
            f"fitting needs complete terms; row(s) {list(rows.labels[incomplete][:5])} have unknown "
            f"ones ({', '.join(t.name for t in terms)}): pass missing='impute' (multiple "
            "imputation) or missing='complete' (drop those rows)"
        )
    if opts.missing == "complete":
        rows.notes.append(f"complete cases: {int(incomplete.sum())} of {len(X)} row(s) dropped "
                          "for unknown terms")
        return [X[~incomplete]], terms, rows.subset(~incomplete)
    return _impute(terms, rows, F, opts, random_state), terms, rows


def _impute(terms: list[Term], rows: _Rows, F: list[str], opts: FitOptions,
            random_state: int) -> list[np.ndarray]:
    X = term_values(terms, rows.frame, F)
    groups = _imputation_groups(terms, np.isnan(X), rows.frame)
    frame = rows.frame
    present = [j for j in range(len(PROGNOSTIC_SUBTYPES)) if (rows.k == j).any()]
    strata = np.column_stack([(rows.k == j).astype(float) for j in present])
    age = pd.to_numeric(frame["age"]).to_numpy(float)
    male = (frame["sex"].astype(str) == "M").to_numpy(float)
    gaps = sorted({t.name for t in terms for c in t.columns if np.isnan(X[:, _col(terms, c)]).any()})
    m = opts.imputations
    if opts.imputation == "chained":
        return _impute_chained(X, groups, rows, age, male, strata, gaps, m, random_state)
    outcome = ExcessData.from_hazard(rows.T, rows.E, rows.entry, rows.bg_h, rows.bg_dH)
    ridge = float(opts.ridge) if opts.ridge != "cv" else 0.0
    designs, failures = smcfcs(X, groups, outcome, strata, np.column_stack([age, male, strata[:, 1:]]), m,
                               random_state, iterations=opts.imputation_iterations, ridge=ridge)
    rows.notes.append(
        f"multiple imputation (m = {m}) of {gaps} by substantive-model-compatible chained equations "
        f"(SMC-FCS, Bartlett et al. 2015; {opts.imputation_iterations} rounds per chain; the "
        "excess-hazard model as the substantive model); estimates pooled by Rubin's rules"
        + (f"; {failures} rejection-sampling draw(s) kept an unaccepted proposal" if failures else ""))
    return designs


def _impute_chained(X, groups, rows: _Rows, age, male, strata, gaps, m, random_state) -> list[np.ndarray]:
    """The approximate White & Royston chained equations (``imputation="chained"``)."""
    H = nelson_aalen(rows.T, rows.E, rows.entry)
    # Subtypes differ in how strongly a finding moves the hazard: outcome x subtype interactions.
    dummies = [strata[:, j] for j in range(strata.shape[1]) if 0 < strata[:, j].sum() < len(strata)]
    aux = np.column_stack([rows.E, H, age, male, *dummies, *[d * rows.E for d in dummies],
                           *[d * H for d in dummies]])
    rows.notes.append(f"multiple imputation (m = {m}) of {gaps} by chained equations (White & Royston "
                      "2009: the event and the Nelson-Aalen cumulative hazard in the imputation "
                      "model); estimates pooled by Rubin's rules")
    return impute_terms(X, groups, aux, m, random_state)


def _col(terms: list[Term], name: str) -> int:
    return [c for t in terms for c in t.columns].index(name)


def _imputation_groups(terms: list[Term], holes: np.ndarray, frame: pd.DataFrame) -> list[ImputationGroup]:
    """Factor terms of one finding form one categorical group; a continuous term is one group,
    imputed on the scale of its finding (log scale for ``log``) and its columns recomputed."""
    groups: list[ImputationGroup] = []
    by_source: dict[str, list[int]] = {}
    for t in terms:
        idx = [_col(terms, c) for c in t.columns]
        if not holes[:, idx].any():
            continue
        if t.kind == "factor" or (t.kind == "predictor" and t.name not in CONTINUOUS_FACTORS):
            by_source.setdefault(t.column, []).extend(idx)
        elif t.kind == "bs":
            groups.append(ImputationGroup(tuple(idx), categorical=False,
                                          source=finding_values(frame, t.column), transform=_term_basis(t)))
        else:
            groups.append(ImputationGroup(tuple(idx), categorical=False))
    groups.extend(ImputationGroup(tuple(idx), categorical=True) for idx in by_source.values())
    return groups


def _term_basis(t: Term):
    def basis(x: np.ndarray) -> np.ndarray:
        return t.values(pd.DataFrame({t.column: x}))
    return basis


def _check_events(rows: _Rows, min_events: int) -> None:
    present = [s for j, s in enumerate(PROGNOSTIC_SUBTYPES) if (rows.k == j).any()]
    few = {s: int(rows.E[rows.k == PROGNOSTIC_SUBTYPES.index(s)].sum()) for s in present}
    few = {s: e for s, e in few.items() if e < min_events}
    if not present or few:
        raise FindingsError(
            f"too few deaths to fit: {few or 'no rows outside zero_excess'} (at least {min_events} "
            "per subtype); drop those patients, pass them in zero_excess=, or lower min_events"
        )


@dataclass
class _Fit:
    """One completed-data fit (or the pooled one)."""

    fitter: Any
    names: list[str]
    present: list[str]


def _design_frame(X: np.ndarray, names: list[str], rows: _Rows, centers: dict[str, np.ndarray],
                  present: list[str]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    Xc = X - np.array([centers[PROGNOSTIC_SUBTYPES[j]] for j in rows.k]) if len(names) else X
    varying = [j for j in range(len(names)) if np.std(X[:, j]) > 0]
    design = pd.DataFrame({"T": rows.T, "E": rows.E, "entry": rows.entry, "bg_h": rows.bg_h,
                           "bg_H": rows.bg_dH})
    dummies = [f"is_{s}" for s in present]
    for s, name in zip(present, dummies, strict=True):
        design[name] = (rows.k == PROGNOSTIC_SUBTYPES.index(s)).astype(float)
    for j in varying:
        design[names[j]] = Xc[:, j]
    return design, {"beta_": [names[j] for j in varying], "log_lambda_": dummies, "log_rho_": dummies}


def _fit_one(X, names, rows, centers, present, alpha, ridge, prior):
    from ._excess_fitter import ExcessHazardFitter  # lifelines/autograd: only when fitting

    design, regressors = _design_frame(X, names, rows, centers, present)
    centre = None
    if prior is not None:
        centre = [float(prior.get(n, 0.0)) for n in regressors["beta_"]]
    fitter = ExcessHazardFitter(alpha=alpha, ridge=ridge, prior=centre)
    fitter.fit(design, "T", "E", bg_hazard_col="bg_h", bg_cumhaz_col="bg_H", regressors=regressors,
               entry_col="entry")
    return fitter


def _fit_all(Xs, terms, rows, opts, alpha):
    names = [c for t in terms for c in t.columns]
    present = [s for j, s in enumerate(PROGNOSTIC_SUBTYPES) if (rows.k == j).any()]
    # One centre per subtype for every imputation (else log lambda would not pool).
    centers = {s: np.mean([X[rows.k == PROGNOSTIC_SUBTYPES.index(s)].mean(axis=0) for X in Xs], axis=0)
               for s in present}
    cv: dict[str, Any] | None = None
    ridge = opts.ridge
    if ridge == "cv":
        ridge, cv = _choose_ridge(Xs[0], names, rows, centers, present, alpha, opts)
    first = _fit_one(Xs[0], names, rows, centers, present, alpha, ridge, opts.prior)
    # The other imputations need only estimates and variances: Newton-Raphson on the same
    # likelihood, started at the first fit (lifelines' machinery cost ~0.5 s per fit).
    fitters = [first, *[_fit_light(X, names, rows, centers, present, first, opts.prior) for X in Xs[1:]]]
    if len(fitters) > 1:
        _pool_into(fitters)
    return [_Fit(f, names, present) for f in fitters], centers, float(ridge), cv


@dataclass(frozen=True)
class _LightFit:
    """Estimates, variance and log-likelihood of one completed-data fit (lifelines' labels)."""

    params_: pd.Series
    variance_matrix_: pd.DataFrame
    log_likelihood_: float


def _fit_light(X, names, rows, centers, present, first: Any, prior) -> _LightFit:
    """The fit of ``_fit_one`` without lifelines: same design, penalty and parameter labels."""
    from ._excess_fitter import Penalty, excess_loglik, maximise  # lifelines: when fitting

    design, _ = _design_frame(X, names, rows, centers, present)
    index = first.params_.index
    blocks = tuple(design.reindex(columns=[c for (b, c) in index if b == p], fill_value=0.0).to_numpy(float)
                   for p in ("beta_", "log_lambda_", "log_rho_"))
    d = ExcessData(rows.T, rows.E, rows.entry, np.log(np.clip(rows.bg_h, 1e-300, None)), rows.bg_dH)
    p = blocks[0].shape[1]
    centre = np.array([float((prior or {}).get(c, 0.0)) for (b, c) in index if b == "beta_"])
    theta, ll, info = maximise(lambda th: excess_loglik(th, blocks, d), first.params_.to_numpy(float),
                               Penalty(np.arange(p), np.ones(p), centre, first.ridge))
    cov = np.linalg.inv(info)
    return _LightFit(pd.Series(theta, index=index), pd.DataFrame(cov, index=index, columns=index), ll)


def _pool_into(fitters: list[Any]) -> Pooled:
    """Rubin's rules; the first fitter then carries the pooled params and variance (summary too)."""
    first = fitters[0]
    index = first.params_.index
    est = np.array([f.params_.reindex(index).to_numpy() for f in fitters])
    var = np.array([f.variance_matrix_.reindex(index=index, columns=index).to_numpy() for f in fitters])
    pooled = rubin(est, var)
    first.params_ = pd.Series(pooled.estimate, index=index, name="coef")
    first.variance_matrix_ = pd.DataFrame(pooled.variance, index=index, columns=index)
    first.standard_errors_ = pd.Series(np.sqrt(np.diag(pooled.variance)), index=index, name="se")
    first.confidence_intervals_ = first._compute_confidence_intervals()
    first.pooled_ = pooled
    first.log_likelihood_ = float(np.mean([f.log_likelihood_ for f in fitters]))
    first.imputation_fits_ = fitters
    return pooled


def _choose_ridge(X, names, rows, centers, present, alpha, opts):
    """Ridge strength maximising the K-fold cross-validated log-likelihood over ``RIDGE_GRID``."""
    from ._excess_fitter import excess_loglik

    folds = np.random.default_rng(0).permutation(len(rows.T)) % opts.cv_folds
    scores = []
    for lam in RIDGE_GRID:
        total = 0.0
        for f in range(opts.cv_folds):
            train, test = folds != f, folds == f
            fit = _fit_one(X[train], names, rows.subset(train), centers, present, alpha, lam, opts.prior)
            design, reg = _design_frame(X[test], names, rows.subset(test), centers, present)
            blocks = tuple(design.reindex(columns=reg[p], fill_value=0.0).to_numpy(float)
                           for p in ("beta_", "log_lambda_", "log_rho_"))
            theta = np.concatenate([fit.params_[p].reindex(reg[p], fill_value=0.0).to_numpy()
                                    for p in ("beta_", "log_lambda_", "log_rho_")])
            d = ExcessData(design["T"].to_numpy(), design["E"].to_numpy(), design["entry"].to_numpy(),
                           np.log(np.clip(design["bg_h"].to_numpy(), 1e-300, None)),
                           design["bg_H"].to_numpy())
            total += excess_loglik(theta, blocks, d)[0]
        scores.append(total)
    best = RIDGE_GRID[int(np.argmax(scores))]
    return best, {"grid": list(RIDGE_GRID), "cv_log_likelihood": scores, "folds": opts.cv_folds}


def _beta_state(fit: _Fit, F: list[str], terms: list[Term], ridge: float,
                unobserved: list[str]) -> dict[str, dict]:
    params, se = fit.fitter.params_, fit.fitter.standard_errors_
    how = "fitted by maximum likelihood (mastoprog ExcessHazardFitter, lifelines)" if ridge == 0 else \
        f"fitted by ridge-penalised likelihood (strength {ridge:g})"
    if getattr(fit.fitter, "pooled_", None) is not None:
        how += f", pooled over {fit.fitter.pooled_.m} imputations (Rubin's rules)"
    chosen = {c for t in terms for c in t.columns}
    out = {}
    for f in dict.fromkeys([*F, *fit.names]):
        if ("beta_", f) in params.index:
            out[f] = {"log_hr": float(params[("beta_", f)]), "se_log_hr": float(se[("beta_", f)]),
                      "source": how, "evidence": "fitted", "assumption": False}
        else:
            why = ("not observed in the data" if f in unobserved else "not in the formula" if f not in chosen
                   else "not estimable: no variation in the data")
            out[f] = {"log_hr": 0.0, "se_log_hr": 0.0, "evidence": "fitted", "assumption": True,
                      "source": f"{why}; fixed at 0"}
    return out


def state_factors(terms: list[Term], F: list[str]) -> list[str]:
    """The factors of a fitted model's state (its design columns for the prediction path).

    Terms that are all composite flags keep the composite's factor list ``F`` (the others fixed
    at 0); terms that are all factors the prediction path computes itself (the evidence
    predictor's and the composite's flags) become the model's factors; otherwise the factors are
    the design columns of the terms (``bs(age, 3)[0]``, ``log(alp)``, ``hemoglobin``, ...), which
    :func:`._design.design_features` computes for new patients from the stored terms.
    """
    names = [t.name for t in terms]
    if all(n in F for n in names):
        return list(F)
    if all(n in PREDICTOR_FACTORS or n in F for n in names):
        return names
    return [c for t in terms for c in t.columns]


def _state(fits, terms, F, rows, centers, zero_excess, k_all, lt, alpha, n_draws, random_state):
    fit = fits[0]
    fitter = fit.fitter
    params, cov = fitter.params_, fitter.variance_matrix_
    factors = state_factors(terms, F)
    # Terms the prediction path does not compute itself are stored for design_features.
    design = [t.spec() for t in terms] if any(c not in PREDICTOR_FACTORS and c not in F
                                              for c in factors) else None
    F = factors
    subtypes = {z: {"excess": "none", "source": "fixed at no excess hazard (fit(zero_excess=...))",
                    "evidence": "assumption", "n": int((k_all == PROGNOSTIC_SUBTYPES.index(z)).sum())}
                for z in zero_excess}
    name_col = {n: j for j, n in enumerate(fit.names)}
    for s in fit.present:
        j = PROGNOSTIC_SUBTYPES.index(s)
        subtypes[s] = {
            "excess": "weibull",
            "log_lambda": float(params[("log_lambda_", f"is_{s}")]),
            "rho": float(np.exp(params[("log_rho_", f"is_{s}")])),
            "rho_source": "fitted", "rho_evidence": "fitted",
            "center": {f: float(centers[s][name_col[f]]) if f in name_col else 0.0 for f in F},
            # A fitted effect acts fully in every subtype (the evidence predictor's weights are
            # not assumed for a model fitted on its factors).
            "weights": {f: 1.0 for f in F},
            "source": "fitted by maximum likelihood",
            "evidence": "fitted", "n": int((rows.k == j).sum()), "events": int(rows.E[rows.k == j].sum()),
        }
    D = int(n_draws)
    c = cov.to_numpy()
    draws = np.random.default_rng(random_state).multivariate_normal(
        params.to_numpy(), (c + c.T) / 2, size=D, method="eigh", check_valid="ignore")
    dd = pd.DataFrame(draws, columns=params.index)
    d_beta = np.column_stack([dd[("beta_", f)] if ("beta_", f) in dd.columns else np.zeros(D) for f in F])
    method = _DRAWS_METHOD_MI if getattr(fitter, "pooled_", None) is not None else _DRAWS_METHOD
    return {
        "kind": "fitted",
        "factors": F,
        "beta": {f: v for f, v in _beta_state(fit, F, terms, fitter.ridge, rows.unobserved).items()
                 if f in F},
        "subtypes": subtypes,
        "draws": {
            "n": D, "beta": d_beta.tolist(),
            "log_lambda": {s: dd[("log_lambda_", f"is_{s}")].tolist() for s in fit.present},
            "log_rho": {s: dd[("log_rho_", f"is_{s}")].tolist() for s in fit.present},
            "method": method, "seed": random_state,
        },
        "residuals": [],
        "life_table": lt.describe(),
        "fit": {
            "n": len(rows.T), "events": int(rows.E.sum()),
            "log_likelihood": float(fitter.log_likelihood_), "AIC": float(fitter.AIC_), "alpha": alpha,
            "variance_matrix": {"index": [list(i) for i in cov.index], "values": cov.to_numpy().tolist()},
            "terms": _beta_state(fit, [], terms, fitter.ridge, rows.unobserved),
            **({"design": design} if design else {}),
        },
        "provenance": {"fitted": datetime.now(UTC).strftime("%Y-%m-%d")},
        "assumptions": [],
        "band_method": method,
    }


def _report(fits, terms, rows, opts, ridge, cv, n_given) -> dict[str, Any]:
    fitter = fits[0].fitter
    p = len(fitter.params_["beta_"]) if "beta_" in fitter.params_.index.get_level_values(0) else 0
    pooled = getattr(fitter, "pooled_", None)
    return {
        "rows_given": int(n_given),
        "rows_used": len(rows.T),
        "events": int(rows.E.sum()),
        "terms": [t.name for t in terms],
        "terms_not_observed": list(rows.unobserved),
        "entry_col": opts.entry_col,
        "delayed_entry_rows": int((rows.entry > 0).sum()),
        "missing": opts.missing,
        "imputations": pooled.m if pooled is not None else 0,
        "fraction_missing_information": (
            {"/".join(k): float(v) for k, v in zip(fitter.params_.index, pooled.fmi, strict=True)}
            if pooled is not None else {}),
        "notes": list(rows.notes),
        "ridge": ridge,
        "ridge_prior": dict(opts.prior) if opts.prior is not None else None,
        "ridge_cv": cv,
        "sample_size": sample_size_report(
            n=len(rows.T), events=int(rows.E.sum()), parameters=p,
            log_likelihood=float(fitter.log_likelihood_), null_log_likelihood=_null_ll(fitter),
            person_months=float(np.sum(rows.T - rows.entry))),
    }


def _null_ll(fitter: Any) -> float | None:
    """Log-likelihood with the subtype baselines only (None when that model has no finite maximum)."""
    from ._excess_fitter import ConvergenceFailure

    try:
        return float(fitter._ll_null)
    except ConvergenceFailure:
        return None


def fit_report(state: dict) -> dict[str, Any]:
    """The fit report stored in a fitted model's state (rows used and dropped, terms, imputation,
    penalty, sample-size criteria); empty for a calibrated model."""
    return dict((state.get("fit") or {}).get("report") or {})
