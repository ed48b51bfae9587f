"""The CT intensity model of the synthetic CTPA: HU values, smooth fields, blur and noise.

The bottom module of :mod:`apps.pe.synthetic` (it imports none of the others): the per-case
intensity parameters (:data:`DEFAULT_RANGES`, :func:`draw_params`), the renderer
(:func:`render`) that turns label volumes into a CT, and the argument checks and the
bounding box shared by the package.

Intensity model (HU; per-case values drawn uniformly from the ranges)
---------------------------------------------------------------------
=========================  =====================  ===========================================
region                     HU                     notes / sources
=========================  =====================  ===========================================
air outside the body       -1000                  by definition of the HU scale
lung parenchyma            -870 .. -835           + dependent (posterior) gradient of
                                                  30-80 HU (quadratic) + smooth texture,
                                                  SD 15-25 HU (correlation ~5 mm); normal
                                                  inspiratory lung -950..-700, mean about
                                                  -850 (Hoffman et al., AJR 2003; Kalender
                                                  et al., Radiology 1991 for the gradient)
soft tissue (chest wall,   35 .. 50               + smooth heterogeneity SD 6 HU; muscle and
mediastinum)                                      unenhanced soft tissue 30-60 HU
fat (subcutaneous layer,   -110 .. -90            subcutaneous layer 4-15 mm; mediastinal
mediastinal patches)                              fat as smooth random patches; fat -120..-80
vertebral column           cancellous 220,        optional; discs 80 HU every ~28 mm
                           cortex 600
contrast-filled arteries   250 .. 400             per case, +-6 % smooth variation along the
                                                  vessels; diagnostic CTPA needs >= 250 HU in
                                                  the pulmonary trunk, typical 250-450
                                                  (Wittram et al., RadioGraphics 2004)
pulmonary veins            100 .. 200             lower in the pulmonary arterial phase,
                                                  phase-dependent; kept >= 50 HU below the
                                                  artery level
emboli (filling defects)   20 .. 80               per embolus; acute thrombus 30-70 HU
                                                  (Wittram et al. 2004)
=========================  =====================  ===========================================

The label image of HU values is then blurred by the scanner's point spread function (a
Gaussian, sigma 0.5-0.7 voxel in-plane and the slice profile along z: FWHM = slice
thickness, by default max(z spacing, 1 mm)), which creates the partial-volume effect that
makes small vessels and emboli dimmer, and quantum noise is added: Gaussian, SD 15-30 HU
(typical CTPA noise in soft tissue), slightly correlated in-plane (as a reconstruction
kernel correlates it), independent between slices.  Values are rounded and clipped to the
12-bit CT range -1024..3071 and stored as ``int16``.

Not modelled: the heart chambers, aorta and systemic veins (soft tissue here; only the
labelled pulmonary vessels enhance), ribs, airways (part of the lung), beam hardening,
streaks, motion, and vessels finer than the labels (they are part of the lung texture).

Geometry
--------
The body is the convex hull of the lungs in each slice (the mediastinum in between), grown
by a margin (30 mm by default) for the chest wall; above and below the lungs the nearest
lung slice's hull continues.  Fields that vary smoothly (body depth, textures) are drawn on a
~3 mm grid and interpolated; the HU image is built, blurred and noised slab by slab (32
slices and a halo), and the emboli are made in small windows, so the memory is about that of
the input and output volumes (some 14 bytes a voxel in all: 1.1 GB at the peak for a 512 x
512 x 288 case, 2 GB for 512 x 512 x 712), and a 512 x 512 x 300 case takes 10-15 s on one
CPU core (25 s for 712 slices; ``crop``/``target_spacing`` of
:func:`apps.pe.synthetic.ctpa_case` make it smaller).

>>> params = draw_params(np.random.default_rng(0), (1.0, 0.8, 0.8), {"noise_sd": 0})
>>> params["noise_sd"], round(params["blur_sigma_z"], 3)
(0.0, 0.425)
>>> bool(DEFAULT_RANGES["artery_hu"][0] <= params["artery_hu"] <= DEFAULT_RANGES["artery_hu"][1])
True
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from scipy import ndimage

__all__ = ["COARSE_MM", "DEFAULT_RANGES", "HU_AIR", "HU_RANGE", "NOISE_CORRELATION", "SLAB",
           "TISSUE_SD", "VESSEL_VARIATION", "bbox", "check_number", "check_seed",
           "check_spacing", "count_range", "draw_params", "render"]

#: Per-case ranges (uniform) of the intensity model, HU unless stated; see the module doc.
DEFAULT_RANGES = {
    "artery_hu": (250.0, 400.0),
    "vein_hu": (100.0, 200.0),
    "embolus_hu": (20.0, 80.0),
    "lung_hu": (-870.0, -835.0),
    "lung_gradient_hu": (30.0, 80.0),
    "lung_texture_sd": (15.0, 25.0),
    "soft_tissue_hu": (35.0, 50.0),
    "fat_hu": (-110.0, -90.0),
    "fat_thickness_mm": (4.0, 15.0),
    "noise_sd": (15.0, 30.0),
    "blur_sigma_xy": (0.5, 0.7),
}
#: Voxel values are clipped to the 12-bit CT range.
HU_RANGE = (-1024, 3071)
HU_AIR = -1000.0
TISSUE_SD = 6.0            # smooth soft-tissue heterogeneity, HU
VESSEL_VARIATION = 0.06    # relative smooth variation of the contrast along the vessels
NOISE_CORRELATION = 0.6    # in-plane sigma (voxels) correlating the noise
COARSE_MM = 3.0            # grid of the smooth fields
SLAB = 32                  # slices rendered at a time


# -- argument checks (shared by the package) ----------------------------------------------


def check_spacing(spacing, what="spacing"):
    """``spacing`` as 3 floats, or a ``ValueError`` unless 3 finite positive numbers."""
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be 3 positive numbers (z, y, x) in mm, got {spacing!r}")
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"{what} must be 3 positive numbers (z, y, x) in mm, got {spacing!r}")
    return values


def check_number(value, what, *, positive=False):
    """``value`` as a float, or a ``ValueError`` unless finite and > 0 (``positive``) or
    >= 0.  (Like :mod:`medkeras.checks`, which is not imported: it would load TensorFlow
    into a NumPy-only data generator.)"""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be a finite number {'> 0' if positive else '>= 0'}, "
                         f"got {value!r}")
    return float(value)


def check_seed(seed):
    """``seed`` as an int >= 0; ``None`` draws a fresh one (to be recorded)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2 ** 63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}")
    return int(seed)


