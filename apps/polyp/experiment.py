"""Polyp detection experiments: candidates → augmented patches → CNN → FROC (paper §A).

Tajbakhsh et al. (IEEE TMI 35(5), 2016, application A): a handcrafted detector proposes
candidates; the CNN scores patches around each candidate at three scales (the candidate's
box enlarged 1.0×, 1.2×, 1.5×), translated by 10% of the box, in 8 orientations; a
candidate's probability is the mean over its patches; detection is judged by FROC
(sensitivity against false positives per frame), a candidate being a true positive when
its centre lies inside a polyp.

* :func:`load_frames` — frames of a dataset split (``kvasir_seg``, ``cvc_clinicdb``,
  ``synthetic_polyps``), resized to a working width (:func:`resize_to_width`);
* :func:`candidate_table` — every frame's candidates with their polyp (or none), kept in
  the sweep directory by :func:`cached_candidates`;
* :func:`augmented_boxes` — the paper's augmentation of candidate boxes (scales,
  translations, 8 orientations), shared with :mod:`apps.polyp.detect`;
* :func:`make_task` — a balanced training set of augmented patches and the test patches of
  every test candidate, as a :class:`~medkeras.experiment.sweep.PatchTask`;
* :func:`evaluate_polyp` — FROC of every trained model and of the detector's own score
  (the handcrafted baseline), with bootstrap bands over videos, and every pair of them
  compared by paired bootstrap.

The settings are :class:`apps.polyp.settings.PolypSettings`.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import pandas as pd

from .candidates import candidate_hits, detect_candidates, polyp_labels

__all__ = ["BASELINE", "FPS", "Frame", "PolypSplit", "augmented_boxes", "cached_candidates",
           "candidate_table", "evaluate_polyp", "load_frames", "make_task",
           "resize_to_width"]

BASELINE = "baseline (candidate score)"
FPS = (0.1, 0.5, 1.0)


class Frame(NamedTuple):
    """A frame at working size: RGB ``image``, polyp ``labels`` (0 = none, 1..n), ``polyps``
    (n), ``name`` and ``group`` (video)."""
    name: str
    group: str
    image: np.ndarray
    labels: np.ndarray
    polyps: int


def resize_to_width(image, width, *, nearest=False):
    """``image`` scaled down to ``width`` pixels wide, aspect kept (area interpolation, or
    nearest neighbour for masks); narrower images are returned as they are."""
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
        image = resize_to_width(example["image"], settings.frame_width)
        mask = resize_to_width(example["mask"], settings.frame_width, nearest=True)[..., 0] > 0
        labels, count = polyp_labels(mask)
        frames.append(Frame(example["name"].decode(), example["group"].decode(), image,
                            labels, count))
    return sorted(frames, key=lambda frame: frame.name)


class PolypSplit(NamedTuple):
    """A split of the data: its frames and their candidates (:func:`candidate_table`)."""
    frames: list
    table: pd.DataFrame


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
        polyp = candidate_hits(found, frame.labels)
        for i in range(len(found.scores)):
            rows.append((frame.name, frame.group, *found.boxes[i], float(found.scores[i]),
                         int(polyp[i])))
    table = pd.DataFrame(rows, columns=["frame", "group", "y0", "x0", "y1", "x1", "score",
                                        "polyp"])
    table.insert(2, "candidate", np.arange(len(table)))
    table["label"] = (table.polyp > 0).astype(np.int64)
    return table


def cached_candidates(out, split, frames, settings):
    """The candidates of a split's ``frames``, kept in ``out/candidates_<split>.csv``: read
    back when the file exists (the detector runs once per sweep directory), else detected
    (:func:`candidate_table`) and written."""
    from medkeras.atomic import write_csv_atomic

    path = os.path.join(out, f"candidates_{split}.csv")
    if os.path.exists(path):
        return pd.read_csv(path, dtype={"frame": str, "group": str})
    table = candidate_table(frames, settings)
    write_csv_atomic(path, table)
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


def augmented_boxes(table, settings, *, translations):
    """The augmented boxes of ``table``'s candidate boxes (columns ``y0, x0, y1, x1``):
    ``(boxes, source, orientation)`` for :func:`medkeras.data.crop_patches`
    (:func:`medkeras.data.augment_boxes`): each box enlarged by ``settings.scales``, with
    ``translations`` also shifted by ``±settings.translation`` of its size along each axis,
    in 8 orientations: 216 boxes per candidate with the defaults, 24 without translations.
    ``source`` is the row of ``table`` each comes from."""
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
    from medkeras.data import LazyPatches, class_balanced_sample
    from medkeras.experiment.sweep import PatchTask

    if train_table.empty or test_table.empty:
        raise ValueError("make_task needs candidates in both the training and test frames")
    if set(train_table.group) & set(test_table.group):
        raise ValueError("a video (group) is on both sides of the split")
    if train_table.label.nunique() < 2:
        raise ValueError("the training candidates need both polyp hits and false positives; "
                         "raise max_candidates or add frames")
    boxes, source, orientation = augmented_boxes(train_table, settings, translations=True)
    labels = train_table.label.to_numpy()[source]
    chosen = class_balanced_sample(labels, settings.train_patches, seed=settings.seed)
    x = _patches(train_frames, train_table, boxes[chosen], source[chosen], orientation[chosen])
    groups = train_table.group.to_numpy(str)[source[chosen]]
    t_boxes, t_source, t_orientation = augmented_boxes(
        test_table, settings, translations=settings.test_translations)
    x_test = LazyPatches(lambda i: _patches(test_frames, test_table, t_boxes[i], t_source[i],
                                            t_orientation[i]), len(t_source))
    return PatchTask(name, x, labels[chosen], groups, x_test,
                     test_table.label.to_numpy()[t_source],
                     test_units=test_table.candidate.to_numpy()[t_source],
                     test_groups=test_table.group.to_numpy(str)[t_source])


def _interval(low, high):
    return f"[{low:.3f}, {high:.3f}]"


def _sensitivity_column(fps):
    return f"sensitivity at {fps:g} FP per frame"


def evaluate_polyp(results, test, *, out, n_bootstrap=1000):
    """FROC of every finished cell of ``results`` and of the detector's own score on the
    test split (a :class:`PolypSplit`).

    A candidate's score is the mean over its augmented patches; a candidate is a true
    positive when its centre lies inside a polyp.  Returns an
    :class:`~medkeras.experiment.app.Evaluation`: the sensitivity at 0.1, 0.5 and 1 false
    positive per frame with 95% bootstrap intervals over videos (``froc.csv``), every pair
    of models compared at those operating points by paired bootstrap
    (:func:`medkeras.evaluation.froc_compare`, ``froc_comparisons.csv``), and the FROC
    curves (``out/figures/froc.png``).
    """
    from medkeras.evaluation import froc_analysis, froc_compare, plot_froc
    from medkeras.experiment.app import Evaluation, Table

    frames, table = test.frames, test.table
    lesions = {frame.name: frame.polyps for frame in frames}
    groups = {frame.name: frame.group for frame in frames}
    case_ids, lesion_ids = table.frame.to_numpy(), table.polyp.to_numpy() - 1
    scores = {BASELINE: table.score.to_numpy(float)}
    scores |= results.scores_by_label(table.candidate.to_numpy())
    analyses = {label: froc_analysis(case_ids, s, lesion_ids, lesions, fps=FPS,
                                     groups=groups, n_bootstrap=n_bootstrap)
                for label, s in scores.items()}
    rows = []
    for label, result in analyses.items():
        row = {"model": label}
        for fps in FPS:
            sens, low, high = result.sensitivity_at[fps]
            row[_sensitivity_column(fps)] = sens
            row[f"{_sensitivity_column(fps)}, 95% CI"] = _interval(low, high)
        rows.append(row)
    tables = [Table("FROC on the test frames", pd.DataFrame(rows), "froc.csv")]
    comparisons = None
    if len(scores) > 1:
        compared = froc_compare({label: (case_ids, s, lesion_ids)
                                 for label, s in scores.items()},
                                lesions, fps=FPS, groups=groups, n_bootstrap=n_bootstrap)
        comparisons = pd.DataFrame({
            "model A": compared.scheme_a, "model B": compared.scheme_b,
            "false positives per frame": compared.fps,
            "sensitivity of A": compared.sensitivity_a,
            "sensitivity of B": compared.sensitivity_b,
            "difference (A − B)": compared.difference,
            "difference, 95% CI": [_interval(lo, hi) for lo, hi
                                   in zip(compared.ci_low, compared.ci_high)],
            "p-value": compared.p_value})
        tables.append(Table(
            "Pairwise comparisons", comparisons, "froc_comparisons.csv",
            note="Every pair of models at 0.1, 0.5 and 1 false positive per frame: the "
                 "difference of sensitivities with its 95% interval and two-sided p-value "
                 "(paired bootstrap over videos: both models are judged on the same "
                 "resamples)."))
    figure = plot_froc(analyses, os.path.join(out, "figures", "froc.png"), fps_max=2.0,
                       title="Polyp detection: FROC on the test frames")
    main = max(FPS)
    base_sens, base_low, base_high = analyses[BASELINE].sensitivity_at[main]
    answer = (f"The detector's own score (the baseline): sensitivity {base_sens:.3f} "
              f"{_interval(base_low, base_high)} at {main:g} false positive per frame.")
    best = max((label for label in analyses if label != BASELINE),
               key=lambda label: analyses[label].sensitivity_at[main][0], default=None)
    if best is not None:
        sens, low, high = analyses[best].sensitivity_at[main]
        against = comparisons[(comparisons["model A"] == BASELINE)
                              & (comparisons["model B"] == best)
                              & (comparisons["false positives per frame"] == main)]
        p = f" (p = {against['p-value'].iloc[0]:.3g} against the baseline)" \
            if len(against) else ""
        answer = (f"Best model: <b>{best}</b>, sensitivity {sens:.3f} {_interval(low, high)} "
                  f"at {main:g} false positive per frame{p} on {len(frames)} held-out frames "
                  f"({sum(lesions.values())} polyps). " + answer)
    return Evaluation(
        answer=answer,
        introduction=(
            "A candidate's probability is the mean over its augmented patches; a candidate "
            "hits a polyp when its centre lies inside it (Tajbakhsh et al. 2016, §A). "
            "Sensitivity at 0.1, 0.5 and 1 false positive per frame, with 95% bootstrap "
            "intervals over videos. The baseline ranks the same candidates by the "
            "handcrafted detector's own score. Models are named scheme | training fraction "
            "| seed."),
        tables=tables,
        figures=[("FROC curves (95% bootstrap bands)", figure)])
