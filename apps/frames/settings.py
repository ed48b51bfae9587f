"""How frames become crops: the settings of the frame-quality application."""

from __future__ import annotations

import dataclasses

from medkeras.checks import integer_at_least

__all__ = ["CROP", "FrameSettings"]

#: The CNN's input: crops are 227×227.
CROP = 227


@dataclasses.dataclass
class FrameSettings:
    """How frames become crops.

    ``width`` × ``height``: the working frame size (the paper: 500×350); ``train_crops``:
    random crops drawn per training frame (the paper: 200), from which a balanced set of
    ``train_patches`` is taken; ``test_crops``: crops averaged per test frame; ``seed``
    fixes every crop position.
    """
    width: int = 500
    height: int = 350
    train_crops: int = 200
    test_crops: int = 20
    train_patches: int = 4000
    seed: int = 0

    def __post_init__(self):
        self.width = integer_at_least(self.width, "width", CROP)
        self.height = integer_at_least(self.height, "height", CROP)
        self.train_crops = integer_at_least(self.train_crops, "train_crops")
        self.test_crops = integer_at_least(self.test_crops, "test_crops")
        self.train_patches = integer_at_least(self.train_patches, "train_patches")
        self.seed = integer_at_least(self.seed, "seed", 0)

    def to_json(self):
        return dataclasses.asdict(self)