def count_range(n, what):
    """An int or a ``(min, max)`` pair of ints, as an inclusive ``(min, max)`` range."""
    if isinstance(n, numbers.Integral) and not isinstance(n, bool):
        if n < 0:
            raise ValueError(f"{what} must be >= 0, got {n!r}")
        return int(n), int(n)
    try:
        lo, hi = n
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an int or a (min, max) pair of ints, got {n!r}")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (lo, hi)) \
            or lo < 0 or hi < lo:
        raise ValueError(f"{what} must be an int or a (min, max) pair with 0 <= min <= max,"
                         f" got {n!r}")
    return int(lo), int(hi)


def _value_or_range(value, name):
    """``None`` (the default range), a number, or a ``(lo, hi)`` range, as ``(lo, hi)``."""
    if value is None:
        return DEFAULT_RANGES[name]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return float(value), float(value)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be None, a number or a (low, high) pair, got {value!r}")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {value!r}")
    return lo, hi


def draw_params(rng, spacing, overrides):
    """The case's intensity model: one uniform draw per entry, always in the same order.

    ``overrides``: entries of :data:`DEFAULT_RANGES` (a value or a ``(lo, hi)`` range;
    ``None`` or absent: the default range) and ``slice_thickness_mm``.  ``embolus_hu``
    becomes ``embolus_hu_range`` (drawn per embolus).
    """
    params = {}
    for name in DEFAULT_RANGES:
        lo, hi = _value_or_range(overrides.get(name), name)
        u = rng.uniform()
        if name == "embolus_hu":   # drawn per embolus
            params["embolus_hu_range"] = (lo, hi)
        else:
            params[name] = lo + (hi - lo) * u
    if overrides.get("vein_hu") is None:   # veins stay clearly below the arteries
        params["vein_hu"] = min(params["vein_hu"], params["artery_hu"] - 50.0)
    if params["noise_sd"] < 0:
        raise ValueError(f"noise_sd must be >= 0, got {params['noise_sd']!r}")
    thickness = overrides.get("slice_thickness_mm")
    thickness = max(spacing[0], 1.0) if thickness is None else float(thickness)
    params["slice_thickness_mm"] = thickness
    params["blur_sigma_z"] = thickness / 2.3548 / spacing[0]
    params["spine_phase_mm"] = float(rng.uniform(0, 28.0))
    return params


