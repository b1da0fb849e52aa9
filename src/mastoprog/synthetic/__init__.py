"""Synthetic cohorts drawn from a known truth (a scenario and a survival model), and their files.

:func:`delayed_entry`, :func:`missing_at_random` and :func:`missing_not_at_random` turn a simulated
cohort into what a referral centre or a registry extract would hold.
"""

from ._followup import delayed_entry, missing_at_random, missing_not_at_random
from .cohort import (
    SIMULATION_COLUMNS,
    TRUTH_COLUMNS,
    simulate_cohort,
    simulation_summary,
)
from .io import (
    read_cohort,
    simulate_cohort_to_file,
    simulate_cohort_to_parquet,
    write_cohort,
)

__all__ = [
    "SIMULATION_COLUMNS",
    "TRUTH_COLUMNS",
    "delayed_entry",
    "missing_at_random",
    "missing_not_at_random",
    "read_cohort",
    "simulate_cohort",
    "simulate_cohort_to_file",
    "simulate_cohort_to_parquet",
    "simulation_summary",
    "write_cohort",
]
