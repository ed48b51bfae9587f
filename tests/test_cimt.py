"""apps.cimt: CIMT cases, synthetic images, patches, dense confidence, snakes, baseline."""

import hashlib
import json

import keras
import numpy as np
import pytest
from PIL import Image

import medkeras
from apps.cimt import (CIMTCase, ConfidenceMaps, column_maxima, dense_confidence,
                       extract_patches, gradient_baseline, interface_error, interface_rows,
                       interfaces_from_confidence, load_case, load_folder, patch_boxes,
                       roi_from_annotations, sample_centres, sample_patches, smooth_interface,
                       synthetic_case, thickness_mm)

# --------------------------------------------------------------------------- helpers


def write_case(folder, case_id="CASE1", *, shape=(60, 80), li=None, ma=None, mm=0.06, imt=0.7,
               checksum=True, **extra):
    """A PNG + JSON pair in the database's layout (1-based Matlab coordinates)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(image).save(folder / f"{case_id}.png")
    record = {"id": case_id, "description": "LCCA LS", "mm_per_pixel": mm, "imt_mm": imt,
              "lumen_intima": li if li is not None else [[11, 21], [31, 23], [61, 22]],
              "media_adventitia": ma if ma is not None else [[11, 31], [41, 34], [61, 33]]}
    if checksum:
        record["image_sha256"] = hashlib.sha256(image.tobytes()).hexdigest()
    record.update(extra)
    (folder / f"{case_id}.json").write_text(json.dumps(record))
    return image


def tiny_classifier(seed=3):
    """A small deterministic 3-class model with the AlexNet/SqueezeNet input contract."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((227, 227, 3)),
        keras.layers.AveragePooling2D(16),
        keras.layers.Conv2D(4, 3, activation="tanh"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax")])


def total_variation(rows):
    return float(np.abs(np.diff(rows)).sum())


def roughness(rows):
    return float(np.abs(np.diff(rows, 2)).sum())


# --------------------------------------------------------------------------- data


def test_interface_rows_exact_at_points_linear_between_nan_outside():
    points = np.array([[10.0, 50.0], [14.0, 54.0], [20.0, 48.0], [23.5, 48.0]])
    np.testing.assert_array_equal(interface_rows(points, points[:, 0]), points[:, 1])
    between = interface_rows(points, [11, 12.5, 17, 22])
    np.testing.assert_allclose(between, [51.0, 52.5, 51.0, 48.0])
    outside = interface_rows(points, [9.999, 23.6, -1, 100])
    assert np.all(np.isnan(outside))
    with pytest.raises(ValueError, match="increase strictly"):
        interface_rows([[5, 1], [5, 2]], [5])


def test_load_case_converts_matlab_coordinates_and_reads_every_field(tmp_path):
    image = write_case(tmp_path, imt=0.0)
    case = load_case(tmp_path / "CASE1.png")
    assert case.case_id == "CASE1" and case.description == "LCCA LS"
    np.testing.assert_array_equal(case.image, image)
    assert case.image.dtype == np.uint8 and case.mm_per_pixel == 0.06
    assert case.imt_mm is None                                   # 0 means none recorded
    np.testing.assert_array_equal(case.lumen_intima, [[10, 20], [30, 22], [60, 21]])
    np.testing.assert_array_equal(case.media_adventitia, [[10, 30], [40, 33], [60, 32]])
    zero_based = load_case(tmp_path / "CASE1.png", origin=0)
    np.testing.assert_array_equal(zero_based.lumen_intima, case.lumen_intima + 1)
    np.testing.assert_array_equal(case.columns(), np.arange(10, 61))
    li, ma = case.rows()
    assert li[0] == 20 and ma[-1] == 32 and li[10] == 21


def test_load_case_sorts_points_clicked_out_of_order(tmp_path):
    write_case(tmp_path, li=[[11, 21], [61, 22], [31, 23]], imt=0.5)
    case = load_case(tmp_path / "CASE1.png")
    np.testing.assert_array_equal(case.lumen_intima[:, 0], [10, 30, 60])
    assert case.imt_mm == 0.5
    with pytest.raises(ValueError, match=r"CASE1\.json.*lumen_intima.*increase strictly"):
        load_case(tmp_path / "CASE1.png", sort_points=False)
    write_case(tmp_path, "DUP", li=[[11, 21], [31, 23], [31, 25]])
    with pytest.raises(ValueError, match=r"DUP\.json.*x must increase strictly"):
        load_case(tmp_path / "DUP.png")


@pytest.mark.parametrize("problem, message", [
    ("missing", r"CASE1\.png: its annotation CASE1\.json is missing"),
    ("broken", r"CASE1\.json: broken JSON"),
    ("outside", r"CASE1\.json: media_adventitia: point 1 \(x=40, y=60\) lies outside the "
                r"80×60 image"),
    ("keys", r"CASE1\.json: missing keys \['lumen_intima'\]"),
    ("pixel size", r"CASE1\.json: mm_per_pixel must be a positive finite number"),
    ("checksum", r"CASE1\.png: pixel checksum .* differs from image_sha256"),
    ("id", r"CASE1\.json: its id 'OTHER' does not match the file name 'CASE1'"),
])
def test_load_case_errors_name_the_file_and_the_problem(tmp_path, problem, message):
    if problem == "outside":                    # y = 61 (1-based) is row 60 of a 60-row image
        write_case(tmp_path, ma=[[11, 31], [41, 61], [61, 33]])
    else:
        write_case(tmp_path)
    json_path = tmp_path / "CASE1.json"
    record = json.loads(json_path.read_text())
    if problem == "missing":
        json_path.unlink()
    elif problem == "broken":
        json_path.write_text(json_path.read_text()[:-5])
    elif problem == "keys":
        del record["lumen_intima"]
    elif problem == "pixel size":
        record["mm_per_pixel"] = -0.06
    elif problem == "checksum":
        record["image_sha256"] = "0" * 64
    elif problem == "id":
        record["id"] = "OTHER"
    if problem in ("keys", "pixel size", "checksum", "id"):
        json_path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=message):
        load_case(tmp_path / "CASE1.png")


