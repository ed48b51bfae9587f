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


def rgb_image(image, what="image", *, min_size=16):
    """``image`` unchanged, or a ``ValueError`` unless it is an (H, W, 3) uint8 RGB array of at
    least ``min_size`` pixels a side."""
    import numpy as np

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        got = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
               else type(image).__name__)
        raise ValueError(f"{what} must be an (H, W, 3) uint8 RGB array, got a {got}")
    if min(image.shape[:2]) < min_size:
        raise ValueError(f"{what} must be at least {min_size}×{min_size} pixels, got "
                         f"{image.shape[:2]}")
    return image
