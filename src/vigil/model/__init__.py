"""Pure values shared by every server layer: labels, names, positions, errors.

Nothing here does I/O or imports another Vigil package.
"""

from vigil.model.errors import VigilError
from vigil.model.labels import (
    METRIC_NAME,
    Labels,
    is_valid_label_name,
    is_valid_metric_name,
    validate_label_name,
    validate_metric_name,
)
from vigil.model.position import Position, PositionRange, position_at

__all__ = [
    "METRIC_NAME",
    "Labels",
    "Position",
    "PositionRange",
    "VigilError",
    "is_valid_label_name",
    "is_valid_metric_name",
    "position_at",
    "validate_label_name",
    "validate_metric_name",
]
