"""Emboli: real embolus shapes, their insertion into arteries, and the generator on anatomy.

Part of :mod:`apps.pe.synthetic`; imports :mod:`~apps.pe.synthetic.intensity` (rendering)
and :mod:`medkeras.io.volumes` (reading masks).  Also home of the result types
(:class:`EmbolusShape`, :class:`Embolus`, :class:`SyntheticCT`) and of the vessel label
classes (:data:`ARTERY_LABEL`, :data:`VEIN_LABEL`; the evidence for them is in
:mod:`apps.pe.synthetic.cadpe`).

The emboli take the 3-D shapes of real emboli, the connected components of the expert
embolus masks of the FUMPE data set (Masoudi et al., "A new dataset of computed-tomography
angiography images for computer-aided detection of pulmonary embolism", Scientific Data
5:180180, 2018; :func:`embolus_shapes`), re-scaled to the calibre of the host artery, turned
along its axis and clipped to its lumen.  Without masks, a few elongated ellipsoids stand in.

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

>>> [artery_level(r) for r in (9.0, 5.0, 2.5, 1.0)]
['main', 'lobar', 'segmental', 'subsegmental']
"""

from __future__ import annotations

import functools
import math
import pathlib
import warnings
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from medkeras.io.volumes import Volume, read_volume
from .intensity import (bbox, check_number, check_seed, check_spacing, count_range,
                        draw_params, render)

__all__ = ["ARTERY_LABEL", "LEVELS", "LEVEL_RADII_MM", "LEVEL_WEIGHTS", "VEIN_LABEL",
           "Embolus", "EmbolusShape", "SyntheticCT", "artery_level", "draw_cross_section",
           "draw_kind", "embolus_shapes", "keep_piece", "nifti_files", "nifti_stem",
           "random_perpendicular", "read_labels", "synthesize_ctpa"]

#: Class of the arteries in the CAD-PE vessel labels (evidence in
#: :mod:`apps.pe.synthetic.cadpe`).
ARTERY_LABEL = 1
#: Class of the veins in the CAD-PE vessel labels.
VEIN_LABEL = 2
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
    :func:`~apps.pe.synthetic.write_case` uses an LPS grid at the origin); ``case_id``: the
    anatomy's source (the CAD-PE case id, or ``"tubes-<seed>"``).
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


