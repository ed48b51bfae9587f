"""Patch pipelines with the paper's augmentation, balanced sets and group-level splits.

>>> from medkeras.data import augment_boxes, patch_dataset, split_by_group
"""

from medkeras.data.patches import (DEFAULT_AUGMENTATION, NO_AUGMENTATION, LazyPatches,
                                   augment_boxes, crop_patches, orient, patch_dataset,
                                   predict_in_chunks, three_channels)
from medkeras.data.splits import (balanced_indices, class_balanced_sample, split_by_group,
                                  subsample_groups)

__all__ = ["DEFAULT_AUGMENTATION", "LazyPatches", "NO_AUGMENTATION", "augment_boxes",
           "balanced_indices", "crop_patches", "orient", "patch_dataset", "predict_in_chunks",
           "split_by_group", "subsample_groups", "three_channels", "class_balanced_sample"]
