"""Handcrafted polyp candidates: edges voting along their normals for convex protrusions.

The candidate generator of Tajbakhsh et al., "Convolutional Neural Networks for Medical
Image Analysis: Full Training or Fine Tuning?", IEEE TMI 35(5), 2016, §A (polyp detection),
after Tajbakhsh, Gurudu & Liang, "Automated polyp detection in colonoscopy videos using
shape and context information", IEEE TMI 35(2), 2016.  A polyp is a convex protrusion
of the colon wall: in a frame its boundary is a closed or partly visible curve of edges,
and the normals of those edges meet inside it.  The steps:

1. the frame is brought to a working size (:func:`detect_candidates`, ``work_size``: about
   the size of the paper's video frames);
2. the **field of view** (:func:`field_of_view`: the lit disc or octagon inside the black
   frame, without the black corner box and the green scope-position thumbnail of Kvasir
   frames) and the **specular highlights** (:func:`glare_mask`: very bright, unsaturated
   blobs, which also covers white overlay text) are found; smoothing is normalised over
   the rest, so neither the border of the field of view nor a highlight makes edges, and
   edges near them are dropped;
3. **edges** (:func:`colour_edges`): Canny on the three colour channels — per pixel the
   channel with the strongest smoothed gradient gives magnitude and direction, then
   non-maximum suppression across the edge, hysteresis, and short edge fragments dropped;
4. **voting** (:func:`vote_maps`): every edge pixel casts votes along its normal towards
   its brighter side (the polyp, a protrusion lit by the scope, is brighter than the
   shadow around it; the lumen, darker than its rim, gets no votes), over a band of
   distances per scale; votes are kept apart by the direction they come from (eight
   sectors) so that a point surrounded by edges on all sides, the centre of a convex shape,
   scores higher than a point many parallel edges of one fold vote for.  The score of a
   point at a scale is the mean over the sectors of the (clipped) fraction of a circle's
   arc of that radius in that sector whose normals pass through the point;
5. **candidates**: local maxima of the score maps of all scales, strongest first, a weaker
   one dropped when it lies within ``nms_radius`` × its radius of a stronger one; each gets
   a **box** from the edges that voted for it (:func:`_boxes`: per direction around the
   candidate, the median distance of its voters).

Everything is vectorised with NumPy/SciPy (loops run over scales and candidates only).
:func:`candidate_hits` (the polyp each candidate hits, 0 = none) and :func:`polyps_hit`
apply the paper's criterion (a candidate detects a polyp when its centre lies inside the
polyp's mask; the polyps of a mask are its connected components, :func:`polyp_labels`),
:func:`evaluate_candidates` gives sensitivity and candidates per frame over a set of frames.

>>> import numpy as np
>>> frame = np.full((200, 240, 3), (150, 70, 60), np.uint8)
>>> yy, xx = np.mgrid[:200, :240]
>>> frame[(yy - 90) ** 2 + (xx - 130) ** 2 < 30 ** 2] = (210, 130, 110)
>>> found = detect_candidates(frame, work_size=240)
>>> row, col = found.centres[0]
>>> bool(abs(row - 90) < 8 and abs(col - 130) < 8)
True
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from medkeras.checks import integer_at_least, non_negative_number, positive_number

__all__ = ["Candidates", "DEFAULT_SCALES", "Edges", "candidate_hits", "colour_edges",
           "detect_candidates", "evaluate_candidates", "field_of_view", "glare_mask",
           "polyp_labels", "polyps_hit", "vote_maps"]

#: Radii (pixels at the working size) of the default scales.
DEFAULT_SCALES = (15.0, 25.0, 42.0, 70.0, 115.0)
_SECTORS = 8


class Candidates(NamedTuple):
    """Polyp candidates of one frame, strongest first (pixel coordinates of the input frame).

    ``centres`` (n, 2) float: (row, col); ``boxes`` (n, 4) float: (y0, x0, y1, x1), max
    edges exclusive; ``scores`` (n,) float in [0, 1], higher = more polyp-like;
    ``radii`` (n,) float: radius of the scale the candidate was found at.
    """
    centres: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    radii: np.ndarray


class Edges(NamedTuple):
    """Edge pixels: ``rows``, ``cols`` (int), unit normals ``normals`` (m, 2) (d_row, d_col)
    pointing up the gradient, and ``magnitude`` (grey levels per pixel)."""
    rows: np.ndarray
    cols: np.ndarray
    normals: np.ndarray
    magnitude: np.ndarray


# --------------------------------------------------------------------------- checks


def _check_frame(image):
    """``image`` as an (H, W, 3) uint8 array, or a ValueError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) RGB array, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if min(image.shape[:2]) < 16:
        raise ValueError(f"image must be at least 16×16 pixels, got {image.shape[:2]}")
    return image