# -- smooth fields ------------------------------------------------------------------------


def _factors(spacing, coarse_mm=COARSE_MM):
    return tuple(max(1, int(round(coarse_mm / s))) for s in spacing)


def _block_any(mask, factors):
    """Block-wise ``any`` of a bool volume (padded to whole blocks)."""
    pads = [(0, (-n) % f) for n, f in zip(mask.shape, factors)]
    if any(p[1] for p in pads):
        mask = np.pad(mask, pads)
    (nz, ny, nx), (fz, fy, fx) = mask.shape, factors
    return mask.reshape(nz // fz, fz, ny // fy, fy, nx // fx, fx).any(axis=(1, 3, 5))


def _interp_axis(a, axis, start, n, f):
    """Linear interpolation of the coarse ``a`` at fine indices ``start .. start + n - 1`` of
    one axis (coarse voxel ``i`` covers fine ``i f .. i f + f - 1``; constant beyond)."""
    c = (np.arange(start, start + n, dtype=np.float64) - (f - 1) / 2.0) / f
    i0 = np.floor(c).astype(np.intp)
    w = (c - i0).astype(np.float32)
    m = a.shape[axis]
    a0 = np.take(a, np.clip(i0, 0, m - 1), axis=axis)
    a1 = np.take(a, np.clip(i0 + 1, 0, m - 1), axis=axis)
    shape = [1] * a.ndim
    shape[axis] = n
    w = np.where((i0 < 0) | (i0 >= m - 1), 0.0, w).astype(np.float32).reshape(shape)
    return a0 + (a1 - a0) * w


def _upsample(coarse, factors, start, shape):
    """The fine ``shape`` block at ``start`` of the linear interpolation of ``coarse``."""
    out = coarse
    for axis in range(3):   # z first: the intermediate arrays stay small
        out = _interp_axis(out, axis, start[axis], shape[axis], factors[axis])
    return out


def _unit_field(rng, shape, sigma):
    """Zero-mean, unit-SD Gaussian random field, smoothed by ``sigma`` (grid voxels)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma,
                                    mode="wrap")
    field -= field.mean()
    return (field / max(float(field.std()), 1e-6)).astype(np.float32)


def _convex_hull_2d(image):
    from skimage.morphology import convex_hull_image
    if image.sum() < 3:
        return image.copy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convex_hull_image(image)
    except Exception:   # degenerate (collinear) input
        return image.copy()


def _body_depth(lung_coarse, coarse_spacing, margin_mm):
    """Signed depth below the skin (mm, > 0 inside the body) on the coarse grid: the lungs'
    convex hull per slice grown by ``margin_mm``; slices without lung copy the nearest."""
    has = lung_coarse.any(axis=(1, 2))
    if not has.any():
        raise ValueError("the lung mask is empty")
    hull = np.zeros_like(lung_coarse)
    for z in np.flatnonzero(has):   # a loop over slices, not voxels
        hull[z] = _convex_hull_2d(lung_coarse[z])
    if not has.all():
        _, (nearest,) = ndimage.distance_transform_edt(~has, return_indices=True)
        hull = hull[nearest]
    sampling = (1e4,) + tuple(coarse_spacing[1:])   # in-plane distances only
    inside = ndimage.distance_transform_edt(hull, sampling=sampling)
    outside = ndimage.distance_transform_edt(~hull, sampling=sampling)
    return np.where(hull, margin_mm + inside, margin_mm - outside).astype(np.float32)


def bbox(mask):
    """Bounding box of a bool volume as a tuple of slices, or ``None`` if it is empty.

    >>> m = np.zeros((4, 5, 6), bool); m[1, 2:4, 3] = True
    >>> bbox(m)
    (slice(1, 2, None), slice(2, 4, None), slice(3, 4, None))
    """
    out = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        if hit.size == 0:
            return None
        out.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(out)


# -- rendering ----------------------------------------------------------------------------


def render(*, lung, artery, vein, emboli, emboli_hu, spacing, params, seed_seq, posterior,
           body_margin_mm, bone, depth=None):
    """CT (int16) and body mask from the label volumes and the case's intensity model.

    ``lung``, ``artery``, ``vein``: bool ``(z, y, x)``; ``emboli``: int labels, embolus
    ``k`` at intensity ``emboli_hu[k - 1]``; ``params``: from :func:`draw_params`;
    ``seed_seq``: the :class:`numpy.random.SeedSequence` of the renderer's random streams;
    ``posterior``: 1 if ``y`` grows towards the back, else -1; ``bone``: draw a vertebral
    column.  ``depth``: a function of the coarse grid's ``(z, y, x)`` mm coordinates
    (broadcast 1-D arrays) giving the depth below the skin, instead of the lungs' hull grown
    by ``body_margin_mm`` (then there is no mediastinal fat)."""
    shape = lung.shape
    factors = _factors(spacing)
    coarse_spacing = tuple(s * f for s, f in zip(spacing, factors))
    if depth is None:
        depth_c = _body_depth(_block_any(lung, factors), coarse_spacing, body_margin_mm)
        mediastinal_fat = body_margin_mm
    else:
        coarse_shape = [-(-n // f) for n, f in zip(shape, factors)]
        axes = [((np.arange(m) * f + (f - 1) / 2.0) * s)[tuple(
            slice(None) if i == k else None for i in range(3))]
            for k, (m, f, s) in enumerate(zip(coarse_shape, factors, spacing))]
        depth_c = np.broadcast_to(depth(*axes), coarse_shape).astype(np.float32)
        mediastinal_fat = np.inf
    tex_rng, fat_rng, vmod_rng, noise_seq = _streams(seed_seq)
    tex_c = _unit_field(tex_rng, depth_c.shape, 1.0)
    fat_c = _unit_field(fat_rng, depth_c.shape, 1.5)
    vmod_c = _unit_field(vmod_rng, depth_c.shape, 3.0)

    # In-plane crop: the body's bounding box (a coarse voxel of slack).
    body_c = depth_c > -max(coarse_spacing)
    box = bbox(body_c)
    ys = slice(max(0, box[1].start * factors[1] - factors[1]),
               min(shape[1], box[1].stop * factors[1] + factors[1]))
    xs = slice(max(0, box[2].start * factors[2] - factors[2]),
               min(shape[2], box[2].stop * factors[2] + factors[2]))
    height, width = ys.stop - ys.start, xs.stop - xs.start

    # Dependent lung gradient along y (quadratic, 0 at the front of the lungs).
    rows = np.flatnonzero(lung.any(axis=(0, 2)))
    front, back = (rows[0], rows[-1]) if posterior > 0 else (rows[-1], rows[0])
    t = np.clip((np.arange(ys.start, ys.stop) - front) / (back - front or 1), 0, 1)
    gradient = (params["lung_gradient_hu"] * t ** 2).astype(np.float32)[None, :, None]

    spine = None
    if bone:
        cols = np.flatnonzero(lung.any(axis=(0, 1)))
        cx = (cols[0] + cols[-1]) / 2.0
        cy = back - posterior * 35.0 / spacing[1]
        yy = (np.arange(ys.start, ys.stop)[:, None] - cy) * spacing[1]
        xx = (np.arange(xs.start, xs.stop)[None, :] - cx) * spacing[2]
        r = np.hypot(yy, xx)
        spine = (r < 17.0), (r < 15.0)   # vertebral body, its cancellous core

    sigma = (params["blur_sigma_z"], params["blur_sigma_xy"], params["blur_sigma_xy"])
    halo = int(math.ceil(3 * sigma[0]))
    impulse = np.zeros(33, np.float32)
    impulse[16] = 1
    k2 = float((ndimage.gaussian_filter1d(impulse, NOISE_CORRELATION) ** 2).sum())
    noise_scale = params["noise_sd"] / k2   # two in-plane axes: variance factor k2 ** 2
    emb_lut = np.zeros(max(len(emboli_hu), 0) + 1, np.float32)
    emb_lut[1:] = emboli_hu

    ct = np.empty(shape, np.int16)
    body_mask = np.zeros(shape, bool)
    n_slabs = -(-shape[0] // SLAB)
    noise_seqs = noise_seq.spawn(n_slabs)
    for s in range(n_slabs):
        z0, z1 = s * SLAB, min(shape[0], (s + 1) * SLAB)
        a, b = max(0, z0 - halo), min(shape[0], z1 + halo)
        sub = (slice(a, b), ys, xs)
        block = (b - a, height, width)
        start = (a, ys.start, xs.start)
        depth_mm = _upsample(depth_c, factors, start, block)
        tex = _upsample(tex_c, factors, start, block)
        fat_field = _upsample(fat_c, factors, start, block)
        body = depth_mm > 0
        img = np.where(body, params["soft_tissue_hu"] + TISSUE_SD * tex, HU_AIR).astype(np.float32)
        fat = body & ((depth_mm < params["fat_thickness_mm"])
                      | ((depth_mm > mediastinal_fat) & (fat_field > 1.0)))
        img[fat] = params["fat_hu"] + 8.0 * tex[fat]
        if spine is not None:
            zz = (np.arange(a, b) * spacing[0] + params["spine_phase_mm"]) % 28.0
            disc = (zz < 5.0)[:, None, None]
            outer, core = spine
            vert = body & outer[None]
            img[vert] = 600.0
            img[body & core[None]] = 220.0
            img[vert & disc] = 80.0
        lungs = lung[sub]
        img[lungs] = (params["lung_hu"] + gradient + params["lung_texture_sd"]
                      * np.clip(tex, -2.5, 2.5))[lungs]
        for mask_volume, level in ((vein, params["vein_hu"]), (artery, params["artery_hu"])):
            m = mask_volume[sub]
            if m.any():
                idx = np.nonzero(m)
                coords = [(idx[k] + start[k] - (factors[k] - 1) / 2.0) / factors[k]
                          for k in range(3)]
                mod = ndimage.map_coordinates(vmod_c, coords, order=1, mode="nearest")
                img[idx] = level * (1 + VESSEL_VARIATION * np.clip(mod, -2.5, 2.5))
        e = emboli[sub]
        if len(emboli_hu) and e.any():
            idx = np.nonzero(e)
            img[idx] = emb_lut[e[idx]] + 4.0 * tex[idx]
        if any(sg > 0 for sg in sigma):
            img = ndimage.gaussian_filter(img, sigma, mode="nearest", truncate=3.0)
        out = np.full((z1 - z0,) + shape[1:], HU_AIR, np.float32)
        out[:, ys, xs] = img[z0 - a:z0 - a + z1 - z0]
        if params["noise_sd"] > 0:
            noise = np.random.default_rng(noise_seqs[s]).standard_normal(out.shape,
                                                                        dtype=np.float32)
            noise = ndimage.gaussian_filter1d(noise, NOISE_CORRELATION, axis=1, truncate=4.0)
            noise = ndimage.gaussian_filter1d(noise, NOISE_CORRELATION, axis=2, truncate=4.0)
            out += noise * np.float32(noise_scale)
        np.rint(out, out=out)
        np.clip(out, *HU_RANGE, out=out)
        ct[z0:z1] = out
        body_mask[z0:z1, ys, xs] = body[z0 - a:z0 - a + z1 - z0]
    return ct, body_mask


def _streams(seed_seq):
    """Independent random streams of the renderer: texture, fat, vessel contrast, noise."""
    tex, fat, vmod, noise = seed_seq.spawn(4)
    return (np.random.default_rng(tex), np.random.default_rng(fat),
            np.random.default_rng(vmod), noise)
