"""apps.pe core: volumes I/O (NIfTI, DICOM), tobogganing candidates, vessel-aligned patches."""

import itertools
import math
import random

import nibabel as nib
import numpy as np
import pydicom
import pytest
from scipy import ndimage

from apps.pe import candidates as C
from apps.pe import patches as P
from medkeras.io import volumes as V

# --------------------------------------------------------------------------- helpers


def rotation(axis, degrees):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    a = math.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def oblique_affine(spacing, degrees=20.0, origin=(-120.5, 80.25, -300.0)):
    """An affine with rotated (orthogonal) voxel axes: columns x, y, z scaled by spacing."""
    affine = np.eye(4)
    affine[:3, :3] = rotation((0.2, -0.3, 1.0), degrees) @ np.diag(spacing[::-1])
    affine[:3, 3] = origin
    return affine


def tube_volume(shape, spacing, axis, *, radius=3.0, centre=None, inside=300.0,
                outside=-850.0, ramp=0.0):
    """A straight tube through ``centre`` (mm, z y x) along ``axis`` (z y x, mm space)."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    grid = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)],
                                indexing="ij"), axis=-1)
    centre = np.asarray(shape) * np.asarray(spacing) / 2 if centre is None else centre
    d = grid - centre
    radial = np.sqrt(np.maximum((d ** 2).sum(-1) - (d @ axis) ** 2, 0))
    return _profile(radial, radius, inside, outside, ramp)


def ball_volume(shape, spacing, centre, radius, *, inside=300.0, outside=-850.0, ramp=0.0):
    grid = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)],
                                indexing="ij"), axis=-1)
    distance = np.sqrt(((grid - np.asarray(centre)) ** 2).sum(-1))
    return _profile(distance, radius, inside, outside, ramp)


def _profile(distance, radius, inside, outside, ramp):
    if ramp == 0:
        return np.where(distance <= radius, inside, outside).astype(np.float32)
    t = np.clip(0.5 - (distance - radius) / ramp, 0.0, 1.0)
    return (outside + (inside - outside) * t).astype(np.float32)


def angle_degrees(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    cos = abs(a @ b) / np.linalg.norm(a) / np.linalg.norm(b)
    return math.degrees(math.acos(min(1.0, cos)))


# --------------------------------------------------------------------------- tobogganing

OFFSETS = [d for d in itertools.product((-1, 0, 1), repeat=3) if d != (0, 0, 0)]


def brute_force_toboggan(image, mask):
    """The documented tobogganing rules, one voxel at a time (no vectorisation)."""
    shape = image.shape
    voxels = [tuple(v) for v in np.argwhere(mask)]          # raster (flat index) order
    inside = set(voxels)

    def neighbours(v):
        for d in OFFSETS:
            w = (v[0] + d[0], v[1] + d[1], v[2] + d[2])
            if w in inside:
                yield w

    def flat(v):
        return np.ravel_multi_index(v, shape)

    target = {}
    for v in voxels:
        darker = [w for w in neighbours(v) if image[w] < image[v]]
        if darker:
            target[v] = min(darker, key=lambda w: (image[w], flat(w)))
    # plateaus: breadth first from the voxels that drain
    while True:
        resolved = set(target)
        step = {}
        for v in voxels:
            if v in target:
                continue
            exits = [w for w in neighbours(v) if w in resolved and image[w] == image[v]]
            if exits:
                step[v] = min(exits, key=flat)
        if not step:
            break
        target.update(step)
    # plateaus without exit: flood fill, lowest index represents
    for v in voxels:
        if v in target:
            continue
        component, todo = {v}, [v]
        while todo:
            u = todo.pop()
            for w in neighbours(u):
                if w not in target and w not in component:
                    component.add(w)
                    todo.append(w)
        first = min(component, key=flat)
        for u in component:
            target[u] = first
    roots = {}
    for v in voxels:
        u = v
        while target[u] != u:
            u = target[u]
        roots[v] = u
    numbering = {r: i + 1 for i, r in enumerate(sorted(set(roots.values()), key=flat))}
    labels = np.zeros(shape, np.int32)
    for v, r in roots.items():
        labels[v] = numbering[r]
    return labels


@pytest.mark.parametrize("kind", ["random", "plateaus"])
def test_toboggan_matches_brute_force(kind):
    rng = np.random.default_rng(3)
    if kind == "random":                 # no ties
        image = rng.normal(size=(8, 8, 8))
    else:                                # many ties and flat plateaus, some without exit
        image = ndimage.zoom(rng.integers(0, 4, size=(3, 3, 3)), 3, order=0)[:8, :8, :8]
        image = image.astype(np.int16)
    mask = rng.random((8, 8, 8)) < 0.85
    labels, minima = C.toboggan(image, mask)
    expected = brute_force_toboggan(image, mask)
    np.testing.assert_array_equal(labels, expected)
    assert len(minima) == expected.max()
    # each minimum is the darkest voxel of its cluster
    for k, m in enumerate(minima, start=1):
        assert labels[tuple(m)] == k
        assert image[tuple(m)] == image[labels == k].min()


def test_toboggan_flat_background_drains_into_the_blobs():
    """A constant bright background (one big plateau) slides into the dark blobs only."""
    shape, spacing = (24, 40, 40), (1.0, 1.0, 1.0)
    centres = [(12, 10, 10), (12, 28, 14), (8, 20, 30)]
    ct = np.full(shape, 300.0, np.float32)
    for c in centres:
        ct[ball_volume(shape, spacing, c, 3.0, inside=1, outside=0) > 0] = 50.0
    smooth = ndimage.gaussian_filter(ct, 1.0, truncate=3.0)
    labels, minima = C.toboggan(smooth)
    assert len(minima) == len(centres)
    assert labels.min() == 1
    found = sorted(map(tuple, minima.tolist()))
    assert found == sorted(centres)


# --------------------------------------------------------------------------- candidates


def planted_volume(seed=0):
    """A bright artery along x in lung, with three dark clots inside, blur and noise."""
    shape, spacing = (40, 40, 64), (1.0, 0.8, 0.8)
    ct = tube_volume(shape, spacing, (0, 0, 1), radius=6.0, centre=(20.0, 16.0, 25.6))
    clots = np.zeros(shape, np.int32)
    centres = [(20.0, 16.0, 9.6), (21.0, 15.0, 25.6), (19.0, 17.0, 41.6)]
    for k, c in enumerate(centres, start=1):
        clots[ball_volume(shape, spacing, c, 2.5 + 0.5 * k, inside=1, outside=0) > 0] = k
    ct[clots > 0] = 50.0
    rng = np.random.default_rng(seed)
    ct = ndimage.gaussian_filter(ct, 0.5) + rng.normal(0, 15, shape).astype(np.float32)
    return np.rint(ct).astype(np.int16), spacing, clots, np.array(centres)


def test_candidates_find_each_planted_clot_once_near_its_centre():
    ct, spacing, clots, centres = planted_volume()
    hits = C.candidate_hits(C.detect_candidates(ct, spacing), clots)
    assert set(hits[:3].tolist()) == {1, 2, 3}          # the clots rank first (noise minima
    assert not hits[3:].any() or set(hits[3:]) <= {0, 1, 2, 3}   # may split big ones)
    # candidates closer than merge_distance_mm to a better one go: one per clot
    found = C.detect_candidates(ct, spacing, merge_distance_mm=8.0)
    hits = C.candidate_hits(found, clots)
    assert sorted(hits[hits > 0].tolist()) == [1, 2, 3]
    assert set(hits[:3].tolist()) == {1, 2, 3}
    for i in np.flatnonzero(hits):
        error = np.linalg.norm(found.centres_mm[i] - centres[hits[i] - 1])
        assert error < 1.5, (hits[i], error)
        assert np.all(found.min_hu[i] <= found.mean_hu[i])
        assert 0 <= found.min_hu[i] <= 150
    # voxels of a candidate lie in its clot
    for i in np.flatnonzero(hits):
        voxels = C.candidate_voxels(found, i)
        assert np.mean(clots[tuple(voxels.T)] == hits[i]) > 0.8
    painted = C.label_volume(found)
    assert painted.max() == len(found.scores) and (painted > 0).sum() == len(found.voxels)
    result = C.evaluate_candidates([(found, clots)], limits=(3,))
    assert result["sensitivity"] == 1.0 and result[3]["sensitivity"] == 1.0
    assert result["candidates_per_volume"] == len(found.scores)
    assert C.evaluate_candidates([(found, np.zeros_like(clots))])["emboli"] == 0


def test_candidates_ignore_a_clean_artery_and_respect_the_lung_region():
    ct, spacing, clots, _ = planted_volume()
    clean = np.where(clots > 0, np.int16(300), ct)
    clean = np.rint(ndimage.gaussian_filter(clean.astype(np.float32), 0.5)).astype(np.int16)
    assert len(C.detect_candidates(clean, spacing).scores) == 0
    lungs = np.zeros(ct.shape, bool)
    lungs[:, :, 40:] = True           # only the third clot's end of the artery
    found = C.detect_candidates(ct, spacing, lung_mask=lungs, margin_mm=2.0,
                                mediastinum=False)
    assert set(C.candidate_hits(found, clots).tolist()) == {3}
    volume = V.Volume(ct, spacing)
    again = C.detect_candidates(volume, lung_mask=lungs, margin_mm=2.0, mediastinum=False)
    np.testing.assert_array_equal(again.centres, found.centres)


def test_candidate_hits_rules():
    ct, spacing, clots, _ = planted_volume()
    found = C.detect_candidates(ct, spacing, max_candidates=3)
    by_centre = C.candidate_hits(found, clots > 0, by="centre")
    assert sorted(by_centre.tolist()) == [1, 2, 3]        # a binary mask is labelled
    moved = found._replace(centres=found.centres + [0, 0, 15])   # centres off the clots
    assert not C.candidate_hits(moved, clots, by="centre").any()
    assert sorted(C.candidate_hits(moved, clots).tolist()) == [1, 2, 3]   # via voxels
    with pytest.raises(ValueError, match="shape"):
        C.candidate_hits(found, clots[:-1])
    with pytest.raises(ValueError, match="by must"):
        C.candidate_hits(found, clots, by="overlap")


def test_candidate_options_are_validated():
    ct, spacing, _, _ = planted_volume()
    with pytest.raises(ValueError, match="spacing"):
        C.detect_candidates(ct)
    with pytest.raises(ValueError, match="window_hu"):
        C.detect_candidates(ct, spacing, window_hu=(450, -100))
    with pytest.raises(ValueError, match="contrast_hu"):
        C.detect_candidates(ct, spacing, contrast_hu=100)
    with pytest.raises(ValueError, match="lung_mask has shape"):
        C.detect_candidates(ct, spacing, lung_mask=np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="min_enclosure"):
        C.detect_candidates(ct, spacing, min_enclosure=2)
    with pytest.raises(TypeError):                    # options are keyword-only
        C.detect_candidates(ct, spacing, None, 5.0)
    with pytest.raises(ValueError, match="empty"):
        C.lung_roi(np.zeros((4, 4, 4)), spacing)


def test_lung_roi_adds_the_mediastinum_between_the_lungs():
    lungs = np.zeros((4, 20, 30), bool)
    lungs[:, 5:15, 2:8] = True
    lungs[:, 5:15, 22:28] = True
    roi = C.lung_roi(lungs, (1.0, 1.0, 1.0), margin_mm=0)
    assert roi[:, 5:15, 2:28].all() and not roi[:, :5].any() and not roi[:, :, 28:].any()
    grown = C.lung_roi(lungs, (1.0, 1.0, 1.0), margin_mm=2.0, mediastinum=False)
    assert grown[:, 3:17, 0:10].all() and not grown[:, :, 12:20].any()


# --------------------------------------------------------------------------- vessel axis


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.7, 0.7)])
def test_vessel_axis_recovers_oblique_tubes(spacing):
    shape = tuple(int(round(48 / s)) for s in spacing)
    centre = np.asarray(shape) * np.asarray(spacing) / 2
    for axis in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 2, 3), (-2, 1, 0.5)]:
        ct = tube_volume(shape, spacing, axis, radius=2.5, ramp=1.0)
        estimate = P.vessel_axis(ct, spacing, centre + 0.4)
        assert abs(np.linalg.norm(estimate) - 1) < 1e-9
        assert angle_degrees(estimate, axis) < 4.0, (axis, estimate)


def test_vessel_axis_ignores_a_neighbour_and_falls_back():
    spacing = (1.0, 1.0, 1.0)
    shape = (40, 40, 40)
    ct = tube_volume(shape, spacing, (1, 1, 0), radius=2.0, centre=(20, 20, 20))
    # a vessel crossing 5.5 mm away (1.5 mm gap), perpendicular, partly inside the sphere
    other = tube_volume(shape, spacing, (1, -1, 0), radius=2.0, centre=(20, 20, 25.5))
    both = np.maximum(ct, other)
    mixed = P.vessel_axis(both, spacing, (20, 20, 20), radius_mm=8.0)
    assert angle_degrees(mixed, (1, 1, 0)) < 4.0
    empty = np.full(shape, -850.0, np.float32)
    assert P.vessel_axis(empty, spacing, (20, 20, 20)).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="centre_mm"):
        P.vessel_axis(ct, spacing, (1, 2))


def test_vessel_axis_counts_the_clot_as_vessel():
    """A clot filling the lumen (an occlusion) is dark: its voxels are passed in."""
    spacing = (1.0, 1.0, 1.0)
    ct = tube_volume((40, 40, 40), spacing, (0, 1, 1), radius=3.0, centre=(20, 20, 20))
    clot = ball_volume((40, 40, 40), spacing, (20, 20, 20), 6.0, inside=1, outside=0) > 0
    clot &= ct > 0
    ct[clot] = 50.0
    axis = P.vessel_axis(ct, spacing, (20, 20, 20), candidate_voxels=np.argwhere(clot))
    assert angle_degrees(axis, (0, 1, 1)) < 4.0


# --------------------------------------------------------------------------- patches


def test_longitudinal_plane_contains_the_tube_and_the_cross_section_shows_a_disc():
    spacing = (2.0, 0.7, 0.8)
    shape = tuple(int(round(44 / s)) for s in spacing)
    axis = np.array([1.0, 2.0, -1.5])
    centre = np.asarray(shape) * np.asarray(spacing) / 2
    radius = 2.5
    ct = tube_volume(shape, spacing, axis, radius=radius, centre=centre, ramp=2.0)
    out, size = 101, 20.0
    two = P.vessel_aligned_patches(ct, spacing, centre, axis, sizes_mm=(size,),
                                   translations=(-0.2, 0, 0.2), rotations=6, out=out,
                                   window_hu=(-850, 300))
    assert two.shape == (18, out, out, 2) and two.dtype == np.float32
    assert two.min() >= 0 and two.max() <= 255
    half_width = radius / size * out                       # 12.6 pixels
    offsets = np.abs(np.arange(out) - (out - 1) / 2)
    for patch in two:
        cross, longitudinal = patch[..., 0] > 127.5, patch[..., 1] > 127.5
        # channel 1: a vertical band (rows run along the axis) through the centre
        band = longitudinal.mean(axis=0)                    # per column, over rows
        assert np.all(band[offsets < half_width - 2] > 0.98)
        assert np.all(band[offsets > half_width + 2] < 0.02)
        # channel 0: a centred disc of the tube's radius
        rr, cc = np.meshgrid(offsets, offsets, indexing="ij")
        rho = np.hypot(rr, cc)
        assert cross[rho < half_width - 2].all() and not cross[rho > half_width + 2].any()
    # the standard representation of the same tube shows no such band in its planes
    three = P.standard_patches(ct, spacing, centre, sizes_mm=(size,), translations=(0,),
                               rotations=1, out=out, window_hu=(-850, 300))
    assert three.shape == (1, out, out, 3)
    assert not np.allclose(three[0, ..., 1], two[0, ..., 1])


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.7, 0.7), (0.6, 1.3, 0.9)])
def test_patch_size_is_physical_whatever_the_spacing(spacing):
    shape = tuple(int(round(36 / s)) for s in spacing)
    centre = np.asarray(shape) * np.asarray(spacing) / 2 + 0.3
    ct = ball_volume(shape, spacing, centre, 5.0, ramp=5.0)
    out, size = 100, 20.0
    expected = 2 * 5.0 / size * out                            # 50 pixels across
    sets = [P.vessel_aligned_patches(ct, spacing, centre, (1, 2, 2), sizes_mm=(size,),
                                     translations=(0,), rotations=3, out=out,
                                     window_hu=(-850, 300)),
            P.standard_patches(ct, spacing, centre, sizes_mm=(size,), translations=(0,),
                               rotations=3, out=out, window_hu=(-850, 300))]
    for patches in sets:
        for patch in patches:
            for c in range(patch.shape[-1]):
                inside = patch[..., c] > 127.5
                across = inside[out // 2].sum(), inside[:, out // 2].sum()
                assert abs(across[0] - expected) <= 2 and abs(across[1] - expected) <= 2, \
                    (c, across)


def test_translations_move_along_the_axis_and_sizes_scale():
    spacing = (1.0, 1.0, 1.0)
    ct = np.full((40, 40, 40), -850.0, np.float32)
    ct[20:, :, :] = 300.0                       # a step along z at 19.5 mm
    axis = (1, 0, 0)
    patches = P.vessel_aligned_patches(ct, spacing, (19.5, 20, 20), axis, sizes_mm=(10, 20),
                                       translations=(-0.2, 0.2), rotations=1, out=40,
                                       window_hu=(-850, 300))
    params = P.patch_parameters(sizes_mm=(10, 20), translations=(-0.2, 0.2), rotations=1)
    assert params.tolist() == [[10, -0.2, 0], [10, 0.2, 0], [20, -0.2, 0], [20, 0.2, 0]]
    for patch, (size, shift, _) in zip(patches, params):
        cross, longitudinal = patch[..., 0], patch[..., 1]
        assert (cross.mean() > 127.5) == (shift > 0)          # the plane moved past 19.5
        rows = (longitudinal[:, 20] > 127.5)
        edge = np.argmax(rows)                                 # first bright row
        expected = (0.5 - shift) * 40                          # step at -shift*size
        assert abs(edge - expected) <= 1, (size, shift, edge)


def test_one_map_coordinates_call_per_candidate_on_a_small_box(monkeypatch):
    calls = []
    original = ndimage.map_coordinates

    def spy(volume, coordinates, **kwargs):
        calls.append((volume.shape, coordinates.shape))
        return original(volume, coordinates, **kwargs)

    monkeypatch.setattr(P.ndimage, "map_coordinates", spy)
    ct = np.zeros((120, 200, 200), np.int16)
    patches = P.vessel_aligned_patches(ct, (1.0, 0.7, 0.7), (60, 70, 70), (0, 1, 0))
    assert patches.shape == (54, 227, 227, 2)
    assert len(calls) == 1
    box, coordinates = calls[0]
    assert coordinates == (3, 54 * 227 * 227 * 2)
    assert np.prod(box) < 0.1 * ct.size


def test_candidate_patches_batches_and_indices():
    ct, spacing, clots, centres = planted_volume()
    found = C.detect_candidates(ct, spacing, max_candidates=3)
    options = dict(sizes_mm=(10, 20), translations=(0,), rotations=2, out=32)
    batches = list(P.candidate_patches(ct, spacing, found, batch_size=9, **options))
    assert [len(index) for _, index in batches] == [8, 4]   # whole candidates, 4 patches
    patches = np.concatenate([p for p, _ in batches])
    index = np.concatenate([i for _, i in batches])
    assert patches.shape == (12, 32, 32, 3) and index.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    np.testing.assert_array_equal(patches[..., 2], patches[..., 1])
    axis = P.vessel_axis(ct, spacing, found.centres_mm[1],
                         candidate_voxels=C.candidate_voxels(found, 1))
    alone = P.vessel_aligned_patches(ct, spacing, found.centres_mm[1], axis, **options)
    np.testing.assert_array_equal(patches[4:8], P.to_three_channels(alone))
    # the artery runs along x: the axes found are close to it
    assert angle_degrees(axis, (0, 0, 1)) < 10
    standard = list(P.candidate_patches(ct, spacing, found.centres_mm,
                                        representation="standard", **options))
    assert standard[0][0].shape == (12, 32, 32, 3)
    two = next(P.candidate_patches(ct, spacing, found, three_channels=False, **options))[0]
    assert two.shape[-1] == 2
    with pytest.raises(ValueError, match="representation"):
        next(P.candidate_patches(ct, spacing, found, representation="axial"))
    with pytest.raises(ValueError, match="axis"):
        P.vessel_aligned_patches(ct, spacing, centres[0], (0, 0, 0))
    with pytest.raises(ValueError, match="window_hu"):
        P.standard_patches(ct, spacing, centres[0], window_hu=(5, 5))
    with pytest.raises(ValueError, match="2\\)"):
        P.to_three_channels(np.zeros((4, 4, 3)))


# --------------------------------------------------------------------------- volumes


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_nifti_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(0)
    spacing = (2.5, 0.7, 0.8)
    array = rng.integers(-1024, 2000, size=(5, 6, 7)).astype(dtype)
    volume = V.Volume(array, spacing, oblique_affine(spacing))
    V.write_nifti(volume, tmp_path / "ct.nii.gz")
    back = V.read_volume(tmp_path / "ct.nii.gz")
    assert back.array.dtype == dtype and back.array.flags.c_contiguous
    np.testing.assert_array_equal(back.array, array)
    assert back.spacing == spacing
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-4)
    # (i, j, k) on disk is (x, y, z): nibabel sees the transposed array
    on_disk = np.asanyarray(nib.load(str(tmp_path / "ct.nii.gz")).dataobj)
    assert on_disk.shape == (7, 6, 5) and on_disk[6, 5, 4] == array[4, 5, 6]
    # scanner coordinates of voxel (z, y, x) through the affine
    point = V.voxel_to_scanner(volume, [4, 5, 6])
    np.testing.assert_allclose(point, volume.affine[:3] @ [6, 5, 4, 1])
    np.testing.assert_allclose(V.scanner_to_voxel(volume.affine, point), [4, 5, 6])


def test_nifti_rescaling_gives_hounsfield_units(tmp_path):
    raw = np.arange(24, dtype=np.int16).reshape(4, 3, 2)         # stored (x, y, z)
    image = nib.Nifti1Image(raw, np.diag([0.5, 0.6, 2.0, 1.0]))
    image.header.set_slope_inter(2.0, -1024.0)
    nib.save(image, str(tmp_path / "scaled.nii"))
    back = V.read_volume(tmp_path / "scaled.nii")
    assert back.spacing == (2.0, 0.6, 0.5)
    np.testing.assert_allclose(back.array, raw.transpose(2, 1, 0) * 2.0 - 1024.0)
    image.header.set_slope_inter(1.0, -1024.0)                  # integral: stays int16
    nib.save(image, str(tmp_path / "shifted.nii"))
    shifted = V.read_volume(tmp_path / "shifted.nii").array
    assert shifted.dtype == np.int16 and shifted[0, 0, 0] == -1024


def test_dicom_round_trip_in_shuffled_order(tmp_path):
    rng = np.random.default_rng(1)
    spacing = (2.5, 0.7, 0.8)
    array = rng.integers(-1024, 2500, size=(6, 5, 4)).astype(np.int16)
    volume = V.Volume(array, spacing, oblique_affine(spacing, degrees=25.0))
    paths = V.write_dicom_series(volume, tmp_path / "written", series_description="test")
    assert len(paths) == 6
    ds = pydicom.dcmread(paths[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds.Modality == "CT"
    assert float(ds.RescaleIntercept) == -1024 and ds.PixelRepresentation == 1
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    names = [f"IM{n:03d}" for n in random.Random(0).sample(range(100), len(paths))]
    for path, name in zip(paths, names):
        path.rename(shuffled / name)                   # names no longer follow the order
    (shuffled / "notes.txt").write_text("not DICOM")
    back = V.read_volume(shuffled)
    assert back.array.dtype == np.int16
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.spacing, spacing, rtol=1e-6)
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-4)
    # a single file of the series reads the whole series
    one = V.read_volume(shuffled / names[3])
    np.testing.assert_array_equal(one.array, array)
    # float HU are rounded to whole HU
    floats = V.Volume(array.astype(np.float32) + 0.3, spacing, volume.affine)
    V.write_dicom_series(floats, tmp_path / "floats")
    np.testing.assert_array_equal(V.read_volume(tmp_path / "floats").array, array)


def test_dicom_and_nifti_of_one_scan_agree(tmp_path):
    spacing = (1.0, 0.75, 0.75)
    affine = np.diag([-0.75, -0.75, 1.0, 1.0])       # an LPS grid, as CAD-PE's
    affine[:3, 3] = (190.0, 360.0, -300.0)
    volume = V.Volume(np.arange(60, dtype=np.int16).reshape(3, 4, 5), spacing, affine)
    V.write_nifti(volume, tmp_path / "a.nii.gz")
    V.write_dicom_series(volume, tmp_path / "dicom")
    a, b = V.read_volume(tmp_path / "a.nii.gz"), V.read_volume(tmp_path / "dicom")
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-4)
    ds = pydicom.dcmread(sorted((tmp_path / "dicom").iterdir())[0])
    # DICOM positions are LPS: the RAS x of the first voxel is -190
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], [-190, -360, -300])


def test_dicom_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="no DICOM"):
        (tmp_path / "empty").mkdir()
        V.read_volume(tmp_path / "empty")
    volume = V.Volume(np.zeros((4, 3, 3), np.int16), (2.0, 1.0, 1.0))
    mixed = tmp_path / "mixed"
    first = V.write_dicom_series(volume, mixed / "a", series_description="lung")
    V.write_dicom_series(volume, mixed / "b", series_description="soft")
    uid = str(pydicom.dcmread(first[0]).SeriesInstanceUID)
    with pytest.raises(ValueError, match="2 series.*series_uid") as error:
        V.read_volume(mixed)
    assert uid in str(error.value) and "'soft'" in str(error.value)
    assert V.read_volume(mixed, series_uid=uid).shape == (4, 3, 3)
    with pytest.raises(ValueError, match="no series"):
        V.read_volume(mixed, series_uid="1.2.3")
    # a missing slice: non-uniform spacing
    gap = tmp_path / "gap"
    paths = V.write_dicom_series(volume, gap)
    paths[1].unlink()
    with pytest.raises(ValueError, match="non-uniform slice spacing"):
        V.read_volume(gap)
    # a slice without its position
    lost = tmp_path / "lost"
    paths = V.write_dicom_series(volume, lost)
    ds = pydicom.dcmread(paths[2])
    del ds.ImagePositionPatient
    ds.save_as(paths[2])
    with pytest.raises(ValueError, match="ImagePositionPatient"):
        V.read_volume(lost)
    with pytest.raises(ValueError, match="not empty"):
        V.write_dicom_series(volume, lost)
    with pytest.raises(ValueError, match="neither NIfTI"):
        (tmp_path / "x.txt").write_text("hello")
        V.read_volume(tmp_path / "x.txt")


def test_read_mask_checks_the_grid(tmp_path):
    spacing = (2.0, 0.7, 0.7)
    ct = V.Volume(np.zeros((4, 5, 6), np.int16), spacing, oblique_affine(spacing))
    mask = np.zeros((4, 5, 6), np.uint8)
    mask[1:3, 2:4, 2:5] = 1
    V.write_nifti(V.Volume(mask, spacing, ct.affine), tmp_path / "ok.nii.gz")
    read = V.read_mask(tmp_path / "ok.nii.gz", like=ct)
    assert read.dtype == np.uint8 and np.array_equal(read, mask)
    V.write_nifti(V.Volume(mask[:, :, :5], spacing, ct.affine), tmp_path / "shape.nii.gz")
    with pytest.raises(ValueError, match="mask shape"):
        V.read_mask(tmp_path / "shape.nii.gz", like=ct)
    other = (2.0, 0.8, 0.7)
    V.write_nifti(V.Volume(mask, other, oblique_affine(other)), tmp_path / "spacing.nii.gz")
    with pytest.raises(ValueError, match="spacing"):
        V.read_mask(tmp_path / "spacing.nii.gz", like=ct)
    flipped = ct.affine @ np.diag([-1.0, 1.0, 1.0, 1.0])
    V.write_nifti(V.Volume(mask, spacing, flipped), tmp_path / "flipped.nii.gz")
    with pytest.raises(ValueError, match="affine"):
        V.read_mask(tmp_path / "flipped.nii.gz", like=ct)
    V.write_nifti(V.Volume(mask.astype(np.float32) * 0.5, spacing, ct.affine),
                  tmp_path / "fraction.nii.gz")
    with pytest.raises(ValueError, match="whole numbers"):
        V.read_mask(tmp_path / "fraction.nii.gz", like=ct)
    with pytest.raises(ValueError, match="like"):
        V.read_mask(tmp_path / "ok.nii.gz", like=np.zeros((4, 5, 6)))


def test_volume_validation():
    with pytest.raises(ValueError, match="3-D"):
        V.Volume(np.zeros((4, 4)), (1, 1, 1))
    with pytest.raises(ValueError, match="spacing"):
        V.Volume(np.zeros((2, 2, 2)), (1, 0, 1))
    with pytest.raises(ValueError, match="singular"):
        V.Volume(np.zeros((2, 2, 2)), (1, 1, 1), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="conflicts"):
        V.as_array_and_spacing(V.Volume(np.zeros((2, 2, 2)), (1, 1, 1)), (2, 2, 2))