def _check_scales(scales):
    try:
        values = [float(s) for s in scales]
    except (TypeError, ValueError):
        raise ValueError(f"scales must be a sequence of radii, got {scales!r}") from None
    if not values or any(not math.isfinite(v) or v < 2 for v in values):
        raise ValueError(f"scales must be a non-empty sequence of radii >= 2 pixels, "
                         f"got {scales!r}")
    return tuple(sorted(values))


# --------------------------------------------------------------------------- masks


def _channel_max(image):
    """Brightest channel (``image.max(axis=2)``, 10× faster over three channels)."""
    return np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])


def field_of_view(image, *, dark=20, margin=4, overlay_fraction=0.002):
    """The lit part of an endoscopy frame: not the black frame, corners or corner boxes.

    Pixels whose brightest channel is below ``dark`` and that are connected to the image
    border form the black surround (the corners of the circular or octagonal field of
    view, and the black thumbnail box Kvasir frames carry in a corner).  Green overlays
    (the scope-position thumbnail some Kvasir frames show: green exceeding red by more than
    60 grey levels, which tissue never does), in blobs of at least ``overlay_fraction`` of
    the frame, are cut out with their bounding box.  The field of view is the rest, holes
    filled (the dark lumen inside stays in), eroded by ``margin`` pixels.  A frame without
    a dark border is all field of view; a very dark lumen reaching the frame's border is
    then counted as surround (no polyp lies inside it).

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    dark : float
        Grey level below which a pixel can belong to the black surround.
    margin : int
        Erosion (pixels) of the field of view.
    overlay_fraction : float
        Smallest green overlay blob (fraction of the frame) cut out.

    Returns
    -------
    (H, W) bool ndarray
    """
    image = _check_frame(image)
    non_negative_number(dark, "dark")
    margin = integer_at_least(margin, "margin", 0)
    non_negative_number(overlay_fraction, "overlay_fraction")
    # opened (isolated dark pixels and thin dark paths dropped), the outside counting as black
    black = np.pad(_channel_max(image) < dark, 1, constant_values=True)
    black = ndimage.binary_opening(black)[1:-1, 1:-1]
    labels, _ = ndimage.label(black)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    surround = np.isin(labels, border[border > 0])
    fov = ndimage.binary_fill_holes(~surround)
    red, green, blue = (image[..., k].astype(np.int16) for k in range(3))
    overlay = (green - red > 60) & (green >= blue)
    if overlay.any():
        labels, count = ndimage.label(overlay, structure=np.ones((3, 3), bool))
        areas = np.bincount(labels.ravel(), minlength=count + 1)
        for index, box in enumerate(ndimage.find_objects(labels), start=1):
            if areas[index] >= overlay_fraction * overlay.size:
                fov[max(0, box[0].start - 2):box[0].stop + 2,
                    max(0, box[1].start - 2):box[1].stop + 2] = False
    if margin:
        fov = ndimage.binary_erosion(fov, iterations=margin, border_value=1)
    return fov


