"""Validation plots (matplotlib imported inside each function; every function takes ``ax=None``
and returns the axes it drew on)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["at_risk_table", "plot_calibration", "plot_decision_curve", "plot_km_vs_predicted"]


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 5.2))
    return ax


def plot_calibration(cal: Any, ax: Any = None) -> Any:
    """Observed vs predicted risk at ``cal.t``: quantile groups (KM with its CI), the smoothed
    Cox/RCS curve and the diagonal; ICI, E90, slope and O/E in the legend title."""
    ax = _axes(ax)
    g = cal.groups
    pred = 1.0 - g["predicted_survival"].to_numpy()
    obs = 1.0 - g["observed_survival"].to_numpy()
    lo = 1.0 - g["observed_high"].to_numpy()
    hi = 1.0 - g["observed_low"].to_numpy()
    top = float(np.nanmax(np.concatenate([pred, hi, cal.curve["observed_risk"].to_numpy()])))
    top = min(1.0, 1.05 * top) if top > 0 else 1.0
    ax.plot([0, top], [0, top], color="0.6", lw=1, ls=":", label="ideal")
    ax.errorbar(pred, obs, yerr=[obs - lo, hi - obs], fmt="o", color="C0", capsize=3,
                label="risk groups (Kaplan-Meier, 95% CI)")
    c = cal.curve
    ax.plot(c["predicted_risk"], c["observed_risk"], color="C1", lw=2, label="smoothed (Cox, RCS)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"predicted risk of death by {cal.t:g} months")
    ax.set_ylabel(f"observed risk by {cal.t:g} months")
    ax.legend(loc="upper left", fontsize=8,
              title=f"ICI {cal.ici:.3f}, E90 {cal.e90:.3f}, slope {cal.slope:.2f}, O/E {cal.oe_ratio:.2f}",
              title_fontsize=8)
    return ax


def at_risk_table(time: np.ndarray, groups: np.ndarray, ticks: np.ndarray) -> dict[str, np.ndarray]:
    """Numbers still at risk (follow-up >= tick) per group at each tick."""
    out = {}
    for label in sorted(set(groups.tolist()), key=str):
        t = np.sort(time[groups == label])
        out[str(label)] = t.size - np.searchsorted(t, ticks, side="left")
    return out


def plot_km_vs_predicted(time: np.ndarray, event: np.ndarray, groups: np.ndarray, grid: np.ndarray,
                         predicted: np.ndarray, ax: Any = None, at_risk: bool = True,
                         max_time: float | None = None, n_ticks: int = 6) -> Any:
    """Kaplan-Meier per group (solid steps, 95% band) vs the group's mean predicted curve
    (dashed); a number-at-risk table is written under the axes when ``at_risk``."""
    from ..metrics import kaplan_meier

    ax = _axes(ax)
    tmax = float(max_time if max_time is not None else np.max(time))
    labels = sorted(set(groups.tolist()), key=str)
    in_grid = grid <= tmax
    for k, label in enumerate(labels):
        m = groups == label
        km = kaplan_meier(time[m], event[m])
        color = f"C{k % 10}"
        steps = np.concatenate(([0.0], km.times[km.times <= tmax], [tmax]))
        s = km.at(steps)
        lo, hi = km.ci_at(steps)
        ax.step(steps, s, where="post", color=color, lw=1.6, label=f"{label} (n={int(m.sum())})")
        ax.fill_between(steps, lo, hi, step="post", color=color, alpha=0.12, lw=0)
        ax.plot(grid[in_grid], predicted[in_grid][:, m].mean(axis=1), color=color, ls="--", lw=1.4)
    ax.plot([], [], color="0.3", ls="--", label="predicted (mean of patients)")
    ax.set_xlim(0, tmax)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("months since diagnosis")
    ax.set_ylabel("overall survival")
    ax.legend(fontsize=8, loc="lower left")
    if at_risk:
        ticks = np.linspace(0, tmax, n_ticks)
        ax.set_xticks(ticks)
        table = at_risk_table(time, groups, ticks)
        trans = ax.get_xaxis_transform()
        ax.text(-0.05 * tmax, -0.2, "at risk", transform=trans, ha="right", va="top", fontsize=7,
                fontweight="bold")
        for r, (label, counts) in enumerate(table.items()):
            y = -0.26 - 0.06 * r
            ax.text(-0.05 * tmax, y, label, transform=trans, ha="right", va="top", fontsize=7,
                    color=f"C{labels.index(label) % 10}" if label in labels else "k")
            for x, n in zip(ticks, counts, strict=True):
                ax.text(x, y, str(int(n)), transform=trans, ha="center", va="top", fontsize=7)
        ax.figure.subplots_adjust(bottom=min(0.6, 0.2 + 0.06 * len(table)))
    return ax


def plot_decision_curve(curve: Any, ax: Any = None) -> Any:
    """Net benefit against the risk threshold, one line per strategy (a frame from
    :func:`mastoprog.metrics.decision_curve`); treat-all grey, treat-none black. Returns the Axes."""
    ax = _axes(ax)
    styles = {"treat all": {"color": "0.55", "lw": 1.2}, "treat none": {"color": "k", "lw": 1.0}}
    top = 0.0
    for k, (name, g) in enumerate(curve.groupby("strategy", sort=False)):
        ax.plot(g["threshold"], g["net_benefit"], label=name, **styles.get(name, {"color": f"C{k}", "lw": 2}))
        top = max(top, float(g["net_benefit"].max()))
    ax.set_ylim(-0.05 * max(top, 0.01), 1.1 * max(top, 0.01))
    ax.set_xlabel("risk threshold (predicted risk of death by the horizon)")
    ax.set_ylabel("net benefit")
    ax.legend(fontsize=8)
    return ax