def test_load_folder_reads_every_case_in_order_and_reports_the_first_bad_one(tmp_path):
    write_case(tmp_path, "B")
    write_case(tmp_path, "A")
    (tmp_path / "IMT-ImageDataSet.txt").write_text("copyright notice")
    assert [c.case_id for c in load_folder(tmp_path)] == ["A", "B"]
    Image.fromarray(np.zeros((60, 80), np.uint8)).save(tmp_path / "C.png")
    with pytest.raises(ValueError, match=r"C\.png: its annotation C\.json is missing"):
        load_folder(tmp_path)
    with pytest.raises(ValueError, match="nothing: not a folder"):
        load_folder(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no \.png images"):
        load_folder(tmp_path / "empty")


def test_roi_covers_both_interfaces_with_the_margin_in_millimetres():
    image = np.zeros((100, 120), np.uint8)
    case = CIMTCase("c", image, 0.1, lumen_intima=[(10, 40.2), (50, 44.0), (90, 41.0)],
                    media_adventitia=[(20, 50.0), (60, 55.7), (100, 52.0)])
    y0, x0, y1, x1 = roi_from_annotations(case, margin_mm=1.0)      # 10 pixels
    assert (x0, x1) == (20, 91)                                      # the common x-range
    li, ma = case.rows(np.arange(x0, x1))
    assert y0 == int(np.floor(li.min() - 10)) and y1 == int(np.ceil(ma.max() + 10)) + 1
    assert np.all((li >= y0 + 10) & (ma <= y1 - 1 - 10))
    assert roi_from_annotations(case, margin_mm=1.0, lateral_margin_mm=0.5)[1::2] == (15, 96)
    assert roi_from_annotations(case, margin_mm=10.0) == (0, 20, 100, 91)   # clipped
    with pytest.raises(ValueError, match="margin_mm"):
        roi_from_annotations(case, margin_mm=-1)
    with pytest.raises(ValueError, match="share no column"):       # no ROI can be drawn
        CIMTCase("d", image, 0.1, lumen_intima=[(0, 40), (10, 41)],
                 media_adventitia=[(20, 50), (30, 51)])


# --------------------------------------------------------------------------- synthetic


def test_synthetic_case_is_seeded_and_anatomically_ordered():
    case = synthetic_case(seed=4)
    again = synthetic_case(seed=4)
    np.testing.assert_array_equal(case.image, again.image)
    assert not np.array_equal(case.image, synthetic_case(seed=5).image)
    assert case.image.shape == (240, 320) and case.image.dtype == np.uint8
    columns = np.arange(320)
    li, ma = case.rows(columns)
    np.testing.assert_array_equal(li, case.lumen_intima[:, 1])        # truth at every column
    thickness = (ma - li) * case.mm_per_pixel
    assert 0.5 * 0.9 < thickness.min() and thickness.max() < 1.0 * 1.1
    assert case.imt_mm == pytest.approx(thickness.mean())
    assert np.abs(np.diff(li)).max() < 0.5                            # slowly curving
    image = case.image.astype(float)

    def band(rows, offsets):
        return np.mean([image[np.round(rows + o).astype(int), columns] for o in offsets])

    lumen = band(li, range(-12, -4))
    media = band(li, [0.6 * (ma - li).mean()])
    adventitia = band(ma, range(2, 8))
    assert lumen < 30 < media < adventitia - 40
    assert synthetic_case(seed=1, imt_mm=0.9).imt_mm == pytest.approx(0.9)
    with pytest.raises(ValueError, match="cannot hold the anatomy"):
        synthetic_case(shape=(90, 64))


# --------------------------------------------------------------------------- patches


def test_patch_field_of_view_is_honoured_on_a_known_pattern():
    image = np.zeros((101, 101), np.uint8)
    image[45:55, 45:55] = 200                       # a 10-pixel (1 mm) square, centre (49.5, 49.5)
    for fov_mm, fraction in [(3.0, 1 / 3), (6.0, 1 / 6)]:
        patch = extract_patches(image, [(50, 50)], fov_mm=fov_mm, mm_per_pixel=0.1,
                                preprocess=False)[0]
        assert patch.shape == (227, 227, 3)
        np.testing.assert_array_equal(patch[..., 0], patch[..., 2])
        profile = patch[113, :, 0]
        assert abs(np.count_nonzero(profile > 100) - 227 * fraction) <= 1
        # The square's centre lies half a pixel left of pixel (50, 50)'s centre (cell 113).
        centroid = (profile * np.arange(227)).sum() / profile.sum()
        assert (centroid - 113) / (227 / (fov_mm / 0.1)) == pytest.approx(-0.5, abs=0.02)
        np.testing.assert_allclose(patch[:, 113, 0], profile, atol=1e-3)   # and as far up
    # An odd field of view of exactly `size` pixels is the plain slice around the pixel.
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    patches = extract_patches(noise, [(20, 25), (2, 3)], fov_mm=2.1, mm_per_pixel=0.1,
                              size=21, preprocess=False)
    np.testing.assert_allclose(patches[0, ..., 1], noise[10:31, 15:36], atol=5e-3)
    padded = np.pad(noise.astype(float), 10)
    np.testing.assert_allclose(patches[1, ..., 1], padded[2:23, 3:24], atol=5e-3)
    np.testing.assert_array_equal(patch_boxes([(20, 25)], 21), [[10, 15, 31, 36]])


def test_sample_centres_are_on_the_interfaces_or_far_from_them_and_balanced():
    case = synthetic_case(seed=2, shape=(220, 96))
    centres, labels = sample_centres(case, per_class=40, min_background_distance_mm=0.3, seed=0)
    assert np.bincount(labels).tolist() == [40, 40, 40]
    li, ma = case.rows(centres[:, 1])
    np.testing.assert_array_equal(centres[labels == 1, 0], np.round(li[labels == 1]))
    np.testing.assert_array_equal(centres[labels == 2, 0], np.round(ma[labels == 2]))
    background = labels == 0
    far = 0.3 / case.mm_per_pixel
    assert np.all(np.abs(centres[background, 0] - li[background]) >= far)
    assert np.all(np.abs(centres[background, 0] - ma[background]) >= far)
    y0, x0, y1, x1 = roi_from_annotations(case)
    assert np.all((centres[:, 0] >= y0) & (centres[:, 0] < y1))
    assert np.all((centres[:, 1] >= x0) & (centres[:, 1] < x1))
    # Background above and below the wall, and distinct interface columns.
    assert (centres[background, 0] < li[background]).any()
    assert (centres[background, 0] > ma[background]).any()
    assert len(np.unique(centres[labels == 1, 1])) == 40
    same, _ = sample_centres(case, per_class=40, seed=0)
    other, _ = sample_centres(case, per_class=40, seed=1)
    np.testing.assert_array_equal(same, centres)
    assert not np.array_equal(other, centres)
    few, few_labels = sample_centres(case, per_class=1000)           # capped by the columns
    assert np.bincount(few_labels).tolist() == [96] * 3


def test_sample_patches_three_channels_groups_and_preprocessing():
    cases = [synthetic_case(seed=s, shape=(220, 64), case_id=f"s{s}") for s in (0, 1)]
    raw = sample_patches(cases, per_class=3, fov_mm=3.0, preprocess=False, seed=7)
    assert raw.patches.shape == (18, 227, 227, 3) and raw.patches.dtype == np.float32
    assert raw.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] * 2
    assert raw.groups.tolist() == ["s0"] * 9 + ["s1"] * 9
    np.testing.assert_array_equal(raw.patches[..., 0], raw.patches[..., 1])
    np.testing.assert_array_equal(raw.patches[..., 0], raw.patches[..., 2])
    # Each patch is the field of view around its centre.
    again = extract_patches(cases[1].image, raw.centres[9:], fov_mm=3.0,
                            mm_per_pixel=cases[1].mm_per_pixel, preprocess=False)
    np.testing.assert_array_equal(again, raw.patches[9:])
    ready = sample_patches(cases, per_class=3, fov_mm=3.0, seed=7)
    np.testing.assert_allclose(ready.patches, medkeras.preprocess_input(raw.patches), atol=1e-4)
    # A lumen-intima patch: dark lumen in its upper half, brighter wall below the centre.
    li_patch = raw.patches[3, ..., 0]
    assert li_patch[20:100].mean() + 40 < li_patch[127:200].mean()


