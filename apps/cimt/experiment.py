"""CIMT experiments: the sweep's patch task, and the paper's evaluation of every trained model.

Tajbakhsh et al. (IEEE TMI 35(5), 2016, §CIMT) judge a CIMT model by what it measures, not
by patch accuracy: each model is applied densely to held-out images, its interfaces are
found by column maxima and snakes, and the mean absolute distance of each interface to the
expert's (their Fig. 9) and the thickness are compared.  This module does that for every
finished cell of a sweep (:class:`~medkeras.experiment.results.SweepResults`), and for the
handcrafted :func:`apps.cimt.measure.gradient_baseline`:

* :func:`make_task` — training patches of the development cases and test patches of the
  test cases as a 3-class :class:`~medkeras.experiment.sweep.PatchTask` (the sweep's
  validation AUC merges both interfaces against background, as the paper does);
* :func:`measure` — one image + ROI → confidence maps, interfaces, thickness;
* :func:`case_errors` — both interface errors and the thickness of one case against the
  expert's tracing;
* :func:`evaluate_cimt` — per model and test case: both interface errors (µm, pixels) and
  the thickness, saved case by case under ``<sweep>/cimt/cases/`` (an interrupted
  evaluation resumes); the per-model summary, the per-case errors, box plots of each
  interface's error per model (Fig. 9) and Bland-Altman plots of the thickness, as an
  :class:`~medkeras.experiment.app.Evaluation`.

The settings (:class:`~apps.cimt.settings.CIMTSettings`: patch field of view, patches per
case, ROI margin, dense stride) live in :mod:`apps.cimt.settings`.  The ROI of a test image
is :func:`apps.cimt.data.roi_from_annotations` with ``roi_margin_mm``: the box a user would
draw around the far wall.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from .data import roi_from_annotations
from .measure import (dense_confidence, gradient_baseline, interface_error,
                      interfaces_from_confidence, thickness_mm)
from .patches import sample_patches

__all__ = ["BASELINE", "case_errors", "evaluate_cimt", "make_task", "measure", "summarise"]

#: The label of the handcrafted baseline in tables and plots.
BASELINE = "baseline (gradient + DP)"


def make_task(train_cases, test_cases, settings, *, name="CIMT"):
    """The sweep's :class:`~medkeras.experiment.sweep.PatchTask` (3 classes, groups = patients).

    Development patches come from ``train_cases`` (the sweep splits validation from them by
    group), test patches from ``test_cases``; interfaces (classes 1 and 2) are the positive
    classes of the validation and test AUC.
    """
    from medkeras.experiment.sweep import PatchTask

    if not train_cases or not test_cases:
        raise ValueError("make_task needs at least one training and one test case")
    overlap = {c.group for c in train_cases} & {c.group for c in test_cases}
    if overlap:
        raise ValueError(f"groups {sorted(overlap)} are on both sides of the split")
    options = dict(fov_mm=settings.fov_mm, roi_margin_mm=settings.roi_margin_mm,
                   min_background_distance_mm=settings.min_background_distance_mm,
                   batch_size=settings.batch_size)
    train = sample_patches(train_cases, per_class=settings.per_class, seed=settings.seed,
                           **options)
    test = sample_patches(test_cases, per_class=settings.test_per_class,
                          seed=settings.seed + 100_000, **options)
    return PatchTask(name, train.patches, train.labels, train.groups, test.patches,
                     test.labels, test_groups=test.groups, classes=3, positive_classes=(1, 2))


def measure(model, image, roi, mm_per_pixel, settings, **snake_options):
    """One image → ``(maps, interfaces, thickness_mm)`` with a trained 3-class model.

    Dense confidence over ``roi`` (:func:`~apps.cimt.measure.dense_confidence`, the
    settings' field of view and stride), column maxima and open snakes
    (:func:`~apps.cimt.measure.interfaces_from_confidence`), thickness as the mean vertical
    distance (:func:`~apps.cimt.measure.thickness_mm`).
    """
    maps = dense_confidence(model, image, roi, fov_mm=settings.fov_mm,
                            mm_per_pixel=mm_per_pixel, stride=settings.stride,
                            batch_size=settings.batch_size)
    found = interfaces_from_confidence(maps, **snake_options)
    return maps, found, thickness_mm(found.lumen_intima, found.media_adventitia, mm_per_pixel)


def case_errors(found, case):
    """Errors of found :class:`~apps.cimt.measure.Interfaces` against a case's expert.

    Thickness is compared with the expert's tracing over the same columns (not with the
    recorded ``imt_mm``, which in one development case contradicts its own tracing).
    """
    li, ma = case.rows(found.columns)
    mm = case.mm_per_pixel
    li_error = interface_error(found.lumen_intima, li, mm)
    ma_error = interface_error(found.media_adventitia, ma, mm)
    both = np.isfinite(li) & np.isfinite(ma)
    measured = thickness_mm(found.lumen_intima[both], found.media_adventitia[both], mm)
    expert = thickness_mm(li[both], ma[both], mm)
    return {"case": case.case_id, "group": case.group,
            "lumen_intima_um": li_error.mean_um, "lumen_intima_px": li_error.mean_px,
            "media_adventitia_um": ma_error.mean_um, "media_adventitia_px": ma_error.mean_px,
            "thickness_mm": measured, "expert_thickness_mm": expert,
            "thickness_error_um": (measured - expert) * 1000, "columns": li_error.n_columns}




#: The columns of the per-case errors (``errors.csv``): readable name ← key of a case's row.
ERROR_COLUMNS = {"model": "model", "case": "case", "patient": "group",
                 "lumen-intima error µm": "lumen_intima_um",
                 "media-adventitia error µm": "media_adventitia_um",
                 "thickness error µm (found − expert)": "thickness_error_um",
                 "lumen-intima error px": "lumen_intima_px",
                 "media-adventitia error px": "media_adventitia_px",
                 "thickness mm": "thickness_mm", "expert thickness mm": "expert_thickness_mm",
                 "columns": "columns"}


def _case_rows(results, test_cases, settings, cases_dir, *, baseline=True, progress=True):
    """One row (:func:`case_errors` and the model's ``scheme``, ``fraction``, ``seed``) per
    model and test case, with ``model`` its label; each row is kept in
    ``cases_dir/<cell>/<case>.json`` as soon as it is computed and reused when it exists
    (and, for a CNN, was measured with the same dense stride)."""
    import keras
    from tqdm.auto import tqdm

    from medkeras.atomic import write_json_atomic
    from medkeras.experiment.results import cell_name
    from medkeras.experiment.sweep import load_cell_model

    jobs = [(BASELINE, "baseline", None)] if baseline else []
    jobs += [(cell.label, cell_name(cell.scheme, cell.fraction, cell.seed), cell)
             for cell in results.cells]
    stride = list(settings.stride)
    rows = []
    for label, slug, cell in tqdm(jobs, desc="CIMT evaluation", unit="model",
                                  disable=not progress):
        model = None
        for case in test_cases:
            path = os.path.join(cases_dir, slug, f"{case.case_id}.json")
            row = None
            if os.path.exists(path):
                with open(path) as f:
                    row = json.load(f)
                if cell is not None and row.get("stride", stride) != stride:
                    row = None                    # measured with another stride: again
            if row is None:
                roi = roi_from_annotations(case, margin_mm=settings.roi_margin_mm)
                if cell is None:
                    found = gradient_baseline(case.image, roi, case.mm_per_pixel)
                else:
                    model = model or load_cell_model(results.directory, cell.key)
                    _, found, _ = measure(model, case.image, roi, case.mm_per_pixel, settings)
                row = case_errors(found, case)
                row.update({"scheme": BASELINE, "fraction": 1.0, "seed": 0} if cell is None
                           else {**cell.key, "stride": stride})
                write_json_atomic(path, row)
            rows.append({**row, "model": label})
        if model is not None:
            del model
            keras.backend.clear_session()
    return rows


def _mean_interval(values, groups, n_bootstrap, *, confidence=0.95, seed=0):
    """The mean of ``values`` and its percentile-bootstrap interval, resampling patients
    (``groups``) with their cases."""
    values, groups = np.asarray(values, float), np.asarray(groups)
    names, index = np.unique(groups, return_inverse=True)
    sums = np.bincount(index, weights=values, minlength=len(names))
    counts = np.bincount(index, minlength=len(names))
    draws = np.random.default_rng(seed).integers(0, len(names), (n_bootstrap, len(names)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def summarise(table, *, n_bootstrap=1000):
    """Per model of ``table`` (one row per model and case, the keys of
    :func:`case_errors` and ``model``), in its order: the number of cases, mean and sd of
    each interface's error, the thickness bias, mean |error| (with its 95% bootstrap
    interval over patients) and the sd of the thickness error; numbers, in µm."""
    rows = []
    for model, part in table.groupby("model", sort=False):
        error = part.thickness_error_um.to_numpy(float)
        finite = np.isfinite(error)
        if finite.any():
            mean_abs, low, high = _mean_interval(np.abs(error[finite]),
                                                 part.group.to_numpy()[finite], n_bootstrap)
        else:
            mean_abs = low = high = float("nan")
        rows.append({"model": model, "cases": len(part),
                     "lumen_intima_um_mean": part.lumen_intima_um.mean(),
                     "lumen_intima_um_sd": part.lumen_intima_um.std(),
                     "media_adventitia_um_mean": part.media_adventitia_um.mean(),
                     "media_adventitia_um_sd": part.media_adventitia_um.std(),
                     "thickness_bias_um": part.thickness_error_um.mean(),
                     "thickness_abs_error_um": mean_abs, "thickness_abs_error_low": low,
                     "thickness_abs_error_high": high,
                     "thickness_error_sd_um": part.thickness_error_um.std()})
    return pd.DataFrame(rows)


def _mean_sd(mean, sd):
    return f"{mean:.1f} ± {sd:.1f}" if np.isfinite(sd) else f"{mean:.1f}"


def _interval(low, high):
    return f"[{low:.1f}, {high:.1f}]"


def _readable_summary(summary):
    return pd.DataFrame({
        "model": summary.model,
        "test cases": summary.cases,
        "lumen-intima error µm (mean ± sd)": [
            _mean_sd(m, s) for m, s in zip(summary.lumen_intima_um_mean,
                                           summary.lumen_intima_um_sd)],
        "media-adventitia error µm (mean ± sd)": [
            _mean_sd(m, s) for m, s in zip(summary.media_adventitia_um_mean,
                                           summary.media_adventitia_um_sd)],
        "thickness bias µm": summary.thickness_bias_um,
        "thickness |error| µm": summary.thickness_abs_error_um,
        "thickness |error| µm, 95% CI": [
            _interval(lo, hi) for lo, hi in zip(summary.thickness_abs_error_low,
                                                summary.thickness_abs_error_high)],
        "thickness error sd µm": summary.thickness_error_sd_um})


def _describe(row):
    return (f"mean thickness |error| {row.thickness_abs_error_um:.1f} µm (95% CI "
            f"{row.thickness_abs_error_low:.1f}–{row.thickness_abs_error_high:.1f}; bias "
            f"{row.thickness_bias_um:+.1f} µm), lumen-intima error "
            f"{row.lumen_intima_um_mean:.1f} µm, media-adventitia error "
            f"{row.media_adventitia_um_mean:.1f} µm")


def evaluate_cimt(results, test_cases, settings, *, out, n_bootstrap=1000, baseline=True,
                  progress=True):
    """Interface and thickness errors of every finished cell of ``results`` (a
    :class:`~medkeras.experiment.results.SweepResults`) and of the baseline on the test cases.

    Each model is applied densely to each test image (the settings' field of view and
    stride, ROI with ``roi_margin_mm``); each (model, case) result is kept under
    ``out/cases/`` as it is computed, so a re-run computes only what is missing.  Models are
    in report order: the baseline, then the sweep's (scratch, shallow → deep tuning
    (:meth:`~medkeras.experiment.results.SweepResults.scheme_order`), larger fractions
    first).  Returns an :class:`~medkeras.experiment.app.Evaluation`: the per-model summary
    (``summary.csv``), the per-case errors (``errors.csv``), box plots of each interface's
    error and of the thickness error per model (the paper's Fig. 9) and Bland-Altman plots
    of the thickness, under ``out/figures/``.
    """
    from medkeras.evaluation import plot_bland_altman, plot_boxplot
    from medkeras.experiment.app import Evaluation, Table

    if not test_cases:
        raise ValueError("the CIMT evaluation needs test cases")
    rows = _case_rows(results, test_cases, settings, os.path.join(out, "cases"),
                      baseline=baseline, progress=progress)
    if not rows:
        raise ValueError(f"{results.directory}: no finished cell to evaluate")
    table = pd.DataFrame(rows, columns=list(ERROR_COLUMNS.values()))
    order = list(dict.fromkeys(table.model))
    summary = summarise(table, n_bootstrap=n_bootstrap)

    figures = []
    for column, title in (("lumen_intima_um", "Lumen-intima interface"),
                          ("media_adventitia_um", "Media-adventitia interface"),
                          ("thickness_error_um", "Thickness (found − expert)")):
        values = {label: table.loc[table.model == label, column].to_numpy()
                  for label in order}
        path = os.path.join(out, "figures", f"{column}.png")
        figures.append((f"{title}: error per test image, µm",
                        plot_boxplot(values, path, ylabel="µm", title=title,
                                     n_bootstrap=n_bootstrap)))
    pairs = {label: (table.loc[table.model == label, "thickness_mm"].to_numpy(),
                     table.loc[table.model == label, "expert_thickness_mm"].to_numpy())
             for label in order}
    figures.append(("Thickness against the expert's (Bland-Altman)",
                    plot_bland_altman(pairs, os.path.join(out, "figures", "bland_altman.png"),
                                      units="mm", reference_name="expert")))

    by_model = {row.model: row for row in summary.itertuples()}
    trained = [label for label in order if label != BASELINE]
    parts = []            # not empty: there is a baseline or a finished cell
    if trained:
        def rank(label):
            row = by_model[label]
            interfaces = (row.lumen_intima_um_mean + row.media_adventitia_um_mean) / 2
            thickness = row.thickness_abs_error_um
            return (thickness if np.isfinite(thickness) else np.inf, interfaces)

        best = min(trained, key=rank)
        parts.append(f"Best model: <b>{best}</b>, {_describe(by_model[best])} on "
                     f"{len(test_cases)} held-out images")
    if BASELINE in by_model:
        parts.append(f"the handcrafted {BASELINE}: {_describe(by_model[BASELINE])}")
    answer = "; ".join(parts) + "."
    answer = answer[0].upper() + answer[1:]     # "The handcrafted …" when it is alone
    down, across = settings.stride
    stride = "every pixel" if (down, across) == (1, 1) else \
        f"a stride of {down} row{'s' * (down > 1)} × {across} column{'s' * (across > 1)}"
    return Evaluation(
        answer=answer,
        introduction=(
            "Every trained model is applied densely to each test image (field of view "
            f"{settings.fov_mm:g} mm, {stride}) inside the "
            f"region of interest around the far wall (the expert's tracing with a "
            f"{settings.roi_margin_mm:g} mm margin); the interfaces are the column maxima of "
            "the confidence maps smoothed by open snakes, and each interface's error is the "
            "mean absolute vertical distance to the expert's tracing (Tajbakhsh et al. 2016, "
            "Fig. 9). Thickness is compared with the expert's tracing over the same columns. "
            "The baseline finds both interfaces as the best pair of dark→bright edges by "
            "dynamic programming, then the same snakes. Models are named scheme | training "
            "fraction | seed. Intervals are 95% percentile-bootstrap intervals of the mean "
            "over patients (tables) and test images (box plots)."),
        tables=[Table("Interface and thickness errors on the test images",
                      _readable_summary(summary), "summary.csv"),
                Table("Errors per model and test image",
                      table.rename(columns={v: k for k, v in ERROR_COLUMNS.items()}),
                      "errors.csv")],
        figures=figures)
