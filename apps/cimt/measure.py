"""From an image to an intima-media thickness: dense confidence, column maxima, snakes.

The measurement of Tajbakhsh et al. (IEEE TMI 35(5), 2016, §CIMT, after Shin et al.):

1. a 3-class CNN (background, lumen-intima, media-adventitia) is applied to a patch around
   **every pixel** of the region of interest (:func:`dense_confidence`), giving one
   confidence map per interface;
2. in each column the row of maximum confidence is taken (:func:`column_maxima`); these
   boundaries are step-like and noisy;
3. two **open snakes** (Kass, Witkin & Terzopoulos, IJCV 1(4), 1988), initialised on them,
   smooth them under the image forces of the (smoothed) confidence maps
   (:func:`smooth_interface`, with :func:`skimage.segmentation.active_contour`);
4. the IMT is the mean vertical distance between the two interfaces times the pixel size
   (:func:`thickness_mm`); each interface is scored against the expert's by the mean
   absolute vertical distance (:func:`interface_error`).

:func:`gradient_baseline` is a handcrafted comparison without learning: the two interfaces
as the jointly best pair of dark→bright intensity edges, found by dynamic programming, then
the same snakes.

All rows are image rows (pixel ``(r, c)`` centred at ``y = r``, as in :mod:`apps.cimt.data`)
unless a function says otherwise.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from medkeras.checks import integer_at_least, non_negative_number, positive_number
from medkeras.data.prefetch import prefetched
from medkeras.inference import inference_function
from scipy import ndimage

from .data import check_roi
from .patches import patch_batches, patch_boxes
from .settings import stride_pair

__all__ = ["ConfidenceMaps", "InterfaceError", "Interfaces", "column_maxima",
           "dense_confidence", "gradient_baseline", "interface_error",
           "interfaces_from_confidence", "smooth_interface", "thickness_mm"]


class ConfidenceMaps(NamedTuple):
    """Dense confidence over a region of interest.

    ``lumen_intima[i, j]`` and ``media_adventitia[i, j]`` are the classifier's probabilities
    of classes 1 and 2 for the patch centred on pixel ``(rows[i], columns[j])``.
    """
    lumen_intima: np.ndarray
    media_adventitia: np.ndarray
    rows: np.ndarray
    columns: np.ndarray


class Interfaces(NamedTuple):
    """Row of each interface at each of ``columns`` (image coordinates, float)."""
    lumen_intima: np.ndarray
    media_adventitia: np.ndarray
    columns: np.ndarray


class InterfaceError(NamedTuple):
    """Mean absolute vertical distance to the expert, over ``n_columns`` columns."""
    mean_um: float
    mean_px: float
    n_columns: int





# --------------------------------------------------------------------------- dense inference


def dense_confidence(model, image, roi, *, fov_mm, mm_per_pixel, stride=1, batch_size=256,
                     preprocess=True, classes=(1, 2)):
    """The classifier's confidence for both interfaces at every ``stride``-th ROI pixel.

    The patch of pixel ``(r, c)`` is exactly the training patch of
    :func:`apps.cimt.patches.extract_patches` (same boxes, same ``crop_and_resize``), so
    the value at ``(r, c)`` equals the model's output on that patch.  Patches are cut and
    classified ``batch_size`` at a time (a loop over batches, never over pixels), the next
    batch cut while the network classifies this one; at most two batches of patches are in
    memory.

    Parameters
    ----------
    model : callable
        A Keras model (or any callable) mapping ``(n, size, size, 3)`` float32 patches to
        ``(n, classes)`` probabilities, e.g. a 3-class :class:`medkeras.SqueezeNet`.  The
        patch size is read from ``model.input_shape`` (227 without one).
    image : (H, W) array
        Grey image, 0–255.
    roi : (y0, x0, y1, x1)
        Integer region ``image[y0:y1, x0:x1]``.
    fov_mm, mm_per_pixel : float
        Field of view of a patch (as in training) and pixel size.
    stride : int or (int, int)
        1: every pixel (the paper); ``s``: rows ``y0, y0 + s, …`` and likewise columns;
        ``(s_rows, s_columns)``: each its own.  A column stride costs the interfaces
        nothing but lateral detail; a row stride coarsens their vertical position.
    batch_size : int
    preprocess : bool
        Apply :func:`medkeras.preprocess_input`, as :func:`~apps.cimt.patches.sample_patches`
        does by default: use the same setting as in training.
    classes : (int, int)
        Output indices of the lumen-intima and media-adventitia classes.

    Returns
    -------
    ConfidenceMaps
        Maps of shape ``(len(rows), len(columns))``, float32.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grey array, got shape {image.shape}")
    y0, x0, y1, x1 = check_roi(roi, image.shape)
    row_stride, column_stride = stride_pair(stride)
    fov_px = positive_number(fov_mm, "fov_mm") / positive_number(mm_per_pixel, "mm_per_pixel")
    if len(classes) != 2:
        raise ValueError(f"classes must be the two output indices (lumen-intima, "
                         f"media-adventitia), got {classes!r}")
    shape = getattr(model, "input_shape", None)
    size = int(shape[1]) if shape is not None and shape[1] is not None else 227
    rows, columns = np.arange(y0, y1, row_stride), np.arange(x0, x1, column_stride)
    grid = np.stack(np.meshgrid(rows, columns, indexing="ij"), axis=-1).reshape(-1, 2)
    boxes = patch_boxes(grid, fov_px)
    out = np.empty((len(grid), 2), np.float32)
    infer = (inference_function(model) if hasattr(model, "predict_on_batch")
             else lambda x: model(x, training=False))      # any callable: as it is
    batches = patch_batches(image, boxes, size=size, batch_size=batch_size,
                            preprocess=preprocess)
    for start, patches in prefetched(batches):          # the next batch is cut meanwhile
        probabilities = np.asarray(infer(patches))
        if probabilities.ndim != 2 or probabilities.shape[0] != len(patches):
            raise ValueError(f"the model must return (n, classes) scores, got shape "
                             f"{probabilities.shape} for {len(patches)} patches")
        out[start:start + len(patches)] = probabilities[:, list(classes)]
    maps = out.reshape(len(rows), len(columns), 2)
    return ConfidenceMaps(maps[..., 0], maps[..., 1], rows, columns)


