"""CIMT cases as tensorflow-datasets: ``carotid_imt`` (a folder you have) and ``synthetic_carotid``.

Both are :class:`medkeras.datasets.GroupedBuilder`\\ s: prepared once into a versioned
on-disk dataset, split into ``train`` and ``test`` by patient (group), with nested
training fractions by group (:func:`medkeras.datasets.fraction_split`).

``carotid_imt`` reads the layout of :mod:`apps.cimt.data` (``<ID>.png`` + ``<ID>.json``),
with :func:`apps.cimt.data.load_case`'s checks (every case is validated before anything is
written; the first bad file stops the preparation, named).  A case's group (patient) is,
in order: the JSON's ``"patient"`` or ``"group"``, a ``groups.csv`` (``name,group``) in the
folder, the known same-scan pairs of the Cyprus database (below), else the case id.

The Cyprus IMT database (recognised by its ``IMT-ImageDataSet.txt`` notice in the folder)
has three known problems, found while developing this package and handled here:

* ``AAAFI`` and ``AAAFH``, ``AAANB`` and ``AAANA`` are the same scans with the same tracing
  (pixel-wise near-identical): each pair is one group, so it never straddles a split;
* ``AAACX``'s points are an exact copy of ``AAACK``'s, traced on another image (different
  pixel size and anatomy; 10 pixels from AAACX's visible interfaces): AAACX is left out,
  and the preparation says so and records it in the dataset's metadata.

>>> sorted(CYPRUS_SAME_SCAN)
['AAAFI', 'AAANB']
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow_datasets as tfds

from .data import CIMTCase, load_case
from medkeras.datasets import DatasetFolderError, GroupedBuilder, Record
from medkeras.io.files import read_group_table

__all__ = ["CarotidImt", "SyntheticCarotid", "cases_from_dataset", "load_cases"]

#: Cyprus database: case → the case whose scan (and tracing) it repeats.
CYPRUS_SAME_SCAN = {"AAAFI": "AAAFH", "AAANB": "AAANA"}
#: Cyprus database: cases left out, and why.
CYPRUS_EXCLUDED = {"AAACX": "its points are a copy of AAACK's, traced on another image"}
CYPRUS_NOTICE = "IMT-ImageDataSet.txt"

_CITATION = """@article{loizou2007snakes,
  title={Snakes based segmentation of the common carotid artery intima media},
  author={Loizou, C. P. and Pattichis, C. S. and Pantziaris, M. and Tyllis, T. and
          Nicolaides, A.},
  journal={Medical and Biological Engineering and Computing}, volume={45}, number={1},
  pages={35--49}, year={2007}}"""


def _case_features():
    return {
        "image": tfds.features.Image(shape=(None, None, 1)),
        "mm_per_pixel": tfds.features.Scalar(dtype=np.float64),
        "lumen_intima": tfds.features.Tensor(shape=(None, 2), dtype=np.float64),
        "media_adventitia": tfds.features.Tensor(shape=(None, 2), dtype=np.float64),
        "imt_mm": tfds.features.Scalar(dtype=np.float64, doc="the expert's IMT; NaN: none"),
        "description": tfds.features.Text(),
        "name": tfds.features.Text(),
    }


def _case_example(case):
    return {"image": case.image[:, :, None], "mm_per_pixel": case.mm_per_pixel,
            "lumen_intima": case.lumen_intima, "media_adventitia": case.media_adventitia,
            "imt_mm": np.nan if case.imt_mm is None else case.imt_mm,
            "description": case.description, "name": case.case_id}


class CarotidImt(GroupedBuilder):
    """Longitudinal B-mode carotid images with the expert's far-wall interfaces."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Pass the folder of cases: <ID>.png (8-bit grey) + <ID>.json with "mm_per_pixel",
    "lumen_intima" and "media_adventitia" points (x, y; 1-based like the Cyprus IMT
    database), optional "imt_mm", "description", "patient"; optional groups.csv (name,group).
    """
    CITATION = _CITATION

    def _features(self):
        return _case_features()

    def _scan(self, folder):
        pngs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
        if not pngs:
            raise DatasetFolderError(f"{folder}: no .png images in this folder")
        orphans = sorted(p.name for p in folder.glob("*.json")
                         if not p.with_suffix(".png").is_file())
        if orphans:
            raise DatasetFolderError(f"{folder / orphans[0]}: annotation without its image "
                                     f"{pathlib.Path(orphans[0]).stem}.png")
        cyprus = (folder / CYPRUS_NOTICE).is_file()
        from_csv = (read_group_table(folder / "groups.csv", {p.stem for p in pngs})
                    if (folder / "groups.csv").is_file() else {})
        records, excluded = [], {}
        for png in pngs:
            if cyprus and png.stem in CYPRUS_EXCLUDED:
                excluded[png.stem] = CYPRUS_EXCLUDED[png.stem]
                continue
            try:
                case = load_case(png)
            except ValueError as err:
                raise DatasetFolderError(str(err)) from None
            group = (_json_group(png) or from_csv.get(case.case_id)
                     or (CYPRUS_SAME_SCAN.get(case.case_id) if cyprus else None) or case.case_id)
            case.group = str(group)
            records.append(Record(case.case_id, case.group, case))
        if excluded:
            print(f"carotid_imt: left out {', '.join(f'{k} ({v})' for k, v in excluded.items())}")
        self.info.metadata["excluded"] = excluded
        return records

    def _example(self, case):
        return _case_example(case)


def _json_group(png):
    import json

    with open(png.with_suffix(".json"), encoding="utf-8") as f:
        record = json.load(f)
    group = record.get("patient", record.get("group"))
    return None if group in (None, "") else str(group)


class SyntheticCarotidConfig(tfds.core.BuilderConfig):
    """``cases`` synthetic images (:func:`apps.cimt.synthetic.synthetic_case`), seeds from
    ``seed``; each case is its own patient."""

    def __init__(self, *, cases, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.cases, self.seed = cases, seed


class SyntheticCarotid(GroupedBuilder):
    """Synthetic B-mode carotid images with exactly known interfaces (demo and tests)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    NEEDS_FOLDER = False
    BUILDER_CONFIGS = [
        SyntheticCarotidConfig(name="small", cases=10, description="10 cases (tests, demo)"),
        SyntheticCarotidConfig(name="medium", cases=60, description="60 cases"),
    ]

    def _features(self):
        return _case_features()

    def _scan(self, folder):
        return [Record(f"synthetic{i:04d}", f"synthetic{i:04d}", self.builder_config.seed + i)
                for i in range(self.builder_config.cases)]

    def _example(self, seed):
        from .synthetic import synthetic_case

        case = synthetic_case(seed=seed)
        case.case_id = f"synthetic{seed - self.builder_config.seed:04d}"
        return _case_example(case)


