"""Free-response ROC (FROC) analysis of lesion detection, with bootstrap bands.

A detector proposes *candidates*, each with a score and either the lesion it hits or -1 (a
false positive).  Sweeping a threshold ``t`` over the scores gives, for each ``t``:

* sensitivity — the fraction of all ground-truth lesions hit by at least one candidate
  scoring ≥ ``t`` (several hits of one lesion count once; a lesion that no candidate hits is
  missed at every threshold);
* false positives per case — the number of false-positive candidates scoring ≥ ``t``
  divided by the number of cases (every case of the ground truth, including cases without
  lesions and cases without candidates).  A "case" is what the caller normalises by: a
  frame (polyp detection in video) or a volume (pulmonary embolism in CT).

Tajbakhsh et al. (2016) report FROC curves for polyp and pulmonary-embolism detection.
Confidence intervals come from a bootstrap over cases (or over groups of cases: patients,
videos), in the spirit of the free-response resampling of Bandos, Rockette & Gur (2009) and
Chakraborty's FROC methodology.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from medkeras.evaluation.roc import (as_scores, bootstrap_counts, check_confidence,
                                     check_n_bootstrap, check_rates, freeze,
                                     last_at_most, percentile_interval, warn_degenerate)

__all__ = ["FROCBand", "FROCCurve", "FROCResult", "froc_analysis", "froc_curve",
           "sensitivity_at_fps"]

DEFAULT_FPS = (0.1, 0.5, 1.0, 2.0, 3.0)


@dataclass(frozen=True, eq=False)
class FROCCurve:
    """An empirical FROC curve (the result of :func:`froc_curve`).

    Attributes
    ----------
    thresholds : ndarray
        ``+inf`` followed by the distinct scores at which the curve can change (the best score
        of each hit lesion and the score of each false positive), decreasing.
    sensitivity : ndarray
        Fraction of lesions detected at each threshold.
    fps_per_case : ndarray
        False positives per case at each threshold.
    n_lesions, n_cases : int
        The normalising totals.
    """

    thresholds: np.ndarray = field(repr=False)
    sensitivity: np.ndarray = field(repr=False)
    fps_per_case: np.ndarray = field(repr=False)
    n_lesions: int
    n_cases: int


@dataclass(frozen=True, eq=False)
class FROCBand:
    """Pointwise bootstrap band of the sensitivity on a common FPs-per-case grid.

    Attributes
    ----------
    fps_per_case : ndarray
    lower, upper : ndarray
        Bootstrap quantiles of :func:`sensitivity_at_fps` at each grid value.
    confidence : float
    """

    fps_per_case: np.ndarray = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    confidence: float


@dataclass(frozen=True, eq=False)
class FROCResult:
    """The result of :func:`froc_analysis`.

    Attributes
    ----------
    curve : FROCCurve
    sensitivity_at : dict of float → (float, float, float)
        FPs per case → (sensitivity, lower, upper), sensitivity by :func:`sensitivity_at_fps`.
    band : FROCBand
    n_groups : int or None
        Number of groups resampled, or None when cases were resampled.
    n_bootstrap : int
    confidence : float
    """

    curve: FROCCurve = field(repr=False)
    sensitivity_at: dict
    band: FROCBand = field(repr=False)
    n_groups: int | None
    n_bootstrap: int
    confidence: float


# --------------------------------------------------------------------------- preparation


class Detections:
    """Validated candidates reduced to *items*: detected lesions and false positives.

    Attributes: ``cases`` (ground-truth case keys), ``lesions`` (lesions per case, int),
    ``item_case`` / ``item_score`` / ``item_is_lesion`` sorted by decreasing score, ``ends``
    (last item of each block of tied scores).
    """

    def __init__(self, case_ids, scores, lesion_ids, lesions_per_case):
        if not hasattr(lesions_per_case, "items") or len(lesions_per_case) == 0:
            raise ValueError("lesions_per_case must be a non-empty dict case → number of lesions")
        self.cases = list(lesions_per_case)
        lesions = np.asarray([lesions_per_case[c] for c in self.cases])
        if lesions.dtype.kind not in "iu" and not (
                lesions.dtype.kind == "f" and np.all(lesions == np.round(lesions))):
            raise ValueError("lesions_per_case values must be integers")
        if (lesions < 0).any():
            raise ValueError("lesions_per_case values must be non-negative")
        self.lesions = lesions.astype(np.int64)
        if self.lesions.sum() == 0:
            raise ValueError("the ground truth has no lesion: sensitivity is undefined")

        case_ids = np.asarray(case_ids)
        if case_ids.ndim != 1:
            raise ValueError(f"case_ids must be 1-D, got shape {case_ids.shape}")
        n = case_ids.shape[0]
        scores = as_scores(scores, n)
        lesion_ids = np.asarray(lesion_ids)
        if lesion_ids.shape != (n,):
            raise ValueError(f"case_ids, scores and lesion_ids have different lengths "
                             f"({n}, {n}, {lesion_ids.shape[0] if lesion_ids.ndim else 0})")
        if n and lesion_ids.dtype.kind not in "iu":
            if lesion_ids.dtype.kind != "f" or not np.all(lesion_ids == np.round(lesion_ids)):
                raise ValueError("lesion_ids must be integers (-1 for a false positive)")
        lesion_ids = lesion_ids.astype(np.int64)
        if (lesion_ids < -1).any():
            raise ValueError("lesion_ids must be ≥ 0, or -1 for a false positive")

        index = {c: i for i, c in enumerate(self.cases)}
        unknown = [c for c in dict.fromkeys(case_ids.tolist()) if c not in index]
        if unknown:
            raise ValueError(f"candidates of {len(unknown)} case(s) missing from "
                             f"lesions_per_case, e.g. {unknown[:3]}")
        case = np.fromiter((index[c] for c in case_ids.tolist()), np.int64, count=n)

        hit = lesion_ids >= 0
        # one item per hit lesion: its best score (duplicate hits count once)
        keys, inverse = np.unique(np.stack([case[hit], lesion_ids[hit]], axis=1), axis=0,
                                  return_inverse=True)
        best = np.full(len(keys), -np.inf)
        np.maximum.at(best, inverse.ravel(), scores[hit])
        per_case = np.bincount(keys[:, 0], minlength=len(self.cases)) if len(keys) else \
            np.zeros(len(self.cases), np.int64)
        over = np.flatnonzero(per_case > self.lesions)
        if over.size:
            c = over[0]
            raise ValueError(f"case {self.cases[c]!r}: candidates hit {per_case[c]} distinct "
                             f"lesions but lesions_per_case gives {self.lesions[c]}")

        item_case = np.concatenate([keys[:, 0] if len(keys) else np.zeros(0, np.int64),
                                    case[~hit]])
        item_score = np.concatenate([best, scores[~hit]])
        item_is_lesion = np.concatenate([np.ones(len(keys), bool), np.zeros((~hit).sum(), bool)])
        order = np.argsort(-item_score, kind="stable")
        self.item_case = item_case[order].astype(np.int64)
        self.item_score = item_score[order]
        self.item_is_lesion = item_is_lesion[order]
        s = self.item_score
        self.ends = np.append(np.flatnonzero(s[1:] != s[:-1]), len(s) - 1) if len(s) else \
            np.zeros(0, np.int64)

    def cumulative(self, counts):
        """Weighted (detected lesions, false positives) at each threshold, from ``+inf`` down.

        ``counts`` ``(b, n_cases)`` are case multiplicities; returns two ``(b, n_thr + 1)``
        integer arrays starting at 0 and the totals (lesions, cases) ``(b,)``.
        """
        w = counts[:, self.item_case]
        tp = np.cumsum(np.where(self.item_is_lesion, w, 0), axis=1)[:, self.ends]
        fp = np.cumsum(np.where(self.item_is_lesion, 0, w), axis=1)[:, self.ends]
        zero = np.zeros((counts.shape[0], 1), dtype=np.int64)
        return (np.hstack([zero, tp]), np.hstack([zero, fp]), counts @ self.lesions,
                counts.sum(axis=1))


def sens_at(tp, fp, n_lesions, n_cases, fps):
    """Highest sensitivity with at most ``fps`` false positives per case, ``(b, m)``."""
    rows = np.arange(tp.shape[0])[:, None]
    k = last_at_most(fp, n_cases[:, None] * fps[None, :].astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_lesions[:, None] > 0, tp[rows, k] / n_lesions[:, None], np.nan)


def groups_of_cases(groups, cases):
    """Group index of each ground-truth case from a dict case → group."""
    if not hasattr(groups, "items"):
        raise ValueError("groups must be a dict case → group (patient, video)")
    missing = [c for c in cases if c not in groups]
    if missing:
        raise ValueError(f"groups lacks {len(missing)} case(s), e.g. {missing[:3]}")
    _, index = np.unique(np.asarray([groups[c] for c in cases]), return_inverse=True)
    return index.ravel(), int(index.max()) + 1


# --------------------------------------------------------------------------- public API


def froc_curve(case_ids, scores, lesion_ids, lesions_per_case):
    """The empirical FROC curve of a set of candidate detections.

    Parameters
    ----------
    case_ids : array_like, shape (n,)
        Case (frame, volume) of each candidate; every one must be a key of
        ``lesions_per_case``.
    scores : array_like of float, shape (n,)
    lesion_ids : array_like of int, shape (n,)
        The lesion of its case that each candidate hits, or -1 for a false positive.  Lesion
        ids are local to a case.
    lesions_per_case : dict
        Case → number of ground-truth lesions.  Its keys define the cases: a case with no
        lesion, or with no candidate, still counts in the false positives per case.

    Returns
    -------
    FROCCurve

    References
    ----------
    Chakraborty, D. P. "Maximum likelihood analysis of free-response receiver operating
    characteristic (FROC) data." Medical Physics 16(4), 1989.
    Bandos, A. I., Rockette, H. E., Song, T. & Gur, D. "Area under the free-response ROC
    curve (FROC) and a related summary index." Biometrics 65(1), 2009.
    Tajbakhsh, N. et al. IEEE TMI 35(5), 1299–1312, 2016.

    Examples
    --------
    >>> c = froc_curve(["a", "a", "b"], [0.9, 0.4, 0.6], [0, -1, -1], {"a": 1, "b": 0})
    >>> c.sensitivity.tolist(), c.fps_per_case.tolist()
    ([0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0])
    """
    det = Detections(case_ids, scores, lesion_ids, lesions_per_case)
    tp, fp, n_lesions, n_cases = det.cumulative(np.ones((1, len(det.cases)), np.int64))
    thresholds = np.concatenate([[np.inf], det.item_score[det.ends]])
    sensitivity = tp[0] / n_lesions[0]
    fps_per_case = fp[0] / n_cases[0]
    freeze(thresholds, sensitivity, fps_per_case)
    return FROCCurve(thresholds, sensitivity, fps_per_case, int(n_lesions[0]), int(n_cases[0]))


def sensitivity_at_fps(curve, fps=DEFAULT_FPS):
    """Sensitivity of a FROC curve at given numbers of false positives per case.

    The value at ``f`` is the **highest sensitivity reached with at most** ``f`` false
    positives per case, i.e. that of the lowest threshold whose false positives per case do
    not exceed ``f``.  No interpolation: the value is attained by an actual threshold.
    Comparisons tolerate floating-point rounding (``f · n_cases`` false positives are
    allowed, rounded down after adding 1e-9).

    Parameters
    ----------
    curve : FROCCurve
    fps : float or sequence of float ≥ 0

    Returns
    -------
    dict of float → float
    """
    if not isinstance(curve, FROCCurve):
        raise ValueError(f"curve must be a FROCCurve (from froc_curve), got "
                         f"{type(curve).__name__}")
    at = check_rates(fps, "fps")
    fp = np.rint(curve.fps_per_case * curve.n_cases).astype(np.int64)[None, :]
    tp = curve.sensitivity[None, :] * curve.n_lesions
    sens = sens_at(tp, fp, np.array([curve.n_lesions]), np.array([curve.n_cases]), at)[0]
    return {float(f): float(s) for f, s in zip(at, sens)}


def froc_analysis(case_ids, scores, lesion_ids, lesions_per_case, *, fps=DEFAULT_FPS,
                  groups=None, n_bootstrap=2000, confidence=0.95, fps_max=None,
                  band_points=101, seed=0):
    """FROC curve with bootstrap confidence intervals and band.

    Parameters
    ----------
    case_ids, scores, lesion_ids, lesions_per_case
        As in :func:`froc_curve`.
    fps : sequence of float
        False positives per case at which sensitivities and intervals are reported.
    groups : dict, optional
        Case → group (patient, video).  When given, whole groups are resampled; otherwise
        cases are.  A resample is drawn from all cases of ``lesions_per_case``, including
        those without lesions or candidates.
    n_bootstrap : int
    confidence : float
    fps_max : float, optional
        Right end of the band's grid; default the larger of the curve's highest false
        positives per case and ``max(fps)``.
    band_points : int
    seed : int or numpy.random.Generator

    Returns
    -------
    FROCResult

    Notes
    -----
    Each resample recomputes both normalisations (lesions and cases in the resample).
    Intervals are percentile bootstrap intervals (Efron & Tibshirani 1993); resamples
    without any lesion are left out, with a warning.  The band is pointwise.

    References
    ----------
    Efron, B. & Tibshirani, R. J. An Introduction to the Bootstrap. Chapman & Hall, 1993.
    Bandos, A. I. et al. Biometrics 65(1), 2009.
    Chakraborty, D. P. Medical Physics 16(4), 1989.
    """
    det = Detections(case_ids, scores, lesion_ids, lesions_per_case)
    curve = froc_curve(case_ids, scores, lesion_ids, lesions_per_case)
    at = check_rates(fps, "fps")
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    if int(band_points) < 2:
        raise ValueError(f"band_points must be at least 2, got {band_points}")
    if fps_max is None:
        fps_max = max(float(curve.fps_per_case[-1]), float(at.max()))
    fps_max = float(check_rates(fps_max, "fps_max")[0])
    grid = np.linspace(0.0, fps_max, int(band_points))

    n_groups = None
    resampling = {}
    if groups is not None:
        unit_of_case, n_groups = groups_of_cases(groups, det.cases)
        resampling = {"unit_of_case": unit_of_case, "n_units": n_groups}

    rng = np.random.default_rng(seed)
    boot_at, boot_band = [], []
    for counts in bootstrap_counts(rng, n_bootstrap, len(det.cases),
                                    n_entries=len(det.item_case), **resampling):
        tp, fp, n_les, n_cas = det.cumulative(counts)
        boot_at.append(sens_at(tp, fp, n_les, n_cas, at))
        boot_band.append(sens_at(tp, fp, n_les, n_cas, grid))
    boot_at = np.concatenate(boot_at)
    warn_degenerate(int(np.isnan(boot_at[:, 0]).sum()), n_bootstrap, "contained no lesion")
    lo, hi = percentile_interval(boot_at, confidence)
    band_lo, band_hi = percentile_interval(np.concatenate(boot_band), confidence)
    point = sensitivity_at_fps(curve, at)
    freeze(grid, band_lo, band_hi)
    return FROCResult(
        curve=curve,
        sensitivity_at={f: (s, float(l_), float(h_)) for (f, s), l_, h_ in
                        zip(point.items(), lo, hi)},
        band=FROCBand(grid, band_lo, band_hi, confidence), n_groups=n_groups,
        n_bootstrap=n_bootstrap, confidence=confidence)
