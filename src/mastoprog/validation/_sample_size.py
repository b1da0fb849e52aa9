"""``external_validation_sample_size``: the smallest validation cohort that gives precise metrics.

Riley et al. (BMJ 2024, part 3; Stat Med 2021) size an external validation study by the precision
of its performance estimates: the confidence-interval widths of the C-index, the calibration slope
and O/E at a horizon. For a survival model with censoring and a relative-survival structure there
is no closed form for the first two, so the widths are simulated: validation cohorts of size n are
drawn from a scenario, the model is scored on each, and the width law ``width ~ a n^b`` (b about
-1/2) is fitted locally to find the n at which each target is met.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ..metrics import calibration_slope, concordance_index, normal_quantile, observed_expected
from ..survival import load_model
from ..synthetic import simulate_cohort

__all__ = ["SampleSizeResult", "external_validation_sample_size", "oe_closed_form_n"]

CRITERIA = {
    "c_index_ci_width": "width of the Wald interval of Harrell's C of S(h), truncated at h",
    "calibration_slope_ci_width": "width of the Wald interval of the calibration slope at h (Cox)",
    "oe_ci_width": "width of the log-scale interval of O/E at h (Kaplan-Meier Greenwood SE)",
}
DEFAULT_TARGETS = {"c_index_ci_width": 0.1, "calibration_slope_ci_width": 0.3, "oe_ci_width": 0.2}
# predictions per call: bounds the memory of the one prediction pass over the pool
_CHUNK = 20_000
# bootstrap resamples of the replicates for the Monte Carlo SE of a width statistic
_MC_BOOT = 200
# local design around each criterion's pilot estimate (multiples of it)
_LOCAL = (0.8, 1.25)


@dataclass(frozen=True)
class SampleSizeResult:
    """What :func:`external_validation_sample_size` found.

    Attributes
    ----------
    n_required : int
        Smallest n meeting every target (the largest of the per-criterion n).
    n_required_mcse : float
        Monte Carlo SE of ``n_required`` (that of the binding criterion, delta method).
    criteria : DataFrame
        One row per criterion: ``criterion``, ``target``, ``n_required``, ``mcse``, ``binding``,
        ``exponent`` (fitted b of width ~ a n^b; about -0.5), ``check_n``, ``check_statistic``
        and ``check_mcse`` (the width statistic simulated afresh at ``n_required``), and for O/E
        ``closed_form_n`` (Riley et al. 2021 with the pool's observed risk and O/E; exact only
        without censoring before the horizon).
    grid : DataFrame
        One row per simulated n and criterion: ``n``, ``stage`` (pilot, local, check),
        ``criterion``, ``mean_width``, ``statistic`` (the width statistic used: mean or quantile),
        ``mcse`` (bootstrap over replicates), ``n_replicates``, ``n_failed``.
    design : dict
        The simulation design (ADEMP): aims, data-generating mechanism, estimands, methods,
        performance measure, replicates, pool (``pool_summary``: its observed and expected risk
        and O/E at the horizon), seeds.
    notes : tuple of str
        What the caller must know (e.g. an n close to the pool size).
    """

    n_required: int
    n_required_mcse: float
    criteria: pd.DataFrame
    grid: pd.DataFrame
    design: dict[str, Any]
    notes: tuple[str, ...] = field(default=())


def oe_closed_form_n(phi: float, width: float, oe: float = 1.0, conf_level: float = 0.95) -> float:
    """n giving an O/E interval of ``width`` for an outcome risk ``phi`` without censoring.

    SE(ln O/E) = sqrt((1 - phi) / (n phi)) (Riley et al. 2021, criterion 1); the log-scale
    interval ``oe exp(+- z SE)`` has width ``2 oe sinh(z SE)``.

    Parameters
    ----------
    phi : float
        Observed risk of death by the horizon, in (0, 1).
    width : float
        Target width of the O/E interval (> 0).
    oe : float
        Anticipated O/E.
    conf_level : float
        Interval level.

    Returns
    -------
    float
        The (fractional) sample size; round it up.

    References
    ----------
    Riley RD et al. Minimum sample size for external validation of a clinical prediction model
    with a binary outcome. Stat Med 2021;40:4230-51. doi:10.1002/sim.9025.

    Examples
    --------
    >>> round(oe_closed_form_n(0.4, 0.2))
    578
    """
    if not 0 < phi < 1 or not width > 0 or not oe > 0:
        raise MetricInputError([Problem(None, "phi/width/oe", (phi, width, oe),
                                        "phi in (0, 1), width > 0, oe > 0")])
    se = math.asinh(width / (2.0 * oe)) / normal_quantile(conf_level)
    return (1.0 - phi) / (phi * se * se)


def _widths(time: np.ndarray, event: np.ndarray, surv: np.ndarray, h: float, conf_level: float
            ) -> np.ndarray:
    """(C, slope, O/E) interval widths on one validation cohort; NaN where one cannot be computed."""
    out = np.full(3, np.nan)
    try:
        c = concordance_index(time, event, surv, "harrell", tau=h, conf_level=conf_level)
        out[0] = c.ci_high - c.ci_low
    except MetricInputError:  # no comparable pair
        pass
    slope = calibration_slope(time, event, surv, h, conf_level=conf_level)
    out[1] = slope.ci_high - slope.ci_low
    oe = observed_expected(time, event, surv, h, conf_level=conf_level)
    out[2] = oe.ci_high - oe.ci_low
    return out


def _simulate_widths(pool: tuple[np.ndarray, np.ndarray, np.ndarray], n: int, seed: Any,
                     n_replicates: int, h: float, conf_level: float) -> np.ndarray:
    """(n_replicates, 3) widths on cohorts of n drawn without replacement from the pool.

    A module-level function of plain arrays, so Dask workers can run it."""
    time, event, surv = pool
    rng = np.random.default_rng(seed)
    out = np.empty((n_replicates, 3))
    for r in range(n_replicates):  # loop over replicates; each is vectorised over patients
        idx = rng.choice(time.size, size=n, replace=False)
        out[r] = _widths(time[idx], event[idx], surv[idx], h, conf_level)
    return out


def _statistic(widths: np.ndarray, statistic: str | float) -> np.ndarray:
    """Mean or quantile over replicates (axis -2 holds the replicates), ignoring NaN."""
    if statistic == "mean":
        return np.nanmean(widths, axis=-2)
    return np.nanquantile(widths, float(statistic), axis=-2)


def _summarise(widths: np.ndarray, n: int, stage: str, statistic: str | float, seed: Any
               ) -> list[tuple]:
    rng = np.random.default_rng(seed)
    boot = widths[rng.integers(0, widths.shape[0], size=(_MC_BOOT, widths.shape[0]))]
    stat = _statistic(widths, statistic)
    mcse = np.nanstd(_statistic(boot, statistic), axis=0, ddof=1)
    return [(n, stage, name, float(np.nanmean(widths[:, k])), float(stat[k]), float(mcse[k]),
             int(widths.shape[0]), int(np.sum(~np.isfinite(widths[:, k]))))
            for k, name in enumerate(CRITERIA)]


def _fit_n(points: pd.DataFrame, target: float) -> tuple[float, float, float]:
    """n meeting ``target`` from a weighted least-squares line log(stat) = a + b log(n), with
    its delta-method Monte Carlo SE and the exponent b."""
    x = np.log(points["n"].to_numpy(float))
    y = np.log(points["statistic"].to_numpy(float))
    w = (points["statistic"].to_numpy(float) / points["mcse"].to_numpy(float)) ** 2  # 1 / var(log stat)
    design = np.column_stack([np.ones_like(x), x])
    info = design.T @ (design * w[:, None])
    cov = np.linalg.inv(info)
    a, b = cov @ (design.T @ (w * y))
    log_n = (math.log(target) - a) / b
    grad = np.array([-1.0 / b, -log_n / b])
    se_log_n = float(np.sqrt(grad @ cov @ grad))
    n_req = math.exp(log_n)
    return n_req, n_req * se_log_n, float(b)


def _seed(root: np.random.SeedSequence, stage: int, n: int) -> np.random.SeedSequence:
    """The seed of the replicates at size n: a function of (random_state, stage, n) only, so the
    result does not depend on the backend or the order in which sizes are simulated."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, stage, int(n)))


