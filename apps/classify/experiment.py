"""Your images as a sweep's task, and how its models are judged.

* :func:`make_task` — the training and test images of a
  :class:`~medkeras.experiment.sweep.PatchTask` (``raw``: each cell prepares them with its
  backbone's ``preprocess_input``); an image is a test unit, its group (patient, slide)
  drives the intervals.  Two classes: the score is the positive class's probability;
  more: the probability of every class, judged one-vs-rest (macro AUC).
* :func:`evaluate_classify` — per model: macro and per-class one-vs-rest AUC with bootstrap
  intervals over groups, accuracy, balanced accuracy, and for two classes the sensitivity
  at 90% and 95% specificity; the best model's confusion matrix and ROC curves; the files
  left out of the data.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .data import positive_index

__all__ = ["SPECIFICITIES", "class_probabilities", "evaluate_classify", "make_task"]

#: Binary tasks: the sensitivity is reported at these specificities.
SPECIFICITIES = (0.90, 0.95)


def make_task(train, test, settings):
    """The sweep's :class:`~medkeras.experiment.sweep.PatchTask` of two :class:`Images`."""
    from medkeras.experiment.sweep import PatchTask

    if set(train.groups) & set(test.groups):
        raise ValueError("a group is on both sides of the split")
    positive = positive_index(train.classes, settings.positive)
    return PatchTask("classify", train.images, train.labels, train.groups, test.images,
                     test.labels, test_units=np.arange(len(test.labels)),
                     test_groups=test.groups, classes=len(train.classes),
                     positive_classes=None if positive is None else (positive,), raw=True,
                     stratify=True)


def class_probabilities(scores, positive):
    """A cell's test scores as ``(images, classes)`` probabilities: as they are for more
    than two classes, ``[1 − p, p]`` (ordered by class) for a binary score ``p``."""
    scores = np.asarray(scores, float)
    if scores.ndim == 2:
        return scores
    out = np.empty((len(scores), 2))
    out[:, positive], out[:, 1 - positive] = scores, 1 - scores
    return out


def _interval(low, high):
    return f"[{low:.3f}, {high:.3f}]"


def _plot_confusion(matrix, classes, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medkeras.atomic import save_figure_atomic

    size = 2.2 + 0.7 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}\n{shown[i, j]:.0%}", ha="center", va="center",
                color="white" if shown[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class (most probable)")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
    return path


def evaluate_classify(results, test, settings, *, out, n_bootstrap=1000):
    """Judge every finished cell of ``results`` on the test images (an :class:`Images`);
    returns an :class:`~medkeras.experiment.app.Evaluation`."""
    from sklearn.metrics import balanced_accuracy_score

    from medkeras.evaluation import plot_roc, roc_analysis
    from medkeras.evaluation.multiclass import confusion_matrix, macro_auc_analysis
    from medkeras.experiment.app import Evaluation, Table

    classes, labels, groups = test.classes, test.labels, test.groups
    positive = positive_index(classes, settings.positive)
    units = np.arange(len(labels))
    rows, probabilities, analyses = [], {}, {}
    for label, scores in results.scores_by_label(units).items():
        p = class_probabilities(scores, positive)
        probabilities[label] = p
        macro = macro_auc_analysis(labels, p, groups=groups, n_bootstrap=n_bootstrap)
        predicted = p.argmax(axis=1)
        row = {"model": label, "AUC" if positive is not None else "macro AUC": macro.auc,
               "95% CI": _interval(*macro.ci), "accuracy": float((predicted == labels).mean()),
               "balanced accuracy": float(balanced_accuracy_score(labels, predicted))}
        if positive is None:
            row.update({f"AUC {name}": auc for name, auc in zip(classes, macro.per_class)})
        else:
            binary = roc_analysis(labels == positive, p[:, positive], groups=groups,
                                  n_bootstrap=n_bootstrap,
                                  fprs=tuple(round(1 - s, 6) for s in SPECIFICITIES))
            analyses[label] = binary
            for specificity in SPECIFICITIES:
                sens, low, high = binary.sensitivity_at[round(1 - specificity, 6)]
                row[f"sensitivity at {specificity:.0%} specificity"] = \
                    f"{sens:.3f} {_interval(low, high)}"
        rows.append(row)
    table = pd.DataFrame(rows)
    tables = [Table("Test results", table, "test_results.csv", note=(
        "AUC: " + ("of the positive class " + repr(classes[positive]) if positive is not None
                   else "mean of the one-vs-rest AUCs of the classes (macro)")
        + f"; 95% bootstrap intervals over {len(np.unique(groups))} test groups. Accuracy: "
        "the most probable class; balanced accuracy: the mean recall of the classes."))]
    figures = []
    answer = "No finished model yet."
    if rows:
        best = table.iloc[:, 1].astype(float).idxmax()
        best_label = table.model[best]
        matrix = confusion_matrix(labels, probabilities[best_label])
        frame = pd.DataFrame(matrix, index=[f"true {c}" for c in classes],
                             columns=[f"predicted {c}" for c in classes])
        frame.insert(0, "", frame.index)
        tables.append(Table(f"Confusion matrix of {best_label}", frame,
                            "confusion_matrix.csv"))
        figures.append((f"Confusion matrix of {best_label}", _plot_confusion(
            matrix, classes, os.path.join(out, "figures", "confusion.png"),
            f"{best_label}: {len(labels)} test images")))
        if positive is None:
            per_class = {name: roc_analysis(labels == k, probabilities[best_label][:, k],
                                            groups=groups, n_bootstrap=n_bootstrap)
                         for k, name in enumerate(classes)}
            figures.append((f"One-vs-rest ROC curves of {best_label}", plot_roc(
                per_class, os.path.join(out, "figures", "roc_per_class.png"),
                title=f"{best_label}: each class against the rest")))
        else:
            figures.append(("ROC curves (95% bootstrap bands)", plot_roc(
                analyses, os.path.join(out, "figures", "roc.png"),
                title=f"{classes[positive]} vs {classes[1 - positive]}: test images")))
        answer = (f"Best model: <b>{best_label}</b>, "
                  f"{'AUC' if positive is not None else 'macro AUC'} "
                  f"{table.iloc[best, 1]:.3f} {table['95% CI'][best]}, accuracy "
                  f"{table.accuracy[best]:.3f}, on {len(labels)} held-out images of "
                  f"{len(np.unique(groups))} groups ({len(classes)} classes: "
                  f"{', '.join(classes)}).")
    if test.left_out:
        tables.append(Table(f"Left out of the data ({len(test.left_out)} files)",
                            pd.DataFrame(test.left_out, columns=["file", "why"]),
                            "left_out.csv"))
    return Evaluation(
        answer=answer,
        introduction=(
            f"Every image resized to {settings.size}×{settings.size} "
            f"({'grey' if settings.channels == 1 else 'colour'}); "
            f"{settings.test_fraction:.0%} of each class's groups held out for the test. "
            "Models are named scheme | training fraction | seed; a scheme tunes the named "
            "blocks and everything above them (Kandel & Castelli, Appl. Sci. 10(10):3359, "
            "2020)."),
        tables=tables, figures=figures)
