"""PE detection experiments: tobogganing candidates → vessel-aligned patches → CNN → FROC.

Tajbakhsh et al. (IEEE TMI 2016, §III-B): candidates from tobogganing (Liang & Bi 2007),
each represented by augmented vessel-aligned patches (Tajbakhsh & Liang, MICCAI 2015), a
candidate's probability the mean over its patches, FROC of emboli per volume.

* :func:`volume_candidates` — one volume's candidates, labels and stored patches (what the
  ``ctpa_candidates`` builder keeps per volume);
* :func:`load_volumes` — the volumes of a prepared split;
* :func:`make_task` — a balanced training set of patches (resized to 227×227, third channel
  = second for the vessel-aligned pair) and the test patches, cut on demand;
* :func:`evaluate_sweep` / :func:`write_pe_report` — FROC of every trained model and of the
  tobogganing score, embolus-level and candidate-level, at 1, 2 and 3 false positives per
  volume, with bootstrap intervals over patients.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["BASELINE", "FPS", "PESettings", "VolumeCandidates", "evaluate_sweep",
           "load_volumes", "make_task", "read_case", "upsample_patches", "volume_candidates",
           "write_pe_report"]

BASELINE = "baseline (tobogganing score)"
FPS = (1.0, 2.0, 3.0)


@dataclasses.dataclass
class PESettings:
    """``representation`` (``vessel_aligned`` or ``standard``), ``max_candidates`` per
    volume, ``patch_pixels`` stored, ``train_patches`` of the balanced training set;
    ``test_translations``: average a test candidate over all 54 patches (the paper) instead
    of the 18 untranslated ones (3 sizes × 6 rotations), a third of the time."""
    representation: str = "vessel_aligned"
    max_candidates: int = 300
    patch_pixels: int = 64
    train_patches: int = 4000
    test_translations: bool = False
    seed: int = 0

    def __post_init__(self):
        from medkeras.checks import integer_at_least

        if self.representation not in ("vessel_aligned", "standard"):
            raise ValueError(f"representation must be 'vessel_aligned' or 'standard', got "
                             f"{self.representation!r}")
        integer_at_least(self.max_candidates, "max_candidates")
        if self.max_candidates > 300 or self.patch_pixels != 64:
            raise ValueError("the ctpa_candidates dataset holds the best 300 candidates of a "
                             "volume at 64 × 64 pixels: max_candidates <= 300, patch_pixels 64")
        integer_at_least(self.patch_pixels, "patch_pixels", 16)
        integer_at_least(self.train_patches, "train_patches", 2)

    def to_json(self):
        return dataclasses.asdict(self)


def read_case(ct_path, emboli_path, lungs_path=None):
    """A case's CT (:class:`~apps.pe.volumes.Volume`), embolus labels and count, and lung
    mask (bool, or None), the masks checked to lie on the CT's grid."""
    from apps.pe.candidates import embolus_labels
    from apps.pe.volumes import read_mask, read_volume

    ct = read_volume(ct_path)
    emboli, count = embolus_labels(read_mask(emboli_path, like=ct))
    lungs = read_mask(lungs_path, like=ct) > 0 if lungs_path is not None else None
    return ct, emboli, count, lungs


def volume_candidates(ct_path, emboli_path, lungs_path=None, *, representation="vessel_aligned",
                      max_candidates=300, patch_pixels=64, candidate_options=None):
    """Candidates of one volume with their labels and patches (``uint8``).

    Returns a dict: ``patches`` ``(n, 54, p, p, C)`` (C = 2 vessel-aligned, 3 standard),
    ``labels`` (1 = the candidate hits an embolus), ``embolus`` (its id, 0 none),
    ``scores`` (tobogganing contrast depth), ``centres_mm`` (z, y, x mm from voxel 0),
    ``centres_scanner_mm`` (RAS scanner coordinates), ``emboli`` (in the volume), ``spacing``.
    """
    from apps.pe.candidates import candidate_hits, detect_candidates
    from apps.pe.patches import candidate_patches
    from apps.pe.volumes import voxel_to_scanner

    ct, emboli, count, lungs = read_case(ct_path, emboli_path, lungs_path)
    found = detect_candidates(ct.array, ct.spacing, lung_mask=lungs,
                              max_candidates=max_candidates, **(candidate_options or {}))
    n = len(found.scores)
    channels = 2 if representation == "vessel_aligned" else 3
    from apps.pe.dataset import AUGMENTATIONS
    patches = np.zeros((n, AUGMENTATIONS, patch_pixels, patch_pixels, channels), np.uint8)
    if n:
        for batch, index in candidate_patches(ct, None, found, representation=representation,
                                              out=patch_pixels, three_channels=False):
            first = index[0]
            rows = batch.reshape(-1, AUGMENTATIONS, patch_pixels, patch_pixels,
                                 batch.shape[-1])[..., :channels]
            patches[first:first + len(rows)] = np.clip(np.rint(rows), 0, 255)
    hits = candidate_hits(found, emboli) if n else np.zeros(0, np.int64)
    return {"patches": patches, "labels": (hits > 0).astype(np.int64),
            "embolus": hits.astype(np.int64), "scores": found.scores.astype(np.float32),
            "centres_mm": found.centres_mm.astype(np.float32),
            "centres_scanner_mm": voxel_to_scanner(ct.affine, found.centres).astype(np.float32)
            if n else np.zeros((0, 3), np.float32),
            "emboli": np.int64(count), "spacing": np.asarray(ct.spacing, np.float32)}


