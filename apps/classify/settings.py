"""How your images become the network's inputs: the settings of the classify application."""

from __future__ import annotations

import dataclasses

from medkeras.checks import integer_at_least

__all__ = ["ClassifySettings", "MAGNIFICATIONS"]

#: BreakHis's magnifications.
MAGNIFICATIONS = ("40", "100", "200", "400")


@dataclasses.dataclass
class ClassifySettings:
    """How images are read and split.

    ``size``: every image is resized to ``size × size`` (squeezed when it is not square, as
    Keras' ``image_dataset_from_directory`` does; 224 is the ImageNet size of most
    backbones); ``channels``: 3 (colour; grey images repeated) or 1 (grey: colour converted
    to luma, and the backbone's grey variant); ``test_fraction``: of the groups (patients,
    slides) held out for the test, per class; ``positive``: with two classes, the one whose
    probability is the score (default: the second in sorted order); ``magnification``:
    BreakHis only, keep one; ``max_images``: PatchCamelyon only, the first so many of each
    of its splits (it has 262,144 training images); ``seed``: which groups are held out.
    """
    size: int = 224
    channels: int = 3
    test_fraction: float = 0.2
    positive: str = None
    magnification: str = None
    max_images: int = None
    seed: int = 0

    def __post_init__(self):
        self.size = integer_at_least(self.size, "size", 32)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3; Received: channels={self.channels!r}")
        if not isinstance(self.test_fraction, (int, float)) or not 0 < self.test_fraction < 1:
            raise ValueError("test_fraction must be between 0 and 1 (a fraction of the "
                             f"groups); Received: test_fraction={self.test_fraction!r}")
        self.test_fraction = float(self.test_fraction)
        if self.magnification is not None:
            self.magnification = str(self.magnification).removesuffix("X").removesuffix("x")
            if self.magnification not in MAGNIFICATIONS:
                raise ValueError(f"magnification must be one of {list(MAGNIFICATIONS)}; "
                                 f"Received: magnification={self.magnification!r}")
        if self.max_images is not None:
            self.max_images = integer_at_least(self.max_images, "max_images", 2)
        self.seed = integer_at_least(self.seed, "seed", 0)

    def to_json(self):
        return dataclasses.asdict(self)
