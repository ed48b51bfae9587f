"""Polyp segmentation datasets as tensorflow-datasets: ``kvasir_seg``, ``cvc_clinicdb`` and
``synthetic_polyps``.

All three are :class:`medkeras.datasets.GroupedBuilder`\\ s prepared from the folder you have
(nothing is downloaded), split into ``train`` and ``test`` by group, with nested
group-exact training fractions (:func:`medkeras.datasets.fraction_split`)::

    from medkeras import datasets
    kvasir = datasets.builder("kvasir_seg", manual_dir="/data/kvasir-seg")
    train = kvasir.as_dataset(split="train")

``synthetic_polyps`` needs no folder: its frames are drawn by
:func:`apps.polyp.synthetic.synthetic_frame` (for demos and tests, never for reporting
performance), in configurations ``small`` and ``medium``::

    demo = datasets.builder("synthetic_polyps", config="small")

Features (the same for all three):

``image``
    the frame, RGB ``uint8``.  JPEG and PNG files are stored as their own bytes (no
    re-encoding loss), other formats (TIFF, BMP) decoded and stored as PNG.
``mask``
    ``(H, W, 1)`` ``uint8``, 1 = polyp, 0 = background: the mask file's grey level
    thresholded at 128 (Kvasir's masks are JPEGs whose edges ring; the threshold removes it).
``polyps``
    the polyps of the mask: its 8-connected components (``scipy.ndimage.label``), each with
    its ``bbox`` (``tfds.features.BBox``: ``ymin, xmin, ymax, xmax`` normalised by the
    frame's height and width, max edges exclusive) and ``area`` (pixels).  Components
    smaller than :data:`MIN_POLYP_FRACTION` (0.01%) of the frame are left out of this list
    (JPEG speckle, not polyps); the mask keeps them.
``boxes``
    the boxes published with the dataset (Kvasir's ``bboxes.json``), normalised like
    ``bbox``; empty when the dataset has none (CVC-ClinicDB); the generator's polyp boxes
    for ``synthetic_polyps``.
``name``
    the frame's file name without extension.

Groups: neither dataset publishes video ids with its frames, so each frame is its own
group unless the folder holds a ``groups.csv`` (columns ``name,group``; ``name`` is the
frame's file name with or without extension) giving the group (video, sequence) of every
frame.  CVC-ClinicDB's 612 frames come from 29 sequences, published as frame ranges in the
dataset's paper; write them into ``groups.csv`` to split by sequence.

Preparation stops, naming the file, on: an image without a mask or a mask without an image,
an unreadable or truncated file, a mask of another size than its image, a ``bboxes.json``
that is not valid JSON, names an unknown frame, misses one, or disagrees with an image's size,
and a ``groups.csv`` that names an unknown frame or misses one.

>>> import numpy as np
>>> mask = np.zeros((10, 20), bool); mask[1:3, 2:6] = True; mask[5:10, 10:20] = True
>>> [(p["bbox"], p["area"]) for p in polyp_components(mask)]
[((0.1, 0.1, 0.3, 0.3), 8), ((0.5, 0.5, 1.0, 1.0), 50)]
"""

from __future__ import annotations

import abc

import numpy as np
import tensorflow_datasets as tfds
from scipy import ndimage

from medkeras.datasets import DatasetFolderError, GroupedBuilder, Record
from medkeras.io.files import (Problems, image_files, image_header, image_value, png_bytes,
                               read_group_table, read_json, read_mask, require_folder)

__all__ = ["CvcClinicdb", "KvasirSeg", "MIN_POLYP_FRACTION", "SyntheticPolyps",
           "polyp_components"]

#: Connected components of a mask smaller than this fraction of the frame are not polyps.
MIN_POLYP_FRACTION = 1e-4

_KVASIR_CITATION = """@inproceedings{jha2020kvasir,
  title={Kvasir-SEG: A Segmented Polyp Dataset},
  author={Jha, Debesh and Smedsrud, Pia H. and Riegler, Michael A. and Halvorsen, P{\\aa}l
          and de Lange, Thomas and Johansen, Dag and Johansen, H{\\aa}vard D.},
  booktitle={MultiMedia Modeling (MMM)}, pages={451--462}, year={2020}}"""