def glare_mask(image, *, bright=200, saturation=0.25, grow=2):
    """Specular highlights and white overlays: very bright, unsaturated pixels, grown a
    little.

    A pixel is glare when its brightest channel is at least ``bright`` and its saturation
    ``(max - min) / max`` at most ``saturation`` (the white of a highlight or of overlay
    text), or when it is nearly saturated white (all channels ≥ 245).  The mask is dilated
    by ``grow`` pixels to cover the halo of the highlight.

    Returns
    -------
    (H, W) bool ndarray
    """
    image = _check_frame(image)
    non_negative_number(bright, "bright")
    non_negative_number(saturation, "saturation")
    grow = integer_at_least(grow, "grow", 0)
    top = _channel_max(image).astype(np.float32)
    low = np.minimum(np.minimum(image[..., 0], image[..., 1]), image[..., 2])
    low = low.astype(np.float32)
    sat = (top - low) / np.maximum(top, 1)
    glare = ((top >= bright) & (sat <= saturation)) | (low >= 245)
    if grow:
        glare = ndimage.binary_dilation(glare, iterations=grow)
    return glare


# --------------------------------------------------------------------------- edges


def _colour_gradient(image, valid, sigma):
    """Per pixel, the gradient (d_row, d_col) of the channel whose smoothed gradient is
    strongest, and its squared magnitude.  Each channel is smoothed over ``valid`` pixels
    only (normalised convolution), so the border of ``valid`` makes no step."""
    weight = np.maximum(ndimage.gaussian_filter(valid.astype(np.float32), sigma), 1e-3)
    best_gy = best_gx = best = None
    for k in range(image.shape[2]):
        plane = np.where(valid, image[..., k], 0).astype(np.float32)
        gy, gx = np.gradient(ndimage.gaussian_filter(plane, sigma) / weight)
        mag2 = gy * gy + gx * gx
        if best is None:
            best_gy, best_gx, best = gy, gx, mag2
        else:
            stronger = mag2 > best
            best_gy = np.where(stronger, gy, best_gy)
            best_gx = np.where(stronger, gx, best_gx)
            best = np.where(stronger, mag2, best)
    return best_gy, best_gx, best


