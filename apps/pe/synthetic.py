"""Synthetic CT pulmonary angiograms (CTPA) with pulmonary emboli, for development and tests.

**These are synthetic intensities, not real CT.**  No real CTPA intensities were available
to this project, so the PE application (Tajbakhsh et al., IEEE TMI 2016, application B) is
developed on volumes whose *anatomy* is real and whose *grey values* are modelled:

* the pulmonary arteries, veins and lungs come from the vessel and lung labels of real CTPA
  scans (CAD-PE challenge data, González et al., "Computer Aided Detection for Pulmonary
  Embolism Challenge (CAD-PE)", arXiv:2003.13440, 2020);
* the emboli take the 3-D shapes of real emboli, the connected components of the expert
  embolus masks of the FUMPE data set (Masoudi et al., "A new dataset of computed-tomography
  angiography images for computer-aided detection of pulmonary embolism", Scientific Data
  5:180180, 2018), re-scaled to the calibre of the host artery, turned along its axis and
  clipped to its lumen;
* the Hounsfield units (HU) follow published typical values (below).

A model trained or scored on these volumes says nothing about its performance on real CTPA;
use them to develop, test and demonstrate the pipeline (candidate generation, patches,
training, evaluation), and bring real CTPA with embolus masks for real experiments.
:func:`synthetic_tubes_volume` is a second, fully synthetic generator (a tree of tubes in an
ellipsoidal lung) that needs no data at all: fast, for doctests and unit tests.

Label convention of the CAD-PE vessel labels
--------------------------------------------
``1`` = arteries, ``2`` = veins (:data:`ARTERY_LABEL`, :data:`VEIN_LABEL`).  Evidence, from
all 47 cases of the development copy: the part of each class outside the lung masks (the
mediastinal and hilar trunks) has its centroid, in scanner (RAS) coordinates, 21-39 mm
(mean 31 mm) *higher* for class 1 than for class 2 in 47/47 cases and 2-18 mm (mean 10 mm)
*more anterior* in 46/47.  That is the pulmonary trunk and main pulmonary arteries
(anterior, at and above the carina, leaving the right ventricle) against the pulmonary veins
converging on the left atrium (posterior, below the carina).  The thickest point of class 1
lies anterior-superior (pulmonary trunk), that of class 2 posterior-inferior (venous
confluence at the left atrium).  (The lung masks include the airways, so the
bronchus-artery pairing cannot be checked from these labels.)

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
CPU core (25 s for 712 slices; ``crop``/``target_spacing`` of :func:`ctpa_case` make it
smaller).

Emboli on real anatomy (:func:`synthesize_ctpa`): a host point is drawn among the ridge
voxels of the arteries' in-plane distance map, by level: ``main`` (pulmonary trunk and main
arteries, lumen radius >= 8 mm), ``lobar`` (4-8 mm), ``segmental`` (2-4 mm) or
``subsegmental`` (< 2 mm), with weights 0.1 / 0.25 / 0.4 / 0.25 (a rough radius from chamfer
distance transforms; the level is then checked against the exact radius).  It is moved to
the local centreline (maximum of the exact Euclidean distance transform in a small window);
the vessel axis is the first principal axis (PCA, in mm) of the vessel's core around it
(voxels at least 0.6 lumen radii from the wall, connected to it, within a sphere of 2.5
lumen radii: a thin rod that narrower side branches do not reach; points where that axis is
ill-defined, variance ratio < 2, as at bifurcations of equal branches, are rejected).  A
real embolus shape is drawn: its first principal axis is turned onto the vessel axis (random
roll), it is scaled so that its cross-section fits the chosen type (``central`` "polo-mint"
defect, 45-70 % of the lumen radius; ``eccentric`` mural defect, 40-65 %, shifted to touch
the wall; ``occlusive``, 105-140 % and so filling the lumen; subsegmental arteries favour
occlusive emboli, the main arteries (radius >= 8 mm) get partial defects only), and its
length keeps the real shape's aspect ratio within 4 of its radii (and 4 mm) and 10 lumen
radii (and 60 mm).  It is then clipped to the artery lumen (a filling defect is inside the
vessel), reduced to its piece around the host point, kept apart from the other emboli, and
dropped (and another place drawn) if smaller than ``min_embolus_mm3``.  Its HU is set before
blur and noise.  (Draws that fail are drawn again, and they fail more often at the branching
lobar and segmental levels, so the main arteries end up with about a fifth of the emboli:
on 9 cases x 6 emboli, 12 main, 14 lobar, 19 segmental, 9 subsegmental.)

Conventions: arrays are indexed ``(z, y, x)`` = (slice, row, column); ``spacing`` is
``(z, y, x)`` in mm; in the CAD-PE files (LPS orientation) y grows towards the patient's
back (posterior), which is where the dependent lung is denser.  NIfTI files store ``(x, y,
z)``: arrays are transposed ``(2, 1, 0)`` and zooms reversed on reading and writing.

>>> case = synthetic_tubes_volume(seed=0)
>>> case.ct.shape, case.ct.dtype, case.emboli.dtype, len(case.emboli_info)
((64, 96, 96), dtype('int16'), dtype('int32'), 2)
>>> bool(case.artery_mask[case.emboli > 0].all())   # every embolus inside an artery
True
>>> bool(-900 < case.ct[case.lung_mask & ~case.artery_mask & ~case.vein_mask].mean() < -780)
True
>>> np.array_equal(case.ct, synthetic_tubes_volume(seed=0).ct)
True
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import pathlib
import warnings
import zlib
from typing import NamedTuple

import numpy as np
from scipy import ndimage

__all__ = [
    "ARTERY_LABEL", "VEIN_LABEL", "GENERATOR_VERSION", "DEFAULT_RANGES",
    "Embolus", "EmbolusShape", "SyntheticCT",
    "embolus_shapes", "synthesize_ctpa", "synthetic_tubes_volume",
    "crop_to_lungs", "resample_labels", "list_cases", "case_seed", "load_cadpe_case",
    "ctpa_case", "write_case", "generate_folder",
]

#: Class of the arteries in the CAD-PE vessel labels (evidence in the module docstring).
ARTERY_LABEL = 1
#: Class of the veins in the CAD-PE vessel labels.
VEIN_LABEL = 2
#: Written into every case's JSON; bump when the model changes what a seed produces.
GENERATOR_VERSION = "1.0"

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
#: Artery levels by lumen radius (bounds in :data:`LEVEL_RADII_MM`), and the default
#: preference for each as the host of an embolus.
LEVELS = ("main", "lobar", "segmental", "subsegmental")
LEVEL_WEIGHTS = (0.1, 0.25, 0.4, 0.25)
LEVEL_RADII_MM = (8.0, 4.0, 2.0)   # lumen radius (mm) bounds between the levels


class EmbolusShape(NamedTuple):
    """One real embolus (a 3-D connected component of a FUMPE mask), cropped.

    ``mask``: bool ``(z, y, x)`` crop with a one-voxel empty border; ``spacing``: its voxel
    size ``(z, y, x)`` mm; ``source``: file stem of the patient (``"PAT012"``);
    ``component``: index of the component in that file (1-based, by decreasing size);
    ``volume_mm3``; ``extent_mm``: size of the crop's content ``(z, y, x)`` mm;
    ``centroid``: ``(z, y, x)`` voxel coordinates of the centroid in the crop; ``axes``:
    ``(3, 3)``, rows the principal axes (unit vectors in ``(z, y, x)`` mm space) by
    decreasing variance; ``sd_mm``: the standard deviations along them;
    ``half_extent_mm``: half the extent of the shape along each principal axis.
    """
    mask: np.ndarray
    spacing: tuple
    source: str
    component: int
    volume_mm3: float
    extent_mm: tuple
    centroid: tuple
    axes: np.ndarray
    sd_mm: tuple
    half_extent_mm: tuple

    @property
    def principal_axis(self):
        """Unit vector ``(z, y, x)`` of the longest principal axis (in mm space)."""
        return self.axes[0]


class Embolus(NamedTuple):
    """One inserted embolus.

    ``id``: its value in the label volume; ``centre_voxel``: ``(z, y, x)`` index of the host
    point (on the vessel's centreline); ``centre_mm``: the same times the spacing;
    ``volume_mm3`` and ``n_voxels`` of its mask (after clipping to the lumen); ``hu``: its
    intensity before blur and noise; ``kind``: ``"central"``, ``"eccentric"`` or
    ``"occlusive"``; ``level``: ``"main"``, ``"lobar"``, ``"segmental"`` or
    ``"subsegmental"`` (:data:`LEVELS`), from ``vessel_radius_mm`` (lumen radius at the host
    point); ``vessel_axis``: unit ``(z, y, x)`` vector (mm space) of the local vessel axis;
    ``source``: the real embolus shape it was made from (``"PAT012#2"``), or
    ``"ellipsoid"``.
    """
    id: int
    centre_voxel: tuple
    centre_mm: tuple
    volume_mm3: float
    n_voxels: int
    hu: float
    kind: str
    level: str
    vessel_radius_mm: float
    vessel_axis: tuple
    source: str

    def as_dict(self):
        """JSON-ready ``dict``."""
        d = self._asdict()
        for key in ("centre_voxel", "centre_mm", "vessel_axis"):
            d[key] = list(d[key])
        return d


class SyntheticCT(NamedTuple):
    """A synthetic CTPA volume and its ground truth.

    ``ct``: ``int16`` HU ``(z, y, x)``; ``spacing``: ``(z, y, x)`` mm; ``lung_mask``,
    ``artery_mask``, ``vein_mask``: bool (the artery mask includes the emboli, which lie in
    the lumen); ``emboli``: ``int32`` labels, 0 none and ``k`` the embolus with ``id`` k;
    ``emboli_info``: list of :class:`Embolus`; ``seed``: the seed it was drawn from;
    ``body_mask``: bool, the body; ``params``: the intensity model's values for this case;
    ``affine``: 4 x 4 NIfTI affine of the ``(x, y, z)`` voxel grid, or ``None`` (then
    :func:`write_case` uses an LPS grid at the origin); ``case_id``: the anatomy's source
    (the CAD-PE case id, or ``"tubes-<seed>"``).
    """
    ct: np.ndarray
    spacing: tuple
    lung_mask: np.ndarray
    artery_mask: np.ndarray
    vein_mask: np.ndarray
    emboli: np.ndarray
    emboli_info: list
    seed: int
    body_mask: np.ndarray = None
    params: dict = None
    affine: np.ndarray = None
    case_id: str = ""


# -- argument checks ----------------------------------------------------------------------


def _spacing(spacing, what="spacing"):
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be 3 positive numbers (z, y, x) in mm, got {spacing!r}")
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"{what} must be 3 positive numbers (z, y, x) in mm, got {spacing!r}")
    return values


def _number(value, what, *, positive=False):
    """``value`` as a float, or a ``ValueError`` unless finite and > 0 (``positive``) or
    >= 0.  (Like :mod:`medkeras.checks`, which is not imported: it would load TensorFlow
    into a NumPy-only data generator.)"""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be a finite number {'> 0' if positive else '>= 0'}, "
                         f"got {value!r}")
    return float(value)


def _seed(seed):
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2 ** 63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}")
    return int(seed)


def _count_range(n, what):
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


def _draw_params(rng, spacing, overrides):
    """The case's intensity model: one uniform draw per entry, always in the same order."""
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


def _bbox(mask):
    """Bounding box of a bool volume as a tuple of slices, or ``None`` if it is empty."""
    out = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        if hit.size == 0:
            return None
        out.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(out)


# -- rendering ----------------------------------------------------------------------------


def _render(*, lung, artery, vein, emboli, emboli_hu, spacing, params, seed_seq, posterior,
            body_margin_mm, bone, depth=None):
    """CT (int16) and body mask from the label volumes and the case's intensity model.

    ``depth``: a function of the coarse grid's ``(z, y, x)`` mm coordinates (broadcast
    1-D arrays) giving the depth below the skin, instead of the lungs' hull grown by
    ``body_margin_mm`` (then there is no mediastinal fat)."""
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
    box = _bbox(body_c)
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


# -- embolus shapes -----------------------------------------------------------------------


def _shape_from_mask(mask, spacing, source, component):
    """:class:`EmbolusShape` of one bool component (already cropped to its bounding box)."""
    mask = np.pad(mask, 1)
    mask.setflags(write=False)
    spacing = tuple(float(s) for s in spacing)
    idx = np.argwhere(mask).astype(np.float64)
    centroid = idx.mean(axis=0)
    mm = (idx - centroid) * np.asarray(spacing)
    if len(mm) > 1:
        values, vectors = np.linalg.eigh(np.cov(mm, rowvar=False))
    else:
        values, vectors = np.zeros(3), np.eye(3)
    order = np.argsort(values)[::-1]
    values, axes = np.clip(values[order], 0, None), vectors[:, order].T.copy()
    for k in range(3):   # a deterministic sign: largest component positive
        if axes[k][np.argmax(np.abs(axes[k]))] < 0:
            axes[k] = -axes[k]
    proj = mm @ axes.T
    half_voxel = 0.5 * np.abs(axes) @ np.asarray(spacing)
    half = (proj.max(axis=0) - proj.min(axis=0)) / 2 + half_voxel
    extent = (idx.max(axis=0) - idx.min(axis=0) + 1) * np.asarray(spacing)
    axes.setflags(write=False)
    return EmbolusShape(
        mask=mask, spacing=spacing, source=source, component=int(component),
        volume_mm3=float(len(idx) * np.prod(spacing)),
        extent_mm=tuple(float(e) for e in extent), centroid=tuple(float(c) for c in centroid),
        axes=axes, sd_mm=tuple(float(math.sqrt(v)) for v in values),
        half_extent_mm=tuple(float(h) for h in half))


def _nifti_files(folder, what):
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{what} folder {str(folder)!r} does not exist")
    return sorted(p for p in folder.iterdir()
                  if p.name.endswith(".nii.gz") or p.name.endswith(".nii"))


def _stem(path):
    name = pathlib.Path(path).name
    return name[:-7] if name.endswith(".nii.gz") else name[:-4] if name.endswith(".nii") else name


@functools.lru_cache(maxsize=4)
def _shape_bank(folder, min_volume_mm3, patients):
    import nibabel as nib
    files = _nifti_files(folder, "embolus mask")
    if patients is not None:
        by_stem = {_stem(f): f for f in files}
        missing = [p for p in patients if p not in by_stem]
        if missing:
            raise ValueError(f"no embolus mask for {missing} in {folder!r}")
        files = [by_stem[p] for p in patients]
    if not files:
        raise ValueError(f"no NIfTI embolus masks (*.nii, *.nii.gz) in {folder!r}")
    structure = ndimage.generate_binary_structure(3, 3)
    shapes = []
    for path in files:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise ValueError(f"{path} is not a 3-D mask (shape {data.shape})")
        spacing = tuple(float(z) for z in img.header.get_zooms()[:3][::-1])
        nonzero = data > 0
        box = _bbox(nonzero)
        if box is None:
            continue
        crop = np.ascontiguousarray(nonzero[box].transpose(2, 1, 0))   # (z, y, x)
        labels, n = ndimage.label(crop, structure)
        sizes = np.bincount(labels.ravel())[1:]
        order = np.argsort(-sizes, kind="stable")
        objects = ndimage.find_objects(labels)
        voxel = float(np.prod(spacing))
        for rank, k in enumerate(order, start=1):
            if sizes[k] * voxel < min_volume_mm3:
                break
            sub = labels[objects[k]] == k + 1
            shapes.append(_shape_from_mask(sub, spacing, _stem(path), rank))
    if not shapes:
        raise ValueError(f"no embolus of at least {min_volume_mm3} mm3 in {folder!r}")
    return tuple(shapes)


def embolus_shapes(folder, *, min_volume_mm3=5.0, patients=None):
    """The bank of real embolus shapes: 3-D connected components of binary embolus masks.

    Made for the FUMPE masks (Masoudi et al., Sci. Data 2018): each file is one patient's
    expert embolus mask; every 26-connected component of at least ``min_volume_mm3`` is one
    shape (smaller specks are dropped), cropped, with its physical size and principal axes
    (PCA of the voxel centres in mm).  Results are cached per folder.

    Parameters
    ----------
    folder : path-like
        Folder of ``*.nii.gz`` / ``*.nii`` binary masks (non-zero = embolus).
    min_volume_mm3 : float, keyword-only
        Components smaller than this are specks, not emboli.
    patients : sequence of str, optional
        Only these file stems (``"PAT001"``); all files by default.

    Returns
    -------
    list of EmbolusShape
        In file order, then by decreasing size within a file.  Empty masks contribute none.

    Raises
    ------
    ValueError
        The folder does not exist, holds no masks, a named patient is missing, or no
        component is large enough.
    """
    min_volume_mm3 = _number(min_volume_mm3, "min_volume_mm3")
    key = None if patients is None else tuple(str(p) for p in patients)
    folder = str(pathlib.Path(folder).resolve())
    return list(_shape_bank(folder, min_volume_mm3, key))


def _ellipsoid_shapes():
    """A small fallback bank of elongated ellipsoids (0.5 mm grid), for when no real embolus
    masks are available; their ``source`` is ``"ellipsoid"``."""
    shapes = []
    for k, (a, b, c) in enumerate(((6, 2.5, 2.0), (9, 3, 2.5), (12, 3, 3), (5, 3, 2.5),
                                   (15, 3.5, 3), (8, 4, 3)), start=1):
        half = np.array([a, b, c]) / 0.5
        grid = np.ogrid[tuple(slice(-int(h) - 1, int(h) + 2) for h in half)]
        mask = sum((g / h) ** 2 for g, h in zip(grid, half)) <= 1.0
        shapes.append(_shape_from_mask(mask, (0.5, 0.5, 0.5), "ellipsoid", k))
    return shapes


# -- emboli on real anatomy ---------------------------------------------------------------


def _level(radius_mm):
    for name, bound in zip(LEVELS, LEVEL_RADII_MM):
        if radius_mm >= bound:
            return name
    return LEVELS[-1]


def _perpendicular(rng, v):
    """A random unit vector perpendicular to the unit vector ``v``."""
    while True:
        u = rng.standard_normal(3)
        u -= (u @ v) * v
        n = np.linalg.norm(u)
        if n > 1e-3:
            return u / n


def _window(centre, half, shape):
    lo = np.maximum(np.asarray(centre) - half, 0).astype(int)
    hi = np.minimum(np.asarray(centre) + half + 1, shape).astype(int)
    return tuple(slice(a, b) for a, b in zip(lo, hi)), lo


def _vessel_axis(edt, centre, radius_mm, spacing):
    """Unit axis (PCA, mm) and centroid (window voxels) of the vessel's core around
    ``centre``, and its elongation (ratio of the two largest variances).

    The core is where the distance to the wall ``edt`` is at least 0.6 of that at the
    centre, within a sphere of 2.5 lumen radii, connected to the centre: a thin rod along a
    tube, which side branches narrower than 0.6 of the vessel do not reach.
    """
    sp = np.asarray(spacing)
    rho = max(2.5 * radius_mm, 3.0, 2 * sp.max())
    grids = np.ogrid[tuple(slice(0, n) for n in edt.shape)]
    dist2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, sp))
    near = (edt >= 0.6 * edt[tuple(centre)]) & (dist2 <= rho ** 2)
    labels, _ = ndimage.label(near, ndimage.generate_binary_structure(3, 3))
    near = labels == labels[tuple(centre)]
    idx = np.argwhere(near).astype(np.float64)
    if len(idx) < 6:
        return None, None, 0.0
    mean = idx.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov((idx - mean) * sp, rowvar=False))
    axis = vectors[:, -1]
    if axis[np.argmax(np.abs(axis))] < 0:
        axis = -axis
    return axis, mean, float(values[-1] / max(values[-2], 1e-9))


