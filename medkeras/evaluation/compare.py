"""Pairwise comparison of schemes at operating points, by paired bootstrap (Tables S1–S3).

Tajbakhsh et al. (2016, supplementary Tables S1–S3) compare every pair of training schemes
by the sensitivity at fixed false-positive rates and report p-values.  Here every pair is
tested on the *same* bootstrap resamples (paired bootstrap: both schemes scored the same
cases, so a resample keeps the pairing), and the AUC difference is also tested with DeLong's
test.

The two-sided bootstrap p-value of a difference ``D`` inverts the percentile interval:
``p = min(1, 2 · min((1 + #{D* ≤ 0}) / (B + 1), (1 + #{D* ≥ 0}) / (B + 1)))`` over the ``B``
resamples ``D*`` — the smallest ``α`` for which the ``1 − α`` percentile interval excludes 0
(Efron & Tibshirani 1993, §15–16; the ``+1`` keeps p > 0 with a finite ``B``).  Identical
schemes give ``D* = 0`` in every resample and ``p = 1``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from medkeras.evaluation.froc import DEFAULT_FPS, Detections, groups_of_cases, sens_at
from medkeras.evaluation.roc import (as_scores, bootstrap_counts, check_binary,
                                     check_confidence, check_n_bootstrap, check_rates,
                                     percentile_interval, roc_resampling, roc_statistics,
                                     SortedScores, warn_degenerate, delong_test)

__all__ = ["bootstrap_p_value", "compare_at_operating_points", "froc_compare"]


def bootstrap_p_value(differences):
    """Two-sided p-value of ``H0: difference = 0`` from bootstrap differences.

    ``min(1, 2 · min((1 + #{D* ≤ 0}), (1 + #{D* ≥ 0})) / (B + 1))``, the inversion of the
    percentile interval (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993).
    NaN resamples are ignored.

    Parameters
    ----------
    differences : array_like, shape (B,) or (B, m)
        Bootstrap replicates of the difference (one column per statistic).

    Returns
    -------
    float or ndarray of shape (m,)
    """
    d = np.asarray(differences, dtype=float)
    valid = (~np.isnan(d)).sum(axis=0)
    if np.any(valid == 0):
        raise ValueError("bootstrap_p_value needs at least one non-NaN replicate")
    below = (d <= 0).sum(axis=0)
    above = (d >= 0).sum(axis=0)
    p = np.minimum(1.0, 2.0 * (1.0 + np.minimum(below, above)) / (valid + 1.0))
    return float(p) if np.ndim(p) == 0 else p


def _check_schemes(by_scheme, what):
    if not hasattr(by_scheme, "items") or len(by_scheme) < 2:
        raise ValueError(f"{what} must be a dict of at least two schemes")
    return list(by_scheme)


def _pair_rows(names, point, boot, at, confidence, key):
    """Rows ``(scheme_a, scheme_b, key, sens_a, sens_b, diff, ci, p)`` for every pair."""
    rows = []
    for i, j in itertools.combinations(range(len(names)), 2):
        d = boot[:, i, :] - boot[:, j, :]
        lo, hi = percentile_interval(d, confidence)
        p = np.atleast_1d(bootstrap_p_value(d))
        for k, f in enumerate(at):
            rows.append({"scheme_a": names[i], "scheme_b": names[j], key: float(f),
                         "sensitivity_a": float(point[i, k]), "sensitivity_b": float(point[j, k]),
                         "difference": float(point[i, k] - point[j, k]),
                         "ci_low": float(lo[k]), "ci_high": float(hi[k]), "p_value": float(p[k])})
    return rows


def compare_at_operating_points(labels, scores_by_scheme, *, fprs=(0.10, 0.15, 0.20),
                                groups=None, n_bootstrap=2000, confidence=0.95, seed=0):
    """Compare every pair of schemes by sensitivity at fixed FPRs and by AUC.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool, shape (n,)
    scores_by_scheme : dict of str → array_like, shape (n,)
        Scores of each scheme on the same cases.
    fprs : sequence of float
        False-positive rates of the operating points (the paper's 10, 15, 20 %).
    groups : array_like, shape (n,), optional
        Cluster of each case (patient, video): whole groups are resampled.  Otherwise cases
        are resampled within each class.
    n_bootstrap : int
    confidence : float
        Level of the difference intervals.
    seed : int or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        One row per pair (in dict order) and FPR, with columns ``scheme_a``, ``scheme_b``,
        ``fpr``, ``sensitivity_a``, ``sensitivity_b``, ``difference`` (a − b), ``ci_low``,
        ``ci_high``, ``p_value`` (paired bootstrap, two-sided), ``auc_a``, ``auc_b``,
        ``auc_p_delong`` (DeLong's test; cases taken as independent) and
        ``auc_p_bootstrap`` (paired bootstrap, honouring ``groups``).

    Notes
    -----
    Sensitivities are interpolated on the ROC curve as in
    :func:`~medkeras.evaluation.sensitivity_at_fpr`, in the data and in every resample.

    References
    ----------
    Efron, B. & Tibshirani, R. J. An Introduction to the Bootstrap. Chapman & Hall, 1993.
    DeLong, E. R. et al. Biometrics 44(3), 837–845, 1988.
    Tajbakhsh, N. et al. IEEE TMI 35(5), 1299–1312, 2016, Tables S1–S3.
    """
    names = _check_schemes(scores_by_scheme, "scores_by_scheme")
    pos, first = check_binary(labels, scores_by_scheme[names[0]])
    scores = [first] + [as_scores(scores_by_scheme[k], len(pos), f"scores of {k!r}")
                        for k in names[1:]]
    at = check_rates(fprs, "fprs", upper=1.0)
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    resampling, _ = roc_resampling(pos, groups)
    rng = np.random.default_rng(seed)

    sorted_scores = [SortedScores(pos, s) for s in scores]
    ones = np.ones((1, len(pos)), np.int64)
    point = [roc_statistics(s, ones, at) for s in sorted_scores]
    point_auc = np.array([a[0] for a, _, _ in point])
    point_sens = np.stack([s[0] for _, s, _ in point])

    boot_auc, boot_sens = [], []
    for counts in bootstrap_counts(rng, n_bootstrap, len(pos), **resampling):
        stats = [roc_statistics(s, counts, at) for s in sorted_scores]
        boot_auc.append(np.stack([a for a, _, _ in stats], axis=1))      # (b, schemes)
        boot_sens.append(np.stack([s for _, s, _ in stats], axis=1))     # (b, schemes, m)
    boot_auc, boot_sens = np.concatenate(boot_auc), np.concatenate(boot_sens)
    warn_degenerate(int(np.isnan(boot_auc[:, 0]).sum()), n_bootstrap,
                     "contained a single class")

    rows = _pair_rows(names, point_sens, boot_sens, at, confidence, "fpr")
    index = {k: i for i, k in enumerate(names)}
    for row in rows:
        i, j = index[row["scheme_a"]], index[row["scheme_b"]]
        row["auc_a"], row["auc_b"] = float(point_auc[i]), float(point_auc[j])
        row["auc_p_delong"] = delong_test(pos, scores[i], scores[j]).p
        row["auc_p_bootstrap"] = bootstrap_p_value(boot_auc[:, i] - boot_auc[:, j])
    return pd.DataFrame(rows)


def froc_compare(candidates_by_scheme, lesions_per_case, *, fps=DEFAULT_FPS, groups=None,
                 n_bootstrap=2000, confidence=0.95, seed=0):
    """Compare every pair of detection schemes by FROC sensitivity at fixed FPs per case.

    Parameters
    ----------
    candidates_by_scheme : dict of str → (case_ids, scores, lesion_ids)
        Candidates of each scheme, as in :func:`~medkeras.evaluation.froc_curve`.  Schemes
        may share one candidate set (different classifiers scoring the same candidates) or
        have their own.
    lesions_per_case : dict
        Case → number of lesions; the common ground truth.
    fps : sequence of float
        False positives per case of the operating points.
    groups : dict, optional
        Case → group (patient, video): whole groups are resampled.  Otherwise cases are.
    n_bootstrap : int
    confidence : float
    seed : int or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        One row per pair and FP rate: ``scheme_a``, ``scheme_b``, ``fps``,
        ``sensitivity_a``, ``sensitivity_b``, ``difference``, ``ci_low``, ``ci_high``,
        ``p_value`` (paired bootstrap over cases, two-sided).

    Notes
    -----
    Sensitivity at ``f`` FPs per case is the highest reached with at most ``f``
    (:func:`~medkeras.evaluation.sensitivity_at_fps`).  Every resample of cases is shared by
    all schemes.

    References
    ----------
    Efron, B. & Tibshirani, R. J. An Introduction to the Bootstrap. Chapman & Hall, 1993.
    Bandos, A. I. et al. Biometrics 65(1), 2009.
    Tajbakhsh, N. et al. IEEE TMI 35(5), 1299–1312, 2016.
    """
    names = _check_schemes(candidates_by_scheme, "candidates_by_scheme")
    dets = []
    for k in names:
        cand = candidates_by_scheme[k]
        if not isinstance(cand, (tuple, list)) or len(cand) != 3:
            raise ValueError(f"candidates of scheme {k!r} must be a tuple (case_ids, scores, "
                             f"lesion_ids)")
        dets.append(Detections(*cand, lesions_per_case))
    at = check_rates(fps, "fps")
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    resampling = {}
    if groups is not None:
        unit_of_case, n_groups = groups_of_cases(groups, dets[0].cases)
        resampling = {"unit_of_case": unit_of_case, "n_units": n_groups}
    rng = np.random.default_rng(seed)
    n_cases = len(dets[0].cases)

    def sens(counts):
        out = []
        for det in dets:
            tp, fp, n_les, n_cas = det.cumulative(counts)
            out.append(sens_at(tp, fp, n_les, n_cas, at))
        return np.stack(out, axis=1)                                     # (b, schemes, m)

    point = sens(np.ones((1, n_cases), np.int64))[0]
    widest = max(len(d.item_case) for d in dets)
    boot = np.concatenate([sens(c) for c in bootstrap_counts(
        rng, n_bootstrap, n_cases, n_entries=widest, **resampling)])
    warn_degenerate(int(np.isnan(boot[:, 0, 0]).sum()), n_bootstrap, "contained no lesion")
    return pd.DataFrame(_pair_rows(names, point, boot, at, confidence, "fps"))
