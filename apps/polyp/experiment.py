"""Polyp detection experiments: candidates → augmented patches → CNN → FROC (paper §A).

Tajbakhsh et al. (IEEE TMI 35(5), 2016, application A): a handcrafted detector proposes
candidates; the CNN scores patches around each candidate at three scales (the candidate's
box enlarged 1.0×, 1.2×, 1.5×), translated by 10% of the box, in 8 orientations; a
candidate's probability is the mean over its patches; detection is judged by FROC
(sensitivity against false positives per frame), a candidate being a true positive when
its centre lies inside a polyp.

* :class:`PolypSettings` — candidates per frame, augmentation, training-set size;
* :func:`load_frames` — frames of a dataset split (``kvasir_seg``, ``cvc_clinicdb``,
  ``synthetic_polyps``), resized to a working width;
* :func:`candidate_table` — every frame's candidates with their polyp (or none);
* :func:`make_task` — a balanced training set of augmented patches and the test patches of
  every test candidate, as a :class:`~medkeras.experiment.sweep.PatchTask`;
* :func:`evaluate_sweep` / :func:`write_polyp_report` — FROC of every trained model and of
  the detector's own score (the handcrafted baseline), with bootstrap bands over videos.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import NamedTuple

import numpy as np
import pandas as pd

from apps.polyp.candidates import detect_candidates, hit_labels, polyp_labels

__all__ = ["BASELINE", "Frame", "PolypSettings", "candidate_table", "evaluate_sweep",
           "load_frames", "make_task", "write_polyp_report"]

BASELINE = "baseline (candidate score)"
FPS = (0.1, 0.5, 1.0)


@dataclasses.dataclass
class PolypSettings:
    """How candidates become patches.

    ``max_candidates`` per frame (the detector's strongest); ``frame_width`` the working
    width frames are resized to; ``scales`` and ``translation`` of the paper's augmentation
    (8 orientations always); ``train_patches`` the size of the balanced training set (the
    paper: 100,000); ``test_translations``: also average over the 8 translated boxes at
    test time (216 patches per candidate, the paper) instead of 24.
    """
    max_candidates: int = 20
    frame_width: int = 512
    scales: tuple = (1.0, 1.2, 1.5)
    translation: float = 0.1
    train_patches: int = 4000
    test_translations: bool = False
    seed: int = 0

    def __post_init__(self):
        from medkeras.checks import integer_at_least

        for name in ("max_candidates", "frame_width", "train_patches"):
            integer_at_least(getattr(self, name), name)
        self.scales = tuple(float(s) for s in self.scales)
        if not self.scales or min(self.scales) <= 0:
            raise ValueError(f"scales must be positive, got {self.scales!r}")
        if not 0 <= self.translation < 1:
            raise ValueError(f"translation must be in [0, 1), got {self.translation!r}")

    def to_json(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))


class Frame(NamedTuple):
    """A frame at working size: RGB ``image``, polyp ``labels`` (0 = none, 1..n), ``polyps``
    (n), ``name`` and ``group`` (video)."""
    name: str
    group: str
    image: np.ndarray
    labels: np.ndarray
    polyps: int


def _resize(image, width, *, nearest=False):
    import tensorflow as tf

    h, w = image.shape[:2]
    if w <= width:
        return image
    size = (max(1, round(h * width / w)), width)
    method = "nearest" if nearest else "area"
    return tf.image.resize(image, size, method=method).numpy().astype(image.dtype)


def load_frames(builder, split, settings):
    """The frames of a prepared dataset split at ``settings.frame_width`` (list of Frame)."""
    import tensorflow_datasets as tfds

    frames = []
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
        image = _resize(example["image"], settings.frame_width)
        mask = _resize(example["mask"], settings.frame_width, nearest=True)[..., 0] > 0
        labels, count = polyp_labels(mask)
        frames.append(Frame(example["name"].decode(), example["group"].decode(), image,
                            labels, count))
    return sorted(frames, key=lambda frame: frame.name)


def candidate_table(frames, settings, *, detector=None, progress=True):
    """Every frame's candidates: ``frame``, ``group``, ``candidate`` (global id), box
    ``y0, x0, y1, x1`` (working pixels), ``score`` (the detector's), ``polyp`` (the label
    its centre falls in, 0: none) and ``label`` (1: hits a polyp)."""
    from tqdm.auto import tqdm

    detector = detector or (lambda image: detect_candidates(
        image, max_candidates=settings.max_candidates))
    rows = []
    for frame in tqdm(frames, desc="candidates", unit="frame", disable=not progress):
        found = detector(frame.image)
        polyp = hit_labels(found, frame.labels)
        for i in range(len(found.scores)):
            rows.append((frame.name, frame.group, *found.boxes[i], float(found.scores[i]),
                         int(polyp[i])))
    table = pd.DataFrame(rows, columns=["frame", "group", "y0", "x0", "y1", "x1", "score",
                                        "polyp"])
    table.insert(2, "candidate", np.arange(len(table)))
    table["label"] = (table.polyp > 0).astype(np.int64)
    return table


def _patches(frames, table, augmented, source, orientation):
    """Crop the augmented boxes of ``table``'s candidates from their frames, preprocessed."""
    import medkeras
    from medkeras.data import crop_patches

    by_name = {frame.name: frame for frame in frames}
    out = np.empty((len(source), 227, 227, 3), np.float32)
    frame_of = table.frame.to_numpy()[source]
    for name in np.unique(frame_of):
        rows = np.flatnonzero(frame_of == name)
        image = by_name[name].image[None].astype(np.float32)
        for start in range(0, len(rows), 256):
            chunk = rows[start:start + 256]
            zeros = np.zeros(len(chunk), np.int32)
            patches = crop_patches(image, augmented[chunk], zeros, orientation[chunk])
            out[chunk] = medkeras.preprocess_input(patches).numpy()
    return out


def _augment(table, settings, *, translations):
    from medkeras.data import augment_boxes

    boxes = table[["y0", "x0", "y1", "x1"]].to_numpy(np.float64)
    return augment_boxes(boxes, scales=settings.scales,
                         translations=(0.0, settings.translation) if translations else (0.0,),
                         orientations=8)


def make_task(train_frames, train_table, test_frames, test_table, settings, *, name="polyp"):
    """The sweep's :class:`~medkeras.experiment.sweep.PatchTask`.

    Training: all 216 augmentations of every training candidate, from which a balanced set
    of ``train_patches`` is drawn (half hitting polyps); groups are videos.  Test: the
    augmentations of every test candidate (24, or 216 with ``test_translations``); its
    units are candidates, so a candidate's score is the mean over its patches.
    """
    from medkeras.data import LazyPatches
    from medkeras.experiment.sweep import PatchTask

    if train_table.empty or test_table.empty:
        raise ValueError("make_task needs candidates in both the training and test frames")
    if set(train_table.group) & set(test_table.group):
        raise ValueError("a video (group) is on both sides of the split")
    if train_table.label.nunique() < 2:
        raise ValueError("the training candidates need both polyp hits and false positives; "
                         "raise max_candidates or add frames")
    boxes, source, orientation = _augment(train_table, settings, translations=True)
    labels = train_table.label.to_numpy()[source]
    rng = np.random.default_rng(settings.seed)
    half = settings.train_patches // 2
    chosen = np.concatenate([rng.choice(np.flatnonzero(labels == c),
                                        min(half, int((labels == c).sum())), replace=False)
                             for c in (0, 1)])
    chosen.sort()
    x = _patches(train_frames, train_table, boxes[chosen], source[chosen], orientation[chosen])
    groups = train_table.group.to_numpy(str)[source[chosen]]
    t_boxes, t_source, t_orientation = _augment(test_table, settings,
                                                translations=settings.test_translations)
    x_test = LazyPatches(lambda i: _patches(test_frames, test_table, t_boxes[i], t_source[i],
                                            t_orientation[i]), len(t_source))
    return PatchTask(name, x, labels[chosen], groups, x_test,
                     test_table.label.to_numpy()[t_source],
                     test_units=test_table.candidate.to_numpy()[t_source],
                     test_groups=test_table.group.to_numpy(str)[t_source])


def _froc(table, scores, frames, n_bootstrap):
    from medkeras.evaluation import froc_analysis

    lesions = {frame.name: frame.polyps for frame in frames}
    groups = {frame.name: frame.group for frame in frames}
    return froc_analysis(table.frame.to_numpy(), scores, table.polyp.to_numpy() - 1, lesions,
                         fps=FPS, groups=groups, n_bootstrap=n_bootstrap)


def evaluate_sweep(sweep_dir, test_frames, test_table, *, n_bootstrap=2000):
    """FROC of every finished cell and of the detector's score; returns the table of
    sensitivities at 0.1, 0.5 and 1 false positive per frame (also ``polyp/froc.csv``)."""
    import glob

    from medkeras.evaluation import plot_froc

    out = os.path.join(sweep_dir, "polyp")
    os.makedirs(out, exist_ok=True)
    results = {BASELINE: _froc(test_table, test_table.score.to_numpy(), test_frames,
                               n_bootstrap)}
    for path in sorted(glob.glob(os.path.join(sweep_dir, "cells", "*", "cell.json"))):
        with open(path) as f:
            cell = json.load(f)
        with np.load(os.path.join(os.path.dirname(path), "test_scores.npz")) as saved:
            units, scores = saved["units"], saved["scores"]
        by_unit = pd.Series(scores, index=units).reindex(test_table.candidate)
        if by_unit.isna().any():
            raise ValueError(f"{path}: its test scores do not cover the test candidates; "
                             "was the sweep run on other candidates?")
        label = f"{cell['scheme']} | {cell['fraction']:g} | {cell['seed']}"
        results[label] = _froc(test_table, by_unit.to_numpy(), test_frames, n_bootstrap)
    rows = []
    for label, result in results.items():
        row = {"model": label}
        for fps in FPS:
            sens, low, high = result.sensitivity_at[fps]
            row[f"sens@{fps:g}"] = sens
            row[f"sens@{fps:g}_ci"] = f"[{low:.3f}, {high:.3f}]"
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(out, "froc.csv"), index=False)
    plot_froc(results, os.path.join(out, "figures", "froc.png"), fps_max=2.0,
              title="Polyp detection: FROC on the test frames")
    return table


def write_polyp_report(sweep_dir, table):
    """``polyp/report.html``: the FROC figure and the sensitivities table."""
    from medkeras.experiment.report import html_table

    out = os.path.join(sweep_dir, "polyp")
    page = f"""<!doctype html><meta charset="utf-8"><title>Polyp detection</title>
<h1>Polyp detection: FROC on held-out frames</h1>
<p>A candidate's probability is the mean over its augmented patches; a candidate hits a
polyp when its centre lies inside it (Tajbakhsh et al. 2016, §A). Sensitivity at 0.1, 0.5
and 1 false positive per frame, with 95% bootstrap intervals over videos.</p>
{html_table(table)}
<p><img src="figures/froc.png" style="max-width:100%"></p>"""
    path = os.path.join(out, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