# --------------------------------------------------------------------------- dense inference


def test_dense_confidence_equals_the_model_on_each_pixels_patch():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (240, 250), dtype=np.uint8)
    model = tiny_classifier()
    roi = (100, 110, 104, 115)
    # Field of view of exactly 227 pixels: a pixel's patch is the slice around it.
    maps = dense_confidence(model, image, roi, fov_mm=227 * 0.05, mm_per_pixel=0.05,
                            batch_size=7)
    assert maps.lumen_intima.shape == maps.media_adventitia.shape == (4, 5)
    np.testing.assert_array_equal(maps.rows, np.arange(100, 104))
    np.testing.assert_array_equal(maps.columns, np.arange(110, 115))
    padded = np.pad(image, 113).astype(np.float32)
    pixels = [(r, c) for r in range(100, 104) for c in range(110, 115)]
    reference = np.stack([padded[r:r + 227, c:c + 227] for r, c in pixels])
    expected = model.predict(medkeras.preprocess_input(medkeras.grey_to_rgb(reference)),
                             verbose=0).reshape(4, 5, 3)
    np.testing.assert_allclose(maps.lumen_intima, expected[..., 1], atol=1e-5)
    np.testing.assert_allclose(maps.media_adventitia, expected[..., 2], atol=1e-5)
    assert np.ptp(maps.lumen_intima) > 1e-4              # the test can tell pixels apart
    # A field of view in millimetres, with a stride: the training patch of each grid pixel.
    coarse = dense_confidence(model, image, (30, 40, 37, 47), fov_mm=3.0, mm_per_pixel=0.06,
                              stride=3, batch_size=4)
    np.testing.assert_array_equal(coarse.rows, [30, 33, 36])
    grid = np.stack(np.meshgrid(coarse.rows, coarse.columns, indexing="ij"), -1).reshape(-1, 2)
    patches = extract_patches(image, grid, fov_mm=3.0, mm_per_pixel=0.06)
    expected = model.predict(patches, verbose=0).reshape(3, 3, 3)
    np.testing.assert_allclose(coarse.media_adventitia, expected[..., 2], atol=1e-5)