def colour_edges(image, valid=None, *, sigma=2.0, low=2.0, high=4.0, min_length=10):
    """Canny edges of an RGB frame, with their unit normals.

    Each channel is smoothed (Gaussian ``sigma``, normalised over ``valid``); its gradient is
    taken with central differences; per pixel the channel with the largest gradient
    magnitude gives magnitude and direction.  Edges are the pixels that are maxima of the
    magnitude across the edge (non-maximum suppression in the gradient direction,
    interpolated), at least ``low`` grey levels per pixel and connected (8-neighbours) to
    one of at least ``high`` (hysteresis), inside ``valid`` eroded by ``2 × sigma``, and in a
    connected edge of at least ``min_length`` pixels.

    Parameters
    ----------
    image : (H, W, 3) uint8 or float ndarray
    valid : (H, W) bool ndarray, optional
        Pixels allowed to contribute (default: all).
    sigma, low, high : float
        Smoothing (pixels) and hysteresis thresholds (grey levels per pixel).
    min_length : int
        Shorter edge fragments (pixels) are dropped.

    Returns
    -------
    Edges
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) array, got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    sigma = positive_number(sigma, "sigma")
    low, high = non_negative_number(low, "low"), non_negative_number(high, "high")
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    min_length = integer_at_least(min_length, "min_length")
    h, w = image.shape[:2]
    valid = np.ones((h, w), bool) if valid is None else np.asarray(valid, bool)
    if valid.shape != (h, w):
        raise ValueError(f"valid must have the image's shape {(h, w)}, got {valid.shape}")
    gy, gx, mag2 = _colour_gradient(image, valid, sigma)
    mag = np.sqrt(mag2)
    inside = ndimage.binary_erosion(valid, iterations=max(1, round(2 * sigma)), border_value=0)
    # non-maximum suppression: compare with the magnitude one pixel up and down the gradient
    ny = gy / np.maximum(mag, 1e-6)
    nx = gx / np.maximum(mag, 1e-6)
    rows, cols = np.nonzero(inside & (mag >= low))
    dy, dx = ny[rows, cols], nx[rows, cols]
    m = mag[rows, cols]
    ahead = ndimage.map_coordinates(mag, [rows + dy, cols + dx], order=1, mode="nearest")
    behind = ndimage.map_coordinates(mag, [rows - dy, cols - dx], order=1, mode="nearest")
    keep = (m >= ahead) & (m > behind)
    thin = np.zeros((h, w), bool)
    thin[rows[keep], cols[keep]] = True
    # hysteresis and length: 8-connected thin edges with a strong pixel and enough pixels
    labels, count = ndimage.label(thin, structure=np.ones((3, 3), bool))
    strong = np.zeros(count + 1, bool)
    strong[labels[thin & (mag >= high)]] = True
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    good = strong & (sizes >= min_length)
    good[0] = False
    final = good[labels]
    rows, cols = np.nonzero(final)
    normals = np.stack([ny[rows, cols], nx[rows, cols]], axis=1)
    return Edges(rows, cols, normals, mag[rows, cols])


# --------------------------------------------------------------------------- voting


def _band(radius, width):
    return radius / width, radius * width


def vote_maps(edges, shape, scales, *, band=1.35, cell=0.15, sigma=1.0, dark_weight=0.0):
    """Per scale, the convexity score of every cell of a grid over the frame.

    Every edge pixel votes along its normal at distances ``radius / band`` to
    ``radius × band``: towards its brighter side with weight 1, towards its darker side
    with weight ``dark_weight``.  (A polyp is a protrusion lit by the scope's light: its
    inside is brighter than the shadowed ring around it, while the lumen and the far side
    of a fold are darker than their rims.  Voting towards the brighter side only finds more
    polyps at few candidates than voting both ways: on 400 Kvasir-SEG training frames, 95%
    vs 92% of polyps hit by 5 candidates per frame.)  Votes are accumulated per direction
    sector (eight sectors of 45°, by the direction from the voted-for point back to the
    voter) on a grid of cells of ``max(1, cell × radius)`` pixels, as lengths of the ray in
    cells, and smoothed (Gaussian, ``sigma`` cells).  A sector's value is normalised by the
    arc of a circle of that radius in the sector: about 1 when the whole arc is edge with
    normals through the point.  The score is the mean over the sectors of the value clipped
    to 1, so a point surrounded by edges scores more than one that the many parallel edges
    of a single fold vote for.

    Parameters
    ----------
    edges : Edges
    shape : (int, int)
        Frame height and width.
    scales : sequence of float
        Radii (pixels).
    band, cell, sigma, dark_weight : float
        Distance band factor (> 1), cell size per unit radius, smoothing (cells), weight of
        votes towards an edge's darker side (0 to 1).

    Returns
    -------
    list of (score, cell size) per scale
        ``score`` of shape ``(ceil(H / size), ceil(W / size))``, values in [0, 1]; cell
        ``(i, j)`` covers pixels ``[i × size, (i + 1) × size)``.
    """
    h, w = (integer_at_least(n, "shape") for n in shape)
    scales = _check_scales(scales)
    band = positive_number(band, "band")
    if band <= 1:
        raise ValueError(f"band must be > 1, got {band}")
    cell, sigma = positive_number(cell, "cell"), positive_number(sigma, "sigma")
    dark_weight = non_negative_number(dark_weight, "dark_weight")
    if dark_weight > 1:
        raise ValueError(f"dark_weight must be in [0, 1], got {dark_weight}")
    sy, sx = edges.rows.astype(np.float32), edges.cols.astype(np.float32)
    ny, nx = edges.normals[:, 0].astype(np.float32), edges.normals[:, 1].astype(np.float32)
    angle = np.arctan2(ny, nx)
    sides = [(1.0, 1.0)] + ([(-1.0, dark_weight)] if dark_weight > 0 else [])
    out = []
    for radius in scales:
        size = max(1.0, cell * radius)
        gh, gw = int(math.ceil(h / size)), int(math.ceil(w / size))
        lo, hi = _band(radius, band)
        step = size / 2
        ts = np.arange(lo, hi + 1e-6, step, dtype=np.float32)
        acc = np.zeros(_SECTORS * gh * gw)
        for sign, weight in sides:
            # sector of the direction from the voted point back to the voter: -sign * normal
            back = angle + (math.pi if sign > 0 else 0.0)
            sector = (np.floor((back % (2 * math.pi)) / (2 * math.pi / _SECTORS))
                      .astype(np.int64) % _SECTORS)
            py = sy[:, None] + sign * ts[None, :] * ny[:, None]
            px = sx[:, None] + sign * ts[None, :] * nx[:, None]
            ok = (py >= 0) & (py < h) & (px >= 0) & (px < w)
            cy = (py[ok] / size).astype(np.int64)
            cx = (px[ok] / size).astype(np.int64)
            sec = np.broadcast_to(sector[:, None], py.shape)[ok]
            acc += weight * np.bincount((sec * gh + cy) * gw + cx, minlength=acc.size)
        acc = acc.reshape(_SECTORS, gh, gw) * (step / size)  # ray length in cells
        acc = ndimage.gaussian_filter(acc, (0, sigma, sigma), mode="constant")
        # a ray through a point adds 1 / (sqrt(2 pi) sigma); a sector's arc has 2 pi r / 8
        norm = math.sqrt(2 * math.pi) * sigma / (2 * math.pi * radius / _SECTORS)
        out.append((np.minimum(acc * norm, 1.0).mean(axis=0), size))
    return out


# --------------------------------------------------------------------------- candidates


def _peaks(maps, scales, fov, min_score):
    """Local maxima of every scale's map inside the field of view: (rows, cols, score, r)."""
    found = []
    for (score, size), radius in zip(maps, scales):
        top = ndimage.maximum_filter(score, size=3, mode="constant")
        gy, gx = np.nonzero((score >= top) & (score >= min_score) & (score > 0))
        rows = (gy + 0.5) * size - 0.5
        cols = (gx + 0.5) * size - 0.5
        ri = np.clip(np.round(rows).astype(int), 0, fov.shape[0] - 1)
        ci = np.clip(np.round(cols).astype(int), 0, fov.shape[1] - 1)
        keep = fov[ri, ci]
        found.append(np.stack([rows[keep], cols[keep], score[gy, gx][keep],
                               np.full(keep.sum(), radius)], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 4))


