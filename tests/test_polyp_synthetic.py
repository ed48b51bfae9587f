"""Synthetic colonoscopy frames (apps.polyp.synthetic) and their builder ``synthetic_polyps``."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from scipy import ndimage

from apps.polyp.dataset import KvasirSeg, polyp_components
from apps.polyp.synthetic import Polyp, synthetic_frame, synthetic_frames
from medkeras import datasets

SEEDS = range(6)


@pytest.fixture(scope="module")
def frames():
    return [synthetic_frame(seed=seed, polyps=1 + seed % 2) for seed in SEEDS]


def test_same_seed_same_frame_and_seeds_differ():
    a, b = synthetic_frame(seed=11), synthetic_frame(seed=11)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.polyps == b.polyps and a.seed == 11
    c = synthetic_frame(seed=12)
    assert np.abs(a.image.astype(int) - c.image.astype(int)).mean() > 10
    assert [f.seed for f in synthetic_frames(3, seed=4, shape=(64, 80))] == [4, 5, 6]


def test_shapes_and_types(frames):
    for frame in frames:
        assert frame.image.shape == (288, 352, 3) and frame.image.dtype == np.uint8
        assert frame.mask.shape == (288, 352) and frame.mask.dtype == bool
        assert frame.fov.shape == (288, 352) and frame.fov.dtype == bool
        assert all(isinstance(p, Polyp) for p in frame.polyps)
        assert frame.boxes.shape == (len(frame.polyps), 4)
    small = synthetic_frame(seed=0, shape=(96, 120), polyps=2)
    assert small.image.shape == (96, 120, 3) and len(small.polyps) == 2


def test_polyp_count_is_random_mostly_one_and_can_be_zero():
    counts = [len(synthetic_frame(seed=s, shape=(64, 80)).polyps) for s in range(40)]
    assert set(counts) <= {0, 1, 2} and counts.count(1) > len(counts) / 2
    empty = synthetic_frame(seed=0, polyps=0, shape=(64, 80))
    assert not empty.mask.any() and empty.polyps == [] and empty.boxes.shape == (0, 4)


def test_boxes_are_tight_around_the_mask_and_one_component_each(frames):
    for frame in frames:
        covered = np.zeros_like(frame.mask)
        for polyp in frame.polyps:
            y0, x0, y1, x1 = polyp.box
            inside = frame.mask[y0:y1, x0:x1]
            # tight: the mask touches all four edges of the box
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()
            assert inside.mean() > 0.3
            covered[y0:y1, x0:x1] = True
            width = frame.mask.shape[1]
            assert 0.04 * width / 2 * 0.99 <= polyp.radius <= 0.25 * width / 2 * 1.01
        assert not (frame.mask & ~covered).any()   # the boxes cover the whole mask
        assert not (frame.mask & ~frame.fov).any()
        height, width = frame.mask.shape
        components = polyp_components(frame.mask)
        assert len(components) == len(frame.polyps)
        assert np.allclose(sorted(c["bbox"] for c in components),
                           sorted(tuple(b / [height, width, height, width])
                                  for b in frame.boxes))


def test_polyps_stand_out_by_their_shading(frames):
    for frame in frames:
        grey = frame.image.astype(float).mean(-1)
        gradient = np.hypot(*np.gradient(ndimage.gaussian_filter(grey, 1.0)))
        view = ndimage.binary_erosion(frame.fov, iterations=6)
        rim = (ndimage.binary_dilation(frame.mask, iterations=2)
               & ~ndimage.binary_erosion(frame.mask, iterations=2) & view)
        background = view & ~ndimage.binary_dilation(frame.mask, iterations=8)
        assert gradient[rim].mean() > 1.5 * gradient[background].mean()
        # shaded domes: brightness varies more over a polyp than around it
        ring = (ndimage.binary_dilation(frame.mask, iterations=12)
                & ~ndimage.binary_dilation(frame.mask, iterations=4) & view)
        assert grey[frame.mask & view].std() > grey[ring].std()


def test_black_border_mucosa_colours_and_specular_highlights(frames):
    for frame in frames:
        image = frame.image.astype(float)
        assert 0.5 < frame.fov.mean() < 0.97
        assert image[~frame.fov].mean() < 6 and image[:4, :4].max() < 20   # black corners
        inside = image[ndimage.binary_erosion(frame.fov, iterations=3)]
        red, green, blue = inside.mean(0)
        assert red > green > blue and red > 100                             # reddish mucosa
        white = (frame.image >= 240).all(-1)
        assert 0 < white.mean() < 0.02                                       # speculars
    # More highlights on the polyps' domes than on the rest of the wall.
    on = sum(((f.image >= 240).all(-1) & f.mask).sum() for f in frames)
    off = sum(((f.image >= 240).all(-1) & ~f.mask).sum() for f in frames)
    area = sum(f.mask.sum() for f in frames)
    assert on / area > 2 * off / sum((~f.mask & f.fov).sum() for f in frames)


@pytest.mark.parametrize("options, message", [
    (dict(shape=(16, 200)), "at least 32"),
    (dict(polyps=-1), "polyps"),
    (dict(size_range=(0.3, 0.1)), "size_range"),
    (dict(seed=1.5), "seed"),
    (dict(shape=(40, 40), polyps=2, size_range=(0.5, 0.6)), "cannot place"),
])
def test_bad_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        synthetic_frame(**options)


def test_builder_small_config_like_kvasir(tmp_path):
    builder = datasets.builder("synthetic_polyps", config="small", data_dir=tmp_path)
    assert builder.builder_config.name == "small"
    counts = {name: split.num_examples for name, split in builder.info.splits.items()}
    assert counts == {"train": 20, "test": 4}
    # Exactly kvasir_seg's features (names, shapes, dtypes), plus the base's group and key.
    kvasir = KvasirSeg(data_dir=tmp_path / "kvasir").info.features
    assert builder.info.features.get_tensor_info() == kvasir.get_tensor_info()
    assert repr(builder.info.features) == repr(kvasir)
    groups, by_key = {}, {}
    for split in ("train", "test"):
        examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
        groups[split] = {e["group"].decode() for e in examples}
        for example in examples:
            by_key[example["key"].decode()] = example
            assert example["image"].shape == (288, 352, 3)
            assert example["mask"].shape == (288, 352, 1)
            assert set(np.unique(example["mask"])) <= {0, 1}
            assert len(example["polyps"]["area"]) == len(example["boxes"])
            assert np.allclose(np.sort(example["polyps"]["bbox"], 0),
                               np.sort(example["boxes"], 0), atol=1e-6)
    first, frame = by_key["synthetic00000"], synthetic_frame(seed=0)   # stored losslessly
    assert np.array_equal(first["image"], frame.image)
    assert np.array_equal(first["mask"][..., 0], frame.mask)
    assert first["name"].decode() == "synthetic00000" and first["group"].decode() == "video0000"
    assert len(groups["train"]) == 5 and len(groups["test"]) == 1
    assert not groups["train"] & groups["test"]
    assert datasets.fraction_split(builder, 0.2) == "train[:4]"   # one whole video
