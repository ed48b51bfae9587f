"""Figures of the evaluation: ROC and FROC curves with bands, box plots, training curves.

Figures are drawn on :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas,
so nothing touches pyplot's global state or opens a window.  Every function writes a PNG and
returns its path.
"""

from __future__ import annotations

import pathlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from medkeras.evaluation.froc import FROCCurve, FROCResult
from medkeras.evaluation.roc import (ROCResult, bootstrap_counts, check_confidence,
                                     check_n_bootstrap, percentile_interval)

__all__ = ["plot_boxplot", "plot_froc", "plot_roc", "plot_training_curves"]

_DPI = 150


def _check_path(path):
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG; the path must end in .png, got {path}")
    return path


def _check_mapping(results, what):
    if not hasattr(results, "items") or len(results) == 0:
        raise ValueError(f"{what} must be a non-empty dict name → value")


def _new_axes(figsize=(6.4, 5.2)):
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, path):
    from medkeras.atomic import save_figure_atomic

    save_figure_atomic(fig, path, format="png", dpi=_DPI, bbox_inches="tight")
    return path


def _pct(confidence):
    return f"{100 * confidence:g}%"


def plot_roc(results, path, *, title="ROC curves", bands=True, mark_fprs=True):
    """ROC curves with their bootstrap bands; the legend gives AUC and its interval.

    Parameters
    ----------
    results : dict of str → ROCResult
        From :func:`~medkeras.evaluation.roc_analysis`.
    path : str or path-like
        Output ``.png``.
    title : str
    bands : bool
        Shade each curve's pointwise bootstrap band.
    mark_fprs : bool
        Dotted vertical lines at the FPRs of the reported sensitivities.

    Returns
    -------
    pathlib.Path
    """
    path = _check_path(path)
    _check_mapping(results, "results")
    fig, ax = _new_axes()
    fprs = set()
    for name, r in results.items():
        if not isinstance(r, ROCResult):
            raise ValueError(f"results[{name!r}] must be a ROCResult, got {type(r).__name__}")
        lo, hi = r.auc_ci
        line, = ax.plot(r.fpr, r.tpr, lw=1.8, label=f"{name}: AUC {r.auc:.3f} "
                        f"({_pct(r.confidence)} CI {lo:.3f}–{hi:.3f})")
        if bands:
            ax.fill_between(r.band.fpr, r.band.lower, r.band.upper, color=line.get_color(),
                            alpha=0.18, lw=0)
        fprs.update(r.sensitivity_at)
    if mark_fprs:
        for f in sorted(fprs):
            ax.axvline(f, color="0.6", ls=":", lw=1)
    ax.plot([0, 1], [0, 1], color="0.75", ls="--", lw=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate (1 − specificity)",
           ylabel="Sensitivity (true positive rate)", title=title)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