def cases_from_dataset(dataset):
    """A prepared split (``tf.data.Dataset`` of this module's features) → list of CIMTCase."""
    cases = []
    for example in tfds.as_numpy(dataset):
        imt = float(example["imt_mm"])
        cases.append(CIMTCase(
            example["name"].decode(), example["image"][:, :, 0],
            float(example["mm_per_pixel"]), example["lumen_intima"],
            example["media_adventitia"], imt_mm=None if np.isnan(imt) else imt,
            description=example["description"].decode(), group=example["group"].decode()))
    return cases


def load_cases(*, folder=None, synthetic=None, split="train", fraction=None):
    """CIMT cases of a split, sorted by id, from ``folder`` (``carotid_imt``) or a synthetic
    config name.

    ``fraction``: the nested group fraction of the split
    (:func:`medkeras.datasets.fraction_split`).
    """
    from medkeras import datasets

    if (folder is None) == (synthetic is None):
        raise ValueError("give either folder (your cases) or synthetic (a config name)")
    if folder is not None:
        builder = datasets.builder("carotid_imt", manual_dir=folder)
    else:
        builder = datasets.builder("synthetic_carotid", config=synthetic)
    if fraction is not None:
        split = datasets.fraction_split(builder, fraction, split=split)
    cases = cases_from_dataset(builder.as_dataset(split=split))
    return sorted(cases, key=lambda case: case.case_id)   # stable, whatever the split order
