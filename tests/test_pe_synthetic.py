"""Synthetic CTPA (apps.pe.synthetic): the tubes phantom, the generator on anatomy, files.

The ``shared`` tests read the development copies of the CAD-PE vessel labels and FUMPE
embolus masks (skipped without them); the full-size case and the whole embolus bank are
``slow``.
"""

import json
import time

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from apps.pe import synthetic as syn
from apps.pe.synthetic import (ARTERY_LABEL, VEIN_LABEL, Embolus, EmbolusShape, SyntheticCT,
                               case_seed, crop_to_lungs, ctpa_case, embolus_shapes,
                               generate_folder, list_cases, resample_labels, synthesize_ctpa,
                               synthetic_tubes_volume, write_case)

SEEDS = range(5)


@pytest.fixture(scope="module")
def tubes():
    return [synthetic_tubes_volume(seed=seed, n_emboli=3) for seed in SEEDS]


def _principal_axis(mask, spacing):
    points = np.argwhere(mask) * np.asarray(spacing)
    values, vectors = np.linalg.eigh(np.cov(points, rowvar=False))
    return vectors[:, -1], values[-1] / max(values[-2], 1e-9)


def _angle(u, v):
    return np.degrees(np.arccos(min(1.0, abs(float(np.dot(u, v))))))


def _regions(case):
    vessels = ndimage.binary_dilation(case.artery_mask | case.vein_mask, iterations=2)
    emboli = ndimage.binary_dilation(case.emboli > 0, iterations=2)
    return {
        "lung": case.lung_mask & ~vessels,
        "artery": ndimage.binary_erosion(case.artery_mask, iterations=2) & ~emboli,
        "vein": ndimage.binary_erosion(case.vein_mask, iterations=1),
    }


# -- the tubes phantom --------------------------------------------------------------------


def test_tubes_types_shapes_and_speed():
    synthetic_tubes_volume(seed=0)   # warm up
    start = time.perf_counter()
    case = synthetic_tubes_volume(seed=7)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, elapsed   # about 0.1 s on an idle core
    assert isinstance(case, SyntheticCT)
    assert case.ct.shape == (64, 96, 96) and case.ct.dtype == np.int16
    assert case.spacing == (1.0, 0.8, 0.8) and case.seed == 7
    for mask in (case.lung_mask, case.artery_mask, case.vein_mask, case.body_mask):
        assert mask.shape == case.ct.shape and mask.dtype == bool
    assert case.emboli.dtype == np.int32 and len(case.emboli_info) == 2
    assert all(isinstance(e, Embolus) for e in case.emboli_info)
    assert not (case.artery_mask & case.vein_mask).any()
    assert case.lung_mask.mean() > 0.2 and (~case.body_mask).any()   # air in the corners
    assert -1024 <= case.ct.min() and case.ct.max() <= 3071
    small = synthetic_tubes_volume(shape=(32, 40, 48), spacing=(1.5, 1.2, 1.2), seed=1,
                                   n_emboli=0)
    assert small.ct.shape == (32, 40, 48) and not small.emboli.any() and not small.emboli_info


def test_tubes_hu_by_region(tubes):
    for case in tubes:
        p, ct = case.params, case.ct.astype(np.float64)
        regions = _regions(case)
        assert -900 < ct[regions["lung"]].mean() < -800
        assert 250 <= p["artery_hu"] <= 400 and 100 <= p["vein_hu"] <= 200
        artery = ct[regions["artery"]].mean()   # the level varies by +-6 % (1 SD), smoothly
        assert abs(artery - p["artery_hu"]) < 0.15 * p["artery_hu"], (artery, p["artery_hu"])
        vein = ct[regions["vein"]].mean()
        assert abs(vein - p["vein_hu"]) < 0.25 * p["vein_hu"], (vein, p["vein_hu"])
        assert ct[~ndimage.binary_dilation(case.body_mask, iterations=3)].mean() < -980


def test_tubes_emboli_hu(tubes):
    measured = 0
    for case in tubes:
        ct = case.ct.astype(np.float64)
        for e in case.emboli_info:
            assert 20 <= e.hu <= 80
            interior = ndimage.binary_erosion(case.emboli == e.id)
            if interior.sum() >= 20:   # away from the blurred contrast around it
                assert abs(ct[interior].mean() - e.hu) < 25, (e, ct[interior].mean())
                measured += 1
    assert measured >= 5


