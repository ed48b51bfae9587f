"""Argument checks shared by medkeras and its applications: early, clear ``ValueError``s."""

import math
import numbers


def positive_number(value, what):
    """``value`` as a float, or a ``ValueError`` unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive finite number, got {value!r}")
    return float(value)


def non_negative_number(value, what):
    """``value`` as a float, or a ``ValueError`` unless it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def integer_at_least(value, what, minimum=1):
    """``value`` as an int, or a ``ValueError`` unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)