def _root(random_state: Any) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63)))
    return np.random.SeedSequence(random_state)


def _pool(model: Any, scenario: Any, size: int, h: float, censoring: Any, seed: Any
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = simulate_cohort(size, scenario, random_state=seed, censoring=censoring, truth=False)
    time = frame["time"].to_numpy(float)
    event = frame["event"].to_numpy(float).astype(bool)
    # the model sees the findings only (its plausibility checks would flag follow-up > 50 years)
    frame = frame.drop(columns=["time", "event"])
    surv = np.concatenate([
        np.asarray(model.predict_survival_function(frame.iloc[s:s + _CHUNK], [h]).to_numpy(float))[0]
        for s in range(0, size, _CHUNK)])
    return time, event, surv


def _run_sizes(sizes: list[int], stage: int, ctx: dict[str, Any]) -> dict[int, np.ndarray]:
    """Widths at each size, serially or on the Dask client."""
    args = [(n, _seed(ctx["root"], stage, n)) for n in sizes]
    if ctx["client"] is None:
        return {n: _simulate_widths(ctx["pool"], n, s, ctx["reps"], ctx["h"], ctx["conf"]) for n, s in args}
    # hash=False: each stage owns its copy (shared hashed keys are released when a stage ends)
    pool = ctx["client"].scatter(list(ctx["pool"]), broadcast=True, hash=False)
    futures = [ctx["client"].submit(_simulate_widths, pool, n, s, ctx["reps"], ctx["h"], ctx["conf"],
                                     pure=False) for n, s in args]
    return dict(zip(sizes, ctx["client"].gather(futures), strict=True))


def _check(targets: Mapping[str, float], n_replicates: int, statistic: Any, pool_size: int, n_pilot: int
           ) -> dict[str, float]:
    unknown = [k for k in targets if k not in CRITERIA]
    problems = [Problem(None, "targets", k, f"one of {sorted(CRITERIA)}") for k in unknown]
    problems += [Problem(None, f"targets[{k!r}]", v, "a CI width > 0") for k, v in targets.items()
                 if k in CRITERIA and not (isinstance(v, int | float) and v > 0)]
    if not targets:
        problems.append(Problem(None, "targets", {}, f"at least one of {sorted(CRITERIA)}"))
    if not (statistic == "mean" or (isinstance(statistic, float) and 0 < statistic < 1)):
        problems.append(Problem(None, "statistic", statistic, "'mean' or a quantile in (0, 1), e.g. 0.9"))
    if int(n_replicates) < 10:
        problems.append(Problem(None, "n_replicates", n_replicates, "an integer >= 10"))
    if not 50 <= int(n_pilot) <= int(pool_size) // 4:
        problems.append(Problem(None, "n_pilot", n_pilot, f"between 50 and pool_size / 4 ({pool_size // 4})"))
    if problems:
        raise MetricInputError(problems)
    return {k: float(v) for k, v in targets.items()}


def external_validation_sample_size(
        model: Any = None, scenario: Any = "lim2009", *, horizon: float = 60.0,
        targets: Mapping[str, float] | None = None, statistic: str | float = "mean",
        n_replicates: int = 100, n_pilot: int = 1000, pool_size: int = 50_000, censoring: Any = None,
        conf_level: float = 0.95, random_state: Any = 0, client: Any = None) -> SampleSizeResult:
    """Smallest external-validation cohort whose C-index, calibration slope and O/E intervals at
    ``horizon`` are as narrow as the targets, by simulation (Riley et al. 2024).

    Design: one pool of ``pool_size`` patients is drawn from ``scenario`` (``simulate_cohort``:
    findings, then survival times from the scenario's generating model, censored per
    ``censoring``) and ``model`` predicts S(horizon) for each once. A validation cohort of size n
    is a draw of n pool patients without replacement. (1) Pilot: ``n_replicates`` cohorts of
    ``n_pilot``; each criterion's n is first guessed from width ~ 1 / sqrt(n). (2) Local: cohorts at
    0.8 and 1.25 times each guess. (3) For each criterion, log(width statistic) = a + b log(n) is
    fitted by weighted least squares on the points within a factor 2.5 of its guess and solved
    for the target; its Monte Carlo SE is the delta-method SE of that solution. (4) Check: the
    widths are simulated afresh at the answer.

    Parameters
    ----------
    model : SurvivalModel, optional
        The model to validate (``predict_survival_function``); default ``load_model()``.
    scenario : str, path or Scenario
        The population of the validation study (see :func:`mastoprog.simulate_cohort`).
    horizon : float
        Months.
    targets : mapping, optional
        CI widths to reach, any of ``c_index_ci_width``, ``calibration_slope_ci_width``,
        ``oe_ci_width``; default 0.1, 0.3 and 0.2 (Riley et al. 2024's examples).
    statistic : "mean" or float
        Summary of the width over replicates: ``"mean"`` (expected width), or a quantile such as
        0.9 (the width is below the target in 90 % of studies: assurance).
    n_replicates : int
        Simulated cohorts per size (>= 10). The Monte Carlo SE falls as 1 / sqrt(n_replicates).
    n_pilot : int
        Size of the pilot cohorts.
    pool_size : int
        Patients simulated once; keep ``n_required`` below a fifth of it (a note says otherwise).
    censoring : None, "scenario" or mapping
        Passed to ``simulate_cohort``; None = every death observed (complete follow-up).
    conf_level : float
        Level of the intervals whose width is targeted.
    random_state : int, SeedSequence or Generator
        Seeds everything: the same value gives the same answer on any backend.
    client : dask.distributed.Client, optional
        Simulate the sizes of each stage on this Dask cluster.

    Returns
    -------
    SampleSizeResult

    Raises
    ------
    MetricInputError
        Unknown targets, non-positive widths, a bad ``statistic``, ``n_replicates`` < 10 or
        ``n_pilot`` outside [50, pool_size / 4].

    References
    ----------
    Riley RD, Archer L, Snell KIE et al. Evaluation of clinical prediction models (part 3):
    calculating the sample size required for an external validation study. BMJ 2024;384:e074821.
    doi:10.1136/bmj-2023-074821.
    Riley RD et al. Minimum sample size for external validation of a clinical prediction model with
    a binary outcome. Stat Med 2021;40:4230-51. doi:10.1002/sim.9025.
    Morris TP, White IR, Crowther MJ. Using simulation studies to evaluate statistical methods.
    Stat Med 2019;38:2074-102. doi:10.1002/sim.8086.

    Examples
    --------
    >>> res = external_validation_sample_size(targets={"oe_ci_width": 0.4}, n_replicates=20,
    ...                                       n_pilot=200, pool_size=4000, random_state=1)
    >>> 50 < res.n_required < 500, list(res.criteria["criterion"])
    (True, ['oe_ci_width'])
    """
    wanted = _check(DEFAULT_TARGETS if targets is None else targets, n_replicates, statistic,
                    pool_size, n_pilot)
    model = load_model() if model is None else model
    root = _root(random_state)
    ctx: dict[str, Any] = {"root": root, "client": client, "reps": int(n_replicates), "h": float(horizon),
           "conf": float(conf_level),
           "pool": _pool(model, scenario, int(pool_size), float(horizon), censoring, root.spawn(1)[0])}
    rows = _summarise(_run_sizes([int(n_pilot)], 0, ctx)[int(n_pilot)], int(n_pilot), "pilot", statistic,
                      _seed(root, 10, n_pilot))
    grid = pd.DataFrame(rows, columns=_GRID_COLUMNS)
    pilot = grid.set_index("criterion")["statistic"]
    guess = {k: n_pilot * (pilot[k] / v) ** 2 for k, v in wanted.items()}
    local = sorted({max(20, min(int(pool_size) // 2, round(g * f))) for g in guess.values() for f in _LOCAL})
    grid = _extend(grid, _run_sizes(local, 1, ctx), "local", statistic, root)
    criteria = _criteria(grid, wanted, guess)
    n_req = int(criteria["n_required"].max())
    grid = _extend(grid, _run_sizes([n_req], 2, ctx), "check", statistic, root)
    check = grid[grid["stage"] == "check"].set_index("criterion")
    criteria["check_n"] = n_req
    criteria["check_statistic"] = criteria["criterion"].map(check["statistic"])
    criteria["check_mcse"] = criteria["criterion"].map(check["mcse"])
    time, event, surv = ctx["pool"]
    pool_oe = observed_expected(time, event, surv, float(horizon))
    criteria["closed_form_n"] = [oe_closed_form_n(pool_oe.observed, v, pool_oe.estimate, conf_level)
                                 if k == "oe_ci_width" else float("nan") for k, v in wanted.items()]
    binding = criteria.loc[criteria["n_required"].idxmax()]
    criteria["binding"] = criteria["criterion"] == binding["criterion"]
    notes = _notes(n_req, int(pool_size), censoring)
    design = _design(model, scenario, ctx, statistic, n_pilot, pool_size, censoring, wanted, random_state)
    design["pool_summary"] = {"observed_risk": pool_oe.observed, "expected_risk": pool_oe.expected,
                              "oe_ratio": pool_oe.estimate}
    return SampleSizeResult(n_req, float(binding["mcse"]), criteria, grid.reset_index(drop=True), design,
                            tuple(notes))


_GRID_COLUMNS = ["n", "stage", "criterion", "mean_width", "statistic", "mcse", "n_replicates", "n_failed"]


def _extend(grid: pd.DataFrame, widths: dict[int, np.ndarray], stage: str, statistic: Any,
            root: np.random.SeedSequence) -> pd.DataFrame:
    rows = [r for n, w in widths.items() for r in _summarise(w, n, stage, statistic, _seed(root, 10, n))]
    return pd.concat([grid, pd.DataFrame(rows, columns=_GRID_COLUMNS)], ignore_index=True)


def _criteria(grid: pd.DataFrame, wanted: dict[str, float], guess: dict[str, float]) -> pd.DataFrame:
    rows = []
    for name, target in wanted.items():  # loop over the (<= 3) criteria
        pts = grid[(grid["criterion"] == name) & (grid["n"] >= guess[name] / 2.5)
                   & (grid["n"] <= guess[name] * 2.5) & (grid["mcse"] > 0)]
        n_req, mcse, b = _fit_n(pts, target)
        rows.append((name, target, math.ceil(n_req), mcse, b))
    return pd.DataFrame(rows, columns=["criterion", "target", "n_required", "mcse", "exponent"])


def _notes(n_req: int, pool_size: int, censoring: Any) -> list[str]:
    notes = []
    if n_req > pool_size // 5:
        notes.append(f"n_required {n_req} is above a fifth of the pool ({pool_size}): cohorts overlap "
                     "and the widths are slightly too small; increase pool_size")
    if censoring is None:
        notes.append("complete follow-up assumed (censoring=None): censoring widens every interval, "
                     "so this n is a minimum")
    return notes


def _design(model: Any, scenario: Any, ctx: dict[str, Any], statistic: Any, n_pilot: int,
            pool_size: int, censoring: Any, wanted: dict[str, float], random_state: Any) -> dict[str, Any]:
    card = model.card() if hasattr(model, "card") else {}
    return {
        "aims": "smallest external-validation n at which every interval width meets its target",
        "data_generating_mechanism": {
            "scenario": scenario if isinstance(scenario, str) else repr(scenario),
            "pool_size": int(pool_size), "censoring": censoring,
            "sampling": "validation cohorts drawn from the pool without replacement"},
        "estimands": {k: CRITERIA[k] for k in wanted},
        "methods": {"model": card.get("name", type(model).__name__) if isinstance(card, dict) else "",
                    "horizon_months": ctx["h"], "conf_level": ctx["conf"]},
        "performance_measure": ("mean width" if statistic == "mean"
                                else f"{float(statistic):.0%} quantile of the width (assurance)"),
        "targets": dict(wanted),
        "n_replicates_per_size": ctx["reps"], "n_pilot": int(n_pilot),
        "search": "pilot, then 0.8x and 1.25x each criterion's guess; WLS fit of log width on log n; "
                  "check run at the answer",
        "random_state": random_state if isinstance(random_state, int) else repr(random_state),
    }