def _suppress(peaks, nms_radius, limit):
    """Greedy non-maximum suppression, strongest first: a peak closer to a kept one than
    ``nms_radius`` × the larger of its own radius and half the kept one's is dropped; at
    most ``limit`` are kept."""
    order = np.argsort(-peaks[:, 2], kind="stable")
    peaks = peaks[order]
    kept = []
    alive = np.ones(len(peaks), bool)
    for i in range(len(peaks)):
        if not alive[i]:
            continue
        kept.append(i)
        if len(kept) == limit:
            break
        d = np.hypot(peaks[i + 1:, 0] - peaks[i, 0], peaks[i + 1:, 1] - peaks[i, 1])
        alive[i + 1:] &= d >= nms_radius * np.maximum(peaks[i + 1:, 3], 0.5 * peaks[i, 3])
    return peaks[kept]


def _boxes(peaks, edges, scales, band, shape, *, both_sides=False, tolerance=0.35,
           directions=16):
    """Box of each candidate from the edges that voted for it (ray back-projection).

    The voters of a candidate at ``c`` found at radius ``r``: edge pixels at distance
    ``r / band`` to ``r' × band`` (``r'`` the next larger scale: a shape larger than ``r``
    also peaks at ``r``, as it fills every sector) whose normal (towards the brighter side;
    either way with ``both_sides``) points at ``c`` within ``tolerance`` radians.  In each of
    ``directions`` sectors around ``c`` the median voter distance gives one boundary point
    (``r`` where a sector has no voter); the box is the extent of these points, clipped to
    the frame.
    """
    h, w = shape
    scales = np.asarray(scales, float)
    ey, ex = edges.rows.astype(float), edges.cols.astype(float)
    boxes = np.zeros((len(peaks), 4))
    theta = (np.arange(directions) + 0.5) * 2 * np.pi / directions
    for k, (row, col, _, radius) in enumerate(peaks):
        larger = scales[min(np.searchsorted(scales, radius) + 1, len(scales) - 1)]
        lo, hi = radius / band, max(radius, larger) * band
        dy, dx = row - ey, col - ex
        dist = np.hypot(dy, dx)
        near = (dist >= lo) & (dist <= hi)
        cos = dy[near] * edges.normals[near, 0] + dx[near] * edges.normals[near, 1]
        if both_sides:
            cos = np.abs(cos)
        vote = cos >= np.cos(tolerance) * dist[near]
        radial = np.full(directions, float(radius))
        if vote.any():
            d = dist[near][vote]
            angle = np.arctan2(-dy[near][vote], -dx[near][vote])
            sector = (np.floor((angle % (2 * np.pi)) / (2 * np.pi / directions))
                      .astype(np.int64) % directions)
            for s in np.unique(sector):
                radial[s] = np.median(d[sector == s])
        ys, xs = row + radial * np.sin(theta), col + radial * np.cos(theta)
        boxes[k] = (max(0.0, ys.min()), max(0.0, xs.min()),
                    min(float(h), ys.max() + 1), min(float(w), xs.max() + 1))
    return boxes


