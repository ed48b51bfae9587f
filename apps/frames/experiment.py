"""Frame-quality experiments: frames → random crops → CNN → ROC (paper §C).

Tajbakhsh et al. (IEEE TMI 2016, §III-C) resize every colonoscopy frame to 500×350, cut
random 227×227 crops (200 per training frame) and label each crop with its frame's class;
at test time a frame's probability of being informative is the mean over its crops.

* :func:`load_frames` — frames of a dataset split (``colonoscopy_frames`` or
  ``synthetic_frames``) at the working size;
* :func:`make_task` — the balanced training crops and the test crops (cut on demand) of a
  :class:`~medkeras.experiment.sweep.PatchTask`; a frame is a test unit;
* :func:`baseline_scores` — the handcrafted comparison: sharpness and colour features of
  the whole frame with a logistic regression (:mod:`apps.frames.features`);
* :func:`evaluate_frames` — ROC of every trained model and of the baseline: AUC with 95% intervals and the sensitivity at 10%, 15% and 20% false
  positive rate, overall and against each kind of non-informative frame.

The positive class is *informative* (label 1): the score of a frame is its informativeness.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import pandas as pd

from .settings import CROP

__all__ = ["BASELINE", "FPRS", "Frame", "HeldOutFrames", "baseline_scores", "cached_baseline",
           "crop_offsets", "evaluate_frames", "frame_crops", "load_frames", "make_task"]

BASELINE = "baseline (handcrafted features)"
FPRS = (0.10, 0.15, 0.20)


class Frame(NamedTuple):
    """A frame at working size: RGB ``image``, ``label`` (1 informative, 0 not), ``kind``
    of degradation (``""`` if unknown or informative), ``name`` and ``group`` (video)."""
    name: str
    group: str
    image: np.ndarray
    label: int
    kind: str


def resize_frame(image, settings):
    """An RGB frame at ``settings.width × settings.height`` (area interpolation)."""
    import cv2

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"frames must be RGB (H, W, 3), got shape {image.shape}")
    if image.shape[:2] == (settings.height, settings.width):
        return image
    return cv2.resize(image, (settings.width, settings.height), interpolation=cv2.INTER_AREA)


def load_frames(builder, split, settings, *, progress=True):
    """The frames of a prepared dataset split at working size (list of :class:`Frame`,
    sorted by name)."""
    import tensorflow_datasets as tfds
    from tqdm.auto import tqdm

    frames = []
    examples = tfds.as_numpy(builder.as_dataset(split=split))
    for example in tqdm(examples, desc=f"frames ({split})", unit="frame", disable=not progress):
        frames.append(Frame(example["name"].decode(), example["group"].decode(),
                            resize_frame(example["image"], settings), int(example["label"]),
                            example["kind"].decode()))
    return sorted(frames, key=lambda frame: frame.name)


def crop_offsets(n, settings, seed):
    """``(n, 2)`` top-left corners ``(y, x)`` of random 227×227 crops inside the frame."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, settings.height - CROP + 1, n),
                     rng.integers(0, settings.width - CROP + 1, n)], axis=1)


def _frame_seed(settings, index, test):
    return [settings.seed, int(test), index]


def frame_crops(image, offsets):
    """The ``(n, 227, 227, 3)`` float32 crops of ``image`` at ``offsets``, preprocessed for
    the CNN (Caffe order and mean, :func:`medkeras.preprocess_input`)."""
    import medkeras

    rows = offsets[:, 0, None] + np.arange(CROP)
    cols = offsets[:, 1, None] + np.arange(CROP)
    crops = image[rows[:, :, None], cols[:, None, :]].astype(np.float32)
    return np.asarray(medkeras.preprocess_input(crops))


def _crops_of(frames, frame_index, offsets):
    out = np.empty((len(frame_index), CROP, CROP, 3), np.float32)
    for index in np.unique(frame_index):
        rows = np.flatnonzero(frame_index == index)
        out[rows] = frame_crops(frames[index].image, offsets[rows])
    return out


def make_task(train_frames, test_frames, settings, *, name="frames"):
    """The sweep's :class:`~medkeras.experiment.sweep.PatchTask`.

    Training: ``train_crops`` random crops of every training frame, from which a balanced
    set of ``train_patches`` is drawn (half from informative frames); groups are videos.
    Test: ``test_crops`` random crops of every test frame (cut on demand); the frame is the
    unit whose score is the mean over its crops.
    """
    from medkeras.data import LazyPatches, class_balanced_sample
    from medkeras.experiment.sweep import PatchTask

    if not train_frames or not test_frames:
        raise ValueError("make_task needs training and test frames")
    if {f.group for f in train_frames} & {f.group for f in test_frames}:
        raise ValueError("a video (group) is on both sides of the split")
    labels = np.array([f.label for f in train_frames])
    if len(np.unique(labels)) < 2:
        raise ValueError("the training frames need both informative and non-informative ones")
    per_frame = settings.train_crops
    frame_of = np.repeat(np.arange(len(train_frames)), per_frame)
    offsets = np.concatenate([crop_offsets(per_frame, settings, _frame_seed(settings, i, False))
                              for i in range(len(train_frames))])
    crop_labels = labels[frame_of]
    chosen = class_balanced_sample(crop_labels, settings.train_patches, seed=settings.seed)
    x = _crops_of(train_frames, frame_of[chosen], offsets[chosen])
    groups = np.array([f.group for f in train_frames])[frame_of[chosen]]

    n_test = settings.test_crops
    test_of = np.repeat(np.arange(len(test_frames)), n_test)
    test_offsets = np.concatenate([crop_offsets(n_test, settings, _frame_seed(settings, i, True))
                                   for i in range(len(test_frames))])
    x_test = LazyPatches(lambda i: _crops_of(test_frames, test_of[i], test_offsets[i]),
                         len(test_of))
    test_labels = np.array([f.label for f in test_frames])
    return PatchTask(name, x, crop_labels[chosen], groups, x_test, test_labels[test_of],
                     test_units=test_of,
                     test_groups=np.array([f.group for f in test_frames])[test_of])


