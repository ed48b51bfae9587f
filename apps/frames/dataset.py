"""Colonoscopy frames labelled informative / non-informative, as tensorflow-datasets.

``colonoscopy_frames`` is a :class:`medkeras.datasets.GroupedBuilder` prepared from the
folder you have (nothing is downloaded), split into ``train`` and ``test`` by video, with
nested group-exact training fractions (:func:`medkeras.datasets.fraction_split`)::

    from medkeras import datasets
    frames = datasets.builder("colonoscopy_frames", manual_dir="/data/frames")
    train = frames.as_dataset(split="train", as_supervised=True)   # (image, label)

The folder is either

* ``informative/`` and ``non_informative/``, holding the images (``.jpg``, ``.jpeg``,
  ``.png``, ``.bmp``, ``.tif``, ``.tiff``); each frame is its own group; or
* a ``labels.csv`` with the columns ``path,label`` and optionally ``video`` and ``kind``:
  ``path`` relative to the folder, ``label`` ``informative``/``non_informative`` or
  ``1``/``0``, ``video`` the frame's group, ``kind`` how a generated non-informative frame
  was degraded (e.g. ``blur``).  Only the listed files are read.  A frame without a video
  is its own group (named after its file stem).

Features: ``image`` (RGB ``uint8``; JPEG and PNG files stored as their own bytes),
``label`` (``ClassLabel``: 0 ``non_informative``, 1 ``informative``), ``kind`` (``""``
when unknown), ``name`` (the path relative to the folder, also the example's ``key``).

Preparation stops, naming the file, on an unknown label, a listed file that is missing,
an unreadable or truncated image, a path listed twice or leaving the folder, and (folder
layout) a file that is not an image.

>>> LABELS
('non_informative', 'informative')
>>> parse_label("1"), parse_label("non_informative"), parse_label("blurry")
(1, 0, None)
"""

from __future__ import annotations

import pathlib

import tensorflow_datasets as tfds

from medkeras.datasets import DatasetFolderError, GroupedBuilder, Record
from medkeras.datasets.files import (Problems, image_files, image_header, image_value,
                                     read_csv)

__all__ = ["ColonoscopyFrames", "LABELS", "parse_label"]

LABELS = ("non_informative", "informative")
_LABEL_VALUES = {"non_informative": 0, "0": 0, "informative": 1, "1": 1}


def parse_label(text):
    """0 (non-informative), 1 (informative), or None for anything else."""
    return _LABEL_VALUES.get(text.strip())


class ColonoscopyFrames(GroupedBuilder):
    """Colonoscopy frames labelled informative or non-informative, grouped by video."""

    SUPERVISED_KEYS = ("image", "label")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Pass a folder holding informative/ and non_informative/ image folders, or a
    labels.csv with the columns path,label[,video][,kind] (path relative to the folder,
    label informative/non_informative or 1/0, video the frame's video).
    """

    def _features(self):
        return {
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=list(LABELS)),
            "kind": tfds.features.Text(doc="how the frame was degraded; '' if unknown"),
            "name": tfds.features.Text(),
        }

    def _scan(self, folder):
        problems = Problems(folder)
        if (folder / "labels.csv").is_file():
            entries = self._from_csv(folder, problems)
        else:
            entries = self._from_folders(folder, problems)
        problems.raise_if_any()
        records = []
        for name, (path, label, video, kind) in entries.items():
            try:
                image_header(path)
            except DatasetFolderError as err:
                problems.add(err)
                continue
            group = video or pathlib.PurePosixPath(name).stem
            records.append(Record(name, group, (path, label, kind, name)))
        problems.raise_if_any()
        return records

    def _from_folders(self, folder, problems):
        found = {label: folder / label for label in LABELS if (folder / label).is_dir()}
        if not found:
            raise DatasetFolderError(f"{folder}: neither labels.csv nor the folders "
                                     f"{' and '.join(LABELS)}")
        entries = {}
        for label, path in found.items():
            for image in image_files(path, problems=problems).values():
                name = image.relative_to(folder).as_posix()
                entries[name] = (image, LABELS.index(label), "", "")
        return entries

    def _from_csv(self, folder, problems):
        path = folder / "labels.csv"
        entries = {}
        for line, row in read_csv(path, required=("path", "label"), optional=("video", "kind")):
            where = f"{path}, line {line}"
            relative = pathlib.PurePosixPath(row["path"].replace("\\", "/"))
            if relative.is_absolute() or ".." in relative.parts:
                problems.add(f"{where}: {row['path']!r} must be a path inside the folder")
                continue
            name = relative.as_posix()
            label = parse_label(row["label"])
            if label is None:
                problems.add(f"{where}: unknown label {row['label']!r} for {name} "
                             f"(expected informative, non_informative, 1 or 0)")
            elif name in entries:
                problems.add(f"{where}: {name} listed twice")
            elif not (folder / name).is_file():
                problems.add(f"{where}: {folder / name} is missing")
            else:
                entries[name] = (folder / name, label, row.get("video", ""),
                                 row.get("kind", ""))
        return entries

    def _example(self, payload):
        path, label, kind, name = payload
        return {"image": image_value(path), "label": label, "kind": kind, "name": name}