def _resize(image, size):
    from PIL import Image

    pil = Image.fromarray(image)
    method = Image.Resampling.BOX if size[0] < image.shape[1] else Image.Resampling.BILINEAR
    return np.asarray(pil.resize(size, method))


def detect_candidates(image, *, work_size=512, scales=DEFAULT_SCALES, max_candidates=30,
                      min_score=0.05, nms_radius=1.0, band=1.35, dark_weight=0.0,
                      edge_sigma=2.0, edge_low=2.0, edge_high=4.0, min_edge_length=10):
    """Polyp candidates of one colonoscopy frame: edges voting for convex shapes.

    See the module's description for the method (after Tajbakhsh, Gurudu & Liang, IEEE TMI
    35(2), 2016, and Tajbakhsh et al., IEEE TMI 35(5), 2016, §A).

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        The RGB frame.
    work_size : int
        The frame is resized so that its longer side has this many pixels; ``scales``,
        ``edge_sigma`` and ``min_edge_length`` are in pixels of that size.
    scales : sequence of float
        Radii (working pixels) of the shapes looked for.  With the default ``band`` the
        default scales reach radii of 11 to 155 pixels: polyps of about 0.2% to 35% of a
        512 × 430 frame.
    max_candidates : int
        At most this many candidates (the strongest).
    min_score : float
        Local maxima scoring less are not candidates.
    nms_radius : float
        A candidate is dropped when a stronger one lies within ``nms_radius`` × its radius
        (or half the stronger one's radius, if larger).
    band, dark_weight : float
        Voting (:func:`vote_maps`): each scale's distance band, ``radius / band`` to
        ``radius × band``, and the weight of votes towards an edge's darker side.
    edge_sigma, edge_low, edge_high, min_edge_length
        Edge detection (:func:`colour_edges`), smoothing and hysteresis thresholds in grey
        levels per pixel.

    Returns
    -------
    Candidates
        In pixel coordinates of ``image``, sorted by score, strongest first.

    Notes
    -----
    The defaults were chosen on 400 frames of Kvasir-SEG's training split.  On its 200 test
    frames (full-size frames, 2-core x86-64 CPU, about 0.08 s a frame) the 5, 10, 20 and 30
    strongest candidates hit 91.5%, 95.5%, 96.9% and 98.2% of the 223 polyps.
    """
    image = _check_frame(image)
    work_size = integer_at_least(work_size, "work_size", 32)
    scales = _check_scales(scales)
    max_candidates = integer_at_least(max_candidates, "max_candidates")
    min_score = non_negative_number(min_score, "min_score")
    nms_radius = non_negative_number(nms_radius, "nms_radius")
    band = positive_number(band, "band")
    if band <= 1:
        raise ValueError(f"band must be > 1, got {band}")
    dark_weight = non_negative_number(dark_weight, "dark_weight")
    if dark_weight > 1:
        raise ValueError(f"dark_weight must be in [0, 1], got {dark_weight}")
    edge_sigma = positive_number(edge_sigma, "edge_sigma")
    edge_low = non_negative_number(edge_low, "edge_low")
    edge_high = non_negative_number(edge_high, "edge_high")
    if edge_low > edge_high:
        raise ValueError(f"edge_low ({edge_low}) must not exceed edge_high ({edge_high})")
    min_edge_length = integer_at_least(min_edge_length, "min_edge_length")
    h, w = image.shape[:2]
    factor = work_size / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    work = image if size == (w, h) else _resize(image, size)
    fov = field_of_view(work)
    valid = fov & ~glare_mask(work)
    edges = colour_edges(work, valid, sigma=edge_sigma, low=edge_low, high=edge_high,
                         min_length=min_edge_length)
    maps = vote_maps(edges, work.shape[:2], scales, band=band, dark_weight=dark_weight)
    peaks = _suppress(_peaks(maps, scales, fov, min_score), nms_radius, max_candidates)
    boxes = _boxes(peaks, edges, scales, band, work.shape[:2], both_sides=dark_weight > 0)
    sy, sx = h / work.shape[0], w / work.shape[1]
    centres = (peaks[:, :2] + 0.5) * (sy, sx) - 0.5
    boxes = boxes * (sy, sx, sy, sx)
    return Candidates(centres, boxes, peaks[:, 2].copy(), peaks[:, 3] * (sy + sx) / 2)


