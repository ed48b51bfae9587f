"""Synthetic colonoscopy frames with polyps and their exact masks, for demos and tests.

A seeded generator that needs no data: every frame is drawn from a random scene and comes
with the pixel-exact mask and box of each polyp, so the polyp pipeline (datasets, patches,
training, evaluation) runs end to end on it.  The frames look like colonoscopy at a glance;
they are **not** a substitute for real data and a model's scores on them say nothing about
its performance on real frames: use them for demonstrations and tests only.

Scene model (all fields vectorised NumPy/SciPy; only the few polyps are placed in a loop):

* **Field of view**: the endoscope's black border, an octagon (Olympus-style, cut corners)
  or a circle clipped by the frame, with an anti-aliased edge.
* **Lumen and lighting**: the colon is a tube seen along its axis.  A wall point at image
  distance ρ from the lumen centre lies at a depth ∝ 1/ρ, so the light at the camera falls
  off as ``ρ² / (ρ² + k²)`` towards the dark, irregular lumen ("tunnel"); a radial
  fall-off from the image centre adds the light source's cone.  The lumen can be off-centre
  or outside the frame (a view of the wall).
* **Haustral folds**: rings at evenly spaced ``log ρ`` (evenly spaced in depth), wobbling
  and fading along the circumference; each fold's crest is lit and the wall just behind it
  (towards the lumen) is in its shadow, a sharp dark crescent.
* **Mucosa**: a pink-to-orange albedo with low-frequency colour variation, fine granular
  texture and a network of thin dark-red vessels; shading darkens green and blue faster
  than red, so shadows turn deep red as in real frames.
* **Polyps**: height fields (lobulated elliptical domes, some pedunculated with a stalk)
  lit by a light slightly off the view axis (Lambert): one side brighter, the other side
  and the rim shadowed; a slightly different colour and a pit-like surface pattern.
* **Specular highlights**: saturated white blobs: Phong highlights on the polyps' domes and
  glints scattered over wet patches of mucosa and fold crests.
* **Camera**: slight Gaussian blur and sensor noise.

>>> frame = synthetic_frame(seed=0, shape=(72, 88), polyps=1)
>>> frame.image.shape, frame.image.dtype, frame.mask.shape, len(frame.polyps)
((72, 88, 3), dtype('uint8'), (72, 88), 1)
>>> y0, x0, y1, x1 = frame.polyps[0].box
>>> bool(frame.mask[y0:y1, x0:x1].any()) and not frame.mask[:, :x0].any()
True
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
from scipy import ndimage

__all__ = ["Polyp", "SyntheticFrame", "synthetic_frame", "synthetic_frames"]

#: Probabilities of 0, 1 and 2 polyps when ``polyps`` is not given.
POLYP_COUNT_PROBABILITIES = (0.1, 0.75, 0.15)
#: Default polyp diameters (of the head), as fractions of the frame width.
SIZE_RANGE = (0.04, 0.25)


class Polyp(NamedTuple):
    """One polyp of a synthetic frame.

    ``box``: ``(y0, x0, y1, x1)`` pixels of its visible mask, max edges exclusive;
    ``centre``: ``(y, x)`` of its head; ``radius``: the head's mean radius, pixels;
    ``pedunculated``: whether it stands on a stalk (the stalk is part of its mask).
    """
    box: tuple
    centre: tuple
    radius: float
    pedunculated: bool


class SyntheticFrame(NamedTuple):
    """A synthetic colonoscopy frame.

    ``image``: ``(H, W, 3)`` ``uint8`` RGB; ``mask``: ``(H, W)`` bool, the union of the
    polyps (inside the field of view); ``polyps``: list of :class:`Polyp`; ``fov``:
    ``(H, W)`` bool, the endoscope's field of view (outside it the image is black);
    ``seed``: the seed it was drawn from.
    """
    image: np.ndarray
    mask: np.ndarray
    polyps: list
    fov: np.ndarray
    seed: int

    @property
    def boxes(self):
        """``(n, 4)`` int array of the polyps' boxes ``(y0, x0, y1, x1)``."""
        return np.array([p.box for p in self.polyps], np.int64).reshape(-1, 4)