def column_maxima(confidence):
    """Row index of the maximum of each column of a confidence map (the first, on ties).

    The paper's initial, step-like interface.  Indices are into the map: add the map's first
    row (``ConfidenceMaps.rows``) for image rows.

    >>> column_maxima(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.9]]))
    array([1, 0])
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.ndim != 2 or 0 in confidence.shape:
        raise ValueError(f"confidence must be a non-empty 2-D map, got shape {confidence.shape}")
    empty = np.flatnonzero(np.all(np.isnan(confidence), axis=0))
    if empty.size:
        raise ValueError(f"column {empty[0]} of the confidence map is all NaN")
    return np.nanargmax(confidence, axis=0).astype(np.int64)


# --------------------------------------------------------------------------- snakes


def _ridge_energy(rows, sigma):
    """A ridge of width ``sigma`` along ``rows``: the snake's energy without an image."""
    top = math.floor(np.min(rows) - 4 * sigma - 2)
    height = math.ceil(np.max(rows) + 4 * sigma + 2) - top + 1
    grid = np.arange(height)[:, None] + top
    return np.exp(-0.5 * ((grid - rows[None, :]) / sigma) ** 2), top


def smooth_interface(rows, *, energy=None, sigma=2.0, alpha=0.0, beta=10.0, gamma=0.1,
                     w_line=1.0, boundary_condition="fixed", end_columns=10, max_px_move=0.5,
                     max_num_iter=1000, convergence=0.01):
    """Smooth a step-like interface with an open snake (Kass et al. 1988).

    The snake is one point per column, initialised at ``(rows[j], j)``, and evolved by
    :func:`skimage.segmentation.active_contour` on the external energy ``w_line · E``,
    where ``E`` is ``energy`` smoothed with a Gaussian of ``sigma`` pixels and scaled to
    ``[0, 1]`` (the snake climbs it: a confidence map or an edge-strength map).  Internal
    energy: ``alpha`` (tension) and ``beta`` (rigidity), skimage's.  The defaults — no
    tension, rigidity 10, ``sigma`` 2 — bridge one-pixel steps while the ridge keeps the
    snake in place.  Without ``energy`` the energy is a Gaussian ridge of width ``sigma``
    along ``rows`` itself: the snake then only smooths.

    **Ends.**  The snake is open.  It runs on the columns extended by ``end_columns`` on
    each side (the energy's edge columns repeated; the rows continued at the median of the
    first and last ``end_columns`` rows), and ``boundary_condition`` applies to those
    extended ends, which are then dropped: with the default ``"fixed"`` the extended ends
    stay put and the real first and last columns move like the others.  ``"free"`` lets the
    extended ends move too (skimage's free ends can slide off the map and diverge with a
    narrow ridge and a stiff snake; the fixed default is stable); ``"free-fixed"`` and
    ``"fixed-free"`` mix them.  ``end_columns=0`` applies the condition to the real ends.

    The snake may also move sideways; the result is read back at the columns by linear
    interpolation along the snake (beyond a moved end, the end's row).

    Parameters
    ----------
    rows : (n,) array
        Initial row in each of ``n`` consecutive columns (``n >= 4``), in the coordinates of
        ``energy`` (row index of the map; column ``j`` of the map is column ``j`` of rows).
    energy : (h, n) array, optional
        External energy (higher is better).
    sigma : float or (float, float)
        Gaussian smoothing of ``energy``, pixels, both axes or (rows, columns); 0: none.
        Without ``energy``, the ridge width (rows).  Vertical smoothing moves the maximum
        of an asymmetric ridge (an edge with a weaker opposite edge nearby); lateral
        smoothing does not.
    alpha, beta, gamma, w_line, max_px_move, max_num_iter, convergence
        :func:`skimage.segmentation.active_contour`'s parameters (``w_edge`` is 0).
    boundary_condition : {"fixed", "free", "free-fixed", "fixed-free"}
    end_columns : int
        Extension at each end, columns.

    Returns
    -------
    (n,) float64
        Smoothed rows, same coordinates as ``rows``.
    """
    from skimage.segmentation import active_contour

    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 1 or len(rows) < 4 or not np.all(np.isfinite(rows)):
        raise ValueError(f"rows must be at least 4 finite values, got shape {rows.shape}")
    if boundary_condition not in ("free", "fixed", "free-fixed", "fixed-free"):
        raise ValueError("boundary_condition must be 'fixed', 'free', 'free-fixed' or "
                         f"'fixed-free' (an open snake), got {boundary_condition!r}")
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (2,)) \
        if np.ndim(sigma) <= 1 and np.size(sigma) in (1, 2) else None
    if sigmas is None or isinstance(sigma, bool) or not np.all(np.isfinite(sigmas)) \
            or np.any(sigmas < 0):
        raise ValueError(f"sigma must be a number >= 0 or a (rows, columns) pair, got {sigma!r}")
    n, pad = len(rows), integer_at_least(end_columns, "end_columns", 0)
    if pad:
        head, tail = np.median(rows[:pad]), np.median(rows[-pad:])
        extended = np.concatenate([np.full(pad, head), rows, np.full(pad, tail)])
    else:
        extended = rows
    if energy is None:
        if sigmas[0] <= 0:
            raise ValueError("without energy, sigma (the ridge width) must be positive")
        energy, top = _ridge_energy(extended, sigmas[0])
    else:
        energy = np.asarray(energy, dtype=np.float64)
        if energy.ndim != 2 or energy.shape[1] != n:
            raise ValueError(f"energy must be a (h, {n}) map (one column per row), got "
                             f"shape {energy.shape}")
        if not np.all(np.isfinite(energy)):
            raise ValueError("energy must be finite")
        if np.any(sigmas > 0):
            energy = ndimage.gaussian_filter(energy, tuple(sigmas), mode="nearest")
        energy = np.pad(energy, ((0, 0), (pad, pad)), mode="edge")
        top = 0
    energy = energy - energy.min()
    energy = energy / energy.max() if energy.max() > 0 else energy
    columns = np.arange(len(extended), dtype=np.float64)
    initial = np.stack([np.clip(extended - top, 0, energy.shape[0] - 1), columns], axis=1)
    snake = active_contour(energy, initial, alpha=alpha, beta=beta, w_line=w_line, w_edge=0,
                           gamma=gamma, max_px_move=max_px_move, max_num_iter=max_num_iter,
                           convergence=convergence, boundary_condition=boundary_condition)
    order = np.argsort(snake[:, 1], kind="stable")
    smoothed = np.interp(columns, snake[order, 1], snake[order, 0]) + top
    return smoothed[pad:pad + n]


