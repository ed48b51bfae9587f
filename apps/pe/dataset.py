"""CT pulmonary angiograms with embolus masks, as a tensorflow-datasets builder of candidates.

A CTPA volume (512×512×300, 150 MB) is too large to be an example read every epoch, and the
CNN never sees it whole: it sees the patches of each PE candidate.  ``ctpa_candidates``
therefore prepares **one example per volume holding its candidates**: tobogganing
candidates (:func:`apps.pe.candidates.detect_candidates`), their hit labels against the
embolus mask, and every augmented patch of every candidate (3 sizes × 3 translations × 6
rotations = 54), stored as ``uint8`` at ``patch_pixels`` (default 64; 10–20 mm patches at
0.16–0.31 mm per pixel, finer than the CT, so resizing to 227 at training time loses
nothing the CT had).  Splits are by patient, as every ``GroupedBuilder``.

Configs: ``vessel_aligned`` (the cross-sectional and longitudinal planes of Tajbakhsh &
Liang, MICCAI 2015, 2 channels) and ``standard`` (axial, coronal, sagittal planes, 3
channels), for the comparison of the two representations.

The folder holds, per case ``<name>``:

* ``<name>_ct.nii.gz`` (HU) or a DICOM series folder ``<name>_ct/``;
* ``<name>_emboli.nii.gz``: the embolus mask (binary, or labels 1..k), on the CT's grid;
* optionally ``<name>_lungs.nii.gz``: the lung mask (the candidates' region of interest);
* optionally ``<name>.json`` with a ``"patient"`` entry, or one
  ``groups.csv`` (``name,patient``) for the whole folder: cases of one patient stay on one
  side of the split; otherwise each case is its own patient.

``apps.pe.synthetic.generate_folder`` writes exactly this layout;
:func:`apps.pe.cases.volume_candidates` makes each volume's example.  Preparation stops,
naming the file, on a CT without its embolus mask, a mask on another grid, or an unreadable
file.
Volumes already processed by an interrupted preparation are reused (a cache of
``.npz`` files keyed by the case's file sizes and times), so preparing again resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from medkeras.datasets import DatasetFolderError, GroupedBuilder, Record
from medkeras.io.files import read_group_table

from .cases import AUGMENTATIONS, channels, volume_candidates
from .settings import MAX_CANDIDATES, PATCH_PIXELS

__all__ = ["CtpaCandidates", "case_files"]


def case_files(folder):
    """``{name: {"ct", "emboli", "lungs" (or None), "json" (or None)}}`` of a folder."""
    folder = pathlib.Path(folder)
    cases = {}
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.endswith("_ct.nii.gz") or name.endswith("_ct.nii"):
            stem = name[:name.rindex("_ct.nii")]
        elif name.endswith("_ct") and path.is_dir():
            stem = name[:-3]
        else:
            continue
        emboli = next((folder / f"{stem}_emboli{s}" for s in (".nii.gz", ".nii")
                       if (folder / f"{stem}_emboli{s}").is_file()), None)
        if emboli is None:
            raise DatasetFolderError(f"{path}: no embolus mask {stem}_emboli.nii.gz beside it")
        lungs = folder / f"{stem}_lungs.nii.gz"
        record = folder / f"{stem}.json"
        cases[stem] = {"ct": path, "emboli": emboli,
                       "lungs": lungs if lungs.is_file() else None,
                       "json": record if record.is_file() else None}
    if not cases:
        raise DatasetFolderError(f"{folder}: no CT volumes (<name>_ct.nii.gz or a <name>_ct/ "
                                 "DICOM folder, with <name>_emboli.nii.gz)")
    return cases


def _patients(folder, cases):
    folder = pathlib.Path(folder)
    if (folder / "groups.csv").is_file():
        return read_group_table(folder / "groups.csv", cases, group_column="patient",
                                complete=True)
    groups = {}
    for name, files in cases.items():
        patient = name
        if files["json"] is not None:
            try:
                record = json.loads(files["json"].read_text())
            except (OSError, ValueError) as err:
                raise DatasetFolderError(f"{files['json']}: not readable JSON ({err})") from None
            patient = str(record.get("patient") or name)
        groups[name] = patient
    return groups


class CtpaCandidatesConfig(tfds.core.BuilderConfig):
    """``representation`` of the patches, ``max_candidates`` per volume (the tobogganing
    score's best), ``patch_pixels`` of the stored patches."""

    def __init__(self, *, representation, max_candidates=MAX_CANDIDATES,
                 patch_pixels=PATCH_PIXELS, **kwargs):
        super().__init__(**kwargs)
        self.representation = representation
        self.max_candidates, self.patch_pixels = max_candidates, patch_pixels

    @property
    def channels(self):
        return channels(self.representation)


class CtpaCandidates(GroupedBuilder):
    """PE candidates of CTPA volumes with their augmented patches, one example per volume."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "First release (the best 100 candidates of a volume).",
                     "1.1.0": "The best 300 candidates of a volume: tobogganing ranks many "
                              "emboli below 100."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Pass a folder holding <name>_ct.nii.gz (or a <name>_ct/ DICOM series folder) and
    <name>_emboli.nii.gz per case, optionally <name>_lungs.nii.gz and groups.csv
    (name,patient). `python -m apps.pe generate` writes such a folder.
    """
    BUILDER_CONFIGS = [
        CtpaCandidatesConfig(name="vessel_aligned", representation="vessel_aligned",
                             description="cross-sectional + longitudinal planes (2 channels)"),
        CtpaCandidatesConfig(name="standard", representation="standard",
                             description="axial, coronal, sagittal planes (3 channels)"),
    ]

    def _features(self):
        config = self.builder_config
        p = config.patch_pixels
        return {
            "name": tfds.features.Text(),
            "patches": tfds.features.Tensor(shape=(None, AUGMENTATIONS, p, p, config.channels),
                                            dtype=np.uint8, encoding="zlib"),
            "labels": tfds.features.Tensor(shape=(None,), dtype=np.int64),
            "embolus": tfds.features.Tensor(shape=(None,), dtype=np.int64),
            "scores": tfds.features.Tensor(shape=(None,), dtype=np.float32),
            "centres_mm": tfds.features.Tensor(shape=(None, 3), dtype=np.float32),
            "centres_scanner_mm": tfds.features.Tensor(shape=(None, 3), dtype=np.float32),
            "emboli": tfds.features.Scalar(dtype=np.int64,
                                           doc="emboli in the volume (hit or not)"),
            "spacing": tfds.features.Tensor(shape=(3,), dtype=np.float32),
        }

    def _scan(self, folder):
        cases = case_files(folder)
        patients = _patients(folder, cases)
        return [Record(name, patients[name], (name, files)) for name, files in cases.items()]

    def _cache_path(self, name, files):
        config = self.builder_config
        digest = hashlib.sha256(json.dumps([
            config.name, config.max_candidates, config.patch_pixels, str(self.VERSION),
            *[(str(p), os.stat(p).st_size, os.stat(p).st_mtime_ns)
              for p in files.values() if p is not None]]).encode()).hexdigest()[:16]
        cache = pathlib.Path(self.data_dir_root) / "ctpa_cache"
        cache.mkdir(parents=True, exist_ok=True)
        return cache / f"{name}-{digest}.npz"

    def _example(self, payload):
        name, files = payload
        path = self._cache_path(name, files)
        if path.is_file():
            with np.load(path) as saved:
                return {key: saved[key] for key in saved.files} | {"name": name}
        config = self.builder_config
        try:
            example = volume_candidates(files["ct"], files["emboli"], files["lungs"],
                                        representation=config.representation,
                                        max_candidates=config.max_candidates,
                                        patch_pixels=config.patch_pixels)
        except ValueError as err:
            raise DatasetFolderError(f"case {name}: {err}") from None
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, **example)
        os.replace(partial, path)
        return example | {"name": name}