# --------------------------------------------------------------------------- evaluation


def _labels(mask_or_components, min_fraction=1e-4):
    """Polyp labels (0 = background) and their number.

    A bool or 0/1 mask (the dataset builder's ``mask`` feature, (H, W, 1) allowed) gives its
    8-connected components of at least ``min_fraction`` of the frame, numbered in raster
    order; an integer array with larger values is taken as labels 1..max as it is.
    """
    array = np.asarray(mask_or_components)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"mask must be an (H, W) array, got shape {array.shape}")
    if array.dtype != bool and (not np.issubdtype(array.dtype, np.integer)
                                or array.min(initial=0) < 0):
        raise ValueError("mask must be bool, 0/1 or non-negative integer labels, "
                         f"got {array.dtype} values from {array.min(initial=0)}")
    top = int(array.max(initial=0))
    if array.dtype != bool and top > 1:
        return array, top
    labels, count = ndimage.label(array, structure=np.ones((3, 3), bool))
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    keep = areas >= min_fraction * array.size
    keep[0] = False
    relabel = np.zeros(count + 1, np.int64)
    relabel[keep] = np.arange(1, keep.sum() + 1)
    return relabel[labels], int(keep.sum())


def _centres_of(candidates):
    centres = candidates.centres if isinstance(candidates, Candidates) else candidates
    centres = np.asarray(centres, float)
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise ValueError(f"candidate centres must be an (n, 2) array, got shape "
                         f"{centres.shape}")
    return centres


def polyp_labels(mask_or_components, *, min_fraction=1e-4):
    """The polyps of a frame as a label image: ``(labels, count)``.

    A bool or 0/1 mask (also the dataset builder's (H, W, 1) ``mask`` feature) gives its
    8-connected components covering at least ``min_fraction`` of the frame (the builder's
    rule), numbered 1..count in raster order of their first pixel; an integer label image
    with values above 1 is returned as it is, ``count`` its largest label.
    """
    non_negative_number(min_fraction, "min_fraction")
    return _labels(mask_or_components, min_fraction)


