"""WHO 2016, WHO 2022 and ICC 2022 classification of mastocytosis: findings -> subtype and criteria.

The rules' thresholds live in ``data/classification_thresholds.csv``; the engine evaluates them with
three-valued logic so a missing finding gives "one of ...".
"""

from ._engine import (
    COLUMNS,
    EDITIONS,
    INDETERMINATE,
    PROGNOSTIC_GROUP,
    SUBTYPE_SEVERITY,
    Classification,
    classify,
)

__all__ = ["COLUMNS", "EDITIONS", "INDETERMINATE", "PROGNOSTIC_GROUP", "SUBTYPE_SEVERITY", "Classification",
           "classify"]