def test_column_maxima_and_snakes_recover_interfaces_from_confidence_maps():
    columns = np.arange(200, 260)
    li_true = 30 + 4 * np.sin(columns / 15.0)
    ma_true = li_true + 12
    rows = np.arange(10, 70, 2)                                      # a stride-2 map
    rng = np.random.default_rng(0)

    def ridge(true):
        return (np.exp(-0.5 * ((rows[:, None] - true[None, :]) / 2.0) ** 2)
                + rng.normal(0, 0.05, (len(rows), len(columns))))

    maps = ConfidenceMaps(ridge(li_true), ridge(ma_true), rows, columns)
    assert np.abs(rows[column_maxima(maps.lumen_intima)] - li_true).max() <= 1.5
    found = interfaces_from_confidence(maps)
    np.testing.assert_array_equal(found.columns, columns)
    assert np.abs(found.lumen_intima - li_true).mean() < 0.5
    assert np.abs(found.media_adventitia - ma_true).mean() < 0.5
    assert thickness_mm(found.lumen_intima, found.media_adventitia, 0.06) == \
        pytest.approx(12 * 0.06, rel=0.05)


# --------------------------------------------------------------------------- snakes


@pytest.mark.parametrize("noise", [0.0, 0.7])
def test_snake_smooths_a_step_boundary_without_leaving_it(noise):
    x = np.arange(300.0)
    true = 40 + 6 * np.sin(2 * np.pi * x / 400) + 0.02 * x
    steps = np.round(true + np.random.default_rng(0).normal(0, noise, x.size))
    for options in ({}, {"boundary_condition": "free", "end_columns": 0}):
        smooth = smooth_interface(steps, **options)
        assert np.abs(smooth - true).max() < 1.0                   # stays on the boundary
        assert np.abs(smooth - true).mean() < 0.6 * np.abs(steps - true).mean()
        assert roughness(smooth) < 0.2 * roughness(steps)          # the steps are gone
        assert total_variation(smooth) < 1.5 * total_variation(true)
        if noise:                                                  # noisy steps wander
            assert total_variation(smooth) < 0.2 * total_variation(steps)


