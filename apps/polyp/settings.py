"""How candidates become patches: the settings of the polyp application."""

from __future__ import annotations

import dataclasses
import json

from medkeras.checks import integer_at_least, non_negative_number, positive_number

__all__ = ["PolypSettings"]


@dataclasses.dataclass
class PolypSettings:
    """How candidates become patches.

    ``max_candidates`` per frame (the detector's strongest); ``frame_width`` the working
    width frames are resized to; ``scales`` and ``translation`` of the paper's augmentation
    (8 orientations always); ``train_patches`` the size of the balanced training set (the
    paper: 100,000); ``test_translations``: also average over the 8 translated boxes at
    test time (216 patches per candidate, the paper) instead of 24; ``seed`` fixes which
    training patches are drawn.
    """
    max_candidates: int = 20
    frame_width: int = 512
    scales: tuple = (1.0, 1.2, 1.5)
    translation: float = 0.1
    train_patches: int = 4000
    test_translations: bool = False
    seed: int = 0

    def __post_init__(self):
        self.max_candidates = integer_at_least(self.max_candidates, "max_candidates")
        self.frame_width = integer_at_least(self.frame_width, "frame_width")
        self.train_patches = integer_at_least(self.train_patches, "train_patches")
        self.seed = integer_at_least(self.seed, "seed", 0)
        try:
            scales = tuple(self.scales)
        except TypeError:
            raise ValueError(f"scales must be positive, got {self.scales!r}") from None
        if not scales:
            raise ValueError(f"scales must be positive, got {self.scales!r}")
        self.scales = tuple(positive_number(s, "scales") for s in scales)
        self.translation = non_negative_number(self.translation, "translation")
        if self.translation >= 1:
            raise ValueError(f"translation must be in [0, 1), got {self.translation!r}")
        if not isinstance(self.test_translations, bool):
            raise ValueError(f"test_translations must be True or False, got "
                             f"{self.test_translations!r}")

    def to_json(self):
        """The settings as JSON values (``scales`` a list)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))