# -- random fields -------------------------------------------------------------------------


def _bspline_matrix(positions, size):
    """``(len(positions), size)`` weights of the cubic B-spline at ``positions``
    (each in ``[1, size - 3]``: its four taps are inside)."""
    base = np.floor(positions).astype(np.int64)
    taps = base[:, None] + np.arange(-1, 3)[None, :]
    t = np.abs(positions[:, None] - taps)
    weights = np.where(t < 1, 2 / 3 - t ** 2 + t ** 3 / 2, (2 - t) ** 3 / 6)
    matrix = np.zeros((len(positions), size), np.float32)
    matrix[np.arange(len(positions))[:, None], taps] = weights
    return matrix


def _smooth_noise(rng, shape, scale):
    """Zero-mean, unit-variance Gaussian noise correlated over about ``scale`` pixels.

    Drawn on a grid ``scale / 2`` times coarser, smoothed there and interpolated up by
    cubic B-splines (two small matrix products), so the cost hardly grows with the scale.
    """
    height, width = shape
    factor = max(1.0, scale / 2.0)
    small = (max(4, math.ceil(height / factor) + 4), max(4, math.ceil(width / factor) + 4))
    noise = ndimage.gaussian_filter(rng.standard_normal(small), scale / factor / 2.0,
                                    mode="wrap").astype(np.float32)
    rows = _bspline_matrix(np.linspace(1.5, small[0] - 2.5, height), small[0])
    cols = _bspline_matrix(np.linspace(1.5, small[1] - 2.5, width), small[1])
    field = rows @ noise @ cols.T
    field -= field.mean()
    return field / max(float(field.std()), 1e-6)


def _harmonics(rng, theta, orders, amplitude):
    """A random smooth periodic function of the angle ``theta``: sum of a few harmonics."""
    total = np.zeros_like(theta)
    for k in orders:
        total += (amplitude / k ** 0.5) * rng.uniform(0.3, 1.0) * np.cos(
            k * theta + rng.uniform(0, 2 * np.pi))
    return total


def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# -- scene parts ---------------------------------------------------------------------------


def _field_of_view(rng, yy, xx, shape):
    """Soft field-of-view alpha: an octagon with cut corners, or a clipped circle."""
    height, width = shape
    cy = height / 2 + rng.uniform(-0.02, 0.02) * height
    cx = width / 2 + rng.uniform(-0.02, 0.02) * width
    dy, dx = np.abs(yy - cy), np.abs(xx - cx)
    if rng.random() < 0.7:   # octagon: half-extents, and the cut of the corners
        ay, ax = height / 2 * rng.uniform(1.0, 1.04), width / 2 * rng.uniform(0.93, 1.0)
        cut = (ax + ay) * rng.uniform(0.72, 0.8)
        distance = np.maximum(np.maximum(dy - ay, dx - ax), (dx + dy - cut) / np.sqrt(2))
    else:                     # circle, clipped by the top and bottom of the frame
        radius = min(width, height * 1.25) / 2 * rng.uniform(0.95, 1.05)
        distance = np.hypot(dy, dx) - radius
    return np.clip(0.5 - distance, 0.0, 1.0).astype(np.float32)   # ~1-pixel soft edge


def _lumen(rng, yy, xx, shape, scale):
    """Lumen centre, radius, and ρ (distance from it in lumen radii, irregular) and θ."""
    height, width = shape
    if rng.random() < 0.8:   # lumen in view
        cy, cx = rng.uniform(0.15, 0.85) * height, rng.uniform(0.15, 0.85) * width
        radius = scale * rng.uniform(0.07, 0.2)
    else:                     # looking at the wall: the lumen is out of the frame
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(0.8, 1.3) * np.hypot(height, width)
        cy, cx = height / 2 + distance * np.sin(angle), width / 2 + distance * np.cos(angle)
        radius = scale * rng.uniform(0.15, 0.3)
    stretch = rng.uniform(0.75, 1.3)   # elliptical lumen, randomly oriented
    turn = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(turn) + (yy - cy) * np.sin(turn)
    v = -(xx - cx) * np.sin(turn) + (yy - cy) * np.cos(turn)
    theta = np.arctan2(yy - cy, xx - cx)
    rho = np.hypot(u * stretch ** 0.5, v / stretch ** 0.5) / radius
    rho /= 1 + _harmonics(rng, theta, (2, 3, 4, 5), 0.12)   # irregular outline
    return (cy, cx, radius), rho.astype(np.float32), theta.astype(np.float32)