def _rasterize_shape(shape, frame, scales, centre_mm, window, lo, spacing):
    """Bool mask over ``window`` of ``shape`` turned into ``frame`` (rows: where its
    principal axes go), scaled by ``scales`` along them and centred at ``centre_mm``."""
    sizes = [s.stop - s.start for s in window]
    idx = np.indices(sizes, dtype=np.float32).reshape(3, -1).T
    p = (idx + lo) * np.asarray(spacing, np.float32) - np.asarray(centre_mm, np.float32)
    q = (p @ np.asarray(frame, np.float32).T) / np.asarray(scales, np.float32)
    src = q @ np.asarray(shape.axes, np.float32)                       # source mm
    src = src / np.asarray(shape.spacing, np.float32) + np.asarray(shape.centroid, np.float32)
    values = ndimage.map_coordinates(shape.mask.astype(np.float32), src.T, order=1, cval=0.0)
    return (values >= 0.5).reshape(sizes)


def _keep_piece(mask, centre):
    """The 26-connected piece of ``mask`` holding ``centre`` (else its largest piece)."""
    labels, n = ndimage.label(mask, ndimage.generate_binary_structure(3, 3))
    if n <= 1:
        return mask
    k = labels[tuple(centre)] if all(0 <= c < s for c, s in zip(centre, mask.shape)) else 0
    if k == 0:
        k = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    return labels == k


