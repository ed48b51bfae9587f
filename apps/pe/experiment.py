"""PE detection experiments: tobogganing candidates → vessel-aligned patches → CNN → FROC.

Tajbakhsh et al. (IEEE TMI 2016, §III-B): candidates from tobogganing (Liang & Bi 2007),
each represented by augmented vessel-aligned patches (Tajbakhsh & Liang, MICCAI 2015), a
candidate's probability the mean over its patches, FROC of emboli per volume.  A volume's
candidates and patches are made by :func:`apps.pe.cases.volume_candidates` (what the
``ctpa_candidates`` builder keeps per volume).

* :func:`load_volumes` — the volumes of a prepared split;
* :func:`make_task` — a balanced training set of patches (resized to 227×227, third channel
  = second for the vessel-aligned pair) and the test patches, cut on demand;
* :func:`candidate_table`, :func:`volume_froc` — the test candidates in one table, and the
  FROC per volume of their scores, embolus-level or candidate-level;
* :func:`evaluate_pe` — FROC of every trained model and of the tobogganing score,
  embolus-level and candidate-level, at 1, 2 and 3 false positives per volume, with
  bootstrap intervals over patients, and every pair of them compared (paired bootstrap).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import pandas as pd

from .cases import averaged_patches

__all__ = ["BASELINE", "FPS", "LEVELS", "VolumeCandidates", "candidate_table", "evaluate_pe",
           "load_volumes", "make_task", "upsample_patches", "volume_froc"]

BASELINE = "baseline (tobogganing score)"
FPS = (1.0, 2.0, 3.0)
#: Embolus level: an embolus is found by any of its candidates; candidate level: every
#: candidate on an embolus is a lesion of its own.
LEVELS = ("embolus", "candidate")


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


def candidate_table(volumes):
    """One row per candidate of ``volumes``: ``candidate`` (its number, the test unit),
    ``volume``, ``group``, ``index`` in its volume, ``label``, ``embolus``, ``score``
    (tobogganing)."""
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


def make_task(train_volumes, test_volumes, settings, *, name="pe"):
    """The sweep's :class:`~medkeras.experiment.sweep.PatchTask`: all 54 patches of every
    training candidate, a balanced set of ``train_patches`` drawn from them (groups:
    patients); the test candidates' patches (the 18 untranslated ones, or all 54 with
    ``test_translations``; cut on demand), units = candidates."""
    from medkeras.data import LazyPatches, class_balanced_sample
    from medkeras.experiment.sweep import PatchTask

    train, test = candidate_table(train_volumes), candidate_table(test_volumes)
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
    chosen = class_balanced_sample(labels, settings.train_patches, seed=settings.seed)
    get_train = _patch_getter(train_volumes, train)
    x = np.concatenate([get_train(candidate[chosen[s:s + 512]], augmentation[chosen[s:s + 512]])
                        for s in range(0, len(chosen), 512)])
    groups = train.group.to_numpy(str)[candidate[chosen]]
    test_augmentations = np.flatnonzero(averaged_patches(settings.test_translations, n_aug))
    t_candidate = np.repeat(test.candidate.to_numpy(), len(test_augmentations))
    t_augmentation = np.tile(test_augmentations, len(test))
    get_test = _patch_getter(test_volumes, test)
    x_test = LazyPatches(lambda i: get_test(t_candidate[i], t_augmentation[i]), len(t_candidate))
    return PatchTask(name, x, labels[chosen], groups, x_test,
                     test.label.to_numpy()[t_candidate], test_units=t_candidate,
                     test_groups=test.group.to_numpy(str)[t_candidate])


def _lesions(table, volumes, level):
    """The lesion of each candidate (-1 none) and the lesions of each volume at ``level``."""
    if level == "embolus":
        lesion = table.embolus.to_numpy() - 1
        lesions = {v.name: v.emboli for v in volumes}
    elif level == "candidate":
        positive = table.label.to_numpy() == 1
        lesion = np.where(positive, table.groupby("volume").label.cumsum() - 1, -1)
        lesions = {v.name: int(v.labels.sum()) for v in volumes}
    else:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")
    return lesion, lesions


def volume_froc(table, scores, volumes, level, n_bootstrap):
    """FROC per volume of ``scores`` (one per row of ``table``, :func:`candidate_table` of
    ``volumes``) with bootstrap intervals over patients; ``level`` ``embolus`` (an embolus
    is found by any of its candidates) or ``candidate`` (every candidate on an embolus is a
    lesion of its own)."""
    from medkeras.evaluation import froc_analysis

    lesion, lesions = _lesions(table, volumes, level)
    return froc_analysis(table.volume.to_numpy(), scores, lesion, lesions, fps=FPS,
                         groups={v.name: v.group for v in volumes}, n_bootstrap=n_bootstrap)


def _interval(low, high):
    return f"[{low:.3f}, {high:.3f}]"


def _fp(fps):
    return f"{fps:g} FP per volume"


def _froc_table(frocs):
    """``{level: {model: FROCResult}}`` → the table of froc.csv."""
    rows = []
    for level, results in frocs.items():
        for model, result in results.items():
            row = {"level": level, "model": model}
            for fps in FPS:
                sens, low, high = result.sensitivity_at[fps]
                row[f"sensitivity at {_fp(fps)}"] = sens
                row[f"sensitivity at {_fp(fps)}, 95% CI"] = _interval(low, high)
            rows.append(row)
    return pd.DataFrame(rows)


def _comparisons(table, scores, volumes, n_bootstrap):
    """Every pair of ``scores`` compared by embolus-level sensitivity at each FP rate
    (:func:`medkeras.evaluation.froc_compare`), readable columns."""
    from medkeras.evaluation import froc_compare

    lesion, lesions = _lesions(table, volumes, "embolus")
    cases = table.volume.to_numpy()
    compared = froc_compare({model: (cases, s, lesion) for model, s in scores.items()},
                            lesions, fps=FPS, groups={v.name: v.group for v in volumes},
                            n_bootstrap=n_bootstrap)
    return pd.DataFrame({
        "model A": compared.scheme_a, "model B": compared.scheme_b,
        "FP per volume": compared.fps,
        "sensitivity of A": compared.sensitivity_a, "sensitivity of B": compared.sensitivity_b,
        "difference (A − B)": compared.difference,
        "difference, 95% CI": [_interval(lo, hi) for lo, hi in zip(compared.ci_low,
                                                                    compared.ci_high)],
        "p-value": compared.p_value})


def evaluate_pe(results, test_volumes, *, out, n_bootstrap=1000, test_translations=False):
    """FROC of every finished cell of ``results`` and of the tobogganing score on the test
    volumes (``test_translations``: whether the models averaged all 54 patches of a
    candidate, as recorded in the settings; it only changes what the report says).

    Returns an :class:`~medkeras.experiment.app.Evaluation`: the sensitivity at 1, 2 and 3
    false positives per volume with 95% intervals, embolus-level and candidate-level
    (``froc.csv``); every pair of models compared at embolus level, the difference of
    sensitivity with its interval and p-value (paired bootstrap over patients,
    ``froc_comparisons.csv``); the FROC figures (``out/figures/froc_<level>.png``).
    """
    from medkeras.evaluation import plot_froc
    from medkeras.experiment.app import Evaluation, Table

    table = candidate_table(test_volumes)
    scores = {BASELINE: table.score.to_numpy()}
    scores |= results.scores_by_label(table.candidate.to_numpy())
    frocs, figures = {}, []
    for level in LEVELS:
        frocs[level] = {label: volume_froc(table, s, test_volumes, level, n_bootstrap)
                        for label, s in scores.items()}
        path = plot_froc(frocs[level], os.path.join(out, "figures", f"froc_{level}.png"),
                         fps_max=5.0,
                         title=f"PE detection: {level}-level FROC on the test volumes")
        figures.append((f"{level.capitalize()}-level FROC (95% bootstrap bands)", path))
    tables = [Table("FROC on the test volumes", _froc_table(frocs), "froc.csv")]
    comparisons = None
    if len(scores) > 1:
        comparisons = _comparisons(table, scores, test_volumes, n_bootstrap)
        tables.append(Table(
            "Every pair of models compared (embolus level)", comparisons,
            "froc_comparisons.csv",
            note="Difference of embolus-level sensitivity (A − B) at each false-positive "
                 "rate, its 95% interval and two-sided p-value by paired bootstrap over "
                 "patients (both models score the same candidates)."))
    averaged = ("all 54 of its augmented patches (3 sizes × 3 translations along the vessel "
                "× 6 rotations)" if test_translations else
                "the 18 untranslated ones (3 sizes × 6 rotations) of its 54 augmented "
                "patches (the test translations were not used)")
    return Evaluation(answer=_answer(frocs["embolus"], comparisons, len(test_volumes)),
                      introduction=_INTRODUCTION.format(averaged=averaged), tables=tables,
                      figures=figures)


def _answer(embolus, comparisons, n_volumes):
    """The report's answer: the best model by embolus-level sensitivity at the highest FP
    rate, and the baseline."""
    fps = FPS[-1]

    def said(label):
        sens, low, high = embolus[label].sensitivity_at[fps]
        return f"{sens:.3f} {_interval(low, high)}"

    answer = (f"Baseline (tobogganing score): embolus-level sensitivity {said(BASELINE)} at "
              f"{_fp(fps)}.")
    best = max((label for label in embolus if label != BASELINE),
               key=lambda label: embolus[label].sensitivity_at[fps][0], default=None)
    if best is None:
        return answer
    versus = ""
    if comparisons is not None:
        row = comparisons[(comparisons["model A"] == BASELINE)
                          & (comparisons["model B"] == best)
                          & (comparisons["FP per volume"] == fps)]
        if len(row):
            versus = f" (p = {row['p-value'].iloc[0]:.3g} against the baseline)"
    return (f"Best model: <b>{best}</b>, embolus-level sensitivity {said(best)} at "
            f"{_fp(fps)} on {n_volumes} held-out volumes{versus}; " + answer)


_INTRODUCTION = (
    "Candidates by tobogganing; a candidate's probability is the mean over {averaged}; a "
    "candidate is positive inside an embolus (Tajbakhsh et al. 2016, §B). Embolus level: an "
    "embolus is detected when any of its candidates is; candidate level: every candidate on "
    "an embolus counts. Sensitivity at 1, 2 and 3 false positives per volume with 95% "
    "bootstrap intervals over patients; the baseline ranks the candidates by their "
    "tobogganing score. Every pair of models is compared at embolus level by paired "
    "bootstrap. Models are named scheme | training fraction | seed.")