def test_tubes_noise_level_and_correlation():
    case = synthetic_tubes_volume(seed=4)
    clean = synthetic_tubes_volume(seed=4, noise_sd=0)
    assert np.array_equal(case.emboli, clean.emboli) and case.params["noise_sd"] > 0
    assert clean.params["noise_sd"] == 0
    sd = case.params["noise_sd"]
    assert 15 <= sd <= 30
    # Flat regions: 5x5x5 soft-tissue blocks where the noise-free volume is flat.
    soft = ndimage.binary_erosion(case.body_mask & ~case.lung_mask, iterations=3)
    clean_ct, ct = clean.ct.astype(np.float64), case.ct.astype(np.float64)
    local = []
    for z in range(0, ct.shape[0] - 5, 5):
        for y in range(0, ct.shape[1] - 5, 5):
            for x in range(0, ct.shape[2] - 5, 5):
                block = (slice(z, z + 5), slice(y, y + 5), slice(x, x + 5))
                if soft[block].all() and clean_ct[block].std() < 3:
                    local.append(ct[block].std(ddof=1))
    assert len(local) >= 20
    measured = float(np.sqrt(np.mean(np.square(local))))
    assert 15 <= measured <= 31 and abs(measured - sd) < 0.12 * sd, (measured, sd)
    # The noise itself: the requested SD, correlated in-plane, not across slices.
    noise = (ct - clean_ct)[soft]
    assert abs(noise.std() - sd) < 0.05 * sd
    diff = ct - clean_ct
    inside = soft[:-1, :-1, :-1] & soft[1:, :-1, :-1] & soft[:-1, 1:, :-1]
    a = diff[:-1, :-1, :-1][inside]
    along_y = np.corrcoef(a, diff[:-1, 1:, :-1][inside])[0, 1]
    along_z = np.corrcoef(a, diff[1:, :-1, :-1][inside])[0, 1]
    assert 0.1 < along_y < 0.7 and abs(along_z) < 0.1, (along_y, along_z)


def test_tubes_emboli_inside_arteries_and_labelled(tubes):
    for case in tubes:
        ids = [e.id for e in case.emboli_info]
        assert ids == list(range(1, len(ids) + 1)) and len(ids) == 3
        assert sorted(np.unique(case.emboli).tolist()) == [0] + ids
        assert case.artery_mask[case.emboli > 0].all()
        assert not case.vein_mask[case.emboli > 0].any()
        for e in case.emboli_info:
            mask = case.emboli == e.id
            assert e.n_voxels == int(mask.sum())
            assert e.volume_mm3 == pytest.approx(mask.sum() * np.prod(case.spacing), rel=1e-3)
            labels, n = ndimage.label(mask, np.ones((3, 3, 3)))
            assert n == 1


def test_tubes_emboli_along_the_vessel_axis(tubes):
    angles = []
    for case in tubes:
        for e in case.emboli_info:
            mask = case.emboli == e.id
            if mask.sum() < 30:
                continue
            axis, elongation = _principal_axis(mask, case.spacing)
            assert elongation > 1.5, e
            angles.append(_angle(axis, e.vessel_axis))
    assert len(angles) >= 8
    assert max(angles) < 15, angles


