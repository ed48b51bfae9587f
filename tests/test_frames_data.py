"""The data side of application C: degradations, handcrafted baseline, synthetic and generated
labelled frames, and the ``synthetic_frames`` builder.

The measures the degradations are checked with are computed here, independently of
``apps.frames.features`` (which the baseline tests check on their own).
"""

import csv
import hashlib
import json
import pathlib
import shutil

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from scipy import fft
from sklearn.metrics import roc_auc_score

from apps.frames import degrade as D
from apps.frames.dataset import ColonoscopyFrames
from apps.frames.features import (FEATURE_NAMES, HandcraftedBaseline, features_of,
                                  fit_baseline, frame_features)
from apps.frames.generate import generate_labelled_folder
from apps.frames.synthetic import (pair_kind, synthetic_labelled_frames, synthetic_pair)
from apps.polyp.synthetic import synthetic_frame
from medkeras import datasets

SHAPE = (120, 160)


# -- independent measures ------------------------------------------------------------------


def _grey(image):
    return image.astype(np.float64) @ [0.299, 0.587, 0.114]


def _high_frequency(image):
    """Fraction of the AC energy of the grey image's DCT outside the lowest 1/8 × 1/8."""
    energy = fft.dctn(_grey(image), norm="ortho") ** 2
    energy[0, 0] = 0
    h, w = energy.shape
    return 1 - energy[:h // 8, :w // 8].sum() / energy.sum()


def _laplacian_variance(image):
    return cv2.Laplacian(_grey(image), cv2.CV_64F).var()


def _saturated(image, level=230):
    return (_grey(image) >= level).mean()


def _red_share(image):
    total = image.astype(np.float64).sum(axis=2)
    lit = total > 30
    return (image[..., 0][lit] / total[lit]).mean()


def _row_alternation(image):
    """Energy of the vertical over the horizontal second difference (interlacing combs)."""
    grey = _grey(image)
    return (np.diff(grey, 2, axis=0) ** 2).mean() / (np.diff(grey, 2, axis=1) ** 2).mean()


def _block_edges(image):
    """Mean |horizontal difference| across 8×8 block boundaries over that inside blocks."""
    diff = np.abs(np.diff(_grey(image), axis=1))
    across = np.arange(diff.shape[1]) % 8 == 7
    return diff[:, across].mean() / diff[:, ~across].mean()


def _thin_bright(image):
    grey = _grey(image).astype(np.float32)
    return grey - cv2.morphologyEx(grey, cv2.MORPH_OPEN, np.ones((7, 7), np.uint8)) > 30


@pytest.fixture(scope="module")
def frame():
    return synthetic_frame(seed=2, shape=SHAPE)


def _low(kind):
    return D.NON_INFORMATIVE_SEVERITY[kind][0]


# -- degradations --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", D.KINDS)
def test_every_kind_keeps_size_and_dtype_changes_the_frame_not_the_input(kind):
    image = synthetic_frame(seed=5, shape=(75, 98)).image   # odd sizes, not multiples of 8
    before = image.copy()
    out = D.degrade(image, kind=kind, severity=_low(kind), rng=0).image
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(image, before)
    assert np.abs(out.astype(int) - image).mean() > 1   # what changes: the tests below
    # The endoscope's black border (well away from the field of view) stays black.
    frame = synthetic_frame(seed=5, shape=(75, 98))
    far = cv2.dilate(frame.fov.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    if far.any() and kind != "interlacing_compression":   # JPEG rings at the edge
        assert out[far].mean() < 4


@pytest.mark.parametrize("kind", ["motion_blur", "defocus"])
def test_blur_and_defocus_remove_high_frequencies_more_with_severity(frame, kind):
    image = frame.image
    low = D.degrade(image, kind=kind, severity=_low(kind), rng=1).image
    high = D.degrade(image, kind=kind, severity=1.0, rng=1).image
    assert _high_frequency(low) < 0.7 * _high_frequency(image)
    assert _high_frequency(high) < _high_frequency(low)
    # Fresh sensor noise (σ 1.5) keeps a floor of 20 σ² ≈ 45 under the Laplacian variance.
    assert _laplacian_variance(low) < 0.45 * _laplacian_variance(image)


def test_motion_blur_smears_along_one_direction():
    # A single bright dot becomes a streak: elongated, not round like a defocus disc.
    dot = np.full((96, 96, 3), 60, np.uint8)
    dot[47:49, 47:49] = 255
    streak = D.motion_blur(dot, severity=1.0, rng=3).astype(float)[..., 0] - 60
    disc = D.defocus(dot, severity=1.0, rng=3).astype(float)[..., 0] - 60
    eigen = [np.linalg.eigvalsh(np.cov(np.argwhere(blob > 8).T)) for blob in (streak, disc)]
    assert eigen[0][1] > 6 * eigen[0][0]          # a line
    assert eigen[1][1] < 1.3 * eigen[1][0]        # a disc


def test_exposure(frame):
    image = frame.image
    over = D.overexposure(image, severity=_low("overexposure"), rng=0)
    under = D.underexposure(image, severity=_low("underexposure"), rng=0)
    inside = frame.fov
    assert _saturated(image) < 0.02 and _saturated(over[inside]) > 0.4
    assert _grey(over).mean() > 1.5 * _grey(image).mean()
    assert _grey(under).mean() < 0.2 * _grey(image).mean() and _grey(under).mean() < 20
    darker = D.underexposure(image, severity=1.0, rng=0)
    assert _grey(darker).mean() < _grey(under).mean()


def test_specular_flooding_covers_the_view_with_saturated_glare(frame):
    image = frame.image
    for severity in (_low("specular_flooding"), 1.0):
        out = D.specular_flooding(image, severity=severity, rng=4)
        white = (out >= 250).all(axis=2)[frame.fov].mean()
        # The saturated core covers 0.1 + 0.6 × severity of the field of view.
        assert white == pytest.approx(0.1 + 0.6 * severity, abs=0.06)
    assert (image >= 250).all(axis=2).mean() < 0.01


def test_wall_contact_is_red_and_textureless(frame):
    image = frame.image
    out = D.wall_contact(image, severity=_low("wall_contact"), rng=2)
    assert _red_share(out) > _red_share(image) + 0.05
    assert _red_share(out) > 0.6
    assert _laplacian_variance(out) < 0.4 * _laplacian_variance(image)


def test_fluid_and_bubbles_change_the_colour_and_add_bright_rims(frame):
    image = frame.image
    out = D.fluid_bubbles(image, severity=_low("fluid_bubbles"), rng=6)
    inside = frame.fov
    # The fluid is yellow, brown or green: less red, more green relative to red.
    assert _red_share(out) < _red_share(image) - 0.05
    ratio = lambda im: (im[..., 1][inside].astype(float) / (im[..., 0][inside] + 1.0)).mean()
    assert ratio(out) > ratio(image) + 0.1
    # Bubble rims: thin bright structures (white top-hat over 7×7 > 30 grey levels).
    assert _thin_bright(out)[inside].mean() > max(0.1, 5 * _thin_bright(image)[inside].mean())


def test_interlacing_combs_rows_and_jpeg_makes_blocks(frame):
    image = frame.image
    out = D.interlacing_compression(image, severity=_low("interlacing_compression"), rng=3)
    assert _row_alternation(out) > 4 * _row_alternation(image)
    assert _row_alternation(out) > 3
    assert _block_edges(image) < 1.4 and _block_edges(out) > max(2, 1.8 * _block_edges(image))
    worse = D.interlacing_compression(image, severity=1.0, rng=3)
    assert _block_edges(worse) > _block_edges(out)


def test_field_of_view_matches_the_synthetic_one():
    for seed in range(3):
        frame = synthetic_frame(seed=seed, shape=SHAPE)
        estimate = D.field_of_view(frame.image) > 0.5
        assert (estimate & frame.fov).sum() / (estimate | frame.fov).sum() > 0.93
    full = np.full((40, 50, 3), 120, np.uint8)
    assert D.field_of_view(full).min() == pytest.approx(1.0)


def test_degrade_draws_records_and_reproduces(frame):
    image = frame.image
    first = D.degrade(image, rng=11)
    again = D.degrade(image, rng=np.random.default_rng(11))
    assert first.kind in D.KINDS and first.kind == again.kind
    assert first.severity == again.severity and np.array_equal(first.image, again.image)
    low, high = D.NON_INFORMATIVE_SEVERITY[first.kind]
    assert low <= first.severity <= high
    drawn = [D.degrade(image[:32, :32], rng=seed) for seed in range(40)]
    assert len({d.kind for d in drawn}) >= 6              # uniform over 8 kinds
    assert all(D.NON_INFORMATIVE_SEVERITY[d.kind][0] <= d.severity <= 1 for d in drawn)
    other = D.degrade(image, rng=12)
    assert (other.kind, other.severity) != (first.kind, first.severity)
    chosen = D.degrade(image, kind="defocus", severity=0.1, rng=0)
    assert (chosen.kind, chosen.severity) == ("defocus", 0.1)
    assert np.array_equal(chosen.image, D.defocus(image, severity=0.1, rng=0))
    assert {D.degrade(image[:32, :32], kinds=["wall_contact"], rng=s).kind
            for s in range(3)} == {"wall_contact"}


def test_draw_degradation_says_what_degrade_will_do(frame):
    kind, severity = D.draw_degradation(np.random.default_rng(8))
    result = D.degrade(frame.image, rng=8)
    assert (result.kind, result.severity) == (kind, severity)


@pytest.mark.parametrize("call, message", [
    (lambda im: D.degrade(im, kind="smudge"), "unknown kind 'smudge'"),
    (lambda im: D.degrade(im, kind="defocus", severity=1.5), "severity must be"),
    (lambda im: D.motion_blur(im, severity=True), "severity must be"),
    (lambda im: D.degrade(im.astype(np.float32)), r"uint8 RGB array, got a float32"),
    (lambda im: D.degrade(im[..., 0]), r"\(H, W, 3\) uint8"),
    (lambda im: D.degrade(im[:8, :8]), "at least 16×16"),
    (lambda im: D.degrade(im, rng="seed"), "rng must be"),
    (lambda im: D.degrade(im, kinds=[]), "kinds must be"),
])
def test_bad_arguments_are_refused_early(frame, call, message):
    with pytest.raises(ValueError, match=message):
        call(frame.image)


# -- features and the baseline -------------------------------------------------------------


def test_features_are_named_finite_and_measure_what_they_say(frame):
    image = frame.image
    values = dict(zip(FEATURE_NAMES, frame_features(image)))
    assert len(values) == len(FEATURE_NAMES) == frame_features(image).size
    for extreme in (np.zeros((40, 48, 3), np.uint8), np.full((40, 48, 3), 255, np.uint8)):
        assert np.isfinite(frame_features(extreme)).all()
    blurred = dict(zip(FEATURE_NAMES, frame_features(D.defocus(image, severity=0.6, rng=0))))
    for name in ("log_dct_high_frequency", "log_laplacian_variance", "log_tenengrad",
                 "log_haar_detail_1"):
        assert blurred[name] < values[name], name
    over = dict(zip(FEATURE_NAMES, frame_features(D.overexposure(image, severity=0.5, rng=0))))
    assert over["saturated_fraction"] > values["saturated_fraction"] + 0.3
    assert over["brightness_mean"] > values["brightness_mean"]
    red = dict(zip(FEATURE_NAMES, frame_features(D.wall_contact(image, severity=0.5, rng=0))))
    assert red["red_share"] > values["red_share"]
    combed = dict(zip(FEATURE_NAMES, frame_features(D.interlacing_compression(
        image, severity=0.6, rng=0))))
    assert combed["log_row_alternation"] > values["log_row_alternation"] + 0.5
    assert combed["log_blockiness"] > values["log_blockiness"] + 0.1
    stacked = features_of([image, image[:50, :70]])
    assert stacked.shape == (2, len(FEATURE_NAMES))
    assert np.allclose(stacked[0], frame_features(image))
    with pytest.raises(ValueError, match="uint8"):
        frame_features(image.astype(float))


def test_baseline_separates_informative_from_degraded_frames_on_held_out_videos():
    train = synthetic_labelled_frames(48, seed=0, shape=(96, 120))
    test = synthetic_labelled_frames(32, seed=1, shape=(96, 120))
    model = HandcraftedBaseline().fit([f.image for f in train], [f.label for f in train])
    scores = model.score([f.image for f in test])
    assert scores.shape == (32,) and ((0 <= scores) & (scores <= 1)).all()
    # Chance is 0.5; the handcrafted features separate these frames well, not perfectly.
    assert roc_auc_score([f.label for f in test], scores) > 0.85
    with pytest.raises(ValueError, match="both present"):
        fit_baseline(features_of([f.image for f in train[:1]]), [1])
    with pytest.raises(ValueError, match="one per row"):
        fit_baseline(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="fit"):
        HandcraftedBaseline().score([train[0].image])


# -- synthetic labelled frames -------------------------------------------------------------


def test_synthetic_labelled_frames_are_balanced_pairs_sharing_a_video():
    frames = synthetic_labelled_frames(18, seed=3, shape=(48, 64))
    assert [f.label for f in frames] == [1, 0] * 9
    for index, (informative, twin) in enumerate(zip(frames[::2], frames[1::2])):
        assert informative.video == twin.video == f"video{index:04d}"
        assert informative.kind == "" and informative.severity is None
        assert twin.kind == D.KINDS[index % len(D.KINDS)] == pair_kind(index)
        low, high = D.NON_INFORMATIVE_SEVERITY[twin.kind]
        assert low <= twin.severity <= high
        # The twin is made from its informative frame.
        assert np.array_equal(D.degrade(informative.image, kind=twin.kind,
                                        rng=np.random.default_rng([3, index, 1])).image,
                              twin.image)
    assert len({f.name for f in frames}) == 18
    again = synthetic_pair(4, seed=3, shape=(48, 64))
    assert np.array_equal(again[1].image, frames[9].image)
    other = synthetic_labelled_frames(2, seed=4, shape=(48, 64))
    assert not np.array_equal(other[0].image, frames[0].image)
    with pytest.raises(ValueError, match="even"):
        synthetic_labelled_frames(5)
    with pytest.raises(ValueError, match="n must be"):
        synthetic_labelled_frames(0)


# -- generated folders and colonoscopy_frames ----------------------------------------------


def _source_folder(root, count=5):
    """``count`` small synthetic frames: JPEGs (quality 95) and one PNG."""
    folder = root / "informative"
    folder.mkdir(parents=True)
    for i in range(count):
        image = synthetic_frame(seed=20 + i, shape=(64, 80)).image
        name = f"frame{i}.png" if i == 0 else f"frame{i}.jpg"
        Image.fromarray(image).save(folder / name, quality=95)
    return folder


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generated_folder_is_read_by_colonoscopy_frames(tmp_path):
    source = _source_folder(tmp_path)
    out = tmp_path / "out"
    done = generate_labelled_folder(source, out, seed=1, degraded_per_frame=2, progress=False)
    assert (done.informative, done.non_informative, done.written, done.kept) == (5, 10, 15, 0)

    labels = _rows(out / "labels.csv")
    assert list(labels[0]) == ["path", "label", "video", "kind"]
    assert len(labels) == 15
    assert sum(r["label"] == "informative" for r in labels) == 5
    for row in labels:
        assert (out / row["path"]).is_file()
        if row["label"] == "informative":
            stem = pathlib.PurePosixPath(row["path"]).stem
            original = next(source.glob(f"{stem}.*"))
            written_pixels = np.asarray(Image.open(out / row["path"]).convert("RGB"), float)
            source_pixels = np.asarray(Image.open(original).convert("RGB"), float)
            # the same decode → encode as the twins: lossless for PNG, JPEG q95 otherwise
            if original.suffix == ".png":
                np.testing.assert_array_equal(written_pixels, source_pixels)
            else:
                assert row["path"].endswith(".jpg")
                assert np.abs(written_pixels - source_pixels).mean() < 2.0
            assert row["kind"] == "" and row["video"] == original.stem
        else:
            assert row["kind"] in D.KINDS and row["path"].split("/")[-1].startswith(row["video"])
    twins = {}
    for row in labels:
        if row["label"] == "non_informative":
            twins.setdefault(row["video"], []).append(row["kind"])
    assert all(len(set(kinds)) == 2 for kinds in twins.values())   # two different kinds
    # Twins keep the source's format (JPEG stays JPEG, PNG stays PNG) and its size.
    for row in labels:
        with Image.open(out / row["path"]) as image:
            assert image.size == (80, 64)
            assert image.format == ("PNG" if row["video"] == "frame0" else "JPEG")
    details = _rows(out / "degradations.csv")
    assert len(details) == 10
    for row in details:
        low, high = D.NON_INFORMATIVE_SEVERITY[row["kind"]]
        assert low <= float(row["severity"]) <= high and row["source"].startswith("images/")

    builder = datasets.builder("colonoscopy_frames", manual_dir=out, data_dir=tmp_path / "data")
    examples = {split: list(tfds.as_numpy(builder.as_dataset(split=split)))
                for split in ("train", "test")}
    assert len(examples["train"]) + len(examples["test"]) == 15
    assert len(examples["test"]) == 3    # one video (a frame and its two twins) of five
    groups = {split: {e["group"] for e in found} for split, found in examples.items()}
    assert not groups["train"] & groups["test"]
    for found in examples.values():
        for example in found:
            row = next(r for r in labels if r["path"] == example["name"].decode())
            assert example["label"] == (row["label"] == "informative")
            assert example["kind"].decode() == row["kind"]
            assert example["group"].decode() == row["video"]


def test_generation_is_reproducible_and_resumable(tmp_path):
    source = _source_folder(tmp_path, count=3)
    first = tmp_path / "first"
    generate_labelled_folder(source, first, seed=7, progress=False)
    reference = _digests(first)
    assert generate_labelled_folder(source, tmp_path / "second", seed=7,
                                    progress=False).written == 6
    assert _digests(tmp_path / "second") == reference        # same seed, same bytes
    # Resume: what is there is kept, what is missing is written again, identically.
    twin = next((first / "images" / "non_informative").iterdir())
    twin.unlink()
    (first / "labels.csv").unlink()
    done = generate_labelled_folder(source, first, seed=7, progress=False)
    assert (done.written, done.kept) == (1, 5)
    assert _digests(first) == reference
    assert not list(first.rglob(".*partial"))
    other = tmp_path / "other"
    generate_labelled_folder(source, other, seed=8, progress=False)
    assert _digests(other) != reference
    with pytest.raises(ValueError, match="other settings"):
        generate_labelled_folder(source, first, seed=8, progress=False)
    assert json.loads((first / "generation.json").read_text())["seed"] == 7


def test_generation_refuses_bad_folders(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        generate_labelled_folder(tmp_path / "nowhere", tmp_path / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        generate_labelled_folder(tmp_path / "empty", tmp_path / "out", progress=False)
    source = _source_folder(tmp_path, count=2)
    (source / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"broken\.jpg: unreadable image"):
        generate_labelled_folder(source, tmp_path / "out", progress=False)
    (source / "broken.jpg").unlink()
    (source / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"notes\.txt: not an image"):
        generate_labelled_folder(source, tmp_path / "out", progress=False)
    (source / "notes.txt").unlink()
    with pytest.raises(ValueError, match="must not be inside"):
        generate_labelled_folder(source, source / "out", progress=False)
    with pytest.raises(ValueError, match="degraded_per_frame"):
        generate_labelled_folder(source, tmp_path / "out", degraded_per_frame=0,
                                 progress=False)
    with pytest.raises(ValueError, match="kinds"):
        generate_labelled_folder(source, tmp_path / "out", kinds=["smear"], progress=False)
    assert not (tmp_path / "out").exists()   # nothing written before the checks pass


@pytest.mark.slow
@pytest.mark.shared
def test_generated_folder_from_real_kvasir_frames(shared, tmp_path):
    images = sorted((shared / "data" / "kvasir-seg" / "images").glob("*.jpg"))[:8]
    source = tmp_path / "kvasir"
    source.mkdir()
    for path in images:   # a few real frames (copied to the test's temporary folder)
        shutil.copyfile(path, source / path.name)
    out = tmp_path / "out"
    done = generate_labelled_folder(source, out, seed=0, progress=False)
    assert (done.informative, done.non_informative) == (8, 8)
    for row in _rows(out / "labels.csv"):
        with Image.open(out / row["path"]) as image, \
                Image.open(source / f"{row['video']}.jpg") as original:
            assert image.size == original.size and image.format == "JPEG"
    builder = datasets.builder("colonoscopy_frames", manual_dir=out, data_dir=tmp_path / "data")
    counts = {name: split.num_examples for name, split in builder.info.splits.items()}
    assert counts == {"train": 12, "test": 4}
    test_groups = set(builder.info.metadata["splits"]["test"]["groups"])
    train_groups = set(builder.info.metadata["splits"]["train"]["groups"])
    assert len(test_groups) == 2 and not test_groups & train_groups


# -- the synthetic_frames builder ----------------------------------------------------------


def test_synthetic_frames_small_config_like_colonoscopy_frames(tmp_path):
    builder = datasets.builder("synthetic_frames", config="small", data_dir=tmp_path)
    assert builder.name == "medkeras_synthetic_frames"
    assert builder.builder_config.name == "small"
    counts = {name: split.num_examples for name, split in builder.info.splits.items()}
    assert counts == {"train": 38, "test": 10}   # 24 videos of two frames, 5 for test
    frames = ColonoscopyFrames(data_dir=tmp_path / "frames").info.features
    assert builder.info.features.get_tensor_info() == frames.get_tensor_info()
    assert repr(builder.info.features) == repr(frames)
    labels, groups, by_key = {}, {}, {}
    for split in ("train", "test"):
        examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
        groups[split] = {e["group"].decode() for e in examples}
        for example in examples:
            by_key[example["key"].decode()] = example
            labels.setdefault(example["group"].decode(), []).append(int(example["label"]))
            assert example["image"].shape == (288, 352, 3)
            assert example["name"] == example["key"]
    assert not groups["train"] & groups["test"]
    assert all(sorted(found) == [0, 1] for found in labels.values())   # balanced videos
    informative, twin = synthetic_pair(3)
    assert np.array_equal(by_key["video0003/informative"]["image"], informative.image)
    stored = by_key[f"video0003/{twin.kind}"]
    assert np.array_equal(stored["image"], twin.image)        # PNG: lossless
    assert stored["kind"].decode() == twin.kind == "underexposure" and stored["label"] == 0