def _folds(rng, rho, theta, shape, scale):
    """Haustral folds: (shade multiplier, crest indicator) from ρ and θ."""
    per_efold = rng.uniform(1.4, 2.4)   # folds per e-fold of ρ (i.e. of depth)
    wobble = _harmonics(rng, theta, (1, 2, 3, 5, 7), 0.35) + 0.25 * _smooth_noise(
        rng, shape, 0.25 * scale)
    phase = per_efold * np.log(np.maximum(rho, 1e-3)) + wobble + rng.uniform(0, 1)
    t = phase - np.floor(phase)   # 0 at a crest, increasing outwards (towards the camera)
    # Folds fade in and out along the circumference and are absent inside the lumen.
    strength = np.clip(0.35 + 0.9 * _harmonics(rng, theta, (1, 2, 3), 0.8)
                       + 0.4 * _smooth_noise(rng, shape, 0.3 * scale), 0, 1)
    strength *= _smoothstep(1.0, 1.6, rho) * rng.uniform(0.6, 1.0)
    # Just behind a crest (t → 1, the deeper side) the wall lies in the fold's shadow; the
    # crest's own face (t → 0) faces the light.
    shadow = _smoothstep(0.6, 0.98, t) ** 2 * (1 - _smoothstep(0.98, 1.0, t))
    lit = np.exp(-t / 0.2)
    shade = 1 + strength * (0.3 * lit - 0.55 * shadow)
    crest = strength * np.exp(-t / 0.05)
    return shade.astype(np.float32), crest.astype(np.float32)


def _polyp_layout(rng, count, shape, fov_depth, rho, lumen_radius, depth_light, size_range):
    """Centres, sizes and forms of ``count`` polyps placed on lit, visible wall."""
    height, width = shape
    placed = []
    for attempt in range(400 * count):
        if len(placed) == count:
            break
        relax = attempt >= 200 * count   # after many tries: accept darker places too
        diameter = width * rng.uniform(*size_range)
        radius = diameter / 2
        pedunculated = rng.random() < 0.25
        stalk = radius * rng.uniform(0.9, 1.6) if pedunculated else 0.0
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        iy, ix = min(int(cy), height - 1), min(int(cx), width - 1)
        if fov_depth[iy, ix] < 0.6 * radius + 2:
            continue
        if rho[iy, ix] < 1.1 + 0.6 * radius / lumen_radius:
            continue
        if not relax and depth_light[iy, ix] < 0.3:
            continue
        reach = 1.55 * radius + stalk   # bounds the lobulated head and the stalk
        if any(math.hypot(cy - p["cy"], cx - p["cx"]) < reach + p["reach"] + 2
               for p in placed):
            continue
        placed.append(dict(cy=cy, cx=cx, radius=radius, stalk=stalk, reach=reach,
                           pedunculated=pedunculated))
    if len(placed) < count:
        raise ValueError(f"cannot place {count} polyps of {size_range[0]:g}–"
                         f"{size_range[1]:g} of the width in a {height}×{width} frame")
    return placed


