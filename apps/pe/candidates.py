"""Pulmonary-embolus candidates in CT pulmonary angiography by tobogganing.

The candidate generator of Tajbakhsh et al., "Convolutional Neural Networks for Medical
Image Analysis: Full Training or Fine Tuning?", IEEE TMI 35(5), 2016, §B (PE detection),
which takes the candidates of Liang & Bi, "Computer aided detection of pulmonary embolism
with tobogganing and multiple instance classification in CT pulmonary angiography",
IPMI 2007 (LNCS 4584, pp. 630–641).  An embolus is a clot that the contrast agent flows
around: a dark (about 0–100 HU) region inside bright (250–500 HU) arteries.  Tobogganing
finds such dark basins:

1. **region of interest** (:func:`lung_roi`): the lungs, the mediastinum between them
   (every row of a slice filled from the leftmost to the rightmost lung voxel, so the
   central pulmonary arteries are in), grown by ``margin_mm``; without a lung mask the
   whole volume;
2. **light smoothing** (Gaussian, ``smoothing_mm``), then only voxels of the region whose
   smoothed HU lies in ``window_hu`` (default −100..+450: vessel, clot and soft tissue,
   not air or lung, not bone) are tobogganed;
3. **tobogganing** (:func:`toboggan`): every voxel slides to its darkest neighbour among
   its 26 neighbours in that set until it reaches a local minimum; the voxels that reach
   the same minimum form one cluster.  Vectorised: each voxel's steepest-descent
   neighbour comes from 26 array gathers, the pointer chains are resolved by pointer
   jumping (``parent = parent[parent]``, O(log n) passes), plateaus by breadth-first
   passes over their voxels only;
4. **embolus-like clusters**: a candidate's *voxels* are the voxels of its cluster whose
   smoothed HU lies in ``embolus_hu`` (default 0..150: acute clot is 20–90 HU, raised by
   partial volume with the contrast around it in small vessels).  That band is also
   crossed by the partial-volume rim of every vessel against lung or fat, and by the gap
   between two touching vessels, so a cluster qualifies only with a *core*: an
   embolus-like voxel that is flat (smoothed gradient ≤ ``max_gradient``, default
   40 HU/mm, where a rim runs at 150–400 HU/mm) or a true local minimum (no darker
   voxel among all 26 neighbours, in the region or not: the centre of a clot too small
   to be flat).  It needs at least ``min_volume_mm3`` of such voxels, contrast-filled
   vessel (above ``contrast_hu``, default 200 HU) within ``contrast_distance_mm``
   (default 3 mm) of one of them, at most ``max_volume_mm3`` in the whole cluster, and
   an *enclosure* of at least ``min_enclosure``: of 26 rays cast from its darkest voxel
   (every half voxel, up to ``enclosure_radius_mm``) the fraction meeting contrast or
   air/lung (below the window) — a clot sits inside a vessel, bounded all round; soft
   tissue next to a vessel extends on.  The core, gradient and enclosure tests are this
   package's additions to Liang & Bi's tobogganing (their PE-range clusters feed a
   trained classifier instead); every threshold is a keyword;
5. **ranking**: ``score`` = contrast depth × enclosure, the depth being the mean HU of
   the contrast near the cluster's embolus-like voxels minus their mean HU (a dark clot
   enclosed in bright blood scores high).  A candidate whose centre lies within
   ``merge_distance_mm`` of a better one is merged into it (one clot often holds several
   noise minima; the voxels join, centre and HU statistics are recomputed, score,
   contrast and enclosure stay the better one's); ``max_candidates`` keeps the best.

A candidate's *centre* is the centroid of its voxels, its *minimum* its darkest voxel.
:func:`candidate_hits` applies the hit criterion (the embolus under the centre, else the
embolus most of its voxels lie in), :func:`evaluate_candidates` gives sensitivity (fraction
of emboli hit) and candidates per volume.

Measured (``bench/bench_pe_candidates.py``): on CAD-PE case 001's real vessel anatomy
painted with simple HU values and 16 inserted clots of 50 HU in 2–6 mm arteries (some
occlusive), the defaults hit 16 of 16 clots with 304 candidates (279 when the mediastinum is
fat rather than soft tissue); the best 100 hit 12.  Tobogganing takes 7–11 s for the
512×512×288 volume on one loaded core.  On :mod:`apps.pe.synthetic` volumes (FUMPE-shaped
clots, a third of them subsegmental) two cases gave 2 of 8 and 6 of 8 clots hit with 335
and 231 candidates: the missed ones were clots of 10–30 mm³ in arteries under 2 mm whose
partial-volume HU (150–280) is no darker than a small artery, or whose darkest voxels
border the lung — below what any intensity-based candidate generator can see at 0.7 mm.

Memory: only the region's bounding box is smoothed (float32); tobogganing works on the
region's voxels (int64 flat indices for the gathers, int32 parent pointers), so a
512×512×288 scan with its lung mask needs about 0.9 GB beyond the CT at peak (measured);
without a lung mask the whole volume is tobogganed (about 5× slower).

>>> import numpy as np
>>> zz, yy, xx = np.mgrid[:24, :32, :32]
>>> ct = np.full((24, 32, 32), -850.0, np.float32)            # lung
>>> ct[(yy - 16) ** 2 + (xx - 16) ** 2 <= 36] = 300.0          # artery along z, radius 6
>>> ct[(zz - 12) ** 2 + (yy - 16) ** 2 + (xx - 16) ** 2 <= 9] = 40.0   # clot
>>> found = detect_candidates(ct, (1.0, 1.0, 1.0))
>>> np.round(found.centres[0]).tolist(), int(candidate_hits(found, ct == 40.0)[0])
([12.0, 16.0, 16.0], 1)
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from medkeras.io.volumes import as_array_and_spacing, check_spacing
from medkeras.checks import integer_at_least, non_negative_number, positive_number

__all__ = ["Candidates", "candidate_hits", "candidate_voxels", "detect_candidates",
           "embolus_labels", "evaluate_candidates", "label_volume", "lung_roi", "toboggan"]


class Candidates(NamedTuple):
    """PE candidates of one volume, best first (voxel coordinates of the input volume).

    ``centres`` (n, 3) float: voxel (z, y, x) centroid of the candidate's voxels (the
    embolus-like voxels of its toboggan cluster); ``centres_mm`` (n, 3): ``centres *
    spacing``; ``minima`` (n, 3) int: its darkest voxel; ``sizes`` (n,) int: its voxels;
    ``volumes_mm3`` (n,): the same in mm³; ``cluster_sizes`` (n,) int: voxels of the whole
    toboggan clusters merged into it (with the bright voxels that slid into them);
    ``min_hu``, ``mean_hu``
    (n,): smoothed HU of its darkest voxel and mean over its voxels; ``contrast_hu`` (n,):
    mean smoothed HU of the contrast near its voxels; ``enclosure`` (n,): fraction of
    rays from the darkest voxel meeting contrast or air; ``scores`` (n,): ``(contrast_hu -
    mean_hu) * enclosure``; ``voxels`` (k,) int64: flat indices (into the volume, C order)
    of the candidates' voxels, candidate after candidate, ``offsets`` (n + 1,) int64
    their bounds (see :func:`candidate_voxels`); ``shape`` and ``spacing`` of the volume.
    """
    centres: np.ndarray
    centres_mm: np.ndarray
    minima: np.ndarray
    sizes: np.ndarray
    volumes_mm3: np.ndarray
    cluster_sizes: np.ndarray
    min_hu: np.ndarray
    mean_hu: np.ndarray
    contrast_hu: np.ndarray
    enclosure: np.ndarray
    scores: np.ndarray
    voxels: np.ndarray
    offsets: np.ndarray
    shape: tuple
    spacing: tuple


# --------------------------------------------------------------------------- checks


def _hu_range(value, what):
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a (low, high) pair of HU, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{what} must be finite HU with low < high, got {value!r}")
    return lo, hi


def _finite_hu(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of HU, got {value!r}")
    return float(value)


def _check_mask(mask, shape, what):
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{what} must be a numpy array, got {type(mask).__name__}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{what} has shape {mask.shape}, the CT {tuple(shape)} (z, y, x)")
    return mask if mask.dtype == bool else mask != 0


# --------------------------------------------------------------------------- tobogganing


def _offsets(padded_shape):
    """Flat offsets of the 26 neighbours in a C-ordered array, in increasing order."""
    _, ny, nx = padded_shape
    return [(dz * ny + dy) * nx + dx for dz in (-1, 0, 1) for dy in (-1, 0, 1)
            for dx in (-1, 0, 1) if (dz, dy, dx) != (0, 0, 0)]


def _toboggan_flat(potential, region):
    """Tobogganing of the voxels ``region`` (sorted flat indices) of ``potential``.

    ``potential`` is a C-ordered float array with a border of at least one voxel that is
    +inf, as is every voxel outside the region.  Returns ``(labels, roots)``: per region
    voxel its cluster 1..K (int32), and per cluster the position in ``region`` of its
    minimum (ascending, so clusters are numbered in raster order of their minima).
    """
    flat = potential.ravel()
    offsets = _offsets(potential.shape)
    m = region.size
    best = flat[region]
    target = region.copy()
    spot = np.empty_like(region)
    value = np.empty_like(best)
    darker = np.empty(m, bool)
    for offset in offsets:               # increasing offset: the first darkest wins ties
        np.add(region, offset, out=spot)
        np.take(flat, spot, out=value)
        np.less(value, best, out=darker)
        np.copyto(best, value, where=darker)
        np.copyto(target, spot, where=darker)
    del value, darker, spot

    # plateaus: a voxel with no darker neighbour but an equal one that drains, drains
    # through it (breadth first: nearest exit, then lowest index); a plateau without exit
    # is one regional minimum
    flat_min = np.flatnonzero(target == region)
    pending = region[flat_min]
    level = flat[pending]
    state = np.zeros(flat.size, np.int8)            # 1 drains, 2 undecided, 0 outside
    state[region] = 1
    state[pending] = 2
    while pending.size:
        exit_to = np.full(pending.size, -1, np.int64)
        for offset in offsets:
            spot = pending + offset
            ok = (state[spot] == 1) & (flat[spot] == level) & (exit_to < 0)
            exit_to[ok] = spot[ok]
        drains = exit_to >= 0
        if not drains.any():
            break
        target[flat_min[drains]] = exit_to[drains]
        state[pending[drains]] = 1
        keep = ~drains
        pending, level, flat_min = pending[keep], level[keep], flat_min[keep]
    if pending.size:                 # join each plateau without exit to its first voxel
        joined = np.zeros(flat.size, bool)
        joined[pending] = True
        neighbours = np.zeros(pending.size, bool)
        for offset in offsets:
            neighbours |= joined[pending + offset]
        if neighbours.any():
            grid = joined.reshape(potential.shape)
            components, _ = ndimage.label(grid, structure=np.ones((3, 3, 3), bool))
            comp = components.ravel()[pending]
            _, first, inverse = np.unique(comp, return_index=True, return_inverse=True)
            target[flat_min] = pending[first[inverse]]
        del joined
    del state

    parent = np.searchsorted(region, target).astype(np.int32)
    del target
    while True:                                      # pointer jumping
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        parent = grand
    is_root = parent == np.arange(m, dtype=np.int32)
    ids = np.cumsum(is_root, dtype=np.int32)
    return ids[parent], np.flatnonzero(is_root)


def _padded(values, mask, dtype=np.float32):
    """Potential with an +inf border and +inf outside ``mask``, and the mask's flat indices."""
    padded = np.full(tuple(s + 2 for s in values.shape), np.inf, dtype)
    np.copyto(padded[1:-1, 1:-1, 1:-1], values, where=mask, casting="unsafe")
    z, y, x = np.nonzero(mask)
    _, ny, nx = padded.shape
    region = ((z.astype(np.int64) + 1) * ny + (y + 1)) * nx + (x + 1)
    return padded, region


