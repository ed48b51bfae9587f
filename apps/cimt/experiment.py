"""CIMT experiments: the sweep's patch task, and the paper's evaluation of every trained model.

Tajbakhsh et al. (IEEE TMI 35(5), 2016, §CIMT) judge a CIMT model by what it measures, not
by patch accuracy: each model is applied densely to held-out images, its interfaces are
found by column maxima and snakes, and the mean absolute distance of each interface to the
expert's (their Fig. 9) and the thickness are compared.  This module does that for every
cell of a :func:`medkeras.experiment.sweep.run_sweep` directory, and for the handcrafted
:func:`apps.cimt.measure.gradient_baseline`:

* :class:`CIMTSettings` — patch field of view, patches per case, ROI margin, dense stride;
* :func:`make_task` — training patches of the development cases and test patches of the
  test cases as a 3-class :class:`~medkeras.experiment.sweep.PatchTask` (the sweep's
  validation AUC merges both interfaces against background, as the paper does);
* :func:`measure` — one image + ROI → confidence maps, interfaces, thickness;
* :func:`evaluate_sweep` — per model and test case: both interface errors (µm, pixels) and
  the thickness against the expert's tracing, saved case by case (an interrupted evaluation
  resumes); ``errors.csv`` in ``<sweep>/cimt/``;
* :func:`write_cimt_report` — box plots of each interface's error per scheme (Fig. 9),
  Bland-Altman plots of the thickness, a summary table, ``cimt/report.html``.

The ROI of a test image is :func:`apps.cimt.data.roi_from_annotations` with
``roi_margin_mm``: the box a user would draw around the far wall.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os

import numpy as np
import pandas as pd

from medkeras.checks import integer_at_least, non_negative_number, positive_number
from apps.cimt.data import roi_from_annotations
from apps.cimt.measure import (_strides, dense_confidence, gradient_baseline, interface_error,
                               interfaces_from_confidence, thickness_mm)
from apps.cimt.patches import sample_patches

__all__ = ["CIMTSettings", "make_task", "measure", "evaluate_sweep", "write_cimt_report",
           "case_errors", "BASELINE"]

#: The label of the handcrafted baseline in tables and plots.
BASELINE = "baseline (gradient + DP)"


@dataclasses.dataclass
class CIMTSettings:
    """How CIMT patches are cut and models are applied.

    ``per_class`` training patches per class per case (the paper balanced 3 classes);
    ``test_per_class`` patches per class per test case for the sweep's patch-level AUC;
    ``fov_mm`` field of view of a patch; ``roi_margin_mm`` the ROI around the far wall
    (training background and test ROI); ``stride`` of dense inference, ``(rows, columns)``
    (the paper: every pixel; a column stride trades lateral detail for time).
    """
    fov_mm: float = 3.0
    per_class: int = 100
    test_per_class: int = 30
    min_background_distance_mm: float = 0.3
    roi_margin_mm: float = 1.0
    stride: tuple = (1, 1)
    batch_size: int = 256
    seed: int = 0

    def __post_init__(self):
        self.fov_mm = positive_number(self.fov_mm, "fov_mm")
        self.per_class = integer_at_least(self.per_class, "per_class")
        self.test_per_class = integer_at_least(self.test_per_class, "test_per_class")
        self.min_background_distance_mm = non_negative_number(
            self.min_background_distance_mm, "min_background_distance_mm")
        self.roi_margin_mm = non_negative_number(self.roi_margin_mm, "roi_margin_mm")
        self.stride = _strides(self.stride)
        self.batch_size = integer_at_least(self.batch_size, "batch_size")
        self.seed = integer_at_least(self.seed, "seed", 0)

    def to_json(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))


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


def _finished_cells(sweep_dir):
    import glob

    cells = []
    for path in sorted(glob.glob(os.path.join(sweep_dir, "cells", "*", "cell.json"))):
        with open(path) as f:
            cells.append(json.load(f))
    return cells


def _label(scheme, fraction, seed):
    return f"{scheme} | {fraction:g} | {seed}"


def evaluate_sweep(sweep_dir, test_cases, settings, *, baseline=True, log=print):
    """Interface and thickness errors of every finished cell (and the baseline) on test cases.

    Each (model, case) result is saved as it is computed under
    ``<sweep_dir>/cimt/cases/``, so a re-run computes only what is missing.  Returns the
    table (also ``<sweep_dir>/cimt/errors.csv``): one row per model and case with
    ``scheme``, ``fraction``, ``seed`` and the columns of :func:`case_errors`.
    """
    import keras
    from tqdm.auto import tqdm

    from medkeras.experiment.runner import _atomic_json
    from medkeras.experiment.sweep import cell_name, load_cell_model

    out = os.path.join(sweep_dir, "cimt")
    cases_dir = os.path.join(out, "cases")
    os.makedirs(cases_dir, exist_ok=True)
    jobs = [("baseline", None)] if baseline else []
    jobs += [(cell_name(c["scheme"], c["fraction"], c["seed"]), c)
             for c in _finished_cells(sweep_dir)]
    rows = []
    for slug, record in tqdm(jobs, desc="CIMT evaluation", unit="model", disable=not log):
        model = None
        for case in test_cases:
            path = os.path.join(cases_dir, slug, f"{case.case_id}.json")
            if not os.path.exists(path):
                roi = roi_from_annotations(case, margin_mm=settings.roi_margin_mm)
                if record is None:
                    found = gradient_baseline(case.image, roi, case.mm_per_pixel)
                else:
                    model = model or load_cell_model(sweep_dir, record)
                    _, found, _ = measure(model, case.image, roi, case.mm_per_pixel, settings)
                row = case_errors(found, case)
                row.update({"scheme": BASELINE, "fraction": 1.0, "seed": 0} if record is None
                           else {k: record[k] for k in ("scheme", "fraction", "seed")})
                os.makedirs(os.path.dirname(path), exist_ok=True)
                _atomic_json(path, row)
            with open(path) as f:
                rows.append(json.load(f))
        if model is not None:
            del model
            keras.backend.clear_session()
    columns = ["scheme", "fraction", "seed", "case", "group", "lumen_intima_um",
               "media_adventitia_um", "thickness_error_um", "lumen_intima_px",
               "media_adventitia_px", "thickness_mm", "expert_thickness_mm", "columns"]
    table = pd.DataFrame(rows, columns=columns)
    table.to_csv(os.path.join(out, "errors.csv"), index=False)
    return table


def summarise(table):
    """Mean ± sd of each error per (scheme, fraction, seed), plus the thickness bias."""
    grouped = table.groupby(["scheme", "fraction", "seed"], sort=False)
    summary = grouped.agg(
        cases=("case", "count"),
        lumen_intima_um_mean=("lumen_intima_um", "mean"),
        lumen_intima_um_sd=("lumen_intima_um", "std"),
        media_adventitia_um_mean=("media_adventitia_um", "mean"),
        media_adventitia_um_sd=("media_adventitia_um", "std"),
        thickness_bias_um=("thickness_error_um", "mean"),
        thickness_abs_error_um=("thickness_error_um", lambda v: float(np.mean(np.abs(v)))),
        thickness_error_sd_um=("thickness_error_um", "std"))
    return summary.reset_index()


def _model_order(sweep_dir, table):
    """(scheme, fraction, seed) of ``table`` in report order: the baseline, then the
    sweep report's scheme order (scratch, shallow → deep), larger fractions first."""
    from medkeras.experiment.report import _scheme_order

    with open(os.path.join(sweep_dir, "config.json")) as f:
        config = json.load(f)
    schemes = [BASELINE] + _scheme_order(config, [{"scheme": s} for s in set(table.scheme)])
    models = set(zip(table.scheme, table.fraction, table.seed))
    return sorted(models, key=lambda m: (schemes.index(m[0]), -m[1], m[2]))


