"""Relative survival of a user's cohort, as R's relsurv: net survival, crude probabilities, years lost."""

from .crude import CrudeMortalityResult, crude_mortality
from .net_survival import NET_SURVIVAL_METHODS, NetSurvivalResult, net_survival
from .years_lost import YEARS_LOST_MEASURES, YearsLostResult, years_lost

__all__ = [
    "NET_SURVIVAL_METHODS",
    "YEARS_LOST_MEASURES",
    "CrudeMortalityResult",
    "NetSurvivalResult",
    "YearsLostResult",
    "crude_mortality",
    "net_survival",
    "years_lost",
]