class VolumeCandidates(NamedTuple):
    """A prepared volume: ``name``, ``group`` (patient), ``patches`` ``(n, 54, p, p, C)``
    uint8, ``labels``, ``embolus``, ``scores``, ``centres_mm``, ``emboli`` (count)."""
    name: str
    group: str
    patches: np.ndarray
    labels: np.ndarray
    embolus: np.ndarray
    scores: np.ndarray
    centres_mm: np.ndarray
    emboli: int


def load_volumes(builder, split, *, max_candidates=None):
    """The volumes of a prepared ``ctpa_candidates`` split (list, sorted by name), each with
    its best ``max_candidates`` candidates (all prepared ones by default)."""
    import tensorflow_datasets as tfds

    keep = slice(None, max_candidates)
    volumes = [VolumeCandidates(e["name"].decode(), e["group"].decode(), e["patches"][keep],
                                e["labels"][keep], e["embolus"][keep], e["scores"][keep],
                                e["centres_mm"][keep], int(e["emboli"]))
               for e in tfds.as_numpy(builder.as_dataset(split=split))]
    return sorted(volumes, key=lambda v: v.name)


def upsample_patches(patches, size=227):
    """``(n, p, p, C)`` uint8 patches → ``(n, size, size, 3)`` preprocessed float32: bilinear
    resize, a vessel-aligned pair's second channel repeated as the third (the paper), then
    Caffe preprocessing (:func:`medkeras.preprocess_input`)."""
    import tensorflow as tf

    import medkeras

    x = tf.image.resize(tf.convert_to_tensor(patches, tf.float32), (size, size),
                        method="bilinear")
    if x.shape[-1] == 2:
        x = tf.concat([x, x[..., 1:2]], axis=-1)
    return np.asarray(medkeras.preprocess_input(x))


def _flatten(volumes):
    """Candidate table and (candidate, augmentation) index of every patch."""
    rows = []
    for v in volumes:
        for i in range(len(v.labels)):
            rows.append((v.name, v.group, i, int(v.labels[i]), int(v.embolus[i]),
                         float(v.scores[i])))
    table = pd.DataFrame(rows, columns=["volume", "group", "index", "label", "embolus",
                                        "score"])
    table.insert(0, "candidate", np.arange(len(table)))
    return table


def _patch_getter(volumes, table):
    by_name = {v.name: v for v in volumes}
    volume_of = table.volume.to_numpy()
    index_of = table["index"].to_numpy()

    def get(candidates, augmentations):
        out = [by_name[volume_of[c]].patches[index_of[c], a]
               for c, a in zip(candidates, augmentations)]
        return upsample_patches(np.stack(out))
    return get


def _untranslated(n_aug):
    """Which of a candidate's patches are not translated along the vessel."""
    from apps.pe.patches import patch_parameters

    parameters = patch_parameters()
    if len(parameters) != n_aug:
        raise ValueError(f"the dataset holds {n_aug} patches per candidate, the patch "
                         f"parameters {len(parameters)}")
    return parameters[:, 1] == 0


def make_task(train_volumes, test_volumes, settings, *, name="pe"):
    """The sweep's :class:`~medkeras.experiment.sweep.PatchTask`: all 54 patches of every
    training candidate, a balanced set of ``train_patches`` drawn from them (groups:
    patients); the test candidates' patches (the 18 untranslated ones, or all 54 with
    ``test_translations``; cut on demand), units = candidates."""
    from medkeras.data import LazyPatches
    from medkeras.experiment.sweep import PatchTask

    train, test = _flatten(train_volumes), _flatten(test_volumes)
    if train.empty or test.empty:
        raise ValueError("make_task needs candidates in both the training and test volumes")
    if set(train.group) & set(test.group):
        raise ValueError("a patient (group) is on both sides of the split")
    if train.label.nunique() < 2:
        raise ValueError("the training candidates need both embolus hits and false positives")
    n_aug = train_volumes[0].patches.shape[1]
    candidate = np.repeat(train.candidate.to_numpy(), n_aug)
    augmentation = np.tile(np.arange(n_aug), len(train))
    labels = train.label.to_numpy()[candidate]
    rng = np.random.default_rng(settings.seed)
    half = settings.train_patches // 2
    chosen = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == c), min(half, int((labels == c).sum())),
                   replace=False) for c in (0, 1)]))
    get_train = _patch_getter(train_volumes, train)
    x = np.concatenate([get_train(candidate[chosen[s:s + 512]], augmentation[chosen[s:s + 512]])
                        for s in range(0, len(chosen), 512)])
    groups = train.group.to_numpy(str)[candidate[chosen]]
    test_augmentations = (np.arange(n_aug) if settings.test_translations
                          else np.flatnonzero(_untranslated(n_aug)))
    t_candidate = np.repeat(test.candidate.to_numpy(), len(test_augmentations))
    t_augmentation = np.tile(test_augmentations, len(test))
    get_test = _patch_getter(test_volumes, test)
    x_test = LazyPatches(lambda i: get_test(t_candidate[i], t_augmentation[i]), len(t_candidate))
    return PatchTask(name, x, labels[chosen], groups, x_test,
                     test.label.to_numpy()[t_candidate], test_units=t_candidate,
                     test_groups=test.group.to_numpy(str)[t_candidate])