def baseline_scores(train_frames, test_frames):
    """The handcrafted baseline's informativeness of each test frame: features of the whole
    frame (:func:`apps.frames.features.features_of`), logistic regression fitted on the
    training frames."""
    from .features import features_of, fit_baseline

    model = fit_baseline(features_of([f.image for f in train_frames]),
                         np.array([f.label for f in train_frames]))
    return model.predict_proba(features_of([f.image for f in test_frames]))[:, 1]


class HeldOutFrames(NamedTuple):
    """The test split: its frames and the handcrafted baseline's score of each."""
    frames: list
    baseline: np.ndarray


def cached_baseline(out, train_frames, test_frames):
    """The baseline's test scores, kept in ``out/baseline_scores.csv`` (computed once:
    ``train_frames()`` is called only when the file is missing or was made for other
    frames)."""
    from medkeras.atomic import write_csv_atomic

    path = os.path.join(out, "baseline_scores.csv")
    names = [f.name for f in test_frames]
    if os.path.exists(path):
        saved = pd.read_csv(path, dtype={"frame": str})
        if saved.frame.tolist() == names:
            return saved.score.to_numpy()
    scores = baseline_scores(train_frames(), test_frames)
    write_csv_atomic(path, pd.DataFrame({"frame": names, "score": scores}))
    return scores


def _interval(low, high):
    return f"[{low:.3f}, {high:.3f}]"


def evaluate_frames(results, test, *, out, n_bootstrap=1000):
    """ROC of every finished cell of ``results`` and of the baseline on the test frames.

    A frame's score is the mean over its crops.  Returns an
    :class:`~medkeras.experiment.app.Evaluation`: the table of AUC with its bootstrap
    interval over videos and sensitivity at 10/15/20% FPR (``roc.csv``), the AUC of
    informative frames against each kind of non-informative frame alone (``by_kind.csv``),
    the ROC figure (``out/figures/roc.png``).
    """
    from sklearn.metrics import roc_auc_score

    from medkeras.evaluation import plot_roc, roc_analysis
    from medkeras.experiment.app import Evaluation, Table

    frames = test.frames
    labels = np.array([f.label for f in frames])
    groups = np.array([f.group for f in frames])
    kinds = np.array([f.kind or "unknown" for f in frames])
    scores = {BASELINE: np.asarray(test.baseline, float)}
    scores |= results.scores_by_label(np.arange(len(frames)))
    analyses, rows, by_kind = {}, [], []
    for label, frame_scores in scores.items():
        result = roc_analysis(labels, frame_scores, groups=groups, n_bootstrap=n_bootstrap,
                              fprs=FPRS)
        analyses[label] = result
        row = {"model": label, "AUC": result.auc, "AUC 95% CI": _interval(*result.auc_ci)}
        for fpr in FPRS:
            sens, low, high = result.sensitivity_at[fpr]
            row[f"sensitivity at {fpr:.0%} FPR"] = sens
            row[f"sensitivity at {fpr:.0%} FPR, 95% CI"] = _interval(low, high)
        rows.append(row)
        kind_row = {"model": label}
        for kind in sorted(set(kinds[labels == 0])):
            keep = (labels == 1) | (kinds == kind)
            if labels[keep].min() == 0 and labels[keep].max() == 1:
                kind_row[kind] = roc_auc_score(labels[keep], frame_scores[keep])
        by_kind.append(kind_row)
    figure = plot_roc(analyses, os.path.join(out, "figures", "roc.png"),
                      title="Informative vs non-informative frames: ROC on the test frames")
    best = max((label for label in analyses if label != BASELINE),
               key=lambda label: analyses[label].auc, default=None)
    base = analyses[BASELINE]
    answer = f"Handcrafted baseline: AUC {base.auc:.3f} {_interval(*base.auc_ci)}."
    if best is not None:
        answer = (f"Best model: <b>{best}</b>, AUC {analyses[best].auc:.3f} "
                  f"{_interval(*analyses[best].auc_ci)} on {len(frames)} held-out frames. "
                  + answer)
    return Evaluation(
        answer=answer,
        introduction=(
            "A frame's informativeness is the mean over its random 227×227 crops of the "
            "500×350 frame (Tajbakhsh et al. 2016, §C); the baseline is a logistic regression "
            "on handcrafted sharpness and colour features. AUC and sensitivity at 10, 15 and "
            "20% false positive rate, with 95% bootstrap intervals over videos. Models are "
            "named scheme | training fraction | seed."),
        tables=[Table("ROC on the test frames", pd.DataFrame(rows), "roc.csv"),
                Table("AUC against each kind of non-informative frame",
                      pd.DataFrame(by_kind), "by_kind.csv")],
        figures=[("ROC curves (95% bootstrap bands)", figure)])