def _kind(rng, radius_mm):
    """Central / eccentric / occlusive: small arteries favour occlusion, the main arteries
    (radius >= 8 mm) get partial defects only."""
    level = _level(radius_mm)
    probabilities = {"main": (0.5, 0.5, 0.0), "subsegmental": (0.15, 0.25, 0.6)}.get(
        level, (0.4, 0.3, 0.3))
    return ("central", "eccentric", "occlusive")[rng.choice(3, p=probabilities)]


def _cross_section(rng, kind, radius_mm):
    """Embolus cross-section radius and offset of its axis from the vessel's (mm)."""
    if kind == "central":
        return radius_mm * rng.uniform(0.45, 0.7), 0.0
    if kind == "eccentric":
        r = radius_mm * rng.uniform(0.4, 0.65)
        return r, (radius_mm - r) * rng.uniform(0.7, 1.0)
    return radius_mm * rng.uniform(1.05, 1.4), 0.0


def _ridge(distance, mask):
    """Voxels of ``mask`` whose ``distance`` is >= that of their 6 neighbours."""
    ridge = mask.copy()
    for axis in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(1, None), slice(None, -1)
        a, b = tuple(a), tuple(b)
        ridge[a] &= distance[a] >= distance[b]
        ridge[b] &= distance[b] >= distance[a]
    return ridge


