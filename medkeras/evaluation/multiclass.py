"""Two or more classes: one-vs-rest ROC AUC per class, their macro average, intervals and a
paired test.

A classifier of ``K`` classes gives a probability per class.  Each class against the rest
is a binary ROC problem; the *macro* AUC is the unweighted mean of the per-class AUCs
(Hand & Till, Machine Learning 45, 2001, discuss this and its pairwise variant; scikit-learn's
``roc_auc_score(multi_class="ovr", average="macro")`` is the same number when every class is
present).  A class absent from the labels has no AUC (NaN) and is left out of the mean, so a
validation split that happens to miss a class still gives a value.

Intervals and the paired test resample cases (or whole groups: patients, slides) with the
bootstrap of :mod:`medkeras.evaluation.roc`; the p-value inverts the percentile interval
(:func:`medkeras.evaluation.compare.bootstrap_p_value`).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from medkeras.evaluation.compare import bootstrap_p_value
from medkeras.evaluation.roc import (bootstrap_counts, check_confidence, check_n_bootstrap,
                                     percentile_interval)

__all__ = ["MacroAUC", "confusion_matrix", "macro_auc", "macro_auc_analysis",
           "one_vs_rest_aucs", "paired_macro_auc_test"]


def _check(labels, probabilities):
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, float)
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise ValueError("probabilities must be (cases, classes) with at least 2 classes; "
                         f"Received: shape {probabilities.shape}")
    if labels.shape != (len(probabilities),):
        raise ValueError(f"labels must be one class index per case ({len(probabilities)}); "
                         f"Received: shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0 \
            or labels.max(initial=0) >= probabilities.shape[1]:
        raise ValueError(f"labels must be class indices 0…{probabilities.shape[1] - 1}")
    if not np.isfinite(probabilities).all():
        raise ValueError("probabilities must be finite")
    return labels, probabilities


def _weighted_auc(positive, scores, weights):
    """Binary AUC with case weights (ties count one half): the Mann–Whitney statistic."""
    order = np.argsort(scores, kind="mergesort")
    s, p, w = scores[order], positive[order], weights[order]
    # Weighted ranks of tied blocks: each negative below a positive counts fully, tied half.
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    neg_w = np.where(p, 0.0, w)
    pos_w = np.where(p, w, 0.0)
    block_neg = np.add.reduceat(neg_w, start)
    block_pos = np.add.reduceat(pos_w, start)
    below = np.cumsum(block_neg) - block_neg
    total_pos, total_neg = block_pos.sum(), block_neg.sum()
    if total_pos == 0 or total_neg == 0:
        return np.nan
    return float((block_pos * (below + 0.5 * block_neg)).sum() / (total_pos * total_neg))


def one_vs_rest_aucs(labels, probabilities, *, weights=None):
    """The AUC of each class against the rest, ``(classes,)``; NaN for a class with no
    case or with every case (no ROC).

    >>> one_vs_rest_aucs([0, 1, 2], np.eye(3)).tolist()
    [1.0, 1.0, 1.0]
    """
    labels, probabilities = _check(labels, probabilities)
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, float)
    return np.array([_weighted_auc(labels == k, probabilities[:, k], weights)
                     for k in range(probabilities.shape[1])])


def macro_auc(labels, probabilities, *, weights=None):
    """The mean of :func:`one_vs_rest_aucs` over the classes that have one.

    Raises ``ValueError`` when no class has one (a single class among the labels).
    """
    aucs = one_vs_rest_aucs(labels, probabilities, weights=weights)
    if np.isnan(aucs).all():
        raise ValueError("the macro AUC needs cases of at least two classes")
    return float(np.nanmean(aucs))


class MacroAUC(NamedTuple):
    """``auc`` (macro) with its ``ci``; ``per_class`` AUCs with ``per_class_ci`` rows."""
    auc: float
    ci: tuple
    per_class: np.ndarray
    per_class_ci: np.ndarray


def _resample_weights(n_cases, groups, n_bootstrap, seed):
    """Bootstrap case multiplicities ``(n_bootstrap, n_cases)``, by group when given."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return np.concatenate(list(bootstrap_counts(rng, n_bootstrap, n_cases)))
    _, unit_of_case = np.unique(np.asarray(groups), return_inverse=True)
    return np.concatenate(list(bootstrap_counts(
        rng, n_bootstrap, n_cases, unit_of_case=unit_of_case.ravel(),
        n_units=int(unit_of_case.max()) + 1)))


def _interval(samples, confidence):
    """The percentile interval of the finite ``samples`` (NaN, NaN when none is)."""
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return (np.nan, np.nan)
    return tuple(float(v) for v in percentile_interval(finite, confidence))


def macro_auc_analysis(labels, probabilities, *, groups=None, n_bootstrap=1000,
                       confidence=0.95, seed=0):
    """Macro and per-class one-vs-rest AUC with percentile bootstrap intervals over cases,
    or over whole ``groups`` (patients) when given."""
    labels, probabilities = _check(labels, probabilities)
    check_n_bootstrap(n_bootstrap)
    check_confidence(confidence)
    per_class = one_vs_rest_aucs(labels, probabilities)
    samples = np.array([one_vs_rest_aucs(labels, probabilities, weights=w)
                        for w in _resample_weights(len(labels), groups, n_bootstrap, seed)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a resample without some class
        macro_samples = np.nanmean(samples, axis=1)
    per_class_ci = np.array([_interval(samples[:, k], confidence)
                             for k in range(samples.shape[1])])
    ci = _interval(macro_samples, confidence)
    return MacroAUC(macro_auc(labels, probabilities), ci, per_class, per_class_ci)


def paired_macro_auc_test(labels, probabilities_a, probabilities_b, *, groups=None,
                          n_bootstrap=2000, seed=0):
    """Two-sided p-value of ``macro AUC(a) = macro AUC(b)`` on the same cases, by paired
    bootstrap (both scored on every resample; by group when ``groups`` are given)."""
    labels, a = _check(labels, probabilities_a)
    _, b = _check(labels, probabilities_b)
    check_n_bootstrap(n_bootstrap)
    differences = []
    for weights in _resample_weights(len(labels), groups, n_bootstrap, seed):
        aucs_a = one_vs_rest_aucs(labels, a, weights=weights)
        aucs_b = one_vs_rest_aucs(labels, b, weights=weights)
        keep = np.isfinite(aucs_a)
        differences.append(np.mean(aucs_a[keep] - aucs_b[keep]) if keep.any() else np.nan)
    return bootstrap_p_value(np.array(differences))


def confusion_matrix(labels, probabilities):
    """Counts ``(true class, predicted class)``, the prediction being the most probable
    class (scikit-learn's ``confusion_matrix`` of the arg-max)."""
    from sklearn.metrics import confusion_matrix as sklearn_confusion

    labels, probabilities = _check(labels, probabilities)
    k = probabilities.shape[1]
    return sklearn_confusion(labels, probabilities.argmax(axis=1), labels=np.arange(k))