def plot_froc(results, path, *, title="FROC curves", fps_max=None, bands=True):
    """FROC curves (sensitivity vs false positives per case) with bootstrap bands.

    Parameters
    ----------
    results : dict of str → FROCResult or FROCCurve
        From :func:`~medkeras.evaluation.froc_analysis` (curve and band) or
        :func:`~medkeras.evaluation.froc_curve` (curve only).
    path : str or path-like
        Output ``.png``.
    title : str
    fps_max : float, optional
        Right end of the x axis; default the largest FPs per case of any curve.
    bands : bool

    Returns
    -------
    pathlib.Path
    """
    path = _check_path(path)
    _check_mapping(results, "results")
    fig, ax = _new_axes((6.4, 4.8))
    right = 0.0
    for name, r in results.items():
        if isinstance(r, FROCResult):
            curve, band = r.curve, r.band
        elif isinstance(r, FROCCurve):
            curve, band = r, None
        else:
            raise ValueError(f"results[{name!r}] must be a FROCResult or FROCCurve, got "
                             f"{type(r).__name__}")
        right = max(right, float(curve.fps_per_case[-1]))
        # the sensitivity holds from one threshold's FP rate until the next one's
        line, = ax.step(curve.fps_per_case, curve.sensitivity, where="post", lw=1.8,
                        label=f"{name} (max sensitivity {curve.sensitivity[-1]:.2f})")
        if bands and band is not None:
            ax.fill_between(band.fps_per_case, band.lower, band.upper, step="post",
                            color=line.get_color(), alpha=0.18, lw=0)
    if fps_max is None:
        fps_max = right if right > 0 else 1.0
    if not np.isfinite(fps_max) or fps_max <= 0:
        raise ValueError(f"fps_max must be positive, got {fps_max}")
    ax.set(xlim=(0, fps_max), ylim=(0, 1.01), xlabel="False positives per case",
           ylabel="Sensitivity (fraction of lesions detected)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


def _mean_ci(values, confidence, n_bootstrap, rng):
    """Mean and its percentile-bootstrap interval (Efron & Tibshirani 1993)."""
    means = np.concatenate([c @ values for c in bootstrap_counts(rng, n_bootstrap,
                                                                  len(values))]) / len(values)
    lo, hi = percentile_interval(means, confidence)
    return float(values.mean()), float(lo), float(hi)


def plot_boxplot(errors, path, *, ylabel="Error", title="", confidence=0.95, n_bootstrap=2000,
                 seed=0):
    """Box plots of per-case errors, with each mean and its bootstrap confidence interval.

    Boxes span the quartiles, whiskers 1.5 IQR (Tukey), circles are outliers; a diamond
    with error bars marks the mean and its percentile-bootstrap interval (e.g. the CIMT
    thickness errors of Tajbakhsh et al. 2016).

    Parameters
    ----------
    errors : dict of str → array_like
        Finite values per scheme.
    path : str or path-like
        Output ``.png``.
    ylabel, title : str
    confidence : float
    n_bootstrap : int
    seed : int or numpy.random.Generator

    Returns
    -------
    pathlib.Path
    """
    path = _check_path(path)
    _check_mapping(errors, "errors")
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    rng = np.random.default_rng(seed)
    names, data = list(errors), []
    for name in names:
        v = np.asarray(errors[name], dtype=float).ravel()
        if v.size == 0 or not np.isfinite(v).all():
            raise ValueError(f"errors[{name!r}] must be non-empty and finite")
        data.append(v)
    fig, ax = _new_axes((max(4.8, 1.1 * len(names) + 2), 4.8))
    positions = np.arange(1, len(names) + 1)
    ax.boxplot(data, positions=positions, widths=0.55, patch_artist=True,
               boxprops={"facecolor": "#dbe7f3"}, medianprops={"color": "#1f4e79"})
    stats = np.array([_mean_ci(v, confidence, n_bootstrap, rng) for v in data])
    ax.errorbar(positions, stats[:, 0], yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]],
                fmt="D", color="#c0392b", ms=5, capsize=4, lw=1.5,
                label=f"mean ({_pct(confidence)} bootstrap CI)")
    ax.set_xticks(positions)
    long = len(names) > 4 or max(len(n) for n in names) > 10
    ax.set_xticklabels(names, rotation=30 if long else 0, ha="right" if long else "center")
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def plot_training_curves(curves, path, *, xlabel="Iterations", ylabel="Validation AUC",
                         title="", xscale="linear"):
    """Curves such as validation AUC vs iterations, or vs training-set size.

    Parameters
    ----------
    curves : dict of str → (x, y) or (x, y, lower, upper)
        One line per name; with ``lower``/``upper`` a shaded interval is drawn.
    path : str or path-like
        Output ``.png``.
    xlabel, ylabel, title : str
    xscale : {"linear", "log"}

    Returns
    -------
    pathlib.Path
    """
    path = _check_path(path)
    _check_mapping(curves, "curves")
    if xscale not in ("linear", "log"):
        raise ValueError(f"xscale must be 'linear' or 'log', got {xscale!r}")
    fig, ax = _new_axes((6.4, 4.4))
    for name, curve in curves.items():
        if not isinstance(curve, (tuple, list)) or len(curve) not in (2, 4):
            raise ValueError(f"curves[{name!r}] must be (x, y) or (x, y, lower, upper)")
        arrays = [np.asarray(a, dtype=float).ravel() for a in curve]
        if len({a.size for a in arrays}) != 1 or arrays[0].size == 0:
            raise ValueError(f"curves[{name!r}]: x, y (and bounds) must be non-empty and of "
                             f"equal length, got {[a.size for a in arrays]}")
        x, y = arrays[:2]
        line, = ax.plot(x, y, marker="o" if x.size <= 30 else None, ms=4, lw=1.6, label=name)
        if len(arrays) == 4:
            ax.fill_between(x, arrays[2], arrays[3], color=line.get_color(), alpha=0.18, lw=0)
    ax.set_xscale(xscale)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def bland_altman(measured, reference):
    """Bias and 95% limits of agreement of ``measured`` against ``reference``.

    Bland & Altman, "Statistical methods for assessing agreement between two methods of
    clinical measurement", Lancet 327(8476), 1986: the differences' mean (bias) ± 1.96 of
    their standard deviation (``ddof=1``).

    >>> [round(v, 3) for v in bland_altman([1.0, 2.0, 3.0], [1.0, 1.0, 2.0])]
    [0.667, -0.465, 1.798]
    """
    measured = np.asarray(measured, dtype=float).ravel()
    reference = np.asarray(reference, dtype=float).ravel()
    if measured.shape != reference.shape or measured.size < 2:
        raise ValueError(f"measured and reference need the same length >= 2, got "
                         f"{measured.size} and {reference.size}")
    if not (np.isfinite(measured).all() and np.isfinite(reference).all()):
        raise ValueError("measured and reference must be finite")
    difference = measured - reference
    bias, sd = float(difference.mean()), float(difference.std(ddof=1))
    return bias, bias - 1.96 * sd, bias + 1.96 * sd


def plot_bland_altman(pairs, path, *, units="", reference_name="reference", title=""):
    """Bland-Altman plots (difference vs mean), one panel per method, shared axes.

    Parameters
    ----------
    pairs : dict of str → (measured, reference)
        Paired measurements per method (e.g. the CIMT thickness of each scheme against the
        expert's).
    path : str or path-like
        Output ``.png``.
    units, reference_name, title : str

    Returns
    -------
    pathlib.Path
    """
    path = _check_path(path)
    _check_mapping(pairs, "pairs")
    n = len(pairs)
    columns = min(n, 3)
    rows = -(-n // columns)
    fig = Figure(figsize=(4.2 * columns, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    unit = f" ({units})" if units else ""
    for ax, (name, pair) in zip(axes, pairs.items()):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"pairs[{name!r}] must be (measured, reference)")
        bias, low, high = bland_altman(*pair)
        measured, reference = (np.asarray(a, dtype=float).ravel() for a in pair)
        ax.scatter((measured + reference) / 2, measured - reference, s=14, alpha=0.8)
        for value, style in ((bias, "-"), (low, "--"), (high, "--")):
            ax.axhline(value, color="#c0392b", ls=style, lw=1.2)
        ax.set_title(f"{name}\nbias {bias:+.3g}, limits [{low:.3g}, {high:.3g}]",
                     fontsize="small")
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.supxlabel(f"mean of method and {reference_name}{unit}")
    fig.supylabel(f"method − {reference_name}{unit}")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