def _insert_emboli(artery, spacing, shapes, count, rng, hu_range, min_volume_mm3,
                   level_weights):
    """Insert ``count`` emboli into the artery lumen; returns (label volume, info)."""
    emboli = np.zeros(artery.shape, np.int32)
    info = []
    if count == 0:
        return emboli, info
    box = _bbox(artery)
    if box is None:
        raise ValueError("there are no artery voxels to put emboli in (check artery_label)")
    sp = np.asarray(spacing, float)
    crop = artery[box]
    # Rough lumen radius: the in-plane distance to the wall (the mean of the taxicab and
    # chessboard distances, each within a factor sqrt(2) of the Euclidean one).  Whatever
    # the vessel's direction, its in-plane section is at least its diameter wide, so this
    # does not depend on the slice spacing.
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    distance = ndimage.distance_transform_cdt(crop, metric=in_plane).astype(np.float32)
    in_plane[1] = True
    distance += ndimage.distance_transform_cdt(crop, metric=in_plane)
    flat = np.flatnonzero(_ridge(distance, crop))
    rough = distance.ravel()[flat] * float(sp[1:].mean() / 2)   # mm
    del distance
    origin = np.array([s.start for s in box])
    bounds = (np.inf,) + LEVEL_RADII_MM + (-np.inf,)
    levels = [(rough >= bounds[k + 1]) & (rough < bounds[k]) for k in range(len(LEVELS))]
    by_level = [flat[m] for m in levels]
    rough_by_level = [rough[m] for m in levels]
    weights = np.array([w if len(f) else 0.0 for w, f in zip(level_weights, by_level)], float)
    if weights.sum() == 0:
        weights = np.array([1.0 if len(f) else 0.0 for f in by_level])
    weights /= weights.sum()
    structure = ndimage.generate_binary_structure(3, 1)
    attempts, max_attempts = 0, 40 * count + 20
    while len(info) < count and attempts < max_attempts:
        attempts += 1
        level = int(rng.choice(len(LEVELS), p=weights))
        pick = int(rng.integers(len(by_level[level])))
        p = np.array(np.unravel_index(by_level[level][pick], crop.shape)) + origin
        r0 = float(rough_by_level[level][pick])
        # Exact lumen radius and centreline point in a window around p.
        half = np.ceil(min(max(3 * r0 + 6, 10.0), 40.0) / sp).astype(int)
        window, lo = _window(p, half, artery.shape)
        win = artery[window]
        edt = ndimage.distance_transform_edt(win, sampling=sp)
        local = p - lo
        grids = np.ogrid[tuple(slice(0, n) for n in win.shape)]
        reach = r0 + 2 * sp.max()
        near = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, local, sp)) <= reach ** 2
        c = np.array(np.unravel_index(np.argmax(np.where(near, edt, 0)), win.shape))
        radius = max(float(edt[tuple(c)]) - 0.5 * sp.min(), 0.5 * sp.min())
        exact = LEVELS.index(_level(radius))
        if exact != level and attempts < max_attempts // 2:
            continue
        axis, mean, elongation = _vessel_axis(edt, c, radius, sp)
        if axis is None or elongation < 2.0:
            continue   # a bifurcation or a stub: no clear axis
        mean_mm = (mean + lo) * sp
        c_mm = (c + lo) * sp
        c_mm = mean_mm + ((c_mm - mean_mm) @ axis) * axis   # onto the axis line
        centre = np.round(c_mm / sp).astype(int)
        if not (np.all(centre >= 0) and np.all(centre < artery.shape)) \
                or not artery[tuple(centre)]:
            centre = c + lo
            c_mm = centre * sp
        kind = _kind(rng, radius)
        r_e, offset = _cross_section(rng, kind, radius)
        shape = shapes[int(rng.integers(len(shapes)))]
        h = shape.half_extent_mm
        s_c = r_e / max(h[1], h[2], 0.25)
        length = float(np.clip(2 * h[0] * s_c, max(4.0 * r_e, 4.0),
                               min(60.0, max(10.0 * radius, 8.0))))
        s_a = length / (2 * max(h[0], 0.25))
        u = _perpendicular(rng, axis)
        frame = np.stack([axis, u, np.cross(axis, u)])
        e_mm = c_mm + offset * _perpendicular(rng, axis)
        reach = max(length / 2, r_e + offset) + 2.0
        window, lo = _window(np.round(e_mm / sp).astype(int), np.ceil(reach / sp).astype(int),
                             artery.shape)
        m = _rasterize_shape(shape, frame, (s_a, s_c, s_c), e_mm, window, lo, sp)
        m &= artery[window]
        taken = emboli[window] > 0
        m &= ~taken
        if not m.any():
            continue
        m = _keep_piece(m, centre - lo)
        if taken.any() and (ndimage.binary_dilation(m, structure, iterations=2) & taken).any():
            continue   # keep the emboli apart
        n_voxels = int(m.sum())
        volume = n_voxels * float(np.prod(sp))
        if volume < min_volume_mm3 or n_voxels < 4:
            continue
        k = len(info) + 1
        emboli[window][m] = k
        hu = float(rng.uniform(*hu_range))
        info.append(Embolus(
            id=k, centre_voxel=tuple(int(v) for v in centre),
            centre_mm=tuple(round(float(v), 3) for v in c_mm), volume_mm3=round(volume, 3),
            n_voxels=n_voxels, hu=round(hu, 2), kind=kind, level=_level(radius),
            vessel_radius_mm=round(float(radius), 3),
            vessel_axis=tuple(round(float(v), 5) for v in axis),
            source=shape.source if shape.source == "ellipsoid"
            else f"{shape.source}#{shape.component}"))
    if len(info) < count:
        warnings.warn(f"placed {len(info)} of {count} emboli: no more room found in the "
                      f"arteries after {attempts} attempts", RuntimeWarning, stacklevel=3)
    return emboli, info


