"""Plain reference implementations of mastoprog.relative's estimators: the specification.

One loop over the follow-up times; inside it, every patient still followed is looked up in the life
table directly (:meth:`LifeTable.cumulative_hazard`), with no sorting tricks, no suffix sums and no
Taylor series. Used by ``tests/test_relative_reference.py`` (the vectorised estimators must agree
with these on small cohorts) and ``benchmarks/bench_relative.py`` (the baseline timed beside them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mastoprog import LifeTable


def reference_net_survival(time: np.ndarray, event: np.ndarray, age: np.ndarray, sex: np.ndarray,
                           year: np.ndarray, life_table: LifeTable, method: str = "pohar-perme",
                           only: np.ndarray | None = None) -> pd.DataFrame:
    """Net survival and the SE of its log at every follow-up time (Pohar Perme 2012 or Ederer II).

    Pohar Perme: ``dLambda_E(t_j) = sum dN_i / S_i(t_j) / W(t_j) - log(W(t_j) / W(t_{j-1}))`` with
    ``W(s) = sum_{i: time_i >= t_j} 1 / S_i(s)`` (the exact integral of the weighted population hazard
    over the interval); Ederer II: ``(d_j - sum_{i at risk} (Lambda_i(t_j) - Lambda_i(t_{j-1}))) / n_j``.
    ``only``: run the loop body at these positions of the follow-up times only (timing a sample of
    the iterations in the benchmark; the curve is then not the estimate).
    """
    sex = _codes(sex)
    surv, var, previous, rows = 1.0, 0.0, 0.0, []
    grid = np.unique(time)
    for t in grid if only is None else grid[only]:
        at = time >= t
        dead = at & (time == t) & (event == 1)
        h_now = life_table.cumulative_hazard(age[at], sex[at], year[at], t)
        h_before = life_table.cumulative_hazard(age[at], sex[at], year[at], previous)
        if method == "pohar-perme":
            w_now, w_before = np.exp(h_now).sum(), np.exp(h_before).sum()
            inv_s_dead = np.exp(life_table.cumulative_hazard(age[dead], sex[dead], year[dead], t))
            hazard = inv_s_dead.sum() / w_now - np.log(w_now / w_before)
            var += (inv_s_dead ** 2).sum() / w_now ** 2
        else:
            n = at.sum()
            hazard = (dead.sum() - (h_now - h_before).sum()) / n
            var += dead.sum() / n ** 2
        surv *= 1.0 - hazard
        rows.append((t, max(surv, 0.0), np.sqrt(var), int(at.sum())))
        previous = t
    return pd.DataFrame(rows, columns=["time", "estimate", "std_error_log", "n_at_risk"])


def reference_crude(time: np.ndarray, event: np.ndarray, age: np.ndarray, sex: np.ndarray,
                    year: np.ndarray, life_table: LifeTable) -> pd.DataFrame:
    """Crude probabilities of death from the disease / other causes and relsurv's variances (O(T^2))."""
    sex = _codes(sex)
    surv_before, previous = 1.0, 0.0
    f_e, f_p, s_after, sigma, rows = [], [], [], [], []
    for t in np.unique(time):
        at = time >= t
        n, d = at.sum(), ((time == t) & (event == 1)).sum()
        expected = (life_table.cumulative_hazard(age[at], sex[at], year[at], t)
                    - life_table.cumulative_hazard(age[at], sex[at], year[at], previous)).sum() / n
        f_e.append((f_e[-1] if f_e else 0.0) + surv_before * (d / n - expected))
        f_p.append((f_p[-1] if f_p else 0.0) + surv_before * expected)
        surv_before *= 1 - d / n
        s_after.append(surv_before)
        sigma.append(d / n ** 2)
        var_e = sum(sigma[k] * (s_after[k] - (f_e[-1] - f_e[k])) ** 2 for k in range(len(f_e)))
        var_p = sum(sigma[k] * (f_p[-1] - f_p[k]) ** 2 for k in range(len(f_p)))
        rows.append((t, f_e[-1], f_p[-1], var_e, var_p))
        previous = t
    return pd.DataFrame(rows, columns=["time", "disease", "other", "var_disease", "var_other"])


def _codes(sex: np.ndarray) -> np.ndarray:
    """F/M as the life table's 0/1 codes, once (text would be mapped again at every lookup)."""
    return np.where(np.char.upper(np.asarray(sex, dtype=str)) == "M", 1, 0)
