"""Measure one image with an exported CIMT model: thickness, interfaces, an overlay picture.

``python -m apps.cimt measure IMAGE --model EXPORTED --roi y0,x0,y1,x1 --mm-per-pixel S
--out DIR`` writes

* ``measurement.json`` — the IMT in mm, the ROI, the pixel size, the model and settings
  used, both interfaces as ``(x, y)`` image coordinates, and, with ``--annotations``, the
  errors against the expert;
* ``interfaces.csv`` — one row per column: ``x``, ``lumen_intima_y``, ``media_adventitia_y``;
* ``overlay.png`` — the ROI with both confidence maps (lumen-intima red, media-adventitia
  green) and the snakes (and the expert's interfaces, dashed, when given).

``--model baseline`` uses :func:`apps.cimt.measure.gradient_baseline` instead of a CNN.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pandas as pd

from .data import check_roi, load_case, read_grey_png, roi_from_annotations

__all__ = ["load_exported", "measure_image", "plot_overlay"]


def load_exported(model_dir):
    """An exported CIMT model folder (``python -m apps.cimt export``) → (model, settings)."""
    from medkeras.export import load_exported as load

    from .settings import CIMTSettings

    model, info = load(model_dir, application="cimt", settings=CIMTSettings)
    return model, info["settings"]


def _read_image(path):
    """``(grey uint8 image, warnings)``: a colour picture of a grey scan is measured on its
    luma, with a warning (the scan's own grey levels may differ)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such image file")
    try:
        return read_grey_png(path), []
    except ValueError as err:
        if "got colour" not in str(err):
            raise
    from medkeras.io.images import read_image
    return read_image(path, channels=1, dtype=np.uint8)[..., 0], [
        f"{path} is in colour; measured on its luma (ITU-R 601 grey), not on the scanner's "
        "own grey levels"]


def measure_image(image_path, *, model_dir, out, roi=None, mm_per_pixel=None, annotations=None,
                  stride=None):
    """Measure ``image_path``; returns the ``measurement.json`` record.  See the module."""
    from .experiment import case_errors, measure
    from .measure import gradient_baseline, thickness_mm
    from .settings import stride_pair

    case, warnings = None, []
    if annotations is not None:
        case = load_case(image_path, annotation_path=annotations, verify_checksum=False)
        image = case.image
        mm_per_pixel = case.mm_per_pixel if mm_per_pixel is None else mm_per_pixel
    else:
        image, warnings = _read_image(image_path)
    if mm_per_pixel is None:
        raise ValueError("the pixel size is needed: --mm-per-pixel or --annotations")
    if roi is None:
        if case is None:
            raise ValueError("give the region of interest around the far wall (--roi "
                             "y0,x0,y1,x1) or --annotations to derive it")
        roi = roi_from_annotations(case)
    roi = check_roi(roi, image.shape)
    maps = None
    if model_dir == "baseline":
        found = gradient_baseline(image, roi, mm_per_pixel)
        thickness, settings = thickness_mm(found.lumen_intima, found.media_adventitia,
                                           mm_per_pixel), None
    else:
        model, settings = load_exported(model_dir)
        if stride is not None:
            settings.stride = stride_pair(stride)
        maps, found, thickness = measure(model, image, roi, mm_per_pixel, settings)
    os.makedirs(out, exist_ok=True)
    record = {"image": str(image_path), "model": str(model_dir), "roi": list(roi),
              "mm_per_pixel": float(mm_per_pixel), "thickness_mm": float(thickness),
              "settings": None if settings is None else settings.to_json(),
              "columns": found.columns.tolist(),
              "lumen_intima": np.stack([found.columns, found.lumen_intima], 1).tolist(),
              "media_adventitia": np.stack([found.columns, found.media_adventitia], 1).tolist()}
    crossed = int(np.sum(found.media_adventitia < found.lumen_intima))
    if crossed:
        # Each interface is found on its own map (the paper's method), so a poor model can
        # put media-adventitia above lumen-intima: a negative thickness, said, not hidden.
        warnings.append(
            f"the interfaces cross in {crossed} of {len(found.columns)} columns (media-"
            "adventitia above lumen-intima): the model does not separate them here; the "
            "thickness is not a measurement")
    if warnings:
        record["warnings"] = warnings
    if case is not None:
        record["errors"] = case_errors(found, case)
    from medkeras.atomic import write_csv_atomic, write_json_atomic

    # the overlay and the table first, the record last: measurement.json exists only when
    # everything of this measurement was written
    plot_overlay(image, roi, found, os.path.join(out, "overlay.png"), maps=maps, case=case,
                 title=f"IMT {thickness:.3f} mm")
    write_csv_atomic(os.path.join(out, "interfaces.csv"), pd.DataFrame({
        "x": found.columns, "lumen_intima_y": found.lumen_intima,
        "media_adventitia_y": found.media_adventitia}))
    write_json_atomic(os.path.join(out, "measurement.json"), record)
    return record


def plot_overlay(image, roi, found, path, *, maps=None, case=None, title=""):
    """The ROI (with some context) and the found interfaces; confidence maps as colour."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from medkeras.atomic import save_figure_atomic

    y0, x0, y1, x1 = roi
    pad = max(10, (y1 - y0) // 2)
    top, bottom = max(0, y0 - pad), min(image.shape[0], y1 + pad)
    left, right = max(0, x0 - pad), min(image.shape[1], x1 + pad)
    fig = Figure(figsize=(10, 10 * (bottom - top) / max(right - left, 1) + 1.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    extent = (left - 0.5, right - 0.5, bottom - 0.5, top - 0.5)
    ax.imshow(image[top:bottom, left:right], cmap="gray", extent=extent, vmin=0, vmax=255)
    if maps is not None:
        rows, columns = np.asarray(maps.rows), np.asarray(maps.columns)
        colour = np.zeros((len(rows), len(columns), 4))
        colour[..., 0] = 1.0
        colour[..., 1] = maps.media_adventitia > maps.lumen_intima
        colour[..., 0] *= 1 - colour[..., 1]
        colour[..., 3] = 0.6 * np.maximum(maps.lumen_intima, maps.media_adventitia)
        step_r = rows[1] - rows[0] if len(rows) > 1 else 1
        step_c = columns[1] - columns[0] if len(columns) > 1 else 1
        ax.imshow(colour, extent=(columns[0] - step_c / 2, columns[-1] + step_c / 2,
                                  rows[-1] + step_r / 2, rows[0] - step_r / 2),
                  interpolation="nearest")
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="#f1c40f",
                           lw=1, ls=":"))
    ax.plot(found.columns, found.lumen_intima, color="#ff6f61", lw=1.5, label="lumen-intima")
    ax.plot(found.columns, found.media_adventitia, color="#7dff7a", lw=1.5,
            label="media-adventitia")
    if case is not None:
        li, ma = case.rows(found.columns)
        ax.plot(found.columns, li, "w--", lw=1, label="expert")
        ax.plot(found.columns, ma, "w--", lw=1)
    ax.set(xlim=(left - 0.5, right - 0.5), ylim=(bottom - 0.5, top - 0.5), title=title)
    ax.legend(loc="lower right", fontsize="small")
    save_figure_atomic(fig, path, dpi=120, bbox_inches="tight")
    return path