# --------------------------------------------------------------------------- measurements


def _paired(a, b, what):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"{what}: both row arrays must be 1-D with the same length, got shapes "
                         f"{a.shape} and {b.shape}")
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        raise ValueError(f"{what}: no column where both are defined")
    return a[both], b[both]


def thickness_mm(lumen_intima_rows, media_adventitia_rows, mm_per_pixel):
    """Mean vertical distance between the interfaces × pixel size (the IMT), millimetres.

    Averaged over the columns where both rows are finite; signed (media-adventitia below
    lumen-intima is positive).

    >>> thickness_mm([10.0, 11.0, np.nan], [20.0, 23.0, 30.0], 0.05)
    0.55
    """
    li, ma = _paired(lumen_intima_rows, media_adventitia_rows, "thickness_mm")
    return float(np.mean(ma - li) * positive_number(mm_per_pixel, "mm_per_pixel"))


def interface_error(rows, expert_rows, mm_per_pixel):
    """Mean absolute vertical distance to the expert's interface, in µm and pixels.

    Over the columns where both are finite (the expert's rows are NaN outside the traced
    x-range, :func:`apps.cimt.data.interface_rows`).

    >>> interface_error([10.0, 12.0, 5.0], [11.0, 11.0, np.nan], 0.06)
    InterfaceError(mean_um=60.0, mean_px=1.0, n_columns=2)
    """
    found, expert = _paired(rows, expert_rows, "interface_error")
    mean_px = float(np.mean(np.abs(found - expert)))
    return InterfaceError(round(mean_px * positive_number(mm_per_pixel, "mm_per_pixel") * 1000, 9),
                          mean_px, int(len(found)))


