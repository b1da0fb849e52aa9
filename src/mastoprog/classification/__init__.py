"""WHO 2016, WHO 2022 and ICC 2022 classification of mastocytosis: findings -> subtype and criteria.

``classify`` (a table in, a frame out) and ``classify_patient`` (one mapping in, one
:class:`Classification` out). Thresholds live in ``data/classification_*.csv``; the engine
evaluates them with the package's three-valued logic so a missing finding gives "one of ...".
"""

from ._editions import EDITIONS, INDETERMINATE, PROGNOSTIC_GROUP, SUBTYPE_SEVERITY
from ._engine import COLUMNS
from ._prognostic import lymphoid_ahn, with_lymphoid_group
from ._report import Classification, classify, classify_patient, classify_subtypes

__all__ = ["COLUMNS", "EDITIONS", "INDETERMINATE", "PROGNOSTIC_GROUP", "SUBTYPE_SEVERITY", "Classification",
           "classify", "classify_patient", "classify_subtypes", "lymphoid_ahn", "with_lymphoid_group"]