_CVC_CITATION = """@article{bernal2015wm,
  title={{WM-DOVA} maps for accurate polyp highlighting in colonoscopy: Validation vs.
         saliency maps from physicians},
  author={Bernal, Jorge and S{\\'a}nchez, F. Javier and Fern{\\'a}ndez-Esparrach, Gloria and
          Gil, Debora and Rodr{\\'i}guez, Cristina and Vilari{\\~n}o, Fernando},
  journal={Computerized Medical Imaging and Graphics}, volume={43}, pages={99--111},
  year={2015}}"""


def polyp_components(mask, min_fraction=MIN_POLYP_FRACTION):
    """The polyps of a binary mask: 8-connected components, with box and area.

    Parameters
    ----------
    mask : (H, W) bool ndarray
    min_fraction : float
        Components with fewer pixels than ``min_fraction × H × W`` are left out.

    Returns
    -------
    list of dict
        ``{"bbox": (ymin, xmin, ymax, xmax), "area": int}`` in label order (top to bottom);
        the box is normalised by ``H`` and ``W``, its max edges exclusive (a component on
        the last row has ``ymax = 1``).
    """
    height, width = mask.shape
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    polyps = []
    for index, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        if areas[index] < min_fraction * height * width:
            continue
        polyps.append({"bbox": (rows.start / height, cols.start / width,
                                rows.stop / height, cols.stop / width),
                       "area": int(areas[index])})
    return polyps


class PolypSegmentation(GroupedBuilder, skip_registration=True):
    """Frames with polyp masks; subclasses pair the files (:meth:`_pairs`)."""

    SUPERVISED_KEYS = ("image", "mask")

    @abc.abstractmethod
    def _pairs(self, folder, problems):
        """``{name: (image path, mask path)}`` of ``folder``, problems reported."""

    def _boxes(self, folder, headers, problems):
        """``{name: [(ymin, xmin, ymax, xmax), ...]}`` published with the dataset, or {}."""
        return {}

    def _features(self):
        return {
            "image": tfds.features.Image(shape=(None, None, 3)),
            "mask": tfds.features.Image(shape=(None, None, 1), encoding_format="png",
                                        doc="1 = polyp, 0 = background"),
            "polyps": tfds.features.Sequence({"bbox": tfds.features.BBoxFeature(),
                                              "area": np.int64}),
            "boxes": tfds.features.Sequence(tfds.features.BBoxFeature()),
            "name": tfds.features.Text(),
        }

    def _scan(self, folder):
        problems = Problems(folder)
        pairs = self._pairs(folder, problems)
        problems.raise_if_any()
        if not pairs:
            raise DatasetFolderError(f"{folder}: no frames found")
        headers = {}
        for name, (image_path, mask_path) in pairs.items():
            try:
                image, mask = image_header(image_path), image_header(mask_path)
            except DatasetFolderError as err:
                problems.add(err)
                continue
            if (image.width, image.height) != (mask.width, mask.height):
                problems.add(f"{mask_path}: mask of {mask.width}×{mask.height} pixels for an "
                             f"image of {image.width}×{image.height} ({image_path.name})")
            headers[name] = image
        boxes = self._boxes(folder, headers, problems)
        groups = (read_group_table(folder / "groups.csv", pairs, noun="frame", complete=True,
                                   problems=problems)
                  if (folder / "groups.csv").is_file() else None)
        problems.raise_if_any()
        return [Record(name, groups[name] if groups else name,
                       (image_path, mask_path, boxes.get(name, []), name))
                for name, (image_path, mask_path) in pairs.items()]

    def _example(self, payload):
        image_path, mask_path, boxes, name = payload
        image = image_value(image_path)
        mask = read_mask(mask_path)
        check_mask_covers_boxes(mask, boxes, mask_path)
        polyps = polyp_components(mask)
        return {
            "image": image,
            "mask": png_bytes(mask.astype(np.uint8)),
            "polyps": {"bbox": np.array([p["bbox"] for p in polyps], np.float32).reshape(-1, 4),
                       "area": np.array([p["area"] for p in polyps], np.int64)},
            "boxes": np.array(boxes, np.float32).reshape(-1, 4),
            "name": name,
        }


def check_mask_covers_boxes(mask, boxes, mask_path):
    """A :class:`DatasetFolderError` unless every published box (normalised ``ymin, xmin,
    ymax, xmax``) holds polyp pixels of the mask: an empty mask with a box would turn the
    polyp into negative training data."""
    height, width = mask.shape
    for ymin, xmin, ymax, xmax in boxes:
        rows = slice(int(ymin * height), max(int(ymin * height) + 1, round(ymax * height)))
        cols = slice(int(xmin * width), max(int(xmin * width) + 1, round(xmax * width)))
        if not mask[rows, cols].any():
            raise DatasetFolderError(
                f"{mask_path}: no polyp pixel inside the box (x {cols.start}–{cols.stop}, "
                f"y {rows.start}–{rows.stop}) that bboxes.json lists for it"
                + (" (the mask is empty)" if not mask.any() else "")
                + "; the mask or the box is wrong")