def _polyp_fields(rng, spec, yy, xx, shape):
    """Height field (pixels) and footprint (bool) of one polyp, in its bounding window."""
    height, width = shape
    cy, cx, radius, stalk = spec["cy"], spec["cx"], spec["radius"], spec["stalk"]
    reach = spec["reach"] + 3
    y0, y1 = max(0, int(cy - reach)), min(height, int(cy + reach) + 1)
    x0, x1 = max(0, int(cx - reach)), min(width, int(cx + reach) + 1)
    wy, wx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
    # Head: a lobulated, randomly oriented ellipse; dome profile (1 - d²)^0.6.
    aspect = rng.uniform(0.75, 1.0)
    turn = rng.uniform(0, np.pi)
    u = wx * np.cos(turn) + wy * np.sin(turn)
    v = -wx * np.sin(turn) + wy * np.cos(turn)
    theta = np.arctan2(v, u)
    lobes = 1 + _harmonics(rng, theta, (2, 3, 4, 5, 6), rng.uniform(0.03, 0.12))
    d = np.hypot(u / aspect ** 0.5, v * aspect ** 0.5) / (radius * lobes)
    dome = rng.uniform(0.7, 1.1) * radius
    head = dome * np.maximum(1 - d * d, 0) ** 0.6
    footprint = d < 1
    if stalk:
        # Stalk: a narrower, lower ridge from under the head to the wall.
        angle = rng.uniform(0, 2 * np.pi)
        along = wx * np.cos(angle) + wy * np.sin(angle)
        across = -wx * np.sin(angle) + wy * np.cos(angle)
        half_width = radius * rng.uniform(0.28, 0.42) * (1 + 0.35 * np.clip(along / stalk, 0, 1))
        inside = np.clip(1 - (across / half_width) ** 2, 0, None)
        span = _smoothstep(-0.1 * stalk, 0.0, along) * (1 - _smoothstep(
            0.85 * stalk, stalk + radius * 0.55, along))
        stalk_height = 0.5 * dome * (1 - 0.6 * np.clip(along / (stalk + radius), 0, 1))
        ridge = stalk_height * inside ** 0.6 * span
        head = np.maximum(head, ridge)
        footprint |= (inside > 0) & (span > 0.02)
    return (slice(y0, y1), slice(x0, x1)), head.astype(np.float32), footprint


def _check_shape(shape):
    try:
        height, width = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (height, width), got {shape!r}") from None
    if min(height, width) < 32:
        raise ValueError(f"shape must be at least 32×32 pixels, got {shape!r}")
    return height, width


