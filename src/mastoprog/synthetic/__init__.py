"""Synthetic cohorts drawn from a known truth (a scenario and a survival model), and their files."""

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

__all__ = ["SIMULATION_COLUMNS", "TRUTH_COLUMNS", "read_cohort", "simulate_cohort", "simulate_cohort_to_file",
           "simulate_cohort_to_parquet", "simulation_summary", "write_cohort"]
