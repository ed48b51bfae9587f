"""Datasets as tensorflow-datasets builders, shared by the applications.

A dataset is prepared once from the folder you have (nothing is downloaded) into a
versioned, typed, on-disk tfds dataset that is fast to read every epoch, split by group
(video, sequence, patient) into ``train`` and ``test``, with nested group-exact training
fractions::

    from medkeras import datasets

    kvasir = datasets.builder("kvasir_seg", manual_dir="/data/kvasir-seg")
    train = kvasir.as_dataset(split=datasets.fraction_split(kvasir, 0.25))
    test = datasets.load("kvasir_seg", split="test")      # the prepared copy is reused

The builders are registered with tfds as ``medkeras_<name>`` once their module is imported
(``import apps.polyp.dataset`` then ``tfds.load("medkeras_kvasir_seg", ...)``).

>>> from medkeras.datasets import GroupedBuilder, DatasetFolderError, load, builder
>>> sorted(REGISTRY)  # doctest: +NORMALIZE_WHITESPACE
['carotid_imt', 'colonoscopy_frames', 'ctpa_candidates', 'cvc_clinicdb', 'kvasir_seg',
 'synthetic_carotid', 'synthetic_frames', 'synthetic_polyps']
"""

from medkeras.datasets.base import (PREFIX, REGISTRY, GroupedBuilder, Record, builder,
                                    builder_class, default_data_dir, folder_fingerprint,
                                    fraction_split, load, prefix_length, split_groups)
from medkeras.datasets.files import DatasetFolderError

__all__ = ["DatasetFolderError", "GroupedBuilder", "PREFIX", "REGISTRY", "Record", "builder",
           "builder_class", "default_data_dir", "folder_fingerprint", "fraction_split", "load",
           "prefix_length", "split_groups"]
