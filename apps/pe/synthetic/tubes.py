"""Fully synthetic CTPA: a tree of contrast-filled tubes in an ellipsoidal lung.

Part of :mod:`apps.pe.synthetic`: :func:`synthetic_tubes_volume` needs no data at all, is
fast (well under a second), and is what doctests, unit tests and the demo use.  The anatomy
is drawn here; the emboli follow the kinds and levels of :mod:`~apps.pe.synthetic.emboli`
(ellipsoids, not real shapes) and the intensities the model of
:mod:`~apps.pe.synthetic.intensity`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage

from .emboli import (Embolus, SyntheticCT, artery_level, draw_cross_section, draw_kind,
                     keep_piece, random_perpendicular)
from .intensity import check_seed, check_spacing, count_range, draw_params, render

__all__ = ["synthetic_tubes_volume"]


def _capsule(shape, spacing, p0, p1, radius, pad=0.0):
    """Window and bool mask of the voxels within ``radius`` of the segment p0-p1 (mm)."""
    sp = np.asarray(spacing)
    lo = np.floor((np.minimum(p0, p1) - radius - pad) / sp).astype(int)
    hi = np.ceil((np.maximum(p0, p1) + radius + pad) / sp).astype(int) + 1
    lo, hi = np.maximum(lo, 0), np.minimum(hi, shape)
    if np.any(hi <= lo):
        return None, None
    window = tuple(slice(a, b) for a, b in zip(lo, hi))
    grids = [(np.arange(a, b) * s)[tuple(slice(None) if i == k else None for i in range(3))]
             for k, (a, b, s) in enumerate(zip(lo, hi, sp))]
    d = np.asarray(p1) - np.asarray(p0)
    length2 = float(d @ d) or 1e-9
    rel = [g - p for g, p in zip(grids, p0)]
    t = np.clip(sum(r * dk for r, dk in zip(rel, d)) / length2, 0, 1)
    dist2 = sum((r - t * dk) ** 2 for r, dk in zip(rel, d))
    return window, dist2 <= radius ** 2


def _tree(rng, start, direction, radius, min_radius, inside, length_range=(2.5, 3.5)):
    """Segments ``(p0, p1, radius)`` of a random bifurcating tree; ``inside(point)`` is the
    normalised lung radius (segments stop at 0.9)."""
    segments = []
    stack = [(np.asarray(start, float), np.asarray(direction, float), float(radius))]
    while stack:
        p, d, r = stack.pop()
        d = d / np.linalg.norm(d)
        length = rng.uniform(*length_range) * r
        q = p + length * d
        terminal = False
        if inside(q) > 0.9:   # shorten to stay in the lung
            lo_t, hi_t = 0.0, 1.0
            for _ in range(20):
                mid = (lo_t + hi_t) / 2
                lo_t, hi_t = (mid, hi_t) if inside(p + mid * length * d) <= 0.9 else (lo_t, mid)
            q = p + lo_t * length * d
            terminal = True
        if np.linalg.norm(q - p) < r:
            continue
        segments.append((p, q, r))
        child = r * rng.uniform(0.7, 0.8, size=2)
        if terminal or child.max() < min_radius:
            continue
        n = random_perpendicular(rng, d)
        for sign, rc in zip((1, -1), child):
            if rc < min_radius:
                continue
            theta = math.radians(rng.uniform(25, 40))
            stack.append((q, math.cos(theta) * d + sign * math.sin(theta) * n, rc))
    return segments


def synthetic_tubes_volume(*, shape=(64, 96, 96), spacing=(1.0, 0.8, 0.8), seed=0,
                           n_emboli=2, artery_hu=None, vein_hu=None, embolus_hu=None,
                           noise_sd=None):
    """A small, fully synthetic CTPA: a tree of contrast-filled tubes in an ellipsoidal lung.

    No data needed, fast (well under a second): for demos, doctests and tests.  The lung is
    an ellipsoid (semi-axes 0.42, 0.36, 0.36 of the extent along z, y, x) in a body (an
    elliptic cylinder along z, semi-axes 0.49 of the extent: air in the corners), the arteries
    a random bifurcating tree of tubes (root radius 4.5-5.5 mm, each child 0.7-0.8 of its
    parent, 25-40 degrees off its axis, down to 2 mm; segments 2.5-3.5 radii long, cut at
    the lung's edge), the veins a smaller tree from the other end; the emboli are ellipsoids
    along a tube's axis (semi-axis 1.8-2.6 radii along it), central, eccentric or occlusive,
    clipped to their tube segment.  Intensities, blur and noise follow the same model as
    :func:`~apps.pe.synthetic.synthesize_ctpa` (:mod:`apps.pe.synthetic.intensity`).

    Parameters
    ----------
    shape : 3 ints, keyword-only
        ``(z, y, x)`` voxels, each >= 24.
    spacing : 3 floats
        ``(z, y, x)`` mm.
    seed : int
    n_emboli : int or (int, int)
    artery_hu, vein_hu, embolus_hu, noise_sd : None, float or (float, float)
        As in :func:`~apps.pe.synthetic.synthesize_ctpa`.

    Returns
    -------
    SyntheticCT
        ``emboli_info`` items have ``source="ellipsoid"`` and ``vessel_axis`` the tube's
        exact axis.

    Examples
    --------
    >>> case = synthetic_tubes_volume(seed=3, n_emboli=3)
    >>> [e.id for e in case.emboli_info], sorted(np.unique(case.emboli).tolist())
    ([1, 2, 3], [0, 1, 2, 3])
    """
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be 3 integers (z, y, x), got {shape!r}")
    if len(shape) != 3 or min(shape) < 24:
        raise ValueError(f"shape must be 3 integers >= 24 (z, y, x), got {shape!r}")
    spacing = check_spacing(spacing)
    lo_n, hi_n = count_range(n_emboli, "n_emboli")
    seed = check_seed(seed)
    root = np.random.SeedSequence(seed)
    param_seq, tree_seq, emboli_seq, render_seq = root.spawn(4)
    params = draw_params(np.random.default_rng(param_seq), spacing, dict(
        artery_hu=artery_hu, vein_hu=vein_hu, embolus_hu=embolus_hu, noise_sd=noise_sd))
    params["fat_thickness_mm"] = min(params["fat_thickness_mm"], 3.0)
    params["body_margin_mm"] = None
    sp = np.asarray(spacing)
    extent = (np.asarray(shape) - 1) * sp
    centre = extent / 2
    semi = np.array([0.42, 0.36, 0.36]) * extent           # the lung, an ellipsoid
    body_semi = 0.49 * extent[1:]                           # the body, an elliptic cylinder

    def inside(point):
        return float(np.sqrt(np.sum(((np.asarray(point) - centre) / semi) ** 2)))

    def depth(z, y, x):   # about the distance to the skin, mm
        rho = np.hypot((y - centre[1]) / body_semi[0], (x - centre[2]) / body_semi[1])
        return (1 - rho) * body_semi.min() + 0 * z

    grids = [(np.arange(n) * s - c) / a for n, s, c, a in zip(shape, sp, centre, semi)]
    lung = (grids[0][:, None, None] ** 2 + grids[1][None, :, None] ** 2
            + grids[2][None, None, :] ** 2) <= 1.0

    rng = np.random.default_rng(tree_seq)
    jitter = rng.uniform(-0.04, 0.04, size=4) * extent[[1, 2, 1, 2]]
    arteries = _tree(rng, (centre[0] - 0.8 * semi[0], centre[1] + jitter[0],
                           centre[2] + jitter[1]),
                     (1.0, *rng.uniform(-0.2, 0.2, size=2)), rng.uniform(4.5, 5.5), 2.0, inside)
    veins = _tree(rng, (centre[0] + 0.8 * semi[0], centre[1] + 0.3 * semi[1] + jitter[2],
                        centre[2] - 0.3 * semi[2] + jitter[3]),
                  (-1.0, *rng.uniform(-0.2, 0.2, size=2)), rng.uniform(3.0, 3.5), 2.2, inside)
    artery = np.zeros(shape, bool)
    vein = np.zeros(shape, bool)
    for segments, volume in ((arteries, artery), (veins, vein)):
        for p0, p1, r in segments:
            window, m = _capsule(shape, spacing, p0, p1, r)
            if window is not None:
                volume[window] |= m
    vein &= ~artery

    # Emboli: ellipsoids along the axis of tubes that are long enough.
    rng = np.random.default_rng(emboli_seq)
    count = int(rng.integers(lo_n, hi_n + 1))
    hu_range = params["embolus_hu_range"]
    emboli = np.zeros(shape, np.int32)
    info = []
    hosts = [s for s in arteries if s[2] >= 2.5 and np.linalg.norm(s[1] - s[0]) >= 2.5 * s[2]]
    structure = ndimage.generate_binary_structure(3, 1)
    attempts = 0
    while hosts and len(info) < count and attempts < 40 * count:
        attempts += 1
        p0, p1, r = hosts[(len(info) + attempts - 1) % len(hosts)] if attempts <= len(hosts) \
            else hosts[int(rng.integers(len(hosts)))]
        length = float(np.linalg.norm(p1 - p0))
        axis = (p1 - p0) / length
        c = p0 + rng.uniform(0.4, 0.6) * (p1 - p0)
        kind = draw_kind(rng, r)
        b, offset = draw_cross_section(rng, kind, r)
        a = rng.uniform(1.8, 2.6) * r   # clipped to this tube (its ends are round)
        e = c + offset * random_perpendicular(rng, axis)
        window, tube = _capsule(shape, spacing, p0, p1, r, pad=a + r)
        lo = np.array([s.start for s in window])
        g = [(np.arange(s.start, s.stop) * sk - ek)[tuple(slice(None) if i == k else None
                                                          for i in range(3))]
             for k, (s, sk, ek) in enumerate(zip(window, sp, e))]
        along = sum(gk * vk for gk, vk in zip(g, axis))
        across2 = sum(gk ** 2 for gk in g) - along ** 2
        m = ((along / a) ** 2 + across2 / b ** 2 <= 1.0) & tube & artery[window]
        taken = emboli[window] > 0
        m &= ~taken
        centre_voxel = np.round(c / sp).astype(int)
        if not m.any():
            continue
        m = keep_piece(m, centre_voxel - lo)
        if taken.any() and (ndimage.binary_dilation(m, structure, iterations=2) & taken).any():
            continue
        n_voxels = int(m.sum())
        volume = n_voxels * float(np.prod(sp))
        if volume < 8.0:
            continue
        k = len(info) + 1
        emboli[window][m] = k
        info.append(Embolus(
            id=k, centre_voxel=tuple(int(v) for v in centre_voxel),
            centre_mm=tuple(round(float(v), 3) for v in c), volume_mm3=round(volume, 3),
            n_voxels=n_voxels, hu=round(float(rng.uniform(*hu_range)), 2), kind=kind,
            level=artery_level(r), vessel_radius_mm=round(float(r), 3),
            vessel_axis=tuple(round(float(v), 5) for v in axis), source="ellipsoid"))
    if len(info) < count:
        warnings.warn(f"placed {len(info)} of {count} emboli in the tubes", RuntimeWarning,
                      stacklevel=2)
    ct, body = render(lung=lung, artery=artery, vein=vein, emboli=emboli,
                       emboli_hu=[e.hu for e in info], spacing=spacing, params=params,
                       seed_seq=render_seq, posterior=1, body_margin_mm=0.0, bone=False,
                       depth=depth)
    params["n_emboli_requested"] = count
    return SyntheticCT(ct=ct, spacing=spacing, lung_mask=lung, artery_mask=artery,
                       vein_mask=vein, emboli=emboli, emboli_info=info, seed=seed,
                       body_mask=body, params=params, affine=None, case_id=f"tubes-{seed}")