def toboggan(image, mask=None):
    """Tobogganing (Liang & Bi, IPMI 2007): every voxel slides to its darkest neighbour.

    Each voxel of ``mask`` moves to the darkest of its 26 neighbours inside ``mask`` while
    one is strictly darker than itself, until it reaches a local minimum; the voxels that
    reach the same minimum form one cluster.  Ties are broken deterministically: among
    equally dark neighbours the one with the lowest flat (C-order) index wins; a voxel of
    a flat plateau that has no darker neighbour moves to an equal neighbour that drains
    (the exit nearest in steps, then the lowest index); a plateau without exit is one
    minimum, represented by its lowest-index voxel.

    Parameters
    ----------
    image : (Z, Y, X) array
        The potential (e.g. smoothed HU).  NaN is not allowed.
    mask : (Z, Y, X) bool array, optional
        Voxels to toboggan (default all).

    Returns
    -------
    labels : (Z, Y, X) int32
        Cluster 1..K per voxel of ``mask``, 0 elsewhere; clusters numbered in raster
        order of their minima.
    minima : (K, 3) int
        Voxel (z, y, x) of each cluster's minimum.

    >>> import numpy as np
    >>> line = np.array([[[3., 1., 2., 5., 4., 0.]]])
    >>> labels, minima = toboggan(line)
    >>> labels.ravel().tolist(), minima[:, 2].tolist()
    ([1, 1, 1, 1, 2, 2], [1, 5])
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.dtype.kind not in "iuf":
        raise ValueError(f"image must be a 3-D numeric array, got {image.dtype} "
                         f"{image.shape}")
    if image.dtype.kind == "f" and np.isnan(image).any():
        raise ValueError("image holds NaN")
    mask = np.ones(image.shape, bool) if mask is None else _check_mask(mask, image.shape,
                                                                         "mask")
    if image.dtype.kind == "f" and np.isinf(image[mask]).any():
        raise ValueError("image holds ±inf inside the mask")
    labels = np.zeros(image.shape, np.int32)
    if not mask.any():
        return labels, np.zeros((0, 3), np.int64)
    exact = image.dtype.itemsize <= 2 or image.dtype == np.float32   # float32 holds these
    padded, region = _padded(image, mask, np.float32 if exact else np.float64)
    cluster, roots = _toboggan_flat(padded, region)
    flat = _unpad(region, image.shape)
    labels.ravel()[flat] = cluster
    return labels, np.stack(np.unravel_index(flat[roots], image.shape), axis=1).astype(np.int64)


# --------------------------------------------------------------------------- region


def _grow(mask, spacing, margin_mm):
    """Box dilation by ``margin_mm`` along each axis (separable running maximum)."""
    grown = mask.astype(np.uint8)
    for axis, step in enumerate(spacing):
        half = int(round(margin_mm / step))
        if half:
            grown = ndimage.maximum_filter1d(grown, 2 * half + 1, axis=axis, mode="constant")
    return grown.astype(bool)


def _roi_box(lung_mask, spacing, margin_mm, mediastinum):
    """Bounding box (slices) of the region of interest, and the region inside it."""
    lungs = lung_mask
    nonzero = [np.flatnonzero(lungs.any(axis=tuple(a for a in range(3) if a != axis)))
               for axis in range(3)]
    if any(n.size == 0 for n in nonzero):
        raise ValueError("the lung mask is empty")
    box = []
    for axis, idx in enumerate(nonzero):
        half = int(round(margin_mm / spacing[axis]))
        box.append(slice(max(0, idx[0] - half), min(lungs.shape[axis], idx[-1] + half + 1)))
    box = tuple(box)
    region = lungs[box]
    if mediastinum:                  # fill each row between its first and last lung voxel
        region = np.logical_or.accumulate(region, axis=2) \
            & np.logical_or.accumulate(region[:, :, ::-1], axis=2)[:, :, ::-1]
    if margin_mm > 0:
        region = _grow(region, spacing, margin_mm)
    return box, region


def lung_roi(lung_mask, spacing, *, margin_mm=5.0, mediastinum=True):
    """The region :func:`detect_candidates` toboggans in, before the intensity window.

    Parameters
    ----------
    lung_mask : (Z, Y, X) array
        Non-zero inside the lungs.
    spacing : 3 floats
        (z, y, x) mm.
    margin_mm : float
        Growth of the region (a box of ± ``margin_mm`` along each axis).
    mediastinum : bool
        Also take the space between the lungs: in each row of each slice everything
        from the first to the last lung voxel (assumes axial slices with columns running
        left–right, as CT is stored).  Lung masks leave out the hilum and the central
        pulmonary arteries (in CAD-PE about half of the artery voxels lie outside the lung
        mask, all of them inside this region).

    Returns
    -------
    (Z, Y, X) bool ndarray
    """
    spacing = check_spacing(spacing)
    margin_mm = non_negative_number(margin_mm, "margin_mm")
    lungs = _check_mask(np.asarray(lung_mask), np.shape(lung_mask), "lung_mask")
    if lungs.ndim != 3:
        raise ValueError(f"lung_mask must be 3-D (z, y, x), got shape {lungs.shape}")
    out = np.zeros(lungs.shape, bool)
    box, region = _roi_box(lungs, spacing, margin_mm, bool(mediastinum))
    out[box] = region
    return out


# --------------------------------------------------------------------------- candidates


def _interior_minima(smooth, flat):
    """Those of the flat indices whose 26 neighbours are all at least as bright."""
    zyx = np.stack(np.unravel_index(flat, smooth.shape), axis=1)
    value = smooth.ravel()[flat]
    top = np.asarray(smooth.shape) - 1
    keep = np.ones(flat.size, bool)
    for step in np.ndindex(3, 3, 3):
        at = np.clip(zyx + np.asarray(step) - 1, 0, top)
        keep &= smooth[at[:, 0], at[:, 1], at[:, 2]] >= value
    return flat[keep]


def _gradient(smooth, flat, spacing):
    """Gradient magnitude (HU/mm, central differences) of ``smooth`` at flat indices."""
    zyx = np.unravel_index(flat, smooth.shape)
    total = np.zeros(flat.size, np.float32)
    for axis, step in enumerate(spacing):
        plus = list(zyx)
        minus = list(zyx)
        plus[axis] = np.minimum(zyx[axis] + 1, smooth.shape[axis] - 1)
        minus[axis] = np.maximum(zyx[axis] - 1, 0)
        span = (plus[axis] - minus[axis]).astype(np.float32) * np.float32(step)
        diff = (smooth[tuple(plus)] - smooth[tuple(minus)]) / np.maximum(span, 1e-6)
        total += diff * diff
    return np.sqrt(total)


def _directions(spacing):
    """The 26 neighbour directions as unit vectors in mm, and their steps in voxels."""
    steps = np.array([(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1)
                      for dx in (-1, 0, 1) if (dz, dy, dx) != (0, 0, 0)], float)
    return steps / np.linalg.norm(steps, axis=1, keepdims=True)


def _enclosure(smooth, points, spacing, radius_mm, contrast_hu, air_hu, chunk=1024):
    """Fraction of 26 rays from each point that meet contrast before air within radius_mm.

    Rays are sampled every half voxel of the finest axis (nearest voxel); a ray "meets
    contrast" when a sample exceeds ``contrast_hu`` before any sample falls below ``air_hu``.
    """
    spacing = np.asarray(spacing, float)
    step = 0.5 * spacing.min()
    distances = np.arange(1, int(math.ceil(radius_mm / step)) + 1) * step
    rays = _directions(spacing)[:, None, :] * distances[None, :, None] / spacing  # (26, k, 3)
    top = np.asarray(smooth.shape) - 1
    out = np.zeros(len(points), float)
    for start in range(0, len(points), chunk):
        where = np.rint(points[start:start + chunk, None, None, :] + rays[None]).astype(np.int64)
        np.clip(where, 0, top, out=where)
        values = smooth[where[..., 0], where[..., 1], where[..., 2]]     # (n, 26, k)
        bright, dark = values > contrast_hu, values < air_hu
        first_bright = np.where(bright.any(axis=2), bright.argmax(axis=2), len(distances))
        first_dark = np.where(dark.any(axis=2), dark.argmax(axis=2), len(distances))
        out[start:start + chunk] = (np.minimum(first_bright, first_dark)
                                    < len(distances)).mean(axis=1)
    return out


def _suppress(points_mm, scores, distance, valid):
    """Non-maximum suppression that merges: ``(kept, keeper)``.

    ``kept``: indices of the valid points kept, best first; ``keeper``: per point the kept
    point it belongs to (itself when kept; the best kept point within ``distance`` that
    absorbed it; -1 when not valid).
    """
    keeper = np.full(len(scores), -1, np.int64)
    candidates = np.flatnonzero(valid)
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    if distance <= 0 or len(order) < 2:
        keeper[order] = order
        return order, keeper
    from scipy.spatial import cKDTree

    tree = cKDTree(points_mm[order])
    kept = []
    for i in order:
        if keeper[i] >= 0:
            continue
        kept.append(i)
        near = order[tree.query_ball_point(points_mm[i], distance)]
        near = near[keeper[near] < 0]
        keeper[near] = i
    return np.array(kept, np.int64), keeper


def detect_candidates(ct, spacing=None, *, lung_mask=None, margin_mm=5.0, mediastinum=True,
                      smoothing_mm=0.7, window_hu=(-100.0, 450.0), embolus_hu=(0.0, 150.0),
                      contrast_hu=200.0, max_gradient=40.0, contrast_distance_mm=3.0,
                      enclosure_radius_mm=8.0, min_enclosure=0.75, min_volume_mm3=2.0,
                      max_volume_mm3=20000.0, merge_distance_mm=5.0, max_candidates=None):
    """PE candidates of a CTPA volume by tobogganing (Liang & Bi, IPMI 2007).

    See the module's description for the steps.  All HU are of the smoothed volume.

    Parameters
    ----------
    ct : (Z, Y, X) array of HU, or Volume
        int16 or float32 preferred (the region's box is smoothed into float32).
    spacing : 3 floats
        (z, y, x) mm; taken from ``ct`` when it is a Volume.
    lung_mask : (Z, Y, X) array, optional
        Non-zero in the lungs; the region is built by :func:`lung_roi` with
        ``margin_mm`` and ``mediastinum``.  Default: the whole volume (slower).
    margin_mm : float
        Growth of the lung region (default 5 mm: vessel walls, hilum).
    mediastinum : bool
        Include the space between the lungs (central pulmonary arteries; default True).
    smoothing_mm : float
        Standard deviation of the Gaussian applied first (default 0.7 mm, about a voxel:
        it tames noise minima and keeps 2–3 mm clots); 0 for none.
    window_hu : (low, high)
        HU of the voxels tobogganed (default −100..450: vessel, clot, soft tissue; not
        lung, not bone).
    embolus_hu : (low, high)
        HU of embolus-like voxels (default 0..150: acute clot is 20–90 HU, raised by
        partial volume with the contrast around it; darker spots are partial volume with
        lung or fat, e.g. the gap between two touching vessels).
    contrast_hu : float
        Contrast-filled artery (default 200; above embolus_hu).  Pulmonary veins in the
        arterial phase (100–200 HU) stay below it.
    max_gradient : float
        HU/mm: embolus-like voxels with a flatter smoothed gradient are a cluster's
        "core" (default 40; a vessel's partial-volume rim is steeper, 150–400 HU/mm).
    contrast_distance_mm : float
        Contrast must lie within this distance (a box, per axis) of one of the
        candidate's embolus-like voxels (default 3 mm).
    enclosure_radius_mm : float
        Length of the rays cast from the darkest voxel (default 8 mm).
    min_enclosure : float
        Least fraction of the 26 rays that must meet contrast or air/lung before
        ``enclosure_radius_mm`` (default 0.75, 20 of 26 rays: a clot sits in a vessel,
        bounded by contrast or lung all round, 0.8–1.0 for the inserted clots measured;
        tissue beside a vessel, or a vein running on, leave more rays open).
    min_volume_mm3 : float
        Least volume of a candidate's embolus-like voxels (default 2 mm³, about 4 voxels).
    max_volume_mm3 : float
        Largest toboggan cluster (default 20000 mm³: not a whole heart chamber).
    merge_distance_mm : float
        A candidate whose centre lies within this distance of a better one is merged into
        it (its voxels join the better one's; default 5 mm: a clot holds several noise
        minima; 0 keeps all apart).
    max_candidates : int, optional
        Keep at most this many, the best.

    Returns
    -------
    Candidates
        Best (highest score) first.
    """
    ct, spacing = as_array_and_spacing(ct, spacing)
    margin_mm = non_negative_number(margin_mm, "margin_mm")
    smoothing_mm = non_negative_number(smoothing_mm, "smoothing_mm")
    window = _hu_range(window_hu, "window_hu")
    embolus = _hu_range(embolus_hu, "embolus_hu")
    contrast_hu = _finite_hu(contrast_hu, "contrast_hu")
    if contrast_hu <= embolus[1]:
        raise ValueError(f"contrast_hu ({contrast_hu:g}) must exceed the top of embolus_hu "
                         f"({embolus[1]:g})")
    if embolus[1] < window[0] or embolus[0] > window[1]:
        raise ValueError(f"embolus_hu {embolus} lies outside window_hu {window}: no cluster "
                         "could qualify")
    contrast_distance_mm = non_negative_number(contrast_distance_mm, "contrast_distance_mm")
    max_gradient = positive_number(max_gradient, "max_gradient")
    enclosure_radius_mm = positive_number(enclosure_radius_mm, "enclosure_radius_mm")
    min_enclosure = non_negative_number(min_enclosure, "min_enclosure")
    if min_enclosure > 1:
        raise ValueError(f"min_enclosure is a fraction of rays, at most 1; got {min_enclosure}")
    min_volume_mm3 = non_negative_number(min_volume_mm3, "min_volume_mm3")
    max_volume_mm3 = positive_number(max_volume_mm3, "max_volume_mm3")
    if min_volume_mm3 > max_volume_mm3:
        raise ValueError(f"min_volume_mm3 ({min_volume_mm3:g}) exceeds max_volume_mm3 "
                         f"({max_volume_mm3:g})")
    merge_distance_mm = non_negative_number(merge_distance_mm, "merge_distance_mm")
    if max_candidates is not None:
        max_candidates = integer_at_least(max_candidates, "max_candidates", 0)

    if lung_mask is not None:
        lungs = _check_mask(np.asarray(lung_mask), ct.shape, "lung_mask")
        box, region = _roi_box(lungs, spacing, margin_mm, bool(mediastinum))
    else:
        box, region = tuple(slice(0, n) for n in ct.shape), None
    origin = np.array([s.start for s in box])
    sub = ct[box]
    if smoothing_mm > 0:
        sigma = [smoothing_mm / s for s in spacing]
        smooth = ndimage.gaussian_filter(sub, sigma, output=np.float32, mode="nearest",
                                         truncate=3.0)
    else:
        smooth = sub.astype(np.float32)
    inside = (smooth >= window[0]) & (smooth <= window[1])
    if region is not None:
        inside &= region
    del region
    voxel_mm3 = float(np.prod(spacing))
    if not inside.any():
        return _empty(ct.shape, spacing)

    padded, flat = _padded(smooth, inside)
    del inside
    labels, roots = _toboggan_flat(padded, flat)
    del padded
    root_flat = _unpad(flat[roots], smooth.shape)
    n_clusters = len(roots)
    cluster_sizes = np.bincount(labels, minlength=n_clusters + 1)[1:]
    cluster_ok = np.zeros(n_clusters + 1, bool)
    cluster_ok[1:] = cluster_sizes * voxel_mm3 <= max_volume_mm3
    keep = cluster_ok[labels]
    labels, flat = labels[keep], _unpad(flat[keep], smooth.shape)
    del keep

    # a candidate's voxels are the embolus-like voxels (in embolus_hu) of its cluster; the
    # cluster qualifies only with a "core": an embolus-like voxel that is flat (smoothed
    # gradient up to max_gradient: the inside of a clot, or of tissue) or a true local
    # minimum (no darker voxel among all 26 neighbours, in the region or not: the centre
    # of a clot too small to be flat).  The partial-volume slope where a vessel meets lung
    # or fat crosses embolus_hu too, but steeply and with its minimum outside.
    smooth_flat = smooth.ravel()
    values = smooth_flat[flat]
    dark = (values >= embolus[0]) & (values <= embolus[1])
    labels, flat, values = labels[dark], flat[dark], values[dark]
    del dark
    core = _gradient(smooth, flat, spacing) <= max_gradient
    core |= np.isin(flat, _interior_minima(smooth, root_flat))
    has_core = np.zeros(n_clusters + 1, bool)
    has_core[labels[core]] = True
    keep = has_core[labels]
    labels, flat, values = labels[keep], flat[keep], values[keep]
    del core, keep
    if labels.size == 0:
        return _empty(ct.shape, spacing)

    # contrast next to them: fraction and mean HU of contrast voxels in a box of
    # ± contrast_distance_mm around each voxel (two separable running means)
    size = [2 * int(round(contrast_distance_mm / step)) + 1 for step in spacing]
    bright = (smooth > contrast_hu).astype(np.float32)
    fraction = ndimage.uniform_filter(bright, size, mode="constant").ravel()[flat]
    np.multiply(bright, smooth, out=bright)
    level = ndimage.uniform_filter(bright, size, mode="constant").ravel()[flat]
    del bright
    fraction[fraction < 0.5 / np.prod(size)] = 0.0       # rounding of the running sums

    # per cluster: size, darkest voxel, contrast; renumber the qualifying ones 0..n-1
    count = np.bincount(labels, minlength=n_clusters + 1)
    weight = np.bincount(labels, weights=fraction, minlength=n_clusters + 1)
    volume = count * voxel_mm3
    good = (count > 0) & (weight > 0) & (volume >= min_volume_mm3)
    if not good.any():
        return _empty(ct.shape, spacing)
    number = np.full(n_clusters + 1, -1, np.int64)
    number[good] = np.arange(good.sum())
    owner = number[labels]
    use = owner >= 0
    owner, flat, values = owner[use], flat[use], values[use]
    level, fraction = level[use], fraction[use]
    n = int(good.sum())
    contrast_mean = np.bincount(owner, weights=np.where(fraction > 0, level, 0.0),
                                minlength=n) / weight[good]
    mean_hu = np.bincount(owner, weights=values, minlength=n) / count[good]
    order = np.lexsort((values, owner))               # darkest voxel per cluster
    first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
    darkest = np.stack(np.unravel_index(flat[first], smooth.shape), axis=1)
    zyx = np.stack(np.unravel_index(flat, smooth.shape), axis=1) + origin
    centres = np.stack([np.bincount(owner, weights=zyx[:, a], minlength=n)
                        for a in range(3)], axis=1) / count[good][:, None]
    enclosure = _enclosure(smooth, darkest, spacing, enclosure_radius_mm, contrast_hu,
                           window[0])
    scores = (contrast_mean - mean_hu) * enclosure
    centres_mm = centres * np.asarray(spacing)
    kept, keeper = _suppress(centres_mm, scores, merge_distance_mm,
                             enclosure >= min_enclosure)
    if max_candidates is not None:
        kept = kept[:max_candidates]

    # candidates (a kept cluster with those it absorbed), voxel lists candidate after
    # candidate, and what depends on the merged voxels
    rank = np.full(n, -1, np.int64)
    rank[kept] = np.arange(kept.size)
    group = np.where(keeper >= 0, rank[np.maximum(keeper, 0)], -1)
    voxel_group = group[owner]
    use = voxel_group >= 0
    order = np.lexsort((values[use], voxel_group[use]))       # darkest first per candidate
    voxel_group, values, zyx = voxel_group[use][order], values[use][order], zyx[use][order]
    m = kept.size
    sizes = np.bincount(voxel_group, minlength=m)
    bounds = np.zeros(m + 1, np.int64)
    bounds[1:] = np.cumsum(sizes)
    centres = np.stack([np.bincount(voxel_group, weights=zyx[:, a], minlength=m)
                        for a in range(3)], axis=1) / np.maximum(sizes, 1)[:, None]
    members = group >= 0
    merged_clusters = np.bincount(group[members],
                                  weights=cluster_sizes[np.flatnonzero(good)[members] - 1],
                                  minlength=m)
    return Candidates(
        centres=centres, centres_mm=centres * np.asarray(spacing),
        minima=zyx[bounds[:-1]].astype(np.int64), sizes=sizes.astype(np.int64),
        volumes_mm3=sizes * voxel_mm3, cluster_sizes=merged_clusters.astype(np.int64),
        min_hu=values[bounds[:-1]].astype(float),
        mean_hu=np.bincount(voxel_group, weights=values, minlength=m) / np.maximum(sizes, 1),
        contrast_hu=contrast_mean[kept], enclosure=enclosure[kept], scores=scores[kept],
        voxels=np.ravel_multi_index(tuple(zyx.T), ct.shape).astype(np.int64),
        offsets=bounds, shape=tuple(ct.shape), spacing=tuple(spacing))


def _unpad(flat, shape):
    """Flat indices of the +1-padded array → flat indices of the unpadded ``shape``."""
    nz, ny, nx = shape
    py, px = ny + 2, nx + 2
    z, rest = np.divmod(flat, py * px)
    y, x = np.divmod(rest, px)
    return ((z - 1) * ny + (y - 1)) * nx + (x - 1)


def _empty(shape, spacing):
    nothing = np.zeros(0)
    return Candidates(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), np.int64),
                      np.zeros(0, np.int64), nothing, np.zeros(0, np.int64), nothing, nothing,
                      nothing, nothing, nothing,
                      np.zeros(0, np.int64), np.zeros(1, np.int64), tuple(shape),
                      tuple(spacing))


def candidate_voxels(candidates, index):
    """Voxels (k, 3) int (z, y, x) of candidate ``index``: its embolus-like voxels."""
    if not isinstance(candidates, Candidates):
        raise ValueError(f"candidates must be Candidates, got {type(candidates).__name__}")
    index = integer_at_least(index, "index", 0)
    if index >= len(candidates.scores):
        raise ValueError(f"index {index} out of range for {len(candidates.scores)} candidates")
    flat = candidates.voxels[candidates.offsets[index]:candidates.offsets[index + 1]]
    return np.stack(np.unravel_index(flat, candidates.shape), axis=1)


def label_volume(candidates):
    """An int32 volume with candidate ``i`` (best first) painted as ``i + 1`` on its voxels."""
    if not isinstance(candidates, Candidates):
        raise ValueError(f"candidates must be Candidates, got {type(candidates).__name__}")
    out = np.zeros(candidates.shape, np.int32)
    owner = np.repeat(np.arange(1, len(candidates.scores) + 1, dtype=np.int32),
                      np.diff(candidates.offsets))
    out.ravel()[candidates.voxels] = owner
    return out


# --------------------------------------------------------------------------- evaluation


def embolus_labels(mask, *, connectivity=3):
    """The emboli of a mask as a label volume: ``(labels, count)``.

    A bool or 0/1 mask gives its connected components (``connectivity`` 1, 2 or 3: faces,
    edges, corners; default 3, 26-neighbourhood), numbered 1..count in raster order; an
    integer label volume with values above 1 is returned as it is (int32), ``count`` its
    largest label.
    """
    connectivity = integer_at_least(connectivity, "connectivity", 1)
    if connectivity > 3:
        raise ValueError(f"connectivity must be 1, 2 or 3, got {connectivity}")
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"an embolus mask must be 3-D (z, y, x), got shape {mask.shape}")
    if mask.dtype.kind not in "biuf":
        raise ValueError(f"an embolus mask must hold numbers, got {mask.dtype}")
    if mask.dtype.kind in "iuf" and mask.size and (mask.min() < 0
                                                   or np.any(mask != np.round(mask))):
        raise ValueError("embolus labels must be whole numbers >= 0")
    top = int(mask.max()) if mask.size else 0
    if mask.dtype != bool and top > 1:
        return mask.astype(np.int32, copy=False), top
    structure = ndimage.generate_binary_structure(3, connectivity)
    labels, count = ndimage.label(mask != 0, structure=structure)
    return labels.astype(np.int32, copy=False), int(count)


def candidate_hits(candidates, emboli, *, by="voxels"):
    """The embolus each candidate hits (0: none).

    Parameters
    ----------
    candidates : Candidates
    emboli : (Z, Y, X) array
        An embolus mask or label volume (see :func:`embolus_labels`).
    by : {"voxels", "centre"}
        ``"centre"``: the label under the candidate's centre voxel; ``"voxels"`` (default):
        that, or else the label most of the candidate's embolus-like voxels lie in.

    Returns
    -------
    (n,) int ndarray of embolus labels.
    """
    if not isinstance(candidates, Candidates):
        raise ValueError(f"candidates must be Candidates, got {type(candidates).__name__}")
    if by not in ("voxels", "centre"):
        raise ValueError(f"by must be 'voxels' or 'centre', got {by!r}")
    labels, _ = embolus_labels(emboli)
    if labels.shape != tuple(candidates.shape):
        raise ValueError(f"emboli have shape {labels.shape}, the candidates' volume "
                         f"{tuple(candidates.shape)}")
    if len(candidates.scores) == 0:
        return np.zeros(0, np.int64)
    at = np.clip(np.rint(candidates.centres).astype(np.int64), 0,
                 np.asarray(labels.shape) - 1)
    hits = labels[at[:, 0], at[:, 1], at[:, 2]].astype(np.int64)
    if by == "voxels" and candidates.voxels.size:
        under = labels.ravel()[candidates.voxels].astype(np.int64)
        owner = np.repeat(np.arange(len(candidates.scores)), np.diff(candidates.offsets))
        inside = under > 0
        if inside.any():
            pairs, counts = np.unique(np.stack([owner[inside], under[inside]]), axis=1,
                                      return_counts=True)
            # most voxels first, then the lower label: the first row per candidate wins
            order = np.lexsort((pairs[1], -counts, pairs[0]))
            first = order[np.r_[True, np.diff(pairs[0][order]) != 0]]
            best = np.zeros(len(candidates.scores), np.int64)
            best[pairs[0][first]] = pairs[1][first]
            hits = np.where(hits > 0, hits, best)
    return hits


def evaluate_candidates(cases, *, by="voxels", limits=()):
    """Sensitivity and candidates per volume of a candidate generator over volumes.

    Parameters
    ----------
    cases : iterable of (Candidates, emboli) pairs
        ``emboli`` a mask or label volume of the same volume (see :func:`embolus_labels`).
    by : {"voxels", "centre"}
        Hit rule, as for :func:`candidate_hits`.
    limits : sequence of int
        Extra operating points: only the ``k`` best candidates of each volume.

    Returns
    -------
    dict
        ``volumes``, ``emboli``, ``emboli_hit``, ``sensitivity`` (fraction of all emboli
        hit by a candidate of their volume; NaN without emboli), ``candidates``,
        ``candidates_per_volume``, ``true_candidates`` (candidates hitting an embolus),
        and per limit ``k`` a dict under ``k`` with ``sensitivity`` and
        ``candidates_per_volume``.
    """
    limits = sorted({integer_at_least(k, "limit") for k in limits})
    volumes = emboli_total = hit_total = n_candidates = true = 0
    hit_at = {k: 0 for k in limits}
    count_at = {k: 0 for k in limits}
    for candidates, emboli in cases:
        labels, count = embolus_labels(emboli)
        hits = candidate_hits(candidates, labels, by=by)
        volumes += 1
        emboli_total += count
        found = np.unique(hits[hits > 0])
        hit_total += found.size
        n_candidates += len(hits)
        true += int((hits > 0).sum())
        for k in limits:
            hit_at[k] += np.unique(hits[:k][hits[:k] > 0]).size
            count_at[k] += min(k, len(hits))
    if volumes == 0:
        raise ValueError("no volumes to evaluate")
    result = {"volumes": volumes, "emboli": emboli_total, "emboli_hit": hit_total,
              "sensitivity": hit_total / emboli_total if emboli_total else float("nan"),
              "candidates": n_candidates, "candidates_per_volume": n_candidates / volumes,
              "true_candidates": true}
    for k in limits:
        result[k] = {"sensitivity": hit_at[k] / emboli_total if emboli_total
                     else float("nan"), "candidates_per_volume": count_at[k] / volumes}
    return result