def interfaces_from_confidence(maps, *, sigma=(1.0, 2.0), **snake_options):
    """Both interfaces from dense confidence maps: column maxima, then open snakes.

    Each interface's snake is initialised on its column maxima and climbs its own map,
    smoothed with ``sigma`` map pixels, (rows, columns) (:func:`smooth_interface`; further
    options go there).  With a stride, the map grid is coarser than the image; rows are converted back
    to image rows, at ``maps.columns``.

    Returns
    -------
    Interfaces
    """
    rows = np.asarray(maps.rows)
    step = float(rows[1] - rows[0]) if len(rows) > 1 else 1.0
    found = []
    for confidence in (maps.lumen_intima, maps.media_adventitia):
        start = column_maxima(confidence).astype(np.float64)
        smooth = smooth_interface(start, energy=confidence, sigma=sigma, **snake_options)
        found.append(rows[0] + step * smooth)
    return Interfaces(found[0], found[1], np.asarray(maps.columns))


# --------------------------------------------------------------------------- baseline


def _best_pair_of_edges(edges, lumen_score, d_min, d_max, max_step, penalty):
    """Dynamic programming: per column a lumen-intima row r and a thickness d.

    Maximises ``Σ_c lumen_score[r_c, c] + edges[r_c + d_c, c] − penalty·(|Δr| + |Δd|)``
    with ``|r_{c+1} − r_c| <= max_step`` and ``|d_{c+1} − d_c| <= 1``,
    ``d_min <= d <= d_max``.  Returns (r, d) per column.
    """
    height, width = edges.shape
    thickness = np.arange(d_min, d_max + 1)
    r = np.arange(height)[:, None]
    valid = (r + thickness[None, :]) < height
    ma_index = np.minimum(r + thickness[None, :], height - 1)

    def score(c):
        s = lumen_score[:, c][:, None] + edges[ma_index, c]
        return np.where(valid, s, -np.inf)

    moves = [(dr, dd) for dr in range(-max_step, max_step + 1) for dd in (-1, 0, 1)]
    back = np.empty((width, height, len(thickness)), np.int16)
    total = score(0)
    for c in range(1, width):
        padded = np.pad(total, ((max_step, max_step), (1, 1)), constant_values=-np.inf)
        candidates = np.stack([padded[max_step + dr:max_step + dr + height, 1 + dd:
                                      1 + dd + len(thickness)] - penalty * (abs(dr) + abs(dd))
                               for dr, dd in moves])
        back[c] = np.argmax(candidates, axis=0)
        total = np.max(candidates, axis=0) + score(c)
    r_best, d_best = np.unravel_index(np.argmax(total), total.shape)
    path = np.empty((width, 2), np.int64)
    for c in range(width - 1, -1, -1):
        path[c] = r_best, d_best
        if c:
            dr, dd = moves[back[c, r_best, d_best]]
            r_best, d_best = r_best + dr, d_best + dd
    return path[:, 0], thickness[path[:, 1]]