def _unmatched(problems, extra, kind, other):
    for path in extra:
        problems.add(f"{path}: {kind} without {other}")


class KvasirSeg(PolypSegmentation):
    """Kvasir-SEG: 1000 colonoscopy frames with polyp masks and boxes (Jha et al., MMM 2020).

    Folder layout: ``images/<id>.jpg``, ``masks/<id>.jpg`` (JPEG masks, thresholded at
    128), optional ``bboxes.json`` (``{id: {"height", "width", "bbox": [{"label", "xmin",
    "ymin", "xmax", "ymax"}, ...]}}``, pixels) and ``groups.csv``.  Each frame is its own
    group unless ``groups.csv`` says otherwise (Kvasir-SEG publishes no video ids).
    """

    HOMEPAGE = "https://datasets.simula.no/kvasir-seg/"
    CITATION = _KVASIR_CITATION
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download Kvasir-SEG (kvasir-seg.zip) from https://datasets.simula.no/kvasir-seg/,
    unpack it and pass the folder holding images/, masks/ and bboxes.json as manual_dir.
    Optional groups.csv (name,group) gives the video of each frame.
    """

    def _pairs(self, folder, problems):
        images = image_files(require_folder(folder / "images", "images/<id>.jpg"),
                             problems=problems)
        masks = image_files(require_folder(folder / "masks", "masks/<id>.jpg"),
                            problems=problems)
        _unmatched(problems, [images[n] for n in images if n not in masks], "image",
                   f"a mask in {folder / 'masks'}")
        _unmatched(problems, [masks[n] for n in masks if n not in images], "mask",
                   f"an image in {folder / 'images'}")
        return {name: (images[name], masks[name]) for name in images if name in masks}

    def _boxes(self, folder, headers, problems):
        path = folder / "bboxes.json"
        if not path.is_file():
            return {}
        content = read_json(path)
        if not isinstance(content, dict):
            raise DatasetFolderError(f"{path}: expected an object {{id: {{...}}}}, "
                                     f"got {type(content).__name__}")
        boxes = {}
        for name, entry in content.items():
            where = f"{path}, {name!r}"
            if name not in headers:
                problems.add(f"{where}: no such frame in {folder / 'images'}")
                continue
            try:
                height, width = int(entry["height"]), int(entry["width"])
                pixels = [(b["ymin"], b["xmin"], b["ymax"], b["xmax"]) for b in entry["bbox"]]
            except (TypeError, KeyError, ValueError) as err:
                problems.add(f"{where}: expected {{\"height\", \"width\", \"bbox\": "
                             f"[{{\"xmin\", \"ymin\", \"xmax\", \"ymax\"}}, ...]}} ({err!r})")
                continue
            header = headers[name]
            if (width, height) != (header.width, header.height):
                problems.add(f"{where}: says {width}×{height} pixels, the image is "
                             f"{header.width}×{header.height}")
                continue
            scaled = []
            for ymin, xmin, ymax, xmax in pixels:
                numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                              for v in (ymin, xmin, ymax, xmax))
                if not (numbers and 0 <= xmin <= xmax <= width and 0 <= ymin <= ymax <= height):
                    problems.add(f"{where}: box {(xmin, ymin, xmax, ymax)} (xmin, ymin, xmax, "
                                 f"ymax) is not inside the {width}×{height} image")
                    break
                scaled.append((ymin / height, xmin / width, ymax / height, xmax / width))
            boxes[name] = scaled
        missing = [name for name in headers if name not in content]
        if missing:
            problems.add(f"{path}: no entry for {len(missing)} frame(s): "
                         f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        return boxes


class CvcClinicdb(PolypSegmentation):
    """CVC-ClinicDB (612 frames of 29 sequences, Bernal et al. 2015), or CVC-ColonDB.

    Folder layout: ``Original/`` and ``Ground Truth/`` (also accepted: ``GroundTruth/``,
    or ``images/`` and ``masks/``), with ``.tif``/``.tiff``/``.png``/``.bmp``/``.jpg``
    files.  The mask of image ``<n>.<ext>`` is ``<n>.<ext'>`` or ``p<n>.<ext'>`` (CVC-ColonDB's
    naming).  Groups from an optional ``groups.csv``, else each frame is its own group.
    """

    HOMEPAGE = "https://polyp.grand-challenge.org/CVCClinicDB/"
    CITATION = _CVC_CITATION
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Obtain CVC-ClinicDB (or CVC-ColonDB) from its authors
    (https://polyp.grand-challenge.org/CVCClinicDB/) and pass the folder holding
    Original/ and Ground Truth/ as manual_dir.  Optional groups.csv (name,group) gives the
    sequence of each frame (the published frame ranges).
    """
    IMAGE_FOLDERS = ("Original", "images")
    MASK_FOLDERS = ("Ground Truth", "GroundTruth", "masks")

    def _pairs(self, folder, problems):
        def first(names):
            for name in names:
                if (folder / name).is_dir():
                    return folder / name
            raise DatasetFolderError(f"{folder}: no {' or '.join(names)} folder")

        images = image_files(first(self.IMAGE_FOLDERS), problems=problems)
        masks = image_files(first(self.MASK_FOLDERS), problems=problems)
        pairs, used = {}, set()
        for name, image_path in images.items():
            candidates = [m for m in (name, "p" + name) if m in masks]
            if not candidates:
                problems.add(f"{image_path}: image without a mask ({name}.* or p{name}.* in "
                             f"{first(self.MASK_FOLDERS)})")
            elif len(candidates) > 1:
                problems.add(f"{image_path}: two masks match it: {masks[name].name} and "
                             f"{masks['p' + name].name}")
            else:
                pairs[name] = (image_path, masks[candidates[0]])
                used.add(candidates[0])
        _unmatched(problems, [masks[n] for n in masks if n not in used], "mask",
                   f"an image in {first(self.IMAGE_FOLDERS)}")
        return pairs


