"""Image patches of PE candidates: the vessel-aligned representation and the standard one.

Tajbakhsh et al., "Convolutional Neural Networks for Medical Image Analysis: Full Training
or Fine Tuning?", IEEE TMI 35(5), 2016, §B, classify each candidate from 2-D patches in the
representation of Tajbakhsh & Liang, "Computer-aided pulmonary embolism detection using a
novel vessel-aligned multi-planar image representation and convolutional neural networks",
MICCAI 2015 (LNCS 9350, pp. 62–69): two planes through the candidate, oriented by the
vessel that holds it,

* channel 0, the **cross-section**: the plane whose normal is the vessel axis (an embolus
  shows as a dark spot inside the bright disc of the vessel, or fills it),
* channel 1, the **longitudinal** plane: a plane containing the axis (the embolus as a
  dark filling defect along a bright band),

and the third channel of the network repeats the second (:func:`to_three_channels`).  Data
augmentation, and averaging of the CNN's scores at test time, use the same candidate at
several **sizes** (field of view in mm, default 10, 15 and 20), **translations** along the
axis (fractions of the size, default −0.2, 0, +0.2) and **rotations** of the plane pair
about the axis (default 6 over 180°: the longitudinal plane sweeps the vessel every 30°;
the cross-section turns in its own plane): 3 × 3 × 6 = 54 patches per candidate.
:func:`standard_patches` gives the usual comparison: axial, coronal and sagittal planes
through the candidate as three channels, same sizes, translations (each plane along its
own normal) and in-plane rotations.

Geometry is physical: a patch of ``size`` mm covers ``size`` mm whatever the voxel spacing
(pixel ``(r, c)`` of an ``out``×``out`` patch lies ``((c + 0.5) / out − 0.5) · size`` mm
along the column direction from the centre, likewise for rows); samples are trilinear
(:func:`scipy.ndimage.map_coordinates`, order 1) at exactly the points needed — all planes
of a candidate in one call on the box of voxels they span, never the whole volume.
Intensities map through ``window_hu`` (default −100..+700 HU: clot ≈ 50 → 48, contrast
≈ 300 → 128; lung and bone saturate) to 0..255, Caffe's pixel range, as float32.

The vessel axis (:func:`vessel_axis`) is the principal component (largest-variance
eigenvector, in mm) of the bright vessel voxels connected to the candidate within a sphere,
widened when the vessel fills the sphere; with too few such voxels it falls back to the
z axis (the planes then become axial and coronal-like).

>>> import numpy as np
>>> zz, yy, xx = np.mgrid[:40, :40, :40]
>>> ct = np.where((yy - 20) ** 2 + (xx - 20) ** 2 <= 9, 300.0, -850.0)   # tube along z
>>> axis = vessel_axis(ct, (1.0, 1.0, 1.0), (20.0, 20.0, 20.0))
>>> np.round(np.abs(axis), 2).tolist()
[1.0, 0.0, 0.0]
>>> two = vessel_aligned_patches(ct, (1.0, 1.0, 1.0), (20.0, 20.0, 20.0), axis, out=64)
>>> two.shape, to_three_channels(two).shape
((54, 64, 64, 2), (54, 64, 64, 3))
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import ndimage

from medkeras.io.volumes import as_array_and_spacing
from medkeras.checks import integer_at_least, non_negative_number, positive_number

__all__ = ["DEFAULT_SIZES_MM", "DEFAULT_TRANSLATIONS", "DEFAULT_WINDOW_HU", "candidate_patches",
           "patch_parameters", "standard_patches", "to_three_channels",
           "vessel_aligned_patches", "vessel_axis"]

#: Fields of view (mm) of the patches of a candidate.
DEFAULT_SIZES_MM = (10.0, 15.0, 20.0)
#: Shifts of the patch centre along the axis, as fractions of the size.
DEFAULT_TRANSLATIONS = (-0.2, 0.0, 0.2)
#: HU mapped to 0 and 255.
DEFAULT_WINDOW_HU = (-100.0, 700.0)
#: HU given to samples outside the volume (air).
OUTSIDE_HU = -1024.0


# --------------------------------------------------------------------------- checks


def _point(value, what):
    try:
        point = np.array([float(v) for v in value])
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be three numbers (z, y, x) in mm, got {value!r}") \
            from None
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise ValueError(f"{what} must be three finite numbers (z, y, x) in mm, got {value!r}")
    return point


def _unit(value, what):
    vector = _point(value, what)
    norm = np.linalg.norm(vector)
    if norm < 1e-9:
        raise ValueError(f"{what} must be a non-zero vector, got {value!r}")
    return vector / norm


def _check_options(sizes_mm, translations, rotations, out, window_hu, rotation_range_deg):
    try:
        sizes = tuple(float(s) for s in sizes_mm)
        shifts = tuple(float(t) for t in translations)
    except (TypeError, ValueError):
        raise ValueError("sizes_mm and translations must be sequences of numbers") from None
    if not sizes or not all(math.isfinite(s) and s > 0 for s in sizes):
        raise ValueError(f"sizes_mm must be positive sizes in mm, got {sizes_mm!r}")
    if not shifts or not all(math.isfinite(t) for t in shifts):
        raise ValueError(f"translations must be finite fractions of the size, got "
                         f"{translations!r}")
    rotations = integer_at_least(rotations, "rotations", 1)
    out = integer_at_least(out, "out", 2)
    try:
        lo, hi = (float(v) for v in window_hu)
    except (TypeError, ValueError):
        raise ValueError(f"window_hu must be a (low, high) pair of HU, got {window_hu!r}") \
            from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"window_hu must have low < high, got {window_hu!r}")
    span = non_negative_number(rotation_range_deg, "rotation_range_deg")
    return sizes, shifts, rotations, out, (lo, hi), span


def patch_parameters(*, sizes_mm=DEFAULT_SIZES_MM, translations=DEFAULT_TRANSLATIONS,
                     rotations=6, rotation_range_deg=180.0):
    """The (size mm, translation fraction, rotation degrees) of each patch, in output order.

    Patches of a candidate are ordered size-major, then translation, then rotation:
    patch ``(i * len(translations) + j) * rotations + k`` has ``sizes_mm[i]``,
    ``translations[j]`` and angle ``k * rotation_range_deg / rotations``.

    Returns
    -------
    (n, 3) float ndarray

    >>> patch_parameters(sizes_mm=(10,), translations=(0,), rotations=3).tolist()
    [[10.0, 0.0, 0.0], [10.0, 0.0, 60.0], [10.0, 0.0, 120.0]]
    """
    sizes, shifts, rotations, _, _, span = _check_options(
        sizes_mm, translations, rotations, 2, (0, 1), rotation_range_deg)
    angles = np.arange(rotations) * span / rotations
    grid = np.array(np.meshgrid(sizes, shifts, angles, indexing="ij"))
    return grid.reshape(3, -1).T


# --------------------------------------------------------------------------- vessel axis


def _box(centre_vox, half, shape):
    lo = np.maximum(0, np.floor(centre_vox - half).astype(int))
    hi = np.minimum(shape, np.ceil(centre_vox + half).astype(int) + 1)
    return lo, hi


def vessel_axis(ct, spacing, centre_mm, *, radius_mm=6.0, max_radius_mm=15.0,
                vessel_threshold_hu=150.0, candidate_voxels=None, min_voxels=20,
                min_anisotropy=2.0, default=(1.0, 0.0, 0.0)):
    """Unit vector (z, y, x, in mm space) along the vessel at a candidate.

    The bright vessel voxels (above ``vessel_threshold_hu``, plus the candidate's own
    voxels: a clot is dark but part of the vessel) within ``radius_mm`` of the centre are
    taken, only the connected component (26-neighbourhood) nearest the centre (so a
    neighbouring vessel does not tilt the axis); the axis is their principal component in
    physical coordinates.  Where the vessel is wider than the sphere its voxels fill it
    and the principal component means little: while the largest variance is below
    ``min_anisotropy`` × the second, the radius grows by half up to ``max_radius_mm``, and
    the most elongated result is kept.  Fewer than ``min_voxels`` voxels give ``default``
    (the z axis).  The sign is fixed: the largest component is positive.

    Parameters
    ----------
    ct : (Z, Y, X) array of HU, or Volume
    spacing : 3 floats, (z, y, x) mm (None with a Volume)
    centre_mm : 3 floats
        The candidate, (z, y, x) · spacing.
    radius_mm, max_radius_mm : float
        First and largest radius of the sphere (default 6 and 15 mm: segmental to lobar
        arteries are 3–8 mm wide, the central ones up to 30 mm).
    vessel_threshold_hu : float
        Contrast-filled vessel (default 150 HU, between clot and contrast).
    candidate_voxels : (k, 3) int array, optional
        Voxels (z, y, x) of the candidate, counted as vessel.
    min_voxels : int
    min_anisotropy : float
        Variance ratio (largest / second) that counts as elongated.
    default : 3 floats
        Returned when the vessel cannot be found.

    Returns
    -------
    (3,) float ndarray, unit length.
    """
    ct, spacing = as_array_and_spacing(ct, spacing)
    centre = _point(centre_mm, "centre_mm")
    radius_mm = positive_number(radius_mm, "radius_mm")
    max_radius_mm = max(positive_number(max_radius_mm, "max_radius_mm"), radius_mm)
    if isinstance(vessel_threshold_hu, bool) or not isinstance(vessel_threshold_hu,
                                                              numbers.Real):
        raise ValueError(f"vessel_threshold_hu must be a number, got {vessel_threshold_hu!r}")
    min_voxels = integer_at_least(min_voxels, "min_voxels", 3)
    min_anisotropy = positive_number(min_anisotropy, "min_anisotropy")
    fallback = _unit(default, "default")
    spacing_arr = np.asarray(spacing)
    centre_vox = centre / spacing_arr
    extra = None
    if candidate_voxels is not None:
        extra = np.asarray(candidate_voxels)
        if extra.ndim != 2 or extra.shape[1] != 3:
            raise ValueError(f"candidate_voxels must be (k, 3) voxel indices, got shape "
                             f"{extra.shape}")
    best, best_ratio = None, -1.0
    radius = radius_mm
    while True:
        axis, ratio = _principal_axis(ct, spacing_arr, centre_vox, radius,
                                      float(vessel_threshold_hu), extra, min_voxels)
        if axis is not None and ratio > best_ratio:
            best, best_ratio = axis, ratio
        if (axis is not None and ratio >= min_anisotropy) or radius >= max_radius_mm:
            break
        radius = min(radius * 1.5, max_radius_mm)
    if best is None:
        return fallback
    return best if best[np.argmax(np.abs(best))] > 0 else -best


def _principal_axis(ct, spacing, centre_vox, radius_mm, threshold, extra, min_voxels):
    """(axis, variance ratio) of the vessel component nearest the centre, or (None, 0)."""
    lo, hi = _box(centre_vox, radius_mm / spacing, ct.shape)
    if np.any(hi <= lo):
        return None, 0.0
    sub = ct[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    grid = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    offsets = [(g - c) * s for g, c, s in zip(grid, centre_vox, spacing)]
    distance2 = offsets[0] ** 2 + offsets[1] ** 2 + offsets[2] ** 2
    mask = sub > threshold
    if extra is not None and len(extra):
        local = extra - lo
        ok = np.all((local >= 0) & (local < np.asarray(sub.shape)), axis=1)
        mask[tuple(local[ok].T)] = True
    mask &= distance2 <= radius_mm ** 2
    if mask.sum() < min_voxels:
        return None, 0.0
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if count > 1:
        # the component holding the voxel nearest the centre
        nearest = np.where(mask, distance2, np.inf)
        labels = labels == labels.flat[np.argmin(nearest)]
    else:
        labels = labels > 0
    z, y, x = np.nonzero(labels)
    if z.size < min_voxels:
        return None, 0.0
    points = np.stack([(z + lo[0]) * spacing[0], (y + lo[1]) * spacing[1],
                       (x + lo[2]) * spacing[2]], axis=1)
    points -= points.mean(axis=0)
    values, vectors = np.linalg.eigh(points.T @ points / len(points))
    ratio = values[2] / max(values[1], 1e-12)
    return vectors[:, 2], float(ratio)


# --------------------------------------------------------------------------- planes


def _perpendicular_basis(axis):
    """Two unit vectors completing ``axis`` to a right-handed orthonormal basis."""
    helper = np.zeros(3)
    helper[np.argmin(np.abs(axis))] = 1.0
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


def _vessel_planes(centre, axis, sizes, shifts, rotations, span):
    """Per patch (origin (C, 3), row step (C, 3), column step (C, 3)) for C = 2 channels.

    Row/column vectors are scaled by the size (one patch side); channel 0 the
    cross-section (rows v_θ, columns u_θ), channel 1 the longitudinal plane (rows along
    the axis, columns u_θ).
    """
    u, v = _perpendicular_basis(axis)
    planes = []
    for size in sizes:
        for shift in shifts:
            origin = centre + shift * size * axis
            for k in range(rotations):
                theta = math.radians(k * span / rotations)
                u_t = math.cos(theta) * u + math.sin(theta) * v
                v_t = -math.sin(theta) * u + math.cos(theta) * v
                planes.append((np.stack([origin, origin]),
                               np.stack([v_t, axis]) * size,
                               np.stack([u_t, u_t]) * size))
    return planes


_STANDARD = (np.eye(3)[[1, 0, 0]], np.eye(3)[[2, 2, 1]])   # rows: y z z; columns: x x y


def _standard_planes(centre, sizes, shifts, rotations, span):
    """As :func:`_vessel_planes` for axial (0), coronal (1) and sagittal (2) channels."""
    normals = np.eye(3)                  # z, y, x: the normal of channel c is axis c
    rows0, cols0 = _STANDARD
    planes = []
    for size in sizes:
        for shift in shifts:
            origin = centre[None, :] + shift * size * normals
            for k in range(rotations):
                theta = math.radians(k * span / rotations)
                rows = math.cos(theta) * rows0 + math.sin(theta) * cols0
                cols = -math.sin(theta) * rows0 + math.cos(theta) * cols0
                planes.append((origin, rows * size, cols * size))
    return planes


def _sample(ct, spacing, planes, out, window):
    """All planes in one map_coordinates call → (n, out, out, C) float32 in 0..255."""
    origin = np.stack([p[0] for p in planes])          # (n, C, 3) mm
    rows = np.stack([p[1] for p in planes])
    cols = np.stack([p[2] for p in planes])
    n, channels, _ = origin.shape
    grid = (np.arange(out) + 0.5) / out - 0.5
    inv = 1.0 / np.asarray(spacing)
    # the box of voxels the samples need: the planes' corner pixels bound them (trilinear
    # reads floor and floor + 1); coordinates are made relative to it
    corners = (origin[..., None, :] + grid[[0, 0, -1, -1]][:, None] * rows[..., None, :]
               + grid[[0, -1, 0, -1]][:, None] * cols[..., None, :]) * inv
    corners = corners.reshape(-1, 3)
    lo = np.maximum(0, np.floor(corners.min(axis=0)).astype(int))
    hi = np.minimum(ct.shape, np.floor(corners.max(axis=0)).astype(int) + 2)
    planes_first = np.empty((n, channels, out, out), np.float32)
    if np.any(hi <= lo):                     # entirely outside the volume
        planes_first.fill(OUTSIDE_HU)
    else:
        # (3, n, C, out, out): rows and columns innermost, so the broadcasts run long
        coords = np.empty((3, n, channels, out, out), np.float32)
        g = grid.astype(np.float32)
        for a in range(3):
            o = ((origin[..., a] * inv[a]) - lo[a]).astype(np.float32)[..., None, None]
            r = (rows[..., a] * inv[a]).astype(np.float32)[..., None, None]
            c = (cols[..., a] * inv[a]).astype(np.float32)[..., None, None]
            np.add(o + g[:, None] * r, g[None, :] * c, out=coords[a])
        box = ct[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        ndimage.map_coordinates(box, coords.reshape(3, -1), output=planes_first.reshape(-1),
                                order=1, mode="constant", cval=OUTSIDE_HU, prefilter=False)
        del coords
    low, high = window
    scale = np.float32(255.0 / (high - low))
    planes_first *= scale
    planes_first -= np.float32(low) * scale
    np.clip(planes_first, 0.0, 255.0, out=planes_first)
    return np.ascontiguousarray(planes_first.transpose(0, 2, 3, 1))


def vessel_aligned_patches(ct, spacing, centre_mm, axis, *, sizes_mm=DEFAULT_SIZES_MM,
                           translations=DEFAULT_TRANSLATIONS, rotations=6, out=227,
                           window_hu=DEFAULT_WINDOW_HU, rotation_range_deg=180.0):
    """The vessel-aligned two-channel patches of one candidate (Tajbakhsh & Liang, 2015).

    Parameters
    ----------
    ct : (Z, Y, X) array of HU, or Volume
    spacing : 3 floats, (z, y, x) mm (None with a Volume)
    centre_mm : 3 floats
        The candidate, (z, y, x) · spacing.
    axis : 3 floats
        Vessel direction (z, y, x) in mm space (:func:`vessel_axis`), any length.
    sizes_mm : sequence of float
        Field of view of the patches (default 10, 15, 20 mm).
    translations : sequence of float
        Shifts of the centre along the axis, in fractions of the size (default −0.2, 0,
        0.2).
    rotations : int
        Orientations of the plane pair about the axis (default 6, spread over
        ``rotation_range_deg``, default 180°, starting with the original).
    out : int
        Side of a patch in pixels (default 227, AlexNet's input).
    window_hu : (low, high)
        HU mapped to 0 and 255 (default −100, 700), clipped.

    Returns
    -------
    (n, out, out, 2) float32 ndarray, 0..255
        ``n = len(sizes_mm) * len(translations) * rotations`` in the order of
        :func:`patch_parameters`.  Channel 0: the cross-section (normal = axis; rows and
        columns two perpendiculars of the axis, turned by the rotation angle); channel 1:
        the longitudinal plane (rows along ``axis``, columns the cross-section's column
        direction: the two planes share their middle row).  Both are centred on the
        translated point.
    """
    ct, spacing = as_array_and_spacing(ct, spacing)
    centre = _point(centre_mm, "centre_mm")
    axis = _unit(axis, "axis")
    sizes, shifts, rotations, out, window, span = _check_options(
        sizes_mm, translations, rotations, out, window_hu, rotation_range_deg)
    planes = _vessel_planes(centre, axis, sizes, shifts, rotations, span)
    return _sample(ct, spacing, planes, out, window)


def standard_patches(ct, spacing, centre_mm, *, sizes_mm=DEFAULT_SIZES_MM,
                     translations=DEFAULT_TRANSLATIONS, rotations=6, out=227,
                     window_hu=DEFAULT_WINDOW_HU, rotation_range_deg=180.0):
    """The standard three-channel patches of one candidate: axial, coronal, sagittal planes.

    Same sizes, order and window as :func:`vessel_aligned_patches`.  Channel 0 is the axial
    plane (rows y, columns x), 1 the coronal (rows z, columns x), 2 the sagittal (rows z,
    columns y), all through the candidate; a translation moves each plane along its own
    normal (z, y and x) by the fraction of the size, a rotation turns each in its plane.

    Returns
    -------
    (n, out, out, 3) float32 ndarray, 0..255
    """
    ct, spacing = as_array_and_spacing(ct, spacing)
    centre = _point(centre_mm, "centre_mm")
    sizes, shifts, rotations, out, window, span = _check_options(
        sizes_mm, translations, rotations, out, window_hu, rotation_range_deg)
    planes = _standard_planes(centre, sizes, shifts, rotations, span)
    return _sample(ct, spacing, planes, out, window)


def to_three_channels(two):
    """(…, 2) → (…, 3): the third channel repeats the second (the paper's network input)."""
    two = np.asarray(two)
    if two.ndim < 3 or two.shape[-1] != 2:
        raise ValueError(f"expected (..., H, W, 2) vessel-aligned patches, got shape "
                         f"{two.shape}")
    return np.concatenate([two, two[..., 1:]], axis=-1)


# --------------------------------------------------------------------------- many candidates


def candidate_patches(ct, spacing, candidates, *, representation="vessel_aligned",
                      axes=None, batch_size=512, three_channels=True, axis_options=None,
                      **options):
    """Patches of many candidates, in batches: yields ``(patches, index)``.

    Parameters
    ----------
    ct : (Z, Y, X) array of HU, or Volume
    spacing : 3 floats, (z, y, x) mm (None with a Volume)
    candidates : Candidates or (n, 3) array
        :class:`apps.pe.candidates.Candidates` (their ``centres_mm``; their voxels help
        find the vessel axis), or candidate centres in mm (z, y, x).
    representation : {"vessel_aligned", "standard"}
    axes : (n, 3) array, optional
        Vessel axes (vessel-aligned only); computed with :func:`vessel_axis` by default.
    batch_size : int
        Most patches per batch (whole candidates; at least one candidate per batch).  The
        default 512 at 227×227×3 float32 is 317 MB.
    three_channels : bool
        Vessel-aligned patches as the network's 3 channels (default) or the 2 planes.
    axis_options : dict, optional
        Keywords for :func:`vessel_axis`.
    **options
        Keywords for :func:`vessel_aligned_patches` / :func:`standard_patches` (sizes_mm,
        translations, rotations, out, window_hu, rotation_range_deg).

    Yields
    ------
    patches : (b, out, out, C) float32
    index : (b,) int64
        The candidate each patch belongs to (patches of a candidate are consecutive, in
        :func:`patch_parameters` order).
    """
    ct, spacing = as_array_and_spacing(ct, spacing)
    if representation not in ("vessel_aligned", "standard"):
        raise ValueError(f"representation must be 'vessel_aligned' or 'standard', got "
                         f"{representation!r}")
    batch_size = integer_at_least(batch_size, "batch_size", 1)
    voxel_lists = None
    if hasattr(candidates, "centres_mm") and hasattr(candidates, "offsets"):
        centres = np.asarray(candidates.centres_mm, float)
        voxel_lists = (candidates.voxels, candidates.offsets, candidates.shape)
        if tuple(candidates.shape) != ct.shape:
            raise ValueError(f"candidates belong to a volume of shape {candidates.shape}, "
                             f"not {ct.shape}")
    else:
        centres = np.asarray(candidates, float)
        if centres.ndim != 2 or centres.shape[1] != 3:
            raise ValueError(f"candidates must be Candidates or an (n, 3) array of centres "
                             f"in mm, got shape {centres.shape}")
    if axes is not None:
        if representation != "vessel_aligned":
            raise ValueError("axes are for the vessel-aligned representation")
        axes = np.asarray(axes, float)
        if axes.shape != centres.shape:
            raise ValueError(f"axes must be (n, 3) like the centres, got {axes.shape}")
    axis_options = dict(axis_options or {})
    per = patch_parameters(**{k: options[k] for k in ("sizes_mm", "translations",
                                                       "rotations", "rotation_range_deg")
                              if k in options}).shape[0]
    step = max(1, batch_size // per)
    for start in range(0, len(centres), step):
        stop = min(start + step, len(centres))
        batch = None
        for i in range(start, stop):
            if representation == "standard":
                patches = standard_patches(ct, spacing, centres[i], **options)
            else:
                if axes is not None:
                    axis = axes[i]
                else:
                    extra = None
                    if voxel_lists is not None:
                        voxels, offsets, shape = voxel_lists
                        flat = voxels[offsets[i]:offsets[i + 1]]
                        extra = np.stack(np.unravel_index(flat, shape), axis=1)
                    axis = vessel_axis(ct, spacing, centres[i], candidate_voxels=extra,
                                       **axis_options)
                patches = vessel_aligned_patches(ct, spacing, centres[i], axis, **options)
            if batch is None:
                channels = 3 if three_channels or representation == "standard" else 2
                batch = np.empty(((stop - start) * per,) + patches.shape[1:3] + (channels,),
                                 np.float32)
            row = (i - start) * per
            batch[row:row + per, ..., :patches.shape[-1]] = patches
            if channels > patches.shape[-1]:
                batch[row:row + per, ..., 2] = patches[..., 1]
        yield batch, np.repeat(np.arange(start, stop, dtype=np.int64), per)