def synthetic_frame(*, seed=0, shape=(288, 352), polyps=None, size_range=SIZE_RANGE,
                    blur=0.6, noise=1.5):
    """A synthetic colonoscopy frame with its polyps' mask, for demos and tests.

    Not for reporting performance: the frames are a caricature of colonoscopy (see the
    module's description of the scene).  Everything random follows from ``seed``: the same
    arguments give the same pixels.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    shape : (int, int)
        ``(H, W)`` of the frame, at least 32×32; default 288×352 (CVC-ClinicDB's frames are
        288×384, Kvasir-SEG's 332×487 to 1072×1920).
    polyps : int, optional
        Number of polyps; default random: 0, 1 or 2 with probabilities
        :data:`POLYP_COUNT_PROBABILITIES` (mostly 1).
    size_range : (float, float)
        Range of the polyps' head diameters, as fractions of the frame width (drawn
        uniformly); default :data:`SIZE_RANGE` (4 % to 25 %).
    blur : float
        Standard deviation of the camera's Gaussian blur, pixels (0: none).
    noise : float
        Standard deviation of the sensor noise, grey levels (0: none).

    Returns
    -------
    SyntheticFrame
        ``image`` (H, W, 3) ``uint8`` RGB, ``mask`` (H, W) bool (the union of the polyps,
        stalks included, inside the field of view), ``polyps`` (list of :class:`Polyp`
        with their boxes), ``fov`` and ``seed``.

    Raises
    ------
    ValueError
        Invalid arguments, or ``polyps`` polyps of ``size_range`` do not fit in the frame.

    Examples
    --------
    >>> a = synthetic_frame(seed=3, shape=(64, 80))
    >>> b = synthetic_frame(seed=3, shape=(64, 80))
    >>> bool((a.image == b.image).all() and (a.mask == b.mask).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    height, width = shape = _check_shape(shape)
    low, high = (float(s) for s in size_range)
    if not 0 < low <= high <= 0.6:
        raise ValueError(f"size_range must be 0 < low <= high <= 0.6, got {size_range!r}")
    rng = np.random.default_rng(int(seed))
    if polyps is None:
        polyps = int(rng.choice(3, p=POLYP_COUNT_PROBABILITIES))
    elif isinstance(polyps, bool) or not isinstance(polyps, numbers.Integral) or polyps < 0:
        raise ValueError(f"polyps must be an integer >= 0, got {polyps!r}")
    scale = float(min(height, width))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    # Geometry and light.
    fov = _field_of_view(rng, yy, xx, shape)
    fov_mask = fov >= 0.5
    fov_depth = ndimage.distance_transform_edt(fov_mask)
    (_, _, lumen_radius), rho, theta = _lumen(rng, yy, xx, shape, scale)
    reach = rng.uniform(1.6, 2.8)   # fall-off of the light with depth, in lumen radii
    depth_light = (rho ** 2 / (rho ** 2 + reach ** 2)).astype(np.float32)
    depth_light = np.maximum(depth_light, 0.02)
    lumen = 1 - _smoothstep(0.85, 1.1, rho)   # 1 inside the lumen
    cone = 1 - rng.uniform(0.25, 0.45) * (((yy - height / 2) / (height / 2)) ** 2
                                          + ((xx - width / 2) / (width / 2)) ** 2) / 2
    shade, crest = _folds(rng, rho, theta, shape, scale)

    # Polyps: height fields and masks.
    layout = _polyp_layout(rng, polyps, shape, fov_depth, rho, lumen_radius, depth_light,
                           (low, high))
    relief = np.zeros(shape, np.float32)
    mask = np.zeros(shape, bool)
    footprints = []
    for spec in layout:
        window, field, footprint = _polyp_fields(rng, spec, yy, xx, shape)
        relief[window] = np.maximum(relief[window], field)
        full = np.zeros(shape, bool)
        full[window] = footprint
        footprints.append(full & fov_mask)
        mask |= full
    mask &= fov_mask
    on_polyp = ndimage.gaussian_filter(mask.astype(np.float32), 1.0)

    # Surface relief: gentle undulation of the wall, fine granularity, pits on polyps.
    fine = _smooth_noise(rng, shape, 2.5)
    pits = np.exp(-(_smooth_noise(rng, shape, 3.0 + 0.01 * scale) / 0.35) ** 2)
    relief += (scale * 0.02) * _smooth_noise(rng, shape, 0.15 * scale)
    relief += 0.08 * fine + on_polyp * (0.5 * pits)
    relief = ndimage.gaussian_filter(relief, 0.7)
    gy, gx = np.gradient(relief)
    tilt = rng.uniform(0.35, 0.7)
    direction = rng.uniform(0, 2 * np.pi)
    light = np.array([tilt * np.cos(direction), tilt * np.sin(direction), 1.0])   # x, y, z
    norm = np.sqrt(1 + gx * gx + gy * gy)
    lambert = np.clip((1 - gx * light[0] - gy * light[1]) / norm, 0.0, 1.6)
    halfway = light / np.linalg.norm(light) + np.array([0, 0, 1.0])
    halfway /= np.linalg.norm(halfway)
    cosine = np.clip((-gx * halfway[0] - gy * halfway[1] + halfway[2]) / norm, 0, 1)

    # Light reaching the eye (before colour).
    shade_here = shade ** (1 - on_polyp)   # polyps stand in front of the folds
    energy = depth_light * cone * shade_here * (0.12 + 0.88 * lambert)
    energy *= (1 + 0.03 * fine * (1 - on_polyp)) * (1 + 0.2 * on_polyp)   # nearer: brighter
    # Auto-exposure: the brightest wall (90th percentile in view) at about full scale.
    energy *= rng.uniform(0.8, 1.05) / max(float(np.percentile(energy[fov_mask][::5], 90)),
                                           1e-3)

    # Colour: albedo with low-frequency variation, vessels, a different polyp tint.
    green = rng.uniform(0.42, 0.53)
    albedo = np.array([rng.uniform(0.92, 1.0), green, green * rng.uniform(0.62, 0.82)],
                      np.float32)
    colour = np.empty(shape + (3,), np.float32)
    variation = _smooth_noise(rng, shape, 0.35 * scale)
    blotches = _smooth_noise(rng, shape, 0.08 * scale)
    for c, gain in enumerate((0.04, 0.09, 0.1)):
        colour[..., c] = albedo[c] * (1 + gain * variation + 0.5 * gain * blotches)
    vessels = np.exp(-(_smooth_noise(rng, shape, 0.03 * scale + 3) / 0.09) ** 2)
    capillaries = np.exp(-(_smooth_noise(rng, shape, 0.012 * scale + 2) / 0.12) ** 2)
    patches = _smoothstep(-0.4, 0.8, _smooth_noise(rng, shape, 0.25 * scale))
    network = np.clip(0.7 * vessels * patches + 0.2 * capillaries, 0, 1) * (1 - on_polyp)
    network *= rng.uniform(0.5, 1.0)
    colour *= 1 - network[..., None] * np.array([0.15, 0.45, 0.4], np.float32)
    tint = np.array([1.0, rng.choice([0.9, 1.06]), rng.choice([0.88, 1.08])], np.float32)
    tint[1:] *= rng.uniform(0.95, 1.05)
    colour *= 1 + on_polyp[..., None] * (tint - 1 - 0.1 * pits[..., None]
                                         * np.array([0.0, 1.0, 1.0], np.float32))
    # Shading turns shadows red: green and blue fall faster than red.
    energy = np.maximum(energy, 1e-4)[..., None]
    image = colour * energy ** np.array([0.75, 1.25, 1.45], np.float32)
    dark = np.array([rng.uniform(0.05, 0.12), 0.012, 0.008], np.float32)
    image = image * (1 - lumen[..., None]) + lumen[..., None] * dark * (
        1 + 0.4 * variation[..., None])

    # Specular highlights: Phong on the polyps, glints on wet mucosa and fold crests.
    phong = cosine ** rng.uniform(150, 400) * on_polyp
    wet = _smoothstep(0.0, 1.0, _smooth_noise(rng, shape, 0.2 * scale))
    glint_field = _smooth_noise(rng, shape, 1.6 + 0.004 * scale)
    glints = _smoothstep(2.4, 3.0, glint_field) * wet ** 2
    glints = np.maximum(glints, _smoothstep(1.9, 2.5, glint_field) * crest)
    glints *= _smoothstep(0.15, 0.4, depth_light) * (1 - lumen) * (1 - on_polyp)
    dome_glints = _smoothstep(1.8, 2.4, glint_field) * on_polyp * _smoothstep(
        0.6, 0.95, cosine)
    specular = np.clip(1.6 * np.maximum(np.maximum(phong, glints), dome_glints), 0, 1.6)
    halo = ndimage.gaussian_filter(specular, 1.5)
    image = image + (specular + 0.5 * halo)[..., None] * np.array([1.0, 1.0, 1.0],
                                                                     np.float32)

    # Camera: field of view, blur, noise, 8 bits.
    image = image * fov[..., None]
    if blur > 0:
        image = ndimage.gaussian_filter(image, (blur, blur, 0))
    image = image * 255.0
    if noise > 0:
        image += rng.normal(0.0, noise, image.shape).astype(np.float32) * (
            0.3 + 0.7 * fov[..., None])
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    polyps_out = []
    for spec, footprint in zip(layout, footprints):
        rows, cols = np.flatnonzero(footprint.any(1)), np.flatnonzero(footprint.any(0))
        box = (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)
        polyps_out.append(Polyp(box, (float(spec["cy"]), float(spec["cx"])),
                                float(spec["radius"]), bool(spec["pedunculated"])))
    return SyntheticFrame(image, mask, polyps_out, fov_mask, int(seed))


def synthetic_frames(n, *, seed=0, **options):
    """``n`` synthetic frames with seeds ``seed, seed + 1, …`` (options of
    :func:`synthetic_frame`); for demos and tests.

    >>> [f.seed for f in synthetic_frames(2, seed=5, shape=(48, 64))]
    [5, 6]
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return [synthetic_frame(seed=seed + i, **options) for i in range(int(n))]
