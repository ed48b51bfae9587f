"""How volumes become candidates and patches: the settings of the PE application."""

from __future__ import annotations

import dataclasses

from medkeras.checks import integer_at_least

__all__ = ["MAX_CANDIDATES", "PATCH_PIXELS", "PESettings", "REPRESENTATIONS"]

#: The patch representations: vessel-aligned (2 planes) and standard (3 planes).
REPRESENTATIONS = ("vessel_aligned", "standard")
#: The ``ctpa_candidates`` dataset keeps the best 300 candidates of a volume …
MAX_CANDIDATES = 300
#: … and stores their patches at 64 × 64 pixels.
PATCH_PIXELS = 64


@dataclasses.dataclass
class PESettings:
    """How volumes become candidates and patches.

    ``representation`` (``vessel_aligned`` or ``standard``), ``max_candidates`` per volume
    (the best by tobogganing score, at most the 300 prepared ones), ``patch_pixels`` stored
    (64, what the dataset holds), ``train_patches`` of the balanced training set;
    ``test_translations``: average a test candidate over all 54 patches (the paper) instead
    of the 18 untranslated ones (3 sizes × 6 rotations), a third of the time; ``seed``
    fixes which training patches are drawn.
    """
    representation: str = "vessel_aligned"
    max_candidates: int = MAX_CANDIDATES
    patch_pixels: int = PATCH_PIXELS
    train_patches: int = 4000
    test_translations: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be 'vessel_aligned' or 'standard', got "
                             f"{self.representation!r}")
        self.max_candidates = integer_at_least(self.max_candidates, "max_candidates")
        if self.max_candidates > MAX_CANDIDATES:
            raise ValueError(f"the ctpa_candidates dataset holds the best {MAX_CANDIDATES} "
                             f"candidates of a volume: max_candidates <= {MAX_CANDIDATES}, "
                             f"got {self.max_candidates}")
        if isinstance(self.patch_pixels, bool) or self.patch_pixels != PATCH_PIXELS:
            raise ValueError(f"the ctpa_candidates dataset stores patches of {PATCH_PIXELS} × "
                             f"{PATCH_PIXELS} pixels: patch_pixels must be {PATCH_PIXELS}, "
                             f"got {self.patch_pixels!r}")
        self.patch_pixels = PATCH_PIXELS
        self.train_patches = integer_at_least(self.train_patches, "train_patches", 2)
        if self.test_translations not in (True, False):
            raise ValueError(f"test_translations must be True or False, got "
                             f"{self.test_translations!r}")
        self.test_translations = bool(self.test_translations)
        self.seed = integer_at_least(self.seed, "seed", 0)

    def to_json(self):
        return dataclasses.asdict(self)