# -- public generators --------------------------------------------------------------------


def _overrides(**kwargs):
    return {k: v for k, v in kwargs.items() if v is not None}


def synthesize_ctpa(vessel_labels, lung_mask, spacing, *, emboli_shapes=None, n_emboli=(1, 6),
                    seed=0, artery_label=ARTERY_LABEL, vein_label=VEIN_LABEL, artery_hu=None,
                    vein_hu=None, embolus_hu=None, noise_sd=None, slice_thickness_mm=None,
                    posterior=1, body_margin_mm=30.0, bone=True, min_embolus_mm3=8.0,
                    level_weights=LEVEL_WEIGHTS, affine=None, case_id=""):
    """Synthetic CTPA (HU) on real anatomy, with emboli inserted in the arteries.

    Synthetic intensities on real vessel and lung labels (e.g. CAD-PE, González et al.
    2020), with emboli shaped like real ones (e.g. FUMPE, Masoudi et al. 2018): for
    development, not a substitute for real CTPA.  The model and its HU values are in the
    module docstring.

    Parameters
    ----------
    vessel_labels : (Z, Y, X) integer array
        ``artery_label`` for arteries, ``vein_label`` for veins, anything else background.
    lung_mask : (Z, Y, X) array
        Non-zero inside the lungs (must not be empty).
    spacing : 3 floats
        Voxel size ``(z, y, x)`` mm.
    emboli_shapes : list of EmbolusShape, optional
        The real shapes to draw from (:func:`embolus_shapes`); by default a few elongated
        ellipsoids.
    n_emboli : int or (int, int), keyword-only
        Number of emboli, or an inclusive range to draw it from.  Fewer (with a
        ``RuntimeWarning``) only if the arteries have no room.
    seed : int or None
        Everything is a function of the seed (``None``: a fresh one, recorded).
    artery_label, vein_label : int
        Classes of the labels (1 and 2 in CAD-PE; see :data:`ARTERY_LABEL`).
    artery_hu, vein_hu, embolus_hu, noise_sd : None, float or (float, float)
        Override the default ranges (:data:`DEFAULT_RANGES`): a value or a range to draw
        from (per case; per embolus for ``embolus_hu``).  ``noise_sd=0`` gives a noise-free
        volume.
    slice_thickness_mm : float, optional
        FWHM of the slice profile; ``max(spacing[0], 1)`` by default.
    posterior : {1, -1}
        Direction of increasing ``y`` index: 1 if it goes towards the back (LPS, DICOM,
        CAD-PE), -1 if towards the front.  The dependent lung is denser at the back.
    body_margin_mm : float
        Chest wall thickness added around the lungs' convex hull.
    bone : bool
        Draw a simple vertebral column behind the mediastinum.
    min_embolus_mm3 : float
        Emboli smaller than this after clipping to the lumen are dropped (and re-drawn).
    level_weights : 4 floats
        Preference for main, lobar, segmental and subsegmental host arteries
        (:data:`LEVELS`).
    affine : (4, 4) array, optional
        NIfTI affine of the grid, kept for :func:`write_case`.
    case_id : str
        Name of the anatomy's source, kept in the result.

    Returns
    -------
    SyntheticCT

    Raises
    ------
    ValueError
        Shapes differ, bad spacing, counts, labels or an empty lung mask; emboli were
        requested and there are no artery voxels.
    """
    vessel_labels = np.asarray(vessel_labels)
    lung_mask = np.asarray(lung_mask)
    if vessel_labels.ndim != 3:
        raise ValueError(f"vessel_labels must be a 3-D (z, y, x) array, got shape "
                         f"{vessel_labels.shape}")
    if lung_mask.shape != vessel_labels.shape:
        raise ValueError(f"lung_mask shape {lung_mask.shape} differs from vessel_labels shape "
                         f"{vessel_labels.shape}")
    if not np.issubdtype(vessel_labels.dtype, np.integer):
        raise ValueError(f"vessel_labels must be integer labels, got {vessel_labels.dtype}")
    spacing = _spacing(spacing)
    lo_n, hi_n = _count_range(n_emboli, "n_emboli")
    seed = _seed(seed)
    if artery_label == vein_label:
        raise ValueError(f"artery_label and vein_label must differ, got {artery_label}")
    if posterior not in (1, -1):
        raise ValueError(f"posterior must be 1 or -1, got {posterior!r}")
    body_margin_mm = _number(body_margin_mm, "body_margin_mm")
    min_embolus_mm3 = _number(min_embolus_mm3, "min_embolus_mm3")
    if slice_thickness_mm is not None:
        slice_thickness_mm = _number(slice_thickness_mm, "slice_thickness_mm", positive=True)
    weights = np.asarray(level_weights, float)
    if weights.shape != (len(LEVELS),) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"level_weights must be {len(LEVELS)} non-negative numbers, not all"
                         f" 0, got {level_weights!r}")
    if emboli_shapes is None:
        emboli_shapes = _ellipsoid_shapes()
    emboli_shapes = list(emboli_shapes)
    if hi_n > 0 and not emboli_shapes:
        raise ValueError("emboli_shapes is empty")
    if not all(isinstance(s, EmbolusShape) for s in emboli_shapes):
        raise ValueError("emboli_shapes must be EmbolusShape items (see embolus_shapes)")

    root = np.random.SeedSequence(seed)
    param_seq, emboli_seq, render_seq = root.spawn(3)
    params = _draw_params(np.random.default_rng(param_seq), spacing, _overrides(
        artery_hu=artery_hu, vein_hu=vein_hu, embolus_hu=embolus_hu, noise_sd=noise_sd,
        slice_thickness_mm=slice_thickness_mm))
    params["body_margin_mm"] = body_margin_mm
    lung = lung_mask.astype(bool, copy=False) if lung_mask.dtype == bool else lung_mask != 0
    if not lung.any():
        raise ValueError("the lung mask is empty")
    artery = vessel_labels == artery_label
    vein = vessel_labels == vein_label
    rng = np.random.default_rng(emboli_seq)
    count = int(rng.integers(lo_n, hi_n + 1))
    emboli, info = _insert_emboli(artery, spacing, emboli_shapes, count, rng,
                                  params["embolus_hu_range"], min_embolus_mm3, weights)
    ct, body = _render(lung=lung, artery=artery, vein=vein, emboli=emboli,
                       emboli_hu=[e.hu for e in info], spacing=spacing, params=params,
                       seed_seq=render_seq, posterior=posterior,
                       body_margin_mm=body_margin_mm, bone=bone)
    params["n_emboli_requested"] = count
    return SyntheticCT(ct=ct, spacing=spacing, lung_mask=lung, artery_mask=artery,
                       vein_mask=vein, emboli=emboli, emboli_info=info, seed=seed,
                       body_mask=body, params=params,
                       affine=None if affine is None else np.asarray(affine, float),
                       case_id=str(case_id))


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
        n = _perpendicular(rng, d)
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
    the lung's edge), the veins a smaller tree from the
    other end; the emboli are ellipsoids along a tube's axis (semi-axis 1.8-2.6 radii along
    it), central, eccentric or occlusive, clipped to their tube segment.  Intensities, blur
    and noise
    follow the same model as :func:`synthesize_ctpa` (module docstring).

    Parameters
    ----------
    shape : 3 ints, keyword-only
        ``(z, y, x)`` voxels, each >= 24.
    spacing : 3 floats
        ``(z, y, x)`` mm.
    seed : int
    n_emboli : int or (int, int)
    artery_hu, vein_hu, embolus_hu, noise_sd : None, float or (float, float)
        As in :func:`synthesize_ctpa`.

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
    spacing = _spacing(spacing)
    lo_n, hi_n = _count_range(n_emboli, "n_emboli")
    seed = _seed(seed)
    root = np.random.SeedSequence(seed)
    param_seq, tree_seq, emboli_seq, render_seq = root.spawn(4)
    params = _draw_params(np.random.default_rng(param_seq), spacing, _overrides(
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
        kind = _kind(rng, r)
        b, offset = _cross_section(rng, kind, r)
        a = rng.uniform(1.8, 2.6) * r   # clipped to this tube (its ends are round)
        e = c + offset * _perpendicular(rng, axis)
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
        m = _keep_piece(m, centre_voxel - lo)
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
            level=_level(r), vessel_radius_mm=round(float(r), 3),
            vessel_axis=tuple(round(float(v), 5) for v in axis), source="ellipsoid"))
    if len(info) < count:
        warnings.warn(f"placed {len(info)} of {count} emboli in the tubes", RuntimeWarning,
                      stacklevel=2)
    ct, body = _render(lung=lung, artery=artery, vein=vein, emboli=emboli,
                       emboli_hu=[e.hu for e in info], spacing=spacing, params=params,
                       seed_seq=render_seq, posterior=1, body_margin_mm=0.0, bone=False,
                       depth=depth)
    params["n_emboli_requested"] = count
    return SyntheticCT(ct=ct, spacing=spacing, lung_mask=lung, artery_mask=artery,
                       vein_mask=vein, emboli=emboli, emboli_info=info, seed=seed,
                       body_mask=body, params=params, affine=None, case_id=f"tubes-{seed}")


