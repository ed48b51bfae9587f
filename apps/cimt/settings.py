"""How CIMT patches are cut and models are applied: the settings of the CIMT application.

This module is light (no numpy, no TensorFlow): the command line reads its defaults.

>>> stride_pair(2)
(2, 2)
>>> parse_stride("2,6")
(2, 6)
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from medkeras.checks import integer_at_least, non_negative_number, positive_number

__all__ = ["CIMTSettings", "parse_stride", "stride_pair"]


def stride_pair(stride):
    """A dense-inference stride → ``(rows, columns)``: an integer ``s`` is ``(s, s)``; a
    pair is each its own; both must be integers >= 1 (else a ``ValueError``)."""
    try:
        pair = tuple(stride)
    except TypeError:              # a scalar
        pair = (stride, stride)
    if len(pair) != 2:
        raise ValueError(f"stride must be an integer or a (rows, columns) pair, got {stride!r}")
    return tuple(integer_at_least(s, "stride") for s in pair)


def parse_stride(text):
    """The command line's stride, ``N`` or ``ROWS,COLUMNS`` → ``(rows, columns)``."""
    try:
        values = tuple(int(v) for v in text.split(","))
        return stride_pair(values[0] if len(values) == 1 else values)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected N or ROWS,COLUMNS (integers >= 1), got {text!r}") from err


@dataclasses.dataclass
class CIMTSettings:
    """How CIMT patches are cut and models are applied.

    ``per_class`` training patches per class per case (the paper balanced 3 classes);
    ``test_per_class`` patches per class per test case for the sweep's patch-level AUC;
    ``fov_mm`` field of view of a patch; ``roi_margin_mm`` the ROI around the far wall
    (training background and test ROI); ``stride`` of dense inference, ``(rows, columns)``
    (the paper: every pixel; a column stride trades lateral detail for time); ``seed``
    fixes which patches are drawn.
    """
    fov_mm: float = 3.0
    per_class: int = 100
    test_per_class: int = 30
    min_background_distance_mm: float = 0.3
    roi_margin_mm: float = 1.0
    stride: tuple = (1, 1)
    batch_size: int = 256
    seed: int = 0

    def __post_init__(self):
        self.fov_mm = positive_number(self.fov_mm, "fov_mm")
        self.per_class = integer_at_least(self.per_class, "per_class")
        self.test_per_class = integer_at_least(self.test_per_class, "test_per_class")
        self.min_background_distance_mm = non_negative_number(
            self.min_background_distance_mm, "min_background_distance_mm")
        self.roi_margin_mm = non_negative_number(self.roi_margin_mm, "roi_margin_mm")
        self.stride = stride_pair(self.stride)
        self.batch_size = integer_at_least(self.batch_size, "batch_size")
        self.seed = integer_at_least(self.seed, "seed", 0)

    def to_json(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))