def test_snake_on_an_energy_map_climbs_its_ridge():
    x = np.arange(120.0)
    true = 25 + 3 * np.cos(x / 20)
    energy = np.exp(-0.5 * ((np.arange(60)[:, None] - true[None, :]) / 1.5) ** 2)
    start = true + 3                                                  # 3 pixels off
    found = smooth_interface(start, energy=energy, sigma=0)
    assert np.abs(found - true).max() < 0.5
    with pytest.raises(ValueError, match=r"energy must be a \(h, 120\) map"):
        smooth_interface(start, energy=energy[:, :50])
    with pytest.raises(ValueError, match="boundary_condition"):
        smooth_interface(start, boundary_condition="periodic")


# --------------------------------------------------------------------------- measurements


def test_thickness_and_interface_error_over_columns_where_both_are_defined():
    li = np.array([10.0, 11.0, np.nan, 13.0])
    ma = np.array([20.0, 22.0, 30.0, np.nan])
    assert thickness_mm(li, ma, 0.05) == pytest.approx(0.525)
    error = interface_error([10.5, 12.0, 0.0, 14.5], li, 0.06)    # 0.5, 1, (NaN), 1.5
    assert error.n_columns == 3 and error.mean_px == pytest.approx(1.0)
    assert error.mean_um == pytest.approx(60.0)
    with pytest.raises(ValueError, match="no column where both are defined"):
        thickness_mm([1.0, np.nan], [np.nan, 2.0], 0.06)
    with pytest.raises(ValueError, match="same length"):
        interface_error([1.0, 2.0], [1.0], 0.06)