def write_cimt_report(sweep_dir, *, n_bootstrap=2000):
    """Figures, ``summary.csv`` and ``report.html`` under ``<sweep_dir>/cimt/`` from
    ``errors.csv``; returns the HTML path."""
    from medkeras.evaluation import plot_bland_altman, plot_boxplot

    out = os.path.join(sweep_dir, "cimt")
    table = pd.read_csv(os.path.join(out, "errors.csv"))
    if table.empty:
        raise ValueError(f"{out}/errors.csv has no rows: evaluate the sweep first")
    models = _model_order(sweep_dir, table)
    summary = summarise(table).set_index(["scheme", "fraction", "seed"]).loc[models]
    summary = summary.reset_index()
    summary.to_csv(os.path.join(out, "summary.csv"), index=False)
    labelled = table.assign(label=[_label(s, f, e) if s != BASELINE else s
                                   for s, f, e in zip(table.scheme, table.fraction, table.seed)])
    order = [_label(s, f, e) if s != BASELINE else s for s, f, e in models]
    figures = []
    for column, title in (("lumen_intima_um", "Lumen-intima interface"),
                          ("media_adventitia_um", "Media-adventitia interface"),
                          ("thickness_error_um", "Thickness (found − expert)")):
        values = {label: labelled.loc[labelled.label == label, column].to_numpy()
                  for label in order}
        path = os.path.join(out, "figures", f"{column}.png")
        figures.append(plot_boxplot(values, path, ylabel="µm", title=title,
                                    n_bootstrap=n_bootstrap))
    pairs = {label: (labelled.loc[labelled.label == label, "thickness_mm"].to_numpy(),
                     labelled.loc[labelled.label == label, "expert_thickness_mm"].to_numpy())
             for label in order}
    figures.append(plot_bland_altman(pairs, os.path.join(out, "figures", "bland_altman.png"),
                                     units="mm", reference_name="expert"))
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            r.scheme, f"{r.fraction:g}", r.seed, r.cases,
            f"{r.lumen_intima_um_mean:.1f} ± {r.lumen_intima_um_sd:.1f}",
            f"{r.media_adventitia_um_mean:.1f} ± {r.media_adventitia_um_sd:.1f}",
            f"{r.thickness_bias_um:+.1f}", f"{r.thickness_abs_error_um:.1f}")) + "</tr>"
        for r in summary.itertuples())
    images = "".join(f'<p><img src="figures/{html.escape(p.name)}" style="max-width:100%"></p>'
                     for p in figures)
    page = f"""<!doctype html><meta charset="utf-8"><title>CIMT evaluation</title>
<h1>CIMT: interface and thickness errors on held-out images</h1>
<p>Every trained model applied densely to each test image (stride and field of view in
<code>cimt.json</code>), interfaces by column maxima and open snakes, errors as the mean
absolute vertical distance to the expert's tracing (Tajbakhsh et al. 2016, Fig. 9).
Thickness is compared with the expert's tracing over the same columns.</p>
<table border="1" cellpadding="4" style="border-collapse:collapse">
<tr><th>scheme</th><th>fraction</th><th>seed</th><th>cases</th>
<th>lumen-intima µm (mean ± sd)</th><th>media-adventitia µm</th>
<th>thickness bias µm</th><th>thickness |error| µm</th></tr>{rows}</table>
{images}"""
    path = os.path.join(out, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