def candidate_hits(candidates, mask_or_components, *, min_fraction=1e-4):
    """The polyp each candidate hits: the label under its centre (0 = none).

    A candidate hits a polyp when its centre (rounded to the nearest pixel) lies inside the
    polyp's mask (Tajbakhsh et al. 2016, §A).

    Parameters
    ----------
    candidates : Candidates or (n, 2) array of (row, col)
    mask_or_components : (H, W) or (H, W, 1) array
        A bool or 0/1 polyp mask, or integer labels (0 = background), as for
        :func:`polyp_labels`.
    min_fraction : float
        For a mask, smaller components are not polyps.

    Returns
    -------
    (n,) int64 ndarray
        The polyp's label (1..count of :func:`polyp_labels`), 0 for a candidate on no polyp.
    """
    labels, _ = polyp_labels(mask_or_components, min_fraction=min_fraction)
    return _hit_labels(_centres_of(candidates), labels)


def _hit_labels(centres, labels):
    h, w = labels.shape
    rows = np.round(centres[:, 0]).astype(np.int64)
    cols = np.round(centres[:, 1]).astype(np.int64)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    hit = np.zeros(len(centres), np.int64)
    hit[inside] = labels[rows[inside], cols[inside]]
    return hit


def polyps_hit(candidates, mask_or_components, *, min_fraction=1e-4):
    """Which polyps of a frame some candidate hits.

    The polyps are the 8-connected components of a bool or 0/1 mask that cover at least
    ``min_fraction`` of the frame (the dataset builder's rule, :mod:`apps.polyp.dataset`),
    in raster order of their first pixel, or the labels 1..n of an integer label image
    (values above 1).

    Returns
    -------
    (n_polyps,) bool ndarray, in label order
    """
    labels, count = _labels(mask_or_components, min_fraction)
    hit = _hit_labels(_centres_of(candidates), labels)
    return np.bincount(hit, minlength=count + 1)[1:] > 0


def evaluate_candidates(frames, *, detector=None, limits=(5, 10, 20, 30), **options):
    """Sensitivity and candidates per frame of the generator over frames.

    Parameters
    ----------
    frames : iterable of (image, mask) pairs
        ``image`` (H, W, 3) uint8; ``mask`` a polyp mask or labels, as for
        :func:`polyps_hit`.
    detector : callable, optional
        ``detector(image) -> Candidates`` (default: :func:`detect_candidates` with
        ``options``, ``max_candidates`` the largest of ``limits``).
    limits : sequence of int
        Operating points: the ``k`` strongest candidates of each frame.

    Returns
    -------
    dict
        ``frames``, ``polyps``, ``seconds_per_frame`` (the detector's time) and, per limit
        ``k``, a dict under ``k``: ``sensitivity`` (fraction of all polyps hit by one of
        their frame's ``k`` strongest candidates), ``candidates_per_frame`` (mean number
        of candidates kept) and ``frames_all_hit`` (fraction of frames whose polyps are all
        hit; a frame without polyps counts as such).
    """
    limits = sorted({integer_at_least(k, "limit") for k in limits})
    if not limits:
        raise ValueError("limits must name at least one operating point")
    if detector is None:
        options.setdefault("max_candidates", limits[-1])
        def detector(image):
            return detect_candidates(image, **options)
    elif options:
        raise ValueError("options are for the default detector only")

    n_frames = n_polyps = 0
    seconds = 0.0
    hits = {k: 0 for k in limits}
    counts = {k: 0 for k in limits}
    complete = {k: 0 for k in limits}
    for image, mask in frames:
        started = time.perf_counter()
        found = detector(image)
        seconds += time.perf_counter() - started
        labels, count = _labels(mask)
        n_frames += 1
        n_polyps += count
        hit = _hit_labels(_centres_of(found), labels)
        for k in limits:
            got = np.bincount(hit[:k], minlength=count + 1)[1:] > 0
            hits[k] += int(got.sum())
            counts[k] += min(k, len(hit))
            complete[k] += int(got.all())
    if not n_frames:
        raise ValueError("no frames to evaluate")
    result = {"frames": n_frames, "polyps": n_polyps, "seconds_per_frame": seconds / n_frames}
    for k in limits:
        result[k] = {"sensitivity": hits[k] / max(n_polyps, 1),
                     "candidates_per_frame": counts[k] / n_frames,
                     "frames_all_hit": complete[k] / n_frames}
    return result
