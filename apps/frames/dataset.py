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

``synthetic_frames`` needs no folder: informative frames drawn by
:func:`apps.polyp.synthetic.synthetic_frame`, each with a non-informative twin made from it
(:func:`apps.frames.synthetic.synthetic_labelled_frames`), the two forming one group; for
demos and tests, never for reporting performance, in configurations ``small`` (48 frames)
and ``medium`` (400)::

    demo = datasets.builder("synthetic_frames", config="small")

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
from medkeras.io.files import (Problems, image_files, image_header, image_value,
                               png_bytes, read_csv)

__all__ = ["ColonoscopyFrames", "LABELS", "SyntheticFrames", "parse_label"]

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


class SyntheticFramesConfig(tfds.core.BuilderConfig):
    """``frames`` synthetic labelled frames of ``shape`` drawn with ``seed``
    (:func:`apps.frames.synthetic.synthetic_labelled_frames`): ``frames / 2`` videos, each
    an informative frame and its degraded twin."""

    def __init__(self, *, frames, seed=0, shape=(288, 352), **kwargs):
        super().__init__(**kwargs)
        if frames < 2 or frames % 2:
            raise ValueError(f"frames must be even and at least 2, got {frames!r}")
        self.frames, self.seed, self.shape = frames, seed, tuple(shape)


class SyntheticFrames(GroupedBuilder):
    """Synthetic colonoscopy frames labelled informative / non-informative (demos, tests).

    Informative frames are drawn by :func:`apps.polyp.synthetic.synthetic_frame`; each
    video (group) holds one of them and its non-informative twin made by
    :func:`apps.frames.degrade.degrade` (the kinds in turn, severities in the clearly
    non-informative ranges), so the labels are balanced and a group-disjoint split never
    separates a frame from its twin.  The features are exactly ``colonoscopy_frames``':
    ``kind`` is the degradation (``""`` for informative frames), ``name`` is
    ``"<video>/informative"`` or ``"<video>/<kind>"`` (also the key); images are stored as
    PNG (lossless).  Scores on these frames say nothing about performance on real
    colonoscopy.
    """

    NEEDS_FOLDER = False
    SAME_FEATURES_AS = ColonoscopyFrames
    BUILDER_CONFIGS = [
        SyntheticFramesConfig(name="small", frames=48,
                              description="48 frames of 288×352 in 24 videos (tests, demo)"),
        SyntheticFramesConfig(name="medium", frames=400,
                              description="400 frames of 288×352 in 200 videos"),
    ]

    def _scan(self, folder):
        from .synthetic import pair_kind

        records = []
        for index in range(self.builder_config.frames // 2):
            video = f"video{index:04d}"
            kind = pair_kind(index)
            records.append(Record(f"{video}/informative", video, (index, 0)))
            records.append(Record(f"{video}/{kind}", video, (index, 1)))
        return records

    def _example(self, payload):
        from .synthetic import synthetic_pair

        index, which = payload
        config = self.builder_config
        frame = synthetic_pair(index, seed=config.seed, shape=config.shape)[which]
        return {"image": png_bytes(frame.image), "label": frame.label, "kind": frame.kind,
                "name": frame.name}