class SyntheticPolypsConfig(tfds.core.BuilderConfig):
    """``frames`` synthetic frames (:func:`apps.polyp.synthetic.synthetic_frame`) of
    ``shape`` with seeds ``seed, seed + 1, …``; every ``frames_per_video`` consecutive
    frames make one group (a "video")."""

    def __init__(self, *, frames, frames_per_video=4, seed=0, shape=(288, 352), **kwargs):
        super().__init__(**kwargs)
        self.frames, self.frames_per_video = frames, frames_per_video
        self.seed, self.shape = seed, tuple(shape)


class SyntheticPolyps(GroupedBuilder):
    """Synthetic colonoscopy frames with exact polyp masks (demos and tests only).

    Drawn by :func:`apps.polyp.synthetic.synthetic_frame` (0 to 2 polyps a frame, mostly
    one); the features are exactly ``kvasir_seg``'s, so code written for it runs on these,
    with ``boxes`` the generator's own polyp boxes.  The frames of a group ("video") are
    independent draws: the groups are there to exercise group-disjoint splits and
    fractions.  Scores on these frames say nothing about performance on real colonoscopy.
    """

    NEEDS_FOLDER = False
    SAME_FEATURES_AS = PolypSegmentation
    BUILDER_CONFIGS = [SyntheticPolypsConfig(name=name, frames=frames, description=(
        f"{frames} frames of 288×352 in {frames // 4} videos{use}"))
        for name, frames, use in (("small", 24, " (tests, demo)"), ("medium", 200, ""))]

    def _scan(self, folder):
        config = self.builder_config
        return [Record(f"synthetic{i:05d}", f"video{i // config.frames_per_video:04d}",
                       (config.seed + i, f"synthetic{i:05d}"))
                for i in range(config.frames)]

    def _example(self, payload):
        from .synthetic import synthetic_frame

        seed, name = payload
        frame = synthetic_frame(seed=seed, shape=self.builder_config.shape)
        height, width = frame.mask.shape
        polyps = polyp_components(frame.mask)
        boxes = [(y0 / height, x0 / width, y1 / height, x1 / width)
                 for y0, x0, y1, x1 in frame.boxes]
        return {
            "image": png_bytes(frame.image),
            "mask": png_bytes(frame.mask.astype(np.uint8)),
            "polyps": {"bbox": np.array([p["bbox"] for p in polyps], np.float32).reshape(-1, 4),
                       "area": np.array([p["area"] for p in polyps], np.int64)},
            "boxes": np.array(boxes, np.float32).reshape(-1, 4),
            "name": name,
        }
