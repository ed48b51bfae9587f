"""ROC analysis with confidence intervals: AUC, DeLong's test, sensitivity at fixed FPRs.

Tajbakhsh et al. (2016) compare CNN training schemes by their ROC curves, by the AUC, and by
the sensitivity at false-positive rates of 10, 15 and 20 % (their Tables S1–S3).  This module
computes all three with confidence intervals:

* the ROC curve and AUC come from scikit-learn (:func:`sklearn.metrics.roc_curve`,
  :func:`sklearn.metrics.roc_auc_score`);
* the AUC variance is DeLong's (DeLong, DeLong & Clarke-Pearson, *Biometrics* 44, 1988),
  computed with the fast algorithm of Sun & Xu (*IEEE Signal Processing Letters* 21, 2014);
* every other interval is a percentile bootstrap (Efron & Tibshirani, *An Introduction to the
  Bootstrap*, 1993), resampling cases — stratified by class — or, when ``groups`` are given
  (patients, videos), whole groups.  The resamples are drawn as multiplicity matrices and all
  statistics are computed for many resamples at once, without a Python loop over them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.stats
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["DeLongTest", "ROCBand", "ROCResult", "delong_auc_interval", "delong_auc_variance",
           "delong_test", "roc_analysis", "sensitivity_at_fpr"]

#: Resamples are processed in chunks of at most this many (resample × case) entries.
_CHUNK_ENTRIES = 2 ** 21
#: Absolute tolerance when a rate times a count is compared with an integer count, so that
#: e.g. FPR 0.1 with 30 negatives allows 3 false positives despite ``0.1 * 30 < 3`` in floats.
_COUNT_TOL = 1e-9


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class ROCBand:
    """A pointwise bootstrap band of the ROC curve (vertical averaging, Fawcett 2006).

    Attributes
    ----------
    fpr : ndarray
        The common false-positive-rate grid.
    lower, upper : ndarray
        Quantiles ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` of the bootstrap
        sensitivity at each grid FPR (interpolated as in :func:`sensitivity_at_fpr`).
    confidence : float
    """

    fpr: np.ndarray = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    confidence: float


@dataclass(frozen=True, eq=False)
class ROCResult:
    """The result of :func:`roc_analysis`.

    Attributes
    ----------
    fpr, tpr, thresholds : ndarray
        The ROC curve from :func:`sklearn.metrics.roc_curve`.
    auc : float
        The area under the ROC curve (:func:`sklearn.metrics.roc_auc_score`).
    auc_ci : (float, float)
        Percentile-bootstrap confidence interval of the AUC.
    auc_ci_delong : (float, float)
        ``auc ± z·sqrt(DeLong variance)`` (normal approximation), clipped to [0, 1].  It
        treats cases as independent, whatever ``groups`` says.
    sensitivity_at : dict of float → (float, float, float)
        FPR → (sensitivity, lower, upper); sensitivity by :func:`sensitivity_at_fpr`, bounds by
        percentile bootstrap.
    band : ROCBand
        Pointwise bootstrap band of the curve, for plotting.
    n_positive, n_negative : int
    n_groups : int or None
        Number of groups resampled, or None for the case-level bootstrap.
    n_bootstrap : int
    confidence : float
    """

    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)
    auc: float
    auc_ci: tuple
    auc_ci_delong: tuple
    sensitivity_at: dict
    band: ROCBand = field(repr=False)
    n_positive: int
    n_negative: int
    n_groups: int | None
    n_bootstrap: int
    confidence: float


class DeLongTest(NamedTuple):
    """DeLong's test of two paired AUCs: ``(auc_a, auc_b, z, p)``."""

    auc_a: float
    auc_b: float
    z: float
    p: float


# --------------------------------------------------------------------------- validation


def _as_binary_labels(labels):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.dtype == bool:
        return labels
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"labels must be binary (0/1 or bool), got dtype {labels.dtype}")
    bad = ~np.isin(labels, (0, 1))
    if bad.any():
        raise ValueError(f"labels must be binary (0/1 or bool); found "
                         f"{np.unique(labels[bad])[:5].tolist()} at {bad.sum()} positions")
    return labels == 1


def as_scores(scores, n, name="scores"):
    try:
        scores = np.asarray(scores, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if scores.ndim != 1:
        raise ValueError(f"{name} must be 1-D (for a softmax output pass probs[:, 1]), got "
                         f"shape {scores.shape}")
    if scores.shape[0] != n:
        raise ValueError(f"labels and {name} have different lengths ({n} and {scores.shape[0]})")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(f"{name} contain NaN or infinite values at {bad.sum()} positions "
                         f"(first at index {np.flatnonzero(bad)[0]})")
    return scores


def check_binary(labels, scores):
    """Validated ``(positive mask, float scores)``; both classes must be present."""
    pos = _as_binary_labels(labels)
    scores = as_scores(scores, pos.shape[0])
    n_pos = int(pos.sum())
    if n_pos == 0 or n_pos == pos.shape[0]:
        only = "positives" if n_pos else "negatives"
        raise ValueError(f"labels contain a single class (only {only} among {pos.shape[0]} "
                         f"cases); ROC analysis needs both")
    return pos, scores


def _as_groups(groups, n):
    """Group index per case (0 … n_groups-1) and the number of groups."""
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n:
        raise ValueError(f"groups must be 1-D with one entry per case ({n}), got shape "
                         f"{groups.shape}")
    if groups.dtype.kind == "f" and np.isnan(groups).any():
        raise ValueError("groups contain NaN")
    _, index = np.unique(groups, return_inverse=True)
    return index.ravel(), int(index.max()) + 1


def check_confidence(confidence):
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return float(confidence)


def check_n_bootstrap(n_bootstrap):
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) \
            or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be a positive integer, got {n_bootstrap!r}")
    return int(n_bootstrap)


def check_rates(values, name, *, upper=None):
    values = np.atleast_1d(np.asarray(values, dtype=float))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty sequence of numbers")
    if not np.isfinite(values).all() or (values < 0).any() \
            or (upper is not None and (values > upper).any()):
        limit = f"[0, {upper}]" if upper is not None else "[0, ∞)"
        raise ValueError(f"{name} must lie in {limit}, got {values.tolist()}")
    return values


# --------------------------------------------------------------------------- bootstrap engine


def _chunks(n_bootstrap, n_entries):
    """Chunk sizes so that one chunk holds at most ``_CHUNK_ENTRIES`` (resample × case)."""
    size = max(1, min(n_bootstrap, _CHUNK_ENTRIES // max(n_entries, 1)))
    done = 0
    while done < n_bootstrap:
        yield min(size, n_bootstrap - done)
        done += size


def _draw_counts(rng, b, strata):
    """Multiplicities ``(b, n_units)``: each stratum (an index array) resampled in full."""
    n_units = sum(len(s) for s in strata)
    flat = np.zeros(b * n_units, dtype=np.int64)
    offsets = (np.arange(b) * n_units)[:, None]
    for members in strata:
        draw = members[rng.integers(0, len(members), size=(b, len(members)))]
        flat += np.bincount((draw + offsets).ravel(), minlength=b * n_units)
    return flat.reshape(b, n_units)


def bootstrap_counts(rng, n_bootstrap, n_cases, *, strata=None, unit_of_case=None,
                      n_units=None, n_entries=None):
    """Yield case multiplicity matrices ``(chunk, n_cases)`` of bootstrap resamples.

    With ``unit_of_case`` (group index of every case) whole units are resampled and a case
    is repeated as often as its unit; otherwise cases are resampled within each stratum
    (``strata``: list of index arrays; default one stratum).  Chunks hold at most
    ``_CHUNK_ENTRIES // n_entries`` resamples (``n_entries``: the widest per-resample array
    the caller builds; default the number of cases or units).
    """
    n_entries = max(n_cases, n_units or 0, n_entries or 0)
    if unit_of_case is None:
        strata = strata if strata is not None else [np.arange(n_cases)]
        for b in _chunks(n_bootstrap, n_entries):
            yield _draw_counts(rng, b, strata)
    else:
        for b in _chunks(n_bootstrap, n_entries):
            units = _draw_counts(rng, b, [np.arange(n_units)])
            yield units[:, unit_of_case]


def last_at_most(cum, limits):
    """Index of the last column of each row of ``cum`` whose value is ≤ the row's limits.

    ``cum`` is ``(b, k)``, non-decreasing integer counts along each row starting at 0;
    ``limits`` is ``(b, m)`` real.  Rows are shifted apart so that one ``searchsorted`` on the
    flattened array answers all ``b × m`` queries.
    """
    b, k = cum.shape
    top = cum[:, -1:]
    limit = np.minimum(np.floor(limits + _COUNT_TOL).astype(np.int64), top)
    shift = (np.arange(b, dtype=np.int64) * (int(top.max()) + 1))[:, None]
    found = np.searchsorted((cum + shift).ravel(), (limit + shift).ravel(), side="right")
    return found.reshape(limit.shape) - (np.arange(b) * k)[:, None] - 1


def _interp_rows(cum_x, cum_y, x):
    """Linear interpolation of the polylines ``(cum_x[r], cum_y[r])`` at ``x[r]`` (b × m).

    Where the polyline is vertical at ``x`` the highest ``y`` is returned (the last point
    with abscissa ≤ x starts the interpolation).
    """
    rows = np.arange(cum_x.shape[0])[:, None]
    k = last_at_most(cum_x, x)
    k1 = np.minimum(k + 1, cum_x.shape[1] - 1)
    x0, x1 = cum_x[rows, k], cum_x[rows, k1]
    y0, y1 = cum_y[rows, k], cum_y[rows, k1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(x1 > x0, (x - x0) / (x1 - x0), 0.0)
    return y0 + (y1 - y0) * np.clip(frac, 0.0, 1.0)


class SortedScores:
    """Sorting of one score vector, reused for every resample."""

    def __init__(self, pos, scores):
        self.order = np.argsort(-scores, kind="stable")
        self.pos = pos[self.order]
        s = scores[self.order]
        # last position of every block of tied scores
        self.ends = np.append(np.flatnonzero(s[1:] != s[:-1]), len(s) - 1)

    def cumulative(self, counts):
        """Weighted (TP, FP) counts at every distinct threshold, from ``+inf`` down.

        ``counts`` is ``(b, n)``; returns two ``(b, n_distinct + 1)`` int arrays starting at 0.
        """
        c = counts[:, self.order]
        tp = np.cumsum(np.where(self.pos, c, 0), axis=1)[:, self.ends]
        fp = np.cumsum(np.where(self.pos, 0, c), axis=1)[:, self.ends]
        zero = np.zeros((c.shape[0], 1), dtype=tp.dtype)
        return np.hstack([zero, tp]), np.hstack([zero, fp])


def roc_statistics(sorted_scores, counts, fprs, grid=None):
    """AUC ``(b,)``, sensitivity at ``fprs`` ``(b, m)`` and on ``grid`` for each resample.

    Resamples without a positive or without a negative give NaN.
    """
    tp, fp = sorted_scores.cumulative(counts)
    n_pos, n_neg = tp[:, -1].astype(float), fp[:, -1].astype(float)
    ok = (n_pos > 0) & (n_neg > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # trapezoidal area = Mann–Whitney U with ties counted 1/2
        area = (np.diff(fp, axis=1) * (tp[:, 1:] + tp[:, :-1])).sum(axis=1) / 2.0
        auc = np.where(ok, area / (n_pos * n_neg), np.nan)
        out = [auc]
        for at in (fprs, grid):
            if at is None:
                out.append(None)
                continue
            sens = _interp_rows(fp, tp, n_neg[:, None] * at[None, :]) / n_pos[:, None]
            out.append(np.where(ok[:, None], sens, np.nan))
    return tuple(out)


def percentile_interval(samples, confidence, axis=0):
    """Percentile-bootstrap interval (lower, upper) along ``axis``, ignoring NaN resamples."""
    alpha = 1.0 - confidence
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices → NaN
        lo, hi = np.nanquantile(samples, [alpha / 2, 1 - alpha / 2], axis=axis)
    return lo, hi


def warn_degenerate(n_bad, n_bootstrap, what):
    if n_bad:
        warnings.warn(f"{n_bad} of {n_bootstrap} bootstrap resamples {what} and were left out "
                      f"of the intervals", RuntimeWarning, stacklevel=3)


def roc_resampling(pos, groups):
    """Keyword arguments of :func:`bootstrap_counts` for ROC data."""
    if groups is None:
        return {"strata": [np.flatnonzero(pos), np.flatnonzero(~pos)]}, None
    unit_of_case, n_groups = _as_groups(groups, pos.shape[0])
    return {"unit_of_case": unit_of_case, "n_units": n_groups}, n_groups


def freeze(*arrays):
    for a in arrays:
        a.flags.writeable = False


# --------------------------------------------------------------------------- public API


def sensitivity_at_fpr(labels, scores, fpr):
    """Sensitivity (TPR) at a given false-positive rate, interpolated on the ROC curve.

    The empirical ROC curve is the polyline through the points (FPR, TPR) of every distinct
    threshold, from (0, 0) to (1, 1); tied scores of positives and negatives give diagonal
    segments.  The sensitivity at ``fpr`` is read off this polyline by **linear
    interpolation** between the last vertex with FPR ≤ ``fpr`` and the next vertex.  Where
    the curve is vertical at ``fpr`` (one FPR, several TPRs) the highest TPR is returned,
    i.e. the best sensitivity a threshold reaches without exceeding ``fpr``.  Between two
    vertices the value is the sensitivity of the randomised classifier mixing their
    thresholds; without ties this equals the step-function value.  FPR comparisons tolerate
    floating-point rounding: with 30 negatives, ``fpr=0.1`` allows exactly 3 false positives.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool, shape (n,)
    scores : array_like of float, shape (n,)
        Higher means more likely positive.
    fpr : float or sequence of float in [0, 1]

    Returns
    -------
    float or ndarray
        The sensitivity at each ``fpr`` (a float for a scalar ``fpr``).

    References
    ----------
    Fawcett, T. "An introduction to ROC analysis." Pattern Recognition Letters 27, 2006.
    Tajbakhsh, N. et al. "Convolutional Neural Networks for Medical Image Analysis: Full
    Training or Fine Tuning?" IEEE TMI 35(5), 2016 (sensitivities at FPR 10, 15, 20 %).

    Examples
    --------
    >>> sensitivity_at_fpr([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1], 0.25)
    0.75
    """
    pos, scores = check_binary(labels, scores)
    at = check_rates(fpr, "fpr", upper=1.0)
    _, sens, _ = roc_statistics(SortedScores(pos, scores), np.ones((1, len(pos)), np.int64),
                                 at)
    return float(sens[0, 0]) if np.ndim(fpr) == 0 else sens[0]


def _delong_components(pos, scores_2d):
    """AUCs ``(k,)`` and DeLong covariance ``(k, k)`` of ``k`` score rows (Sun & Xu 2014)."""
    x, y = scores_2d[:, pos], scores_2d[:, ~pos]
    m, n = x.shape[1], y.shape[1]
    tx = scipy.stats.rankdata(x, axis=1)          # midranks among positives
    ty = scipy.stats.rankdata(y, axis=1)          # midranks among negatives
    tz = scipy.stats.rankdata(np.hstack([x, y]), axis=1)
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n                    # structural components of the positives
    v01 = 1.0 - (tz[:, m:] - ty) / m              # … and of the negatives
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(auc), len(auc)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(auc), len(auc)))
    return auc, s10 / m + s01 / n


def delong_auc_variance(labels, scores):
    """DeLong's estimate of the variance of the empirical AUC.

    With ``V10[i]`` the fraction of negatives scored below positive ``i`` (ties ½) and
    ``V01[j]`` the fraction of positives scored above negative ``j``, the variance is
    ``var(V10) / m + var(V01) / n`` (unbiased sample variances; ``m`` positives, ``n``
    negatives).  The structural components are obtained from midranks in
    ``O((m + n) log(m + n))`` (Sun & Xu 2014) instead of DeLong's ``O(m·n)``.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool, shape (n,)
    scores : array_like of float, shape (n,)

    Returns
    -------
    float

    References
    ----------
    DeLong, E. R., DeLong, D. M. & Clarke-Pearson, D. L. "Comparing the areas under two or
    more correlated receiver operating characteristic curves: a nonparametric approach."
    Biometrics 44(3), 837–845, 1988.
    Sun, X. & Xu, W. "Fast implementation of DeLong's algorithm for comparing the areas
    under correlated receiver operating characteristic curves." IEEE Signal Processing
    Letters 21(11), 1389–1393, 2014.
    """
    pos, scores = check_binary(labels, scores)
    _, cov = _delong_components(pos, scores[None, :])
    return float(cov[0, 0])


def delong_auc_interval(labels, scores, *, confidence=0.95):
    """``auc ± z·sqrt(DeLong variance)`` (normal approximation), clipped to [0, 1].

    Cases are taken as independent.  References as :func:`delong_auc_variance`.

    Returns
    -------
    (float, float)
    """
    pos, scores = check_binary(labels, scores)
    confidence = check_confidence(confidence)
    auc, cov = _delong_components(pos, scores[None, :])
    half = scipy.stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(cov[0, 0])
    return float(max(auc[0] - half, 0.0)), float(min(auc[0] + half, 1.0))


def delong_test(labels, scores_a, scores_b):
    """DeLong's two-sided test that two correlated (paired) AUCs are equal.

    Both classifiers score the same cases.  ``z = (A_a − A_b) / sqrt(var_a + var_b −
    2 cov_ab)`` with DeLong's (co)variances and ``p = 2 Φ(−|z|)``.  When the two AUCs are
    equal (e.g. identical scores) ``z = 0`` and ``p = 1``; unequal AUCs with a zero variance
    of the difference (both classifiers separate the classes perfectly or not at all) give
    ``z = ±inf`` and ``p = 0``.  Cases are taken as independent.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool, shape (n,)
    scores_a, scores_b : array_like of float, shape (n,)

    Returns
    -------
    DeLongTest
        Named tuple ``(auc_a, auc_b, z, p)``.

    References
    ----------
    DeLong, E. R. et al. Biometrics 44(3), 837–845, 1988.
    Sun, X. & Xu, W. IEEE Signal Processing Letters 21(11), 1389–1393, 2014.
    """
    pos, scores_a = check_binary(labels, scores_a)
    scores_b = as_scores(scores_b, pos.shape[0], "scores_b")
    auc, cov = _delong_components(pos, np.vstack([scores_a, scores_b]))
    diff = auc[0] - auc[1]
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    if abs(diff) <= 1e-12:
        z = 0.0
    elif var <= 1e-15:
        z = float(np.sign(diff) * np.inf)
    else:
        z = float(diff / np.sqrt(var))
    return DeLongTest(float(auc[0]), float(auc[1]), z, float(2 * scipy.stats.norm.sf(abs(z))))


def roc_analysis(labels, scores, *, groups=None, n_bootstrap=2000, confidence=0.95,
                 fprs=(0.10, 0.15, 0.20), band_points=101, seed=0):
    """ROC curve, AUC with bootstrap and DeLong intervals, sensitivity at chosen FPRs.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool, shape (n,)
    scores : array_like of float, shape (n,)
        Higher means more likely positive.
    groups : array_like, shape (n,), optional
        Cluster of each case (patient, video, volume).  When given, the bootstrap resamples
        whole groups with replacement (cluster bootstrap), so correlated cases of one group
        move together; otherwise cases are resampled within each class, keeping the numbers
        of positives and negatives fixed.  Grouped resamples that lack a class are left out
        (with a warning).
    n_bootstrap : int
        Number of bootstrap resamples.
    confidence : float
        Confidence level of all intervals.
    fprs : sequence of float
        False-positive rates at which the sensitivity is reported (the paper's 10, 15, 20 %).
    band_points : int
        Number of points of the common FPR grid of the bootstrap band.
    seed : int or numpy.random.Generator
        Seed of the resampling; equal seeds give equal results.

    Returns
    -------
    ROCResult

    Notes
    -----
    The AUC interval is the percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13);
    sensitivities are interpolated as in :func:`sensitivity_at_fpr`, in the original data
    and in every resample.  The band is pointwise, not simultaneous.

    References
    ----------
    Efron, B. & Tibshirani, R. J. An Introduction to the Bootstrap. Chapman & Hall, 1993.
    DeLong, E. R. et al. Biometrics 44(3), 837–845, 1988.
    Tajbakhsh, N. et al. IEEE TMI 35(5), 1299–1312, 2016.
    """
    pos, scores = check_binary(labels, scores)
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    at = check_rates(fprs, "fprs", upper=1.0)
    if int(band_points) < 2:
        raise ValueError(f"band_points must be at least 2, got {band_points}")
    resampling, n_groups = roc_resampling(pos, groups)
    rng = np.random.default_rng(seed)

    fpr, tpr, thresholds = roc_curve(pos, scores)
    auc = float(roc_auc_score(pos, scores))
    sorted_scores = SortedScores(pos, scores)
    _, sens, _ = roc_statistics(sorted_scores, np.ones((1, len(pos)), np.int64), at)

    grid = np.linspace(0.0, 1.0, int(band_points))
    boot_auc, boot_sens, boot_band = [], [], []
    for counts in bootstrap_counts(rng, n_bootstrap, len(pos), **resampling):
        a, s, g = roc_statistics(sorted_scores, counts, at, grid)
        boot_auc.append(a)
        boot_sens.append(s)
        boot_band.append(g)
    boot_auc = np.concatenate(boot_auc)
    warn_degenerate(int(np.isnan(boot_auc).sum()), n_bootstrap, "contained a single class")

    auc_ci = tuple(float(v) for v in percentile_interval(boot_auc, confidence))
    sens_lo, sens_hi = percentile_interval(np.concatenate(boot_sens), confidence)
    band_lo, band_hi = percentile_interval(np.concatenate(boot_band), confidence)

    auc_ci_delong = delong_auc_interval(pos, scores, confidence=confidence)

    band = ROCBand(grid, band_lo, band_hi, confidence)
    freeze(fpr, tpr, thresholds, grid, band_lo, band_hi)
    return ROCResult(
        fpr=fpr, tpr=tpr, thresholds=thresholds, auc=auc, auc_ci=auc_ci,
        auc_ci_delong=auc_ci_delong,
        sensitivity_at={float(f): (float(s), float(lo), float(hi))
                        for f, s, lo, hi in zip(at, sens[0], sens_lo, sens_hi)},
        band=band, n_positive=int(pos.sum()), n_negative=int((~pos).sum()), n_groups=n_groups,
        n_bootstrap=n_bootstrap, confidence=confidence)