def test_tubes_reproducible_and_seeds_differ():
    a, b = synthetic_tubes_volume(seed=11), synthetic_tubes_volume(seed=11)
    for field in ("ct", "emboli", "artery_mask", "vein_mask", "lung_mask", "body_mask"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.emboli_info == b.emboli_info and a.params == b.params
    c = synthetic_tubes_volume(seed=12)
    assert not np.array_equal(a.artery_mask, c.artery_mask)
    assert np.abs(a.ct.astype(int) - c.ct.astype(int)).mean() > 10


def test_tubes_overrides_and_validation():
    case = synthetic_tubes_volume(seed=2, artery_hu=300, vein_hu=(150, 150), embolus_hu=50,
                                  n_emboli=(2, 2))
    assert case.params["artery_hu"] == 300 and case.params["vein_hu"] == 150
    assert all(e.hu == 50 for e in case.emboli_info) and len(case.emboli_info) == 2
    for bad in ({"shape": (10, 96, 96)}, {"shape": (64, 96)}, {"spacing": (1, 0, 1)},
                {"seed": -1}, {"n_emboli": -1}, {"n_emboli": (3, 1)}, {"artery_hu": (400, 300)},
                {"noise_sd": "high"}):
        with pytest.raises(ValueError):
            synthetic_tubes_volume(**bad)


# -- the generator on (synthetic) anatomy -------------------------------------------------


def _labels(case):
    labels = np.zeros(case.ct.shape, np.uint8)
    labels[case.artery_mask] = ARTERY_LABEL
    labels[case.vein_mask] = VEIN_LABEL
    return labels


@pytest.fixture(scope="module")
def anatomy():
    """Vessel labels and lungs of a larger tubes phantom, standing in for a CAD-PE case."""
    case = synthetic_tubes_volume(shape=(72, 112, 112), spacing=(1.0, 0.7, 0.7), seed=21,
                                  n_emboli=0)
    return _labels(case), case.lung_mask, case.spacing


def test_synthesize_on_anatomy(anatomy):
    labels, lungs, spacing = anatomy
    case = synthesize_ctpa(labels, lungs, spacing, n_emboli=4, seed=5, bone=False,
                           body_margin_mm=10)
    assert case.ct.shape == labels.shape and case.ct.dtype == np.int16
    assert np.array_equal(case.artery_mask, labels == ARTERY_LABEL)
    assert len(case.emboli_info) == 4 and case.emboli.max() == 4
    assert case.artery_mask[case.emboli > 0].all()
    for e in case.emboli_info:
        mask = case.emboli == e.id
        assert mask[e.centre_voxel] or ndimage.binary_dilation(mask, iterations=3)[e.centre_voxel]
        assert e.source == "ellipsoid" and e.kind in ("central", "eccentric", "occlusive")
        assert e.level in ("main", "lobar", "segmental", "subsegmental")
        if mask.sum() >= 30:
            axis, elongation = _principal_axis(mask, spacing)
            if elongation > 2:
                assert _angle(axis, e.vessel_axis) < 25, e
    again = synthesize_ctpa(labels, lungs, spacing, n_emboli=4, seed=5, bone=False,
                            body_margin_mm=10)
    assert np.array_equal(case.ct, again.ct) and case.emboli_info == again.emboli_info
    none = synthesize_ctpa(labels, lungs, spacing, n_emboli=0, seed=5)
    assert not none.emboli.any() and none.emboli_info == []


def test_synthesize_validation(anatomy):
    labels, lungs, spacing = anatomy
    with pytest.raises(ValueError, match="shape"):
        synthesize_ctpa(labels, lungs[:-1], spacing)
    with pytest.raises(ValueError, match="spacing"):
        synthesize_ctpa(labels, lungs, (1, 1))
    with pytest.raises(ValueError, match="empty"):
        synthesize_ctpa(labels, np.zeros_like(lungs), spacing)
    with pytest.raises(ValueError, match="artery"):
        synthesize_ctpa(np.where(labels == ARTERY_LABEL, 0, labels), lungs, spacing, n_emboli=1)
    with pytest.raises(ValueError, match="differ"):
        synthesize_ctpa(labels, lungs, spacing, artery_label=2)
    with pytest.raises(ValueError, match="integer"):
        synthesize_ctpa(labels.astype(float), lungs, spacing)


def test_crop_and_resample_helpers():
    lungs = np.zeros((20, 30, 30), bool)
    lungs[5:15, 10:20, 8:22] = True
    box = crop_to_lungs(lungs, (2.0, 1.0, 1.0), margin_mm=4)
    assert box == (slice(3, 17), slice(6, 24), slice(4, 26))
    labels = np.zeros((20, 30, 30), np.uint8)
    labels[:, 10:20, 10:20] = 1
    out, spacing = resample_labels(labels, (1.0, 0.5, 0.5), 1.0)
    assert out.shape == (20, 15, 15) and spacing == (1.0, 1.0, 1.0)
    assert out.sum() == 20 * 5 * 5
    with pytest.raises(ValueError):
        crop_to_lungs(np.zeros((4, 4, 4)), (1, 1, 1))


# -- embolus shapes and files -------------------------------------------------------------


def _save(array_zyx, path, spacing, offset=(10.0, -20.0, 30.0)):
    affine = np.diag([-spacing[2], -spacing[1], spacing[0], 1.0])
    affine[:3, 3] = offset
    nib.save(nib.Nifti1Image(np.asarray(array_zyx).transpose(2, 1, 0), affine), str(path))
    return affine


def test_embolus_shapes_components_and_axes(tmp_path):
    mask = np.zeros((30, 40, 40), np.uint8)
    mask[5:25, 18:22, 18:21] = 1        # a rod along z: 20 x 4 x 3 voxels
    mask[2, 2, 2] = 1                   # a speck
    mask[10:14, 30:34, 30:34] = 1       # a small cube
    _save(mask, tmp_path / "PAT101.nii.gz", (1.0, 0.5, 0.5))
    _save(np.zeros((8, 8, 8), np.uint8), tmp_path / "PAT102.nii.gz", (1.0, 1.0, 1.0))
    shapes = embolus_shapes(tmp_path, min_volume_mm3=2.0)
    assert [(s.source, s.component) for s in shapes] == [("PAT101", 1), ("PAT101", 2)]
    rod, cube = shapes
    assert isinstance(rod, EmbolusShape) and rod.spacing == (1.0, 0.5, 0.5)
    assert rod.volume_mm3 == pytest.approx(20 * 4 * 3 * 0.25)
    assert rod.extent_mm == pytest.approx((20.0, 2.0, 1.5))
    assert _angle(rod.principal_axis, (1, 0, 0)) < 1
    assert rod.half_extent_mm[0] == pytest.approx(10.0, abs=0.6)
    assert rod.mask.sum() == 240 and not rod.mask[0].any()   # one empty voxel around
    assert cube.volume_mm3 == pytest.approx(16.0)
    assert len(embolus_shapes(tmp_path, min_volume_mm3=20)) == 1
    assert len(embolus_shapes(tmp_path, min_volume_mm3=2.0, patients=["PAT102", "PAT101"])) == 2
    with pytest.raises(ValueError, match="PAT999"):
        embolus_shapes(tmp_path, patients=["PAT999"])
    with pytest.raises(ValueError, match="does not exist"):
        embolus_shapes(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no embolus"):
        embolus_shapes(tmp_path, min_volume_mm3=1000)


def test_write_case_round_trip(tmp_path):
    case = synthetic_tubes_volume(seed=3)
    paths = write_case(case, tmp_path / "out", "tubes3")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["tubes3.json", "tubes3_ct.nii.gz", "tubes3_emboli.nii.gz", "tubes3_lungs.nii.gz",
         "tubes3_vessels.nii.gz"])
    for key, expected, dtype in (("ct", case.ct, np.int16), ("emboli", case.emboli, np.int32),
                                 ("lungs", case.lung_mask, np.uint8),
                                 ("vessels", _labels(case), np.uint8)):
        img = nib.load(str(paths[key]))
        assert img.get_data_dtype() == dtype
        data = np.asarray(img.dataobj).transpose(2, 1, 0)
        assert np.array_equal(data, expected.astype(dtype)), key
        assert tuple(float(z) for z in img.header.get_zooms()[::-1]) == pytest.approx(case.spacing)
        assert nib.aff2axcodes(img.affine) == ("L", "P", "S")
    record = json.loads(paths["json"].read_text())
    assert record["seed"] == 3 and record["version"] == syn.GENERATOR_VERSION
    assert record["spacing_zyx_mm"] == list(case.spacing)
    assert record["shape_zyx"] == list(case.ct.shape)
    assert [e["id"] for e in record["emboli"]] == [e.id for e in case.emboli_info]
    assert record["emboli"][0]["centre_voxel"] == list(case.emboli_info[0].centre_voxel)
    assert "not real" in record["note"] and record["patient"] == "tubes-3"
    with pytest.raises(ValueError):
        write_case(case, tmp_path, "a/b")
    with pytest.raises(ValueError):
        write_case(case.ct, tmp_path, "x")


@pytest.fixture
def fake_cadpe(tmp_path):
    """Two CAD-PE-like cases (tubes anatomy) and a FUMPE-like mask, written as NIfTI."""
    vessels = tmp_path / "vessels"
    vessels.mkdir()
    for seed, name in ((31, "c01"), (32, "c02")):
        case = synthetic_tubes_volume(shape=(48, 80, 80), spacing=(1.0, 0.9, 0.9), seed=seed,
                                      n_emboli=0)
        _save(_labels(case), vessels / f"{name}.nii.gz", case.spacing)
        _save(case.lung_mask.astype(np.uint8), vessels / f"{name}_lungmask.nii.gz",
              case.spacing)
    emboli = tmp_path / "emboli"
    emboli.mkdir()
    mask = np.zeros((30, 30, 30), np.uint8)
    mask[5:25, 12:17, 13:17] = 1
    _save(mask, emboli / "PAT001.nii.gz", (1.0, 0.6, 0.6))
    return vessels, emboli


def test_ctpa_case_reads_a_case_and_keeps_its_grid(fake_cadpe):
    vessels, emboli = fake_cadpe
    assert list_cases(vessels) == ["c01", "c02"]
    case = ctpa_case("c01", vessels_dir=vessels, emboli_dir=emboli, seed=4, n_emboli=1,
                     body_margin_mm=8, bone=False)
    assert case.case_id == "c01" and case.spacing == pytest.approx((1.0, 0.9, 0.9))
    assert len(case.emboli_info) == 1 and case.emboli_info[0].source == "PAT001#1"
    source = nib.load(str(vessels / "c01.nii.gz"))
    assert np.allclose(case.affine, source.affine)
    labels = np.asarray(source.dataobj).transpose(2, 1, 0)
    assert np.array_equal(case.artery_mask, labels == ARTERY_LABEL)
    # Cropped and resampled: the affine still maps each voxel to the same place.
    small = ctpa_case("c01", vessels_dir=vessels, seed=4, n_emboli=1, crop=True,
                      crop_margin_mm=3, target_spacing=1.8, body_margin_mm=8, bone=False)
    assert small.ct.shape[1] < labels.shape[1] / 1.5
    assert small.spacing == pytest.approx((1.8, 1.8, 1.8), rel=0.1)
    zooms = np.sqrt((small.affine[:3, :3] ** 2).sum(axis=0))[::-1]
    assert zooms == pytest.approx(small.spacing)
    artery = np.argwhere(small.artery_mask)
    for z, y, x in artery[:: max(1, len(artery) // 25)]:
        world = small.affine @ [x, y, z, 1.0]
        i, j, k = np.rint(np.linalg.solve(source.affine, world)[:3]).astype(int)
        assert labels[k, j, i] == ARTERY_LABEL or \
            (labels[max(k - 1, 0):k + 2, max(j - 1, 0):j + 2, max(i - 1, 0):i + 2]
             == ARTERY_LABEL).any()


def test_generate_folder_reproducible_and_resumable(fake_cadpe, tmp_path):
    vessels, emboli = fake_cadpe
    options = dict(n_emboli=1, body_margin_mm=8, bone=False)
    out = generate_folder(vessels, emboli, tmp_path / "a", seed=9, progress=False, **options)
    assert list(out) == ["c01", "c02"] and all(p.is_file() for p in out.values())
    record = json.loads(out["c02"].read_text())
    assert record["seed"] == case_seed(9, "c02") != case_seed(9, "c01")
    assert record["case_id"] == record["patient"] == "c02" and record["n_emboli"] == 1
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").iterdir()}
    # Resumes: complete cases are skipped; a missing file gets its case redone.
    (tmp_path / "a" / "c01_ct.nii.gz").unlink()
    again = generate_folder(vessels, emboli, tmp_path / "a", seed=9, progress=False, **options)
    assert again == out
    for path, stamp in stamps.items():
        if path.name.startswith("c02"):
            assert path.stat().st_mtime_ns == stamp, path
    # Reproducible: a case's volume does not depend on which cases are generated with it.
    single = generate_folder(vessels, emboli, tmp_path / "b", cases=["c01"], seed=9,
                             progress=False, **options)
    a = nib.load(str(tmp_path / "a" / "c01_ct.nii.gz")).get_fdata()
    b = nib.load(str(tmp_path / "b" / "c01_ct.nii.gz")).get_fdata()
    assert list(single) == ["c01"] and np.array_equal(a, b)
    assert not list((tmp_path / "a").glob(".*tmp*"))


def test_generate_folder_errors(fake_cadpe, tmp_path):
    vessels, emboli = fake_cadpe
    with pytest.raises(ValueError, match="does not exist"):
        generate_folder(tmp_path / "nowhere", emboli, tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        generate_folder(vessels, tmp_path / "nowhere", tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="c99"):
        generate_folder(vessels, emboli, tmp_path / "out", cases=["c99"], progress=False)
    (vessels / "c03.nii.gz").write_bytes((vessels / "c01.nii.gz").read_bytes())
    with pytest.raises(ValueError, match="c03_lungmask"):
        generate_folder(vessels, emboli, tmp_path / "out", progress=False)
    bad = np.zeros((48, 80, 72), np.uint8)
    bad[10:30, 10:50, 10:50] = 1
    _save(bad, vessels / "c03_lungmask.nii.gz", (1.0, 0.9, 0.9))
    with pytest.raises(ValueError, match="c03_lungmask.nii.gz"):
        ctpa_case("c03", vessels_dir=vessels)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="vessel label"):
        list_cases(tmp_path / "empty")


# -- the development data (CAD-PE vessels, FUMPE emboli) ----------------------------------


@pytest.mark.shared
def test_fumpe_shapes_of_a_few_patients(shared):
    shapes = embolus_shapes(shared / "data" / "fumpe-emboli",
                            patients=["PAT001", "PAT002", "PAT003"])
    assert [s.source for s in shapes] == ["PAT001"] * 2 + ["PAT002"] * 2 + ["PAT003"]
    for s in shapes:
        assert s.mask.any() and s.volume_mm3 >= 5.0
        assert np.allclose(np.linalg.norm(s.axes, axis=1), 1)
        assert s.sd_mm[0] >= s.sd_mm[1] >= s.sd_mm[2] > 0


@pytest.mark.shared
@pytest.mark.slow
def test_fumpe_whole_bank(shared):
    start = time.perf_counter()
    shapes = embolus_shapes(shared / "data" / "fumpe-emboli")
    print(f"\n{len(shapes)} embolus shapes in {time.perf_counter() - start:.1f} s")
    sources = {s.source for s in shapes}
    # 35 masks, two of them (PAT024, PAT032) empty; 91 components of >= 5 mm3.
    assert len(sources) == 33 and not {"PAT024", "PAT032"} & sources
    assert len(shapes) >= 80
    assert all(s.mask.sum() > 0 and s.volume_mm3 >= 5.0 for s in shapes)


def _check_real_case(case, n_emboli):
    ct = case.ct.astype(np.float32)
    regions = _regions(case)
    p = case.params
    lung = ct[regions["lung"]].mean()
    artery = ct[regions["artery"]].mean()
    vein = ct[regions["vein"]].mean()
    print(f"\n{case.case_id}: {case.ct.shape} lung {lung:.0f} HU, arteries {artery:.0f} "
          f"(model {p['artery_hu']:.0f}), veins {vein:.0f} (model {p['vein_hu']:.0f}), "
          f"emboli {[(e.level, e.kind, round(e.volume_mm3)) for e in case.emboli_info]}")
    assert -900 < lung < -780
    assert abs(artery - p["artery_hu"]) < 0.1 * p["artery_hu"]
    assert abs(vein - p["vein_hu"]) < 0.2 * p["vein_hu"]
    soft = ct[ndimage.binary_erosion(case.body_mask & ~case.lung_mask, iterations=2)
              & ~ndimage.binary_dilation(case.artery_mask | case.vein_mask, iterations=2)]
    assert -60 < np.median(soft) < 60
    assert len(case.emboli_info) == n_emboli
    assert case.artery_mask[case.emboli > 0].all()
    assert sorted(np.unique(case.emboli).tolist()) == list(range(n_emboli + 1))


@pytest.mark.shared
def test_real_anatomy_small_case(shared):
    start = time.perf_counter()
    shapes = embolus_shapes(shared / "data" / "fumpe-emboli", patients=["PAT002", "PAT009"])
    case = ctpa_case("e0485", vessels_dir=shared / "data" / "cadpe-vessels",
                     emboli_shapes=shapes, seed=3, n_emboli=4)
    print(f"\ne0485 {case.ct.shape} generated in {time.perf_counter() - start:.1f} s")
    _check_real_case(case, 4)
    assert {e.source.split("#")[0] for e in case.emboli_info} <= {"PAT002", "PAT009"}


@pytest.mark.shared
@pytest.mark.slow
def test_real_anatomy_full_case(shared, tmp_path):
    shapes = embolus_shapes(shared / "data" / "fumpe-emboli")
    start = time.perf_counter()
    case = ctpa_case("001", vessels_dir=shared / "data" / "cadpe-vessels",
                     emboli_shapes=shapes, seed=case_seed(0, "001"), n_emboli=6)
    print(f"\n001 {case.ct.shape} generated in {time.perf_counter() - start:.1f} s")
    _check_real_case(case, 6)
    angles = []
    for e in case.emboli_info:
        mask = case.emboli == e.id
        axis, elongation = _principal_axis(mask, case.spacing)
        if mask.sum() >= 30 and elongation > 2:
            angles.append(_angle(axis, e.vessel_axis))
    assert np.median(angles) < 25, angles
    paths = write_case(case, tmp_path, "001")
    img = nib.load(str(paths["ct"]))
    assert np.allclose(img.affine, nib.load(
        str(shared / "data" / "cadpe-vessels" / "001.nii.gz")).affine)
    assert np.array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), case.ct)