# -- smaller volumes ----------------------------------------------------------------------


def crop_to_lungs(lung_mask, spacing, *, margin_mm=20.0):
    """Bounding box of the lungs grown by ``margin_mm``, as ``(z, y, x)`` slices.

    Cropping the labels to it before :func:`synthesize_ctpa` drops the neck and abdomen
    (typically a third of the slices) and the air around the body.

    >>> m = np.zeros((10, 20, 20), bool); m[4:6, 5:9, 8:12] = True
    >>> crop_to_lungs(m, (1.0, 1.0, 1.0), margin_mm=2)
    (slice(2, 8, None), slice(3, 11, None), slice(6, 14, None))
    """
    margin_mm = _number(margin_mm, "margin_mm")
    spacing = _spacing(spacing)
    box = _bbox(np.asarray(lung_mask) != 0)
    if box is None:
        raise ValueError("the lung mask is empty")
    shape = np.shape(lung_mask)
    return tuple(slice(max(0, s.start - int(math.ceil(margin_mm / sp))),
                       min(n, s.stop + int(math.ceil(margin_mm / sp))))
                 for s, sp, n in zip(box, spacing, shape))


def _resampling(shape, spacing, target_spacing):
    """Per axis: new size and the ratio old/new voxel count."""
    sizes, ratios = [], []
    for n, s, t in zip(shape, spacing, target_spacing):
        m = max(1, int(round(n * s / t)))
        sizes.append(m)
        ratios.append(n / m)
    return sizes, ratios