def nifti_files(folder, what):
    """The ``*.nii.gz`` and ``*.nii`` files of ``folder``, sorted; a ``ValueError`` naming
    the ``what`` folder if it does not exist."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{what} folder {str(folder)!r} does not exist")
    return sorted(p for p in folder.iterdir()
                  if p.name.endswith(".nii.gz") or p.name.endswith(".nii"))


def nifti_stem(path):
    """The file name without ``.nii.gz`` or ``.nii``.

    >>> nifti_stem("masks/PAT012.nii.gz"), nifti_stem("c01_lungmask.nii")
    ('PAT012', 'c01_lungmask')
    """
    name = pathlib.Path(path).name
    return name[:-7] if name.endswith(".nii.gz") else name[:-4] if name.endswith(".nii") else name


def read_labels(path):
    """A NIfTI mask or label file as a :class:`~medkeras.io.volumes.Volume` ``(z, y, x)``.

    Read by :func:`medkeras.io.volumes.read_volume`; the spacing is kept as the header's
    float32 values (``0.699999988``, where ``read_volume`` gives ``0.7``): the generator
    computes with these, so that a seed keeps giving the same volumes.
    """
    volume = read_volume(path)
    spacing = tuple(float(np.float32(s)) for s in volume.spacing)
    return Volume(volume.array, spacing, volume.affine)


@functools.lru_cache(maxsize=4)
def _shape_bank(folder, min_volume_mm3, patients):
    files = nifti_files(folder, "embolus mask")
    if patients is not None:
        by_stem = {nifti_stem(f): f for f in files}
        missing = [p for p in patients if p not in by_stem]
        if missing:
            raise ValueError(f"no embolus mask for {missing} in {folder!r}")
        files = [by_stem[p] for p in patients]
    if not files:
        raise ValueError(f"no NIfTI embolus masks (*.nii, *.nii.gz) in {folder!r}")
    structure = ndimage.generate_binary_structure(3, 3)
    shapes = []
    for path in files:
        volume = read_labels(path)
        spacing = volume.spacing
        nonzero = volume.array > 0
        box = bbox(nonzero)
        if box is None:
            continue
        crop = np.ascontiguousarray(nonzero[box])   # (z, y, x)
        labels, n = ndimage.label(crop, structure)
        sizes = np.bincount(labels.ravel())[1:]
        order = np.argsort(-sizes, kind="stable")
        objects = ndimage.find_objects(labels)
        voxel = float(np.prod(spacing))
        for rank, k in enumerate(order, start=1):
            if sizes[k] * voxel < min_volume_mm3:
                break
            sub = labels[objects[k]] == k + 1
            shapes.append(_shape_from_mask(sub, spacing, nifti_stem(path), rank))
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
    min_volume_mm3 = check_number(min_volume_mm3, "min_volume_mm3")
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


def artery_level(radius_mm):
    """The level (:data:`LEVELS`) of an artery of lumen radius ``radius_mm``."""
    for name, bound in zip(LEVELS, LEVEL_RADII_MM):
        if radius_mm >= bound:
            return name
    return LEVELS[-1]


def random_perpendicular(rng, v):
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


def keep_piece(mask, centre):
    """The 26-connected piece of ``mask`` holding ``centre`` (else its largest piece)."""
    labels, n = ndimage.label(mask, ndimage.generate_binary_structure(3, 3))
    if n <= 1:
        return mask
    k = labels[tuple(centre)] if all(0 <= c < s for c, s in zip(centre, mask.shape)) else 0
    if k == 0:
        k = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    return labels == k


def draw_kind(rng, radius_mm):
    """Central / eccentric / occlusive: small arteries favour occlusion, the main arteries
    (radius >= 8 mm) get partial defects only."""
    level = artery_level(radius_mm)
    probabilities = {"main": (0.5, 0.5, 0.0), "subsegmental": (0.15, 0.25, 0.6)}.get(
        level, (0.4, 0.3, 0.3))
    return ("central", "eccentric", "occlusive")[rng.choice(3, p=probabilities)]


def draw_cross_section(rng, kind, radius_mm):
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
    box = bbox(artery)
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
        exact = LEVELS.index(artery_level(radius))
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
        kind = draw_kind(rng, radius)
        r_e, offset = draw_cross_section(rng, kind, radius)
        shape = shapes[int(rng.integers(len(shapes)))]
        h = shape.half_extent_mm
        s_c = r_e / max(h[1], h[2], 0.25)
        length = float(np.clip(2 * h[0] * s_c, max(4.0 * r_e, 4.0),
                               min(60.0, max(10.0 * radius, 8.0))))
        s_a = length / (2 * max(h[0], 0.25))
        u = random_perpendicular(rng, axis)
        frame = np.stack([axis, u, np.cross(axis, u)])
        e_mm = c_mm + offset * random_perpendicular(rng, axis)
        reach = max(length / 2, r_e + offset) + 2.0
        window, lo = _window(np.round(e_mm / sp).astype(int), np.ceil(reach / sp).astype(int),
                             artery.shape)
        m = _rasterize_shape(shape, frame, (s_a, s_c, s_c), e_mm, window, lo, sp)
        m &= artery[window]
        taken = emboli[window] > 0
        m &= ~taken
        if not m.any():
            continue
        m = keep_piece(m, centre - lo)
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
            n_voxels=n_voxels, hu=round(hu, 2), kind=kind, level=artery_level(radius),
            vessel_radius_mm=round(float(radius), 3),
            vessel_axis=tuple(round(float(v), 5) for v in axis),
            source=shape.source if shape.source == "ellipsoid"
            else f"{shape.source}#{shape.component}"))
    if len(info) < count:
        warnings.warn(f"placed {len(info)} of {count} emboli: no more room found in the "
                      f"arteries after {attempts} attempts", RuntimeWarning, stacklevel=3)
    return emboli, info


def synthesize_ctpa(vessel_labels, lung_mask, spacing, *, emboli_shapes=None, n_emboli=(1, 6),
                    seed=0, artery_label=ARTERY_LABEL, vein_label=VEIN_LABEL, artery_hu=None,
                    vein_hu=None, embolus_hu=None, noise_sd=None, slice_thickness_mm=None,
                    posterior=1, body_margin_mm=30.0, bone=True, min_embolus_mm3=8.0,
                    level_weights=LEVEL_WEIGHTS, affine=None, case_id=""):
    """Synthetic CTPA (HU) on real anatomy, with emboli inserted in the arteries.

    Synthetic intensities on real vessel and lung labels (e.g. CAD-PE, González et al.
    2020), with emboli shaped like real ones (e.g. FUMPE, Masoudi et al. 2018): for
    development, not a substitute for real CTPA.  The model and its HU values are in
    :mod:`apps.pe.synthetic.intensity`, the placing of the emboli in this module's docstring.

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
        NIfTI affine of the grid, kept for :func:`~apps.pe.synthetic.write_case`.
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
    spacing = check_spacing(spacing)
    lo_n, hi_n = count_range(n_emboli, "n_emboli")
    seed = check_seed(seed)
    if artery_label == vein_label:
        raise ValueError(f"artery_label and vein_label must differ, got {artery_label}")
    if posterior not in (1, -1):
        raise ValueError(f"posterior must be 1 or -1, got {posterior!r}")
    body_margin_mm = check_number(body_margin_mm, "body_margin_mm")
    min_embolus_mm3 = check_number(min_embolus_mm3, "min_embolus_mm3")
    if slice_thickness_mm is not None:
        slice_thickness_mm = check_number(slice_thickness_mm, "slice_thickness_mm", positive=True)
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
    params = draw_params(np.random.default_rng(param_seq), spacing, dict(
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
    ct, body = render(lung=lung, artery=artery, vein=vein, emboli=emboli,
                       emboli_hu=[e.hu for e in info], spacing=spacing, params=params,
                       seed_seq=render_seq, posterior=posterior,
                       body_margin_mm=body_margin_mm, bone=bone)
    params["n_emboli_requested"] = count
    return SyntheticCT(ct=ct, spacing=spacing, lung_mask=lung, artery_mask=artery,
                       vein_mask=vein, emboli=emboli, emboli_info=info, seed=seed,
                       body_mask=body, params=params,
                       affine=None if affine is None else np.asarray(affine, float),
                       case_id=str(case_id))