@pytest.mark.parametrize("seed", [0, 3])
def test_gradient_baseline_with_snakes_is_subpixel_on_synthetic_images(seed):
    case = synthetic_case(seed=seed)
    found = gradient_baseline(case.image, roi_from_annotations(case), case.mm_per_pixel)
    li, ma = case.rows(found.columns)
    assert interface_error(found.lumen_intima, li, case.mm_per_pixel).mean_px < 1.0
    assert interface_error(found.media_adventitia, ma, case.mm_per_pixel).mean_px < 1.0
    measured = thickness_mm(found.lumen_intima, found.media_adventitia, case.mm_per_pixel)
    assert measured == pytest.approx(thickness_mm(li, ma, case.mm_per_pixel), rel=0.05)


# --------------------------------------------------------------------------- real data


def test_all_development_cases_load_and_their_interfaces_fit_the_roi(shared):
    folder = shared / "data" / "carotid-imt"
    cases = load_folder(folder)
    assert len(cases) == 52
    assert sum(c.imt_mm is None for c in cases) == 2
    for case in cases:
        assert case.image.shape == (576, 768) and case.image.dtype == np.uint8
        assert 0.04 < case.mm_per_pixel < 0.09
        for points in (case.lumen_intima, case.media_adventitia):
            assert 8 <= len(points) <= 11
            np.testing.assert_allclose(interface_rows(points, points[:, 0]), points[:, 1])
        columns = case.columns()
        li, ma = case.rows(columns)
        assert columns.size > 100 and np.all(np.isfinite(li) & np.isfinite(ma))
        assert np.all(ma > li)                                    # far wall: MA below LI
        y0, x0, y1, x1 = roi_from_annotations(case)
        np.testing.assert_array_equal(np.arange(x0, x1), columns)
        margin = 1.0 / case.mm_per_pixel
        assert y0 <= li.min() - margin + 1 and ma.max() + margin - 1 <= y1 - 1


@pytest.mark.slow
def test_gradient_baseline_against_the_experts(shared):
    """The handcrafted baseline on all development cases (prints its numbers)."""
    cases = load_folder(shared / "data" / "carotid-imt")
    rows = []
    for case in cases:
        found = gradient_baseline(case.image, roi_from_annotations(case), case.mm_per_pixel)
        li, ma = case.rows(found.columns)
        rows.append((interface_error(found.lumen_intima, li, case.mm_per_pixel).mean_um,
                     interface_error(found.media_adventitia, ma, case.mm_per_pixel).mean_um,
                     1000 * (thickness_mm(found.lumen_intima, found.media_adventitia,
                                          case.mm_per_pixel)
                             - thickness_mm(li, ma, case.mm_per_pixel))))
    errors = np.array(rows)
    for name, values in [("lumen-intima |error| um", errors[:, 0]),
                         ("media-adventitia |error| um", errors[:, 1]),
                         ("IMT error um (signed)", errors[:, 2]),
                         ("IMT |error| um", np.abs(errors[:, 2]))]:
        print(f"{name}: {values.mean():.0f} ± {values.std(ddof=1):.0f} "
              f"(median {np.median(values):.0f}, n={len(values)})")
    assert np.median(errors[:, 0]) < 150 and np.median(errors[:, 1]) < 150
    assert np.median(np.abs(errors[:, 2])) < 150