def resample_labels(labels, spacing, target_spacing):
    """Nearest-neighbour resampling of a label volume to about ``target_spacing`` mm.

    The volume keeps its physical extent: each axis gets ``round(n * spacing / target)``
    voxels, so the new spacing (returned) is close to, not exactly, the target.  Labels are
    sampled at the new voxel centres (thin vessels can break up when downsampling).

    Returns
    -------
    (ndarray, tuple)
        The resampled labels and their spacing ``(z, y, x)``.

    >>> lab = np.zeros((4, 6, 6), np.uint8); lab[:, 2:4, 2:4] = 1
    >>> out, sp = resample_labels(lab, (1.0, 0.5, 0.5), 1.0)
    >>> out.shape, sp, int(out.sum())
    ((4, 3, 3), (1.0, 1.0, 1.0), 4)
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be a 3-D array, got shape {labels.shape}")
    spacing = _spacing(spacing)
    if isinstance(target_spacing, numbers.Real):
        target_spacing = (target_spacing,) * 3
    target_spacing = _spacing(target_spacing, "target_spacing")
    sizes, ratios = _resampling(labels.shape, spacing, target_spacing)
    index = [np.minimum(((np.arange(m) + 0.5) * r).astype(np.intp), n - 1)
             for m, r, n in zip(sizes, ratios, labels.shape)]
    out = labels[np.ix_(*index)]
    return out, tuple(float(s * r) for s, r in zip(spacing, ratios))


# -- CAD-PE cases, files ------------------------------------------------------------------


def list_cases(vessels_dir):
    """Case ids (file stems) of the vessel label files ``<id>.nii.gz`` in ``vessels_dir``."""
    files = _nifti_files(vessels_dir, "vessels")
    ids = sorted(_stem(f) for f in files if not _stem(f).endswith("_lungmask"))
    if not ids:
        raise ValueError(f"no vessel label files (<id>.nii.gz) in {str(vessels_dir)!r}")
    return ids


def _case_files(vessels_dir, case_id):
    folder = pathlib.Path(vessels_dir)
    if not folder.is_dir():
        raise ValueError(f"vessels folder {str(folder)!r} does not exist")
    found = []
    for stem in (case_id, f"{case_id}_lungmask"):
        for ext in (".nii.gz", ".nii"):
            if (folder / (stem + ext)).is_file():
                found.append(folder / (stem + ext))
                break
        else:
            raise ValueError(f"missing file {str(folder / (stem + '.nii.gz'))!r} of case "
                             f"{case_id!r}")
    return found


def case_seed(seed, case_id):
    """The seed of one case of :func:`generate_folder`: a hash of ``seed`` and the id."""
    state = np.random.SeedSequence([_seed(seed), zlib.crc32(str(case_id).encode())])
    return int(state.generate_state(1, np.uint32)[0])


def _read_zyx(path):
    import nibabel as nib
    img = nib.load(str(path))
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path} is not a 3-D volume (shape {data.shape})")
    spacing = tuple(float(z) for z in img.header.get_zooms()[:3][::-1])
    return np.ascontiguousarray(data.transpose(2, 1, 0)), spacing, img.affine


def load_cadpe_case(case_id, *, vessels_dir):
    """Vessel labels, lung mask, spacing and NIfTI affine of one CAD-PE case.

    Returns
    -------
    (labels uint8 (z, y, x), lungs bool (z, y, x), spacing (z, y, x) mm, affine (4, 4))
    """
    vessel_file, lung_file = _case_files(vessels_dir, case_id)
    labels, spacing, affine = _read_zyx(vessel_file)
    lungs, lung_spacing, _ = _read_zyx(lung_file)
    if lungs.shape != labels.shape:
        raise ValueError(f"lung mask {str(lung_file)!r} has shape {lungs.shape[::-1]} (x, y, z)"
                         f" but the vessel labels {str(vessel_file)!r} have "
                         f"{labels.shape[::-1]}")
    if not np.allclose(lung_spacing, spacing, rtol=1e-3):
        raise ValueError(f"lung mask {str(lung_file)!r} has voxel size {lung_spacing[::-1]} "
                         f"but the vessel labels have {spacing[::-1]}")
    if not np.issubdtype(labels.dtype, np.integer):
        labels = np.rint(labels)
    return labels.astype(np.uint8, copy=False), lungs != 0, spacing, affine


def ctpa_case(case_id, *, vessels_dir, emboli_dir=None, seed=0, emboli_shapes=None,
              crop=False, crop_margin_mm=20.0, target_spacing=None, **options):
    """Synthetic CTPA of one CAD-PE case (its real vessel and lung labels).

    Parameters
    ----------
    case_id : str
        Stem of ``<vessels_dir>/<case_id>.nii.gz`` (with ``<case_id>_lungmask.nii.gz``).
    vessels_dir : path-like, keyword-only
    emboli_dir : path-like, optional
        FUMPE-like embolus masks, the shape bank (:func:`embolus_shapes`, cached).  Without
        it (and without ``emboli_shapes``) the emboli are ellipsoids.
    seed : int
        The case's seed (:func:`generate_folder` derives it with :func:`case_seed`).
    emboli_shapes : list of EmbolusShape, optional
        A bank already loaded (takes precedence over ``emboli_dir``).
    crop : bool
        Crop the labels to the lungs' bounding box plus ``crop_margin_mm`` first.
    target_spacing : float or 3 floats, optional
        Resample the labels (nearest neighbour) to about this spacing first, e.g. 1.0 for
        isotropic 1 mm: smaller volumes for the application.
    **options
        Passed to :func:`synthesize_ctpa` (``n_emboli``, ``artery_hu``, ``noise_sd``, ...).

    Returns
    -------
    SyntheticCT
        With the affine of the (cropped, resampled) grid and ``case_id``.
    """
    labels, lungs, spacing, affine = load_cadpe_case(case_id, vessels_dir=vessels_dir)
    affine = np.asarray(affine, float)
    if crop:
        box = crop_to_lungs(lungs, spacing, margin_mm=crop_margin_mm)
        labels, lungs = labels[box], lungs[box]
        shift = np.eye(4)
        shift[:3, 3] = [box[2].start, box[1].start, box[0].start]
        affine = affine @ shift
    if target_spacing is not None:
        if isinstance(target_spacing, numbers.Real):
            target_spacing = (target_spacing,) * 3
        target_spacing = _spacing(target_spacing, "target_spacing")
        _, ratios = _resampling(labels.shape, spacing, target_spacing)
        labels, new_spacing = resample_labels(labels, spacing, target_spacing)
        lungs, _ = resample_labels(lungs, spacing, target_spacing)
        scale = np.eye(4)
        for k, r in enumerate(ratios[::-1]):   # (x, y, z)
            scale[k, k] = r
            scale[k, 3] = (r - 1) / 2
        affine = affine @ scale
        spacing = new_spacing
    if emboli_shapes is None and emboli_dir is not None:
        emboli_shapes = embolus_shapes(emboli_dir)
    import nibabel as nib
    codes = nib.aff2axcodes(affine)
    posterior = options.pop("posterior", -1 if codes[1] == "A" else 1)
    if codes[1] not in "AP":
        warnings.warn(f"case {case_id}: array axis y is {codes[1]}, not anterior-posterior; "
                      "the dependent lung gradient will be along y anyway", RuntimeWarning,
                      stacklevel=2)
    return synthesize_ctpa(labels, lungs, spacing, emboli_shapes=emboli_shapes, seed=seed,
                           posterior=posterior, affine=affine, case_id=case_id, **options)


def _default_affine(spacing):
    """LPS grid at the origin: x to the left, y to the back, z up (RAS+ affine)."""
    return np.diag([-spacing[2], -spacing[1], spacing[0], 1.0])


def _save_nifti(array_zyx, affine, path):
    import nibabel as nib
    img = nib.Nifti1Image(np.asarray(array_zyx).transpose(2, 1, 0), affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    tmp = path.with_name(f".{path.name[:-7]}.{os.getpid()}.tmp.nii.gz")
    try:
        nib.save(img, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_name(name):
    name = str(name)
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"name must be a plain file name stem, got {name!r}")
    return name


def write_case(case, folder, name):
    """Write a :class:`SyntheticCT` as NIfTI volumes and a JSON record.

    Files (in ``folder``, created if needed; each written to a temporary name and renamed,
    the JSON last, so a case with its JSON is complete):

    * ``<name>_ct.nii.gz``: ``int16`` HU;
    * ``<name>_emboli.nii.gz``: ``int32`` embolus labels (0 none, k embolus k);
    * ``<name>_lungs.nii.gz``: ``uint8`` lung mask;
    * ``<name>_vessels.nii.gz``: ``uint8`` 1 arteries, 2 veins (the CAD-PE convention);
    * ``<name>.json``: generator version, seed, spacing, shape, intensity parameters, the
      emboli (with their centres also in scanner RAS mm), and ``"patient"``: the anatomy's
      ``case_id`` (so that volumes made on one case's anatomy stay on one side of a
      patient-wise split, see :mod:`apps.pe.dataset`), else ``name``.

    The NIfTI grids use ``case.affine`` (the source scan's, for :func:`ctpa_case`), or an LPS
    grid with the case's spacing.

    Returns
    -------
    dict
        ``{"ct", "emboli", "lungs", "vessels", "json"}`` -> :class:`pathlib.Path`.
    """
    if not isinstance(case, SyntheticCT):
        raise ValueError(f"case must be a SyntheticCT, got {type(case).__name__}")
    name = _check_name(name)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    affine = _default_affine(case.spacing) if case.affine is None else np.asarray(case.affine)
    paths = {key: folder / f"{name}_{key}.nii.gz" for key in ("ct", "emboli", "lungs", "vessels")}
    paths["json"] = folder / f"{name}.json"
    vessels = np.zeros(case.ct.shape, np.uint8)
    vessels[case.vein_mask] = VEIN_LABEL
    vessels[case.artery_mask] = ARTERY_LABEL
    _save_nifti(case.ct.astype(np.int16, copy=False), affine, paths["ct"])
    _save_nifti(case.emboli.astype(np.int32, copy=False), affine, paths["emboli"])
    _save_nifti(case.lung_mask.astype(np.uint8), affine, paths["lungs"])
    _save_nifti(vessels, affine, paths["vessels"])
    emboli = []
    for e in case.emboli_info:
        d = e.as_dict()
        z, y, x = e.centre_voxel
        d["centre_ras_mm"] = [round(float(v), 3) for v in (affine @ [x, y, z, 1.0])[:3]]
        emboli.append(d)
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in (case.params or {}).items()}
    record = {
        "generator": "apps.pe.synthetic", "version": GENERATOR_VERSION,
        "note": "synthetic CT intensities on real (or synthetic) anatomy, for development;"
                " not real CTPA",
        "name": name, "case_id": case.case_id, "patient": case.case_id or name,
        "seed": case.seed,
        "shape_zyx": list(case.ct.shape), "spacing_zyx_mm": list(case.spacing),
        "affine": np.asarray(affine).tolist(), "labels": {"artery": ARTERY_LABEL,
                                                         "vein": VEIN_LABEL},
        "params": params, "n_emboli": len(emboli), "emboli": emboli,
        "files": {k: p.name for k, p in paths.items() if k != "json"},
    }
    tmp = paths["json"].with_name(f".{name}.{os.getpid()}.tmp.json")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, paths["json"])
    return paths


def _complete(folder, name):
    folder = pathlib.Path(folder)
    return (folder / f"{name}.json").is_file() and all(
        (folder / f"{name}_{k}.nii.gz").is_file() for k in ("ct", "emboli", "lungs", "vessels"))


def generate_folder(vessels_dir, emboli_dir, out_dir, *, cases=None, seed=0, progress=True,
                    **options):
    """Write a synthetic CTPA for every CAD-PE case of ``vessels_dir`` into ``out_dir``.

    Reproducible (case ``c`` gets the seed ``case_seed(seed, c)``, whatever else is
    generated) and resumable (cases whose files are all there are skipped; each file is
    written atomically, the JSON last).

    Parameters
    ----------
    vessels_dir : path-like
        CAD-PE vessel labels ``<id>.nii.gz`` and ``<id>_lungmask.nii.gz``.
    emboli_dir : path-like or None
        FUMPE-like embolus masks for the shape bank (``None``: ellipsoids).
    out_dir : path-like
        Created if needed; files as in :func:`write_case`, named by the case id.
    cases : str or list of str, optional
        Case ids (all by default).
    seed : int
    progress : bool
        Show a ``tqdm`` progress bar.
    **options
        Passed to :func:`ctpa_case` (``crop``, ``target_spacing``, ``n_emboli``, ...).

    Returns
    -------
    dict
        Case id -> path of its JSON record, in case order.

    Raises
    ------
    ValueError
        A folder is missing, a requested case does not exist, or a case's lung mask is
        missing (checked before anything is generated) or does not match its labels.
    """
    from tqdm.auto import tqdm
    seed = _seed(seed)
    available = list_cases(vessels_dir)
    if cases is None:
        cases = available
    else:
        cases = [cases] if isinstance(cases, str) else [str(c) for c in cases]
        unknown = [c for c in cases if c not in available]
        if unknown:
            raise ValueError(f"unknown case ids {unknown} (not in {str(vessels_dir)!r})")
    for case_id in cases:
        _case_files(vessels_dir, case_id)   # fail early on a missing lung mask
    shapes = None if emboli_dir is None else embolus_shapes(emboli_dir)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    bar = tqdm(cases, desc="synthetic CTPA", unit="case", disable=not progress)
    for case_id in bar:
        name = _check_name(case_id)
        if not _complete(out_dir, name):
            bar.set_postfix_str(case_id)
            case = ctpa_case(case_id, vessels_dir=vessels_dir, seed=case_seed(seed, case_id),
                             emboli_shapes=shapes, **options)
            write_case(case, out_dir, name)
            del case
        written[case_id] = out_dir / f"{name}.json"
    return written
