"""Datasets as tensorflow-datasets builders, shared by the applications.

A dataset is prepared once from the folder you have (nothing is downloaded) into a
versioned, typed, on-disk tfds dataset that is fast to read every epoch, split by group
(video, sequence, patient) into ``train`` and ``test``, with nested group-exact training
fractions::

    from medkeras import datasets

    kvasir = datasets.builder("kvasir_seg", manual_dir="/data/kvasir-seg")
    train = kvasir.as_dataset(split=datasets.fraction_split(kvasir, 0.25))
    test = datasets.load("kvasir_seg", split="test")      # the prepared copy is reused

A builder registers itself (in :data:`REGISTRY` and with tfds as ``medkeras_<name>``) when
its module is imported: each application's ``dataset`` module defines its own
(``import apps.polyp.dataset`` then ``builder("kvasir_seg", ...)`` or
``tfds.load("medkeras_kvasir_seg", ...)``); the core never imports an application.

>>> from medkeras.datasets import REGISTRY, GroupedBuilder, builder
"""

from medkeras.datasets.base import (PREFIX, REGISTRY, GroupedBuilder, Record, builder,
                                    builder_class, default_data_dir, folder_fingerprint,
                                    fraction_split, load, prefix_length, split_groups)
from medkeras.io.files import DatasetFolderError

__all__ = ["DatasetFolderError", "GroupedBuilder", "PREFIX", "REGISTRY", "Record", "builder",
           "builder_class", "default_data_dir", "folder_fingerprint", "fraction_split", "load",
           "prefix_length", "split_groups"]