def _subpixel_peak(values, rows):
    """Parabolic refinement of per-column maxima of ``values`` at integer ``rows``."""
    height, width = values.shape
    c = np.arange(width)
    inner = (rows > 0) & (rows < height - 1)
    up = values[np.clip(rows - 1, 0, height - 1), c]
    mid = values[rows, c]
    down = values[np.clip(rows + 1, 0, height - 1), c]
    curvature = up - 2 * mid + down
    ok = inner & (curvature < 0)
    offset = np.zeros(width)
    offset[ok] = 0.5 * (up[ok] - down[ok]) / curvature[ok]
    return rows + np.clip(offset, -0.5, 0.5)


def gradient_baseline(image, roi, mm_per_pixel, *, sigma_mm=(0.06, 0.3),
                      imt_range_mm=(0.25, 2.0), max_step=1, lumen_mm=0.3, lumen_gap_mm=0.12,
                      lumen_weight=5.0, continuity_weight=0.0, log_offset=None, snake=True,
                      **snake_options):
    """Handcrafted CIMT segmentation: the best pair of dark→bright edges, then snakes.

    A dynamic-programming edge tracker in the spirit of Liang et al. (IEEE TMI 19(2), 2000),
    with the snakes of the CNN pipeline:

    1. The ROI (with context) is smoothed by a Gaussian of ``sigma_mm`` (axial, lateral),
       optionally log-transformed (``log_offset``), and differentiated vertically:
       ``g > 0`` on dark→bright edges going down; ``g`` is scaled by its 99th percentile.
    2. Lumen-intima candidates score ``g − lumen_weight · a``, where ``a`` is the mean
       intensity of the ``lumen_mm`` that end ``lumen_gap_mm`` above the candidate (past the
       edge's own blur), relative to the ROI's range: the lumen above must be dark.
       Media-adventitia candidates score ``g`` (the leading edge of the adventitia, the
       brightest echo).
    3. Dynamic programming picks, per column, the lumen-intima row and the thickness that
       maximise the summed scores along the vessel — the lumen-intima row moving at most
       ``max_step`` pixels and the thickness at most 1 pixel from column to column, each
       pixel of movement costing ``continuity_weight``, the thickness within
       ``imt_range_mm``: the next strong bright edge below the lumen-intima interface
       within a plausible IMT.
    4. Rows are refined to sub-pixel by a parabola through ``g``, then smoothed by open
       snakes climbing ``g`` within half the local thickness of their own path (so the
       strong media-adventitia edge cannot capture the lumen-intima snake), smoothed
       laterally only (:func:`smooth_interface` with ``sigma=(0, 2)``: vertical smoothing
       would pull each snake off its edge, away from the opposite edge next to it);
       ``snake=False`` skips this, ``snake_options`` go to :func:`smooth_interface`.

    The defaults were chosen among a few settings on the 52 development cases of the
    Cyprus database and on synthetic images (:mod:`apps.cimt.synthetic`), so errors quoted
    on those cases are slightly optimistic.  ``log_offset=100`` fits the experts of that
    database a little better and the synthetic truth worse (it moves lumen-intima edges
    towards the lumen); the default is linear.

    Parameters
    ----------
    image : (H, W) array
    roi : (y0, x0, y1, x1)
        Region holding both interfaces of the far wall and, above them, some lumen
        (:func:`apps.cimt.data.roi_from_annotations`, or the user's).
    mm_per_pixel : float
    sigma_mm : (float, float)
        Gaussian smoothing, axial and lateral, mm.
    imt_range_mm : (float, float)
        Plausible thickness.
    max_step : int
        Largest change of the lumen-intima row between neighbouring columns, pixels.
    lumen_mm, lumen_gap_mm, lumen_weight
        The dark-lumen term of step 2.
    continuity_weight : float
        Cost of one pixel of movement between columns (0: only the hard limits).
    log_offset : float, optional
        Edges of ``log(I + log_offset)`` instead of ``I``.
    snake : bool

    Returns
    -------
    Interfaces
        Rows in image coordinates at every ROI column.

    Examples
    --------
    >>> from apps.cimt import synthetic_case, roi_from_annotations, interface_error
    >>> case = synthetic_case(seed=0)
    >>> found = gradient_baseline(case.image, roi_from_annotations(case), case.mm_per_pixel)
    >>> truth = case.rows(found.columns)
    >>> interface_error(found.media_adventitia, truth[1], case.mm_per_pixel).mean_px < 1
    True
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grey array, got shape {image.shape}")
    y0, x0, y1, x1 = check_roi(roi, image.shape)
    mm_per_pixel = positive_number(mm_per_pixel, "mm_per_pixel")
    if len(sigma_mm) != 2 or min(sigma_mm) < 0:
        raise ValueError(f"sigma_mm must be (axial, lateral) >= 0, got {sigma_mm!r}")
    if len(imt_range_mm) != 2 or not 0 < imt_range_mm[0] < imt_range_mm[1]:
        raise ValueError(f"imt_range_mm must be (min, max) with 0 < min < max, got "
                         f"{imt_range_mm!r}")
    max_step = integer_at_least(max_step, "max_step")
    d_min = max(1, math.floor(imt_range_mm[0] / mm_per_pixel))
    d_max = math.ceil(imt_range_mm[1] / mm_per_pixel)
    if y1 - y0 < d_min + 2 or x1 - x0 < 4:
        raise ValueError(f"roi {roi} is too small: it needs more than {d_min + 2} rows (the "
                         "minimum IMT) and at least 4 columns")
    if log_offset is not None:
        log_offset = positive_number(log_offset, "log_offset")
    sigma = (sigma_mm[0] / mm_per_pixel, sigma_mm[1] / mm_per_pixel)
    lumen_px = max(1, round(positive_number(lumen_mm, "lumen_mm") / mm_per_pixel))
    gap_px = round(lumen_gap_mm / mm_per_pixel) if lumen_gap_mm >= 0 else -1
    if gap_px < 0:
        raise ValueError(f"lumen_gap_mm must be >= 0, got {lumen_gap_mm!r}")
    pad = math.ceil(4 * max(sigma)) + lumen_px + gap_px + 2
    top, left = max(0, y0 - pad), max(0, x0 - pad)
    region = image[top:min(image.shape[0], y1 + pad),
                   left:min(image.shape[1], x1 + pad)].astype(np.float64)
    smooth = ndimage.gaussian_filter(region, sigma, mode="nearest")
    if log_offset is not None:
        smooth = np.log(smooth + log_offset)
    gradient = np.gradient(smooth, axis=0)
    # Mean intensity of the lumen_px rows ending gap_px above each pixel (rows above the
    # image count as 0).
    cumulative = np.vstack([np.zeros((1, smooth.shape[1])), np.cumsum(smooth, axis=0)])
    end = np.maximum(np.arange(smooth.shape[0]) - gap_px, 0)
    above = (cumulative[end] - cumulative[np.maximum(end - lumen_px, 0)]) / lumen_px
    inside = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    edges, above = gradient[inside], above[inside]
    spread = max(np.ptp(smooth[inside]), 1e-9)
    scale = max(np.percentile(np.abs(edges), 99), 1e-9)
    lumen_score = edges / scale - lumen_weight * (above - smooth[inside].min()) / spread
    li, d = _best_pair_of_edges(edges / scale, lumen_score, d_min,
                                min(d_max, y1 - y0 - 1), max_step,
                                non_negative_number(continuity_weight, "continuity_weight"))
    li_rows = _subpixel_peak(edges, li)
    ma_rows = _subpixel_peak(edges, li + d)
    if snake:
        snake_options.setdefault("sigma", (0.0, 2.0))
        # Each snake sees the edges within half the local thickness of its own path only,
        # so that the strong media-adventitia edge cannot capture the lumen-intima snake.
        half = np.maximum(d / 2.0, 1.0)[None, :]
        grid = np.arange(edges.shape[0])[:, None]
        floor = edges.min()
        li_rows = smooth_interface(li_rows, energy=np.where(np.abs(grid - li) < half, edges,
                                                            floor), **snake_options)
        ma_rows = smooth_interface(ma_rows, energy=np.where(np.abs(grid - li - d) < half,
                                                            edges, floor), **snake_options)
    return Interfaces(li_rows + y0, ma_rows + y0, np.arange(x0, x1))
