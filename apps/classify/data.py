"""Your labelled images → the training and test splits the sweep uses.

The folder is read by :func:`medkeras.data.labelled.read_labelled` (class folders,
``labels.csv`` or BreakHis names: every problem named, what is filtered out listed).  The
test split holds out whole groups (patients, slides), a fraction of each class's groups
(stratified, so that every class is tested), chosen by
:func:`medkeras.data.splits.group_order`; the sweep then splits the rest into training and
validation, again by group.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

__all__ = ["Images", "held_out_groups", "load_images", "positive_index", "resize_image"]

#: Fewest groups a class needs: one each for the test, validation and training splits.
MIN_GROUPS = 3


class Images(NamedTuple):
    """One split: ``images`` ``(N, size, size, channels)`` float32 in 0–255, ``labels``
    (class indices), ``groups``, ``names`` (paths relative to the data folder), the
    data's ``classes`` and what was ``left_out`` of it, with why."""
    images: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    names: list
    classes: tuple
    left_out: list


def resize_image(image, size):
    """``image`` (H, W, C) at ``size × size`` (area interpolation when shrinking, linear
    when enlarging); the channel axis is kept."""
    import cv2

    if image.shape[:2] == (size, size):
        return image.astype(np.float32)
    shrink = image.shape[0] * image.shape[1] > size * size
    out = cv2.resize(image.astype(np.float32), (size, size),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out.reshape(size, size, image.shape[2])


def held_out_groups(labels, groups, classes, fraction, seed, *, what="groups"):
    """The groups held out for the test: for each class, ``fraction`` of the groups whose
    images are mostly of that class (at least one), in :func:`group_order`.

    Raises ``DatasetFolderError`` naming a class with fewer than :data:`MIN_GROUPS` groups,
    or one left with no image on either side.
    """
    from medkeras.data.splits import group_count, group_order
    from medkeras.io.files import DatasetFolderError

    names, inverse = np.unique(groups, return_inverse=True)
    inverse = inverse.ravel()
    majority = np.array([np.bincount(labels[inverse == g], minlength=len(classes)).argmax()
                         for g in range(len(names))])
    held = []
    for index, name in enumerate(classes):
        members = names[majority == index]
        if 0 < len(members) < MIN_GROUPS:
            raise DatasetFolderError(
                f"class {name!r} is mostly in {len(members)} {what} only; the test, "
                f"validation and training splits need at least {MIN_GROUPS} (add images of "
                f"other {what}, or leave the class out)")
        if len(members):
            order = group_order(members, seed)
            held += order[:min(group_count(fraction, len(members)), len(members) - 2)].tolist()
    test = np.isin(groups, held)
    for index, name in enumerate(classes):
        for side, where in (("test", test), ("training", ~test)):
            if not np.any(labels[where] == index):
                raise DatasetFolderError(
                    f"class {name!r} has no image in the {side} split (its images are in "
                    f"{len(np.unique(groups[labels == index]))} {what}, each mostly of "
                    "another class); add images of it in more " + what)
    return sorted(held)


def positive_index(classes, positive):
    """The index of the binary task's positive class (``None``: the second class)."""
    if len(classes) != 2:
        if positive is not None:
            raise ValueError(f"--positive applies to two classes; the data has "
                             f"{len(classes)}: {list(classes)}")
        return None
    if positive is None:
        return 1
    if positive not in classes:
        raise ValueError(f"positive must be one of the classes {list(classes)}; "
                         f"Received: positive={positive!r}")
    return classes.index(positive)


def _source(data, settings):
    """``(read(i) → image, labels, groups, names, classes, left_out)`` of the data."""
    if "synthetic" in data:
        from .synthetic import CLASSES, synthetic_tissue

        images, labels, slides = synthetic_tissue(data["synthetic"])
        names = [f"{slide}/{i:05d}" for i, slide in enumerate(slides)]
        return ((lambda i: images[i].astype(np.float32)), labels, slides, names, CLASSES, [])
    from medkeras.data.labelled import read_labelled
    from medkeras.io.images import read_image

    layout = data.get("format")
    found = read_labelled(data["folder"], layout=None if layout in (None, "auto") else layout,
                          magnification=settings.magnification)
    root = os.path.realpath(data["folder"])
    names = [os.path.relpath(os.path.realpath(path), root) for path in found.paths]
    left_out = [(str(path), reason) for path, reason in found.left_out]
    return ((lambda i: read_image(found.paths[i], channels=settings.channels)), found.labels,
            found.groups, names, found.classes, left_out)


#: PatchCamelyon (Veeling et al., MICCAI 2018) through tensorflow-datasets' own builder.
PCAM = "patch_camelyon"
PCAM_CLASSES = ("no_tumour", "tumour")
#: Where tensorflow-datasets downloads PatchCamelyon from (checked before downloading).
PCAM_HOST = ("zenodo.org", 443)


def _check_reachable(host, what, folder):
    import socket

    try:
        socket.create_connection(host, timeout=5).close()
    except OSError as err:
        raise OSError(f"{what} is not prepared in {folder} and {host[0]} cannot be reached "
                      f"({err}): prepare it once on a machine online (tfds.builder("
                      f"'{PCAM}', data_dir=...).download_and_prepare()) and copy that "
                      "tensorflow_datasets folder here") from None


def _patch_camelyon(folder, settings, split):
    """PatchCamelyon's own ``train`` or ``test`` split (its splits come from different
    slides; the patches carry no slide id, so each is its own group), the first
    ``settings.max_images`` of it."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(PCAM, data_dir=folder)
    if not builder.is_prepared():
        _check_reachable(PCAM_HOST, PCAM, folder)
        builder.download_and_prepare()
    part = split if settings.max_images is None else f"{split}[:{settings.max_images}]"
    images, labels = [], []
    for example in tfds.as_numpy(builder.as_dataset(split=part)):
        images.append(example["image"])
        labels.append(int(example["label"]))
    names = [f"{PCAM}/{split}/{i:06d}" for i in range(len(labels))]
    return np.stack(images), np.array(labels, np.int64), names


def load_images(data, settings, split, *, progress=True):
    """The ``"train"`` or ``"test"`` split of ``data`` (``{"folder", "format"}`` or
    ``{"synthetic"}``) as :class:`Images` at ``settings.size``."""
    from tqdm.auto import tqdm

    from medkeras.io.images import to_channels

    if data.get("format") == PCAM:
        images, labels, names = _patch_camelyon(data["folder"], settings, split)
        resized = np.stack([
            resize_image(to_channels(image.astype(np.float32), settings.channels), settings.size)
            for image in images])
        return Images(resized, labels, np.array(names), names, PCAM_CLASSES, [])
    read, labels, groups, names, classes, left_out = _source(data, settings)
    groups = np.asarray(groups).astype(str)
    held = held_out_groups(labels, groups, classes, settings.test_fraction, settings.seed)
    chosen = np.flatnonzero(np.isin(groups, held) == (split == "test"))
    images = np.empty((len(chosen), settings.size, settings.size, settings.channels),
                      np.float32)
    for row, index in enumerate(tqdm(chosen, desc=f"images ({split})", unit="image",
                                     disable=not progress)):
        images[row] = resize_image(to_channels(read(index), settings.channels), settings.size)
    return Images(images, labels[chosen], groups[chosen], [names[i] for i in chosen],
                  tuple(classes), left_out)