def _froc(table, scores, volumes, level, n_bootstrap):
    """FROC per volume; ``level`` ``embolus`` (an embolus is found by any of its candidates)
    or ``candidate`` (every candidate on an embolus is a lesion of its own)."""
    from medkeras.evaluation import froc_analysis

    groups = {v.name: v.group for v in volumes}
    if level == "embolus":
        lesion = table.embolus.to_numpy() - 1
        lesions = {v.name: v.emboli for v in volumes}
    else:
        positive = table.label.to_numpy() == 1
        lesion = np.where(positive, table.groupby("volume").label.cumsum() - 1, -1)
        lesions = {v.name: int(v.labels.sum()) for v in volumes}
    return froc_analysis(table.volume.to_numpy(), scores, lesion, lesions, fps=FPS,
                         groups=groups, n_bootstrap=n_bootstrap)


def evaluate_sweep(sweep_dir, test_volumes, *, n_bootstrap=2000):
    """FROC of every finished cell and of the tobogganing score on the test volumes.

    Returns the table (also ``pe/froc.csv``): sensitivity at 1, 2 and 3 false positives per
    volume with 95% intervals, embolus-level and candidate-level; figures in ``pe/figures``.
    """
    from medkeras.evaluation import plot_froc

    out = os.path.join(sweep_dir, "pe")
    os.makedirs(out, exist_ok=True)
    table = _flatten(test_volumes)
    scores = {BASELINE: table.score.to_numpy()}
    for path in sorted(glob.glob(os.path.join(sweep_dir, "cells", "*", "cell.json"))):
        with open(path) as f:
            cell = json.load(f)
        with np.load(os.path.join(os.path.dirname(path), "test_scores.npz")) as saved:
            by_unit = pd.Series(saved["scores"], index=saved["units"]).reindex(table.candidate)
        if by_unit.isna().any():
            raise ValueError(f"{path}: its test scores do not cover the test candidates")
        scores[f"{cell['scheme']} | {cell['fraction']:g} | {cell['seed']}"] = by_unit.to_numpy()
    rows = []
    for level in ("embolus", "candidate"):
        results = {}
        for label, s in scores.items():
            result = _froc(table, s, test_volumes, level, n_bootstrap)
            results[label] = result
            row = {"level": level, "model": label}
            for fps in FPS:
                sens, low, high = result.sensitivity_at[fps]
                row[f"sens@{fps:g}"] = sens
                row[f"sens@{fps:g}_ci"] = f"[{low:.3f}, {high:.3f}]"
            rows.append(row)
        plot_froc(results, os.path.join(out, "figures", f"froc_{level}.png"), fps_max=5.0,
                  title=f"PE detection: {level}-level FROC on the test volumes")
    result = pd.DataFrame(rows)
    result.to_csv(os.path.join(out, "froc.csv"), index=False)
    return result


def write_pe_report(sweep_dir, table):
    """``pe/report.html``: FROC figures and the sensitivities table."""
    from medkeras.experiment.report import html_table

    page = f"""<!doctype html><meta charset="utf-8"><title>PE detection</title>
<h1>Pulmonary embolism: FROC on held-out volumes</h1>
<p>Candidates by tobogganing; a candidate's probability is the mean over its 54 augmented
patches (3 sizes × 3 translations × 6 rotations); a candidate is positive inside an embolus
(Tajbakhsh et al. 2016, §B). Embolus level: an embolus is detected when any of its
candidates is; candidate level: every candidate on an embolus counts. Sensitivity at 1, 2
and 3 false positives per volume with 95% bootstrap intervals over patients.</p>
{html_table(table)}
<p><img src="figures/froc_embolus.png" style="max-width:49%">
<img src="figures/froc_candidate.png" style="max-width:49%"></p>"""
    path = os.path.join(sweep_dir, "pe", "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
