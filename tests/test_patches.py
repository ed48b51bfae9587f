"""medkeras.data: augmented patch crops against NumPy/SciPy references, tf.data, splits."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from skimage.transform import resize

import medkeras
from medkeras.data import (augment_boxes, balanced_indices, crop_patches, orient, patch_dataset,
                           split_by_group, subsample_groups)
from medkeras.inference import inference_function

RNG = np.random.default_rng(7)
#: A 60×70 RGB image of noise: no two crops, orientations or channels look alike.
IMAGE = RNG.uniform(0, 255, (60, 70, 3)).astype(np.float32)
ATOL = 5e-3  # float32 round-off of sampling positions (~1e-5 px) × noise gradients (≤ 255)


def bilinear_reference(image, box, size):
    """Half-pixel bilinear sampling of ``box`` on a size×size grid, edge-extended (SciPy)."""
    y0, x0, y1, x1 = box
    cells = np.arange(size) + 0.5
    ys = y0 + cells * (y1 - y0) / size - 0.5   # pixel-centre coordinates
    xs = x0 + cells * (x1 - x0) / size - 0.5
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([ndimage.map_coordinates(image[..., c], [yy, xx], order=1, mode="nearest")
                     for c in range(image.shape[-1])], axis=-1)


# --------------------------------------------------------------------------- orientations


def test_orient_is_the_dihedral_group_in_the_documented_order():
    patch = IMAGE[:5, :5]
    expected = [patch, np.rot90(patch), patch[::-1, ::-1], np.rot90(patch, -1),
                patch[:, ::-1], patch.transpose(1, 0, 2), patch[::-1],
                patch[::-1, ::-1].transpose(1, 0, 2)]
    for k, reference in enumerate(expected):
        np.testing.assert_array_equal(orient(patch, k), reference, err_msg=f"k={k}")
    assert len({orient(patch, k).tobytes() for k in range(8)}) == 8
    assert orient(np.array([[1, 2], [3, 4]]), 1).tolist() == [[2, 4], [1, 3]]


def test_crop_patches_every_orientation_equals_orient():
    box = np.array([[7, 11, 27, 31]] * 8, float)
    patches = crop_patches(IMAGE[None], box, np.zeros(8, int), np.arange(8), size=20).numpy()
    crops = {patch.tobytes() for patch in patches.round(2)}
    assert len(crops) == 8
    for k in range(8):
        np.testing.assert_allclose(patches[k], orient(IMAGE[7:27, 11:31], k), atol=ATOL)


# --------------------------------------------------------------------------- augment_boxes


def test_augment_boxes_counts_order_and_geometry():
    boxes = np.array([[10, 20, 30, 60], [0, 0, 8, 8]], float)   # 20×40 and 8×8
    out, source, orientation = augment_boxes(boxes)
    assert out.shape == (2 * 216, 4)
    np.testing.assert_array_equal(source, np.repeat([0, 1], 216))
    np.testing.assert_array_equal(orientation, np.tile(np.arange(8), 2 * 27))
    # Box 0: centre (20, 40), size (20, 40).  Each (scale, ty, tx) repeats for 8 orientations.
    first = out[:216].reshape(3, 3, 3, 8, 4)
    assert np.all(first == first[..., :1, :])
    first = first[..., 0, :]
    height, width = first[..., 2] - first[..., 0], first[..., 3] - first[..., 1]
    np.testing.assert_allclose(height, np.array([1.0, 1.2, 1.5])[:, None, None] * 20 + 0 * height)
    np.testing.assert_allclose(width / height, 2.0)                      # aspect kept
    centre_y = (first[..., 0] + first[..., 2]) / 2
    centre_x = (first[..., 1] + first[..., 3]) / 2
    offsets = np.array([-0.1, 0.0, 0.1])
    np.testing.assert_allclose(centre_y, 20 + 20 * offsets[None, :, None] + 0 * centre_y)
    np.testing.assert_allclose(centre_x, 40 + 40 * offsets[None, None, :] + 0 * centre_x)


def test_augment_boxes_options():
    box = [[0, 0, 10, 10]]
    out, _, orientation = augment_boxes(box, scales=(1.0,), translations=(0.1,), orientations=4)
    assert len(out) == 4 * 4                                 # {±0.1}², no zero offset
    assert sorted(set(out[:, 0].tolist())) == [-1.0, 1.0]
    assert sorted(set(orientation.tolist())) == [0, 1, 2, 3]
    out, _, orientation = augment_boxes(box, scales=(2.0,), translations=(0.0,),
                                        orientations=[0, 5])
    np.testing.assert_array_equal(out, [[-5, -5, 15, 15]] * 2)
    np.testing.assert_array_equal(orientation, [0, 5])


def test_augmented_integer_crops_are_oriented_slices():
    """Every scale, translation and orientation of an integer box equals NumPy slicing."""
    out, _, orientation = augment_boxes([[20, 25, 40, 45]])   # 20×20: 20, 24, 30 px; shifts 2
    assert np.all(out == out.round())
    for side in (20, 24, 30):
        chosen = np.flatnonzero(out[:, 2] - out[:, 0] == side)
        assert len(chosen) == 72
        patches = crop_patches(IMAGE[None], out[chosen], np.zeros(72, int),
                               orientation[chosen], size=side).numpy()
        for patch, (y0, x0, y1, x1), k in zip(patches, out[chosen].astype(int),
                                              orientation[chosen]):
            np.testing.assert_allclose(patch, orient(IMAGE[y0:y1, x0:x1], int(k)), atol=ATOL)


# --------------------------------------------------------------------------- crop_patches


def test_crop_resizing_matches_skimage_and_scipy():
    whole = crop_patches(IMAGE[None], [[0, 0, 60, 70]], [0], [0], size=97).numpy()[0]
    expected = resize(IMAGE, (97, 97), order=1, mode="edge", anti_aliasing=False,
                      preserve_range=True)
    np.testing.assert_allclose(whole, expected, atol=ATOL)
    box = [3.5, 7.25, 31.5, 40.75]                             # fractional, down and up
    for size in (9, 45):
        patch = crop_patches(IMAGE[None], [box], [0], [0], size=size).numpy()[0]
        np.testing.assert_allclose(patch, bilinear_reference(IMAGE, box, size), atol=ATOL)


def test_boxes_outside_the_image_are_padded():
    patch = crop_patches(IMAGE[None], [[-5, -6, 15, 14]], [0], [0], size=20,
                         pad_value=-7).numpy()[0]
    np.testing.assert_allclose(patch[5:, 6:], IMAGE[:15, :14], atol=ATOL)
    assert np.all(patch[:5] == -7) and np.all(patch[:, :6] == -7)
    far = crop_patches(IMAGE[None], [[100, 100, 120, 130]], [0], [0], size=8).numpy()
    assert np.all(far == 0)                                  # default pad value
    # Upscaled ×2 across the bottom-right corner: cells whose centre is inside the image
    # are edge-extended bilinear values, the others are pad_value.
    box = [50, 60, 70, 80]
    patch = crop_patches(IMAGE[None], [box], [0], [0], size=40, pad_value=-7).numpy()[0]
    np.testing.assert_allclose(patch[:20, :20], bilinear_reference(IMAGE, box, 40)[:20, :20],
                               atol=ATOL)
    assert np.all(patch[20:] == -7) and np.all(patch[:, 20:] == -7)


def test_orientations_of_padded_fractional_crops():
    boxes = np.array([[-8.5, 50.2, 20.1, 81.0], [40.3, -3.7, 66.6, 20.0]])
    indices, ids = np.repeat([0, 1], 8), np.tile(np.arange(8), 2)
    patches = crop_patches(IMAGE[None], boxes[indices], np.zeros(16, int), ids, size=13,
                           pad_value=-1).numpy()
    for patch, box_index, k in zip(patches, indices, ids):
        upright = patches[8 * box_index]
        np.testing.assert_allclose(patch, orient(upright, int(k)), atol=ATOL)
    assert np.any(patches == -1) and np.any(patches > 0)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_crop_patches_channels_dtypes_and_tf_function(channels):
    images = IMAGE[None, :, :, :channels].round().astype(np.uint8)
    images = np.concatenate([images, 255 - images])             # two images, uint8
    boxes = np.array([[1.5, 2.0, 30.0, 41.0], [-3.0, 10.0, 50.0, 75.0], [5, 5, 25, 25]])
    indices, ids = np.array([0, 1, 1]), np.array([3, 6, 0])
    eager = crop_patches(images, boxes, indices, ids, size=31)
    assert eager.dtype == tf.float32 and eager.shape == (3, 31, 31, channels)
    floats = images.astype(np.float32)
    np.testing.assert_allclose(eager[0], orient(bilinear_reference(floats[0], boxes[0], 31), 3),
                               atol=ATOL)
    np.testing.assert_allclose(eager[2], bilinear_reference(floats[1], boxes[2], 31), atol=ATOL)
    traced = tf.function(lambda *args: crop_patches(*args, size=31), input_signature=[
        tf.TensorSpec([None, None, None, channels], tf.uint8), tf.TensorSpec([None, 4]),
        tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)])
    graph = traced(images, boxes.astype(np.float32), indices.astype(np.int32),
                   ids.astype(np.int32))
    np.testing.assert_allclose(graph.numpy(), eager.numpy(), atol=ATOL)


# --------------------------------------------------------------------------- patch_dataset


def coloured_images():
    """Images of different sizes whose colour says which image they are and their label."""
    labels = np.array([0, 1, 1, 0, 1])
    shapes = [(40, 50), (33, 61), (52, 30), (45, 45), (30, 64)]
    images = [np.broadcast_to(np.array([40 * i, 100 + 100 * label, 7], np.uint8), (*s, 3))
              for i, (s, label) in enumerate(zip(shapes, labels))]
    # One 10×10 box in the middle of each image: even ×1.5 and moved by 10% it stays inside.
    boxes = np.array([[h // 2 - 5, w // 2 - 5, h // 2 + 5, w // 2 + 5] for h, w in shapes])
    return images, boxes, labels


def test_patch_dataset_yields_each_augmented_patch_once_with_its_label():
    images, boxes, labels = coloured_images()
    dataset = patch_dataset(images, boxes, labels, batch_size=100, size=12)
    seen = []
    for patches, batch_labels in dataset:
        assert patches.shape[1:] == (12, 12, 3) and patches.dtype == tf.float32
        assert len(patches) == len(batch_labels) <= 100
        for patch, label in zip(patches.numpy(), batch_labels.numpy()):
            (image,) = [i for i, im in enumerate(images)
                        if np.allclose(patch, medkeras.preprocess_input(im[:12, :12]))]
            assert label == labels[image]
            seen.append(image)
    np.testing.assert_array_equal(np.bincount(seen), [216] * 5)


def test_patch_dataset_defaults_and_image_index():
    images, boxes, labels = coloured_images()
    # Two boxes in image 3, one in image 0; default size 227.
    dataset = patch_dataset([images[0], images[3]], boxes[[3, 3, 0]], [5, 6, 7],
                            image_index=[1, 1, 0], augment=False, batch_size=2, shuffle=False)
    batches = list(dataset)
    assert [tuple(b[0].shape) for b in batches] == [(2, 227, 227, 3), (1, 227, 227, 3)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), [5, 6, 7])
    colour = np.broadcast_to(images[0][0, 0], (227, 227, 3))    # image 0 is one colour
    np.testing.assert_allclose(batches[1][0][0], medkeras.preprocess_input(colour), atol=ATOL)


def test_patch_dataset_channels_and_preprocessing():
    grey = RNG.uniform(0, 255, (30, 40)).astype(np.float32)
    two = RNG.uniform(0, 255, (30, 40, 2)).astype(np.float32)
    box = [[4, 6, 24, 26]]                                   # 20×20, cropped at size 20
    for image, to_rgb in [(grey, medkeras.grey_to_rgb), (two, medkeras.two_channel_to_rgb)]:
        crop = image[4:24, 6:26]
        raw, _ = next(iter(patch_dataset([image], box, [1], augment=False, size=20,
                                         preprocess=False)))
        np.testing.assert_allclose(raw[0], to_rgb(crop), atol=ATOL)
        ready, _ = next(iter(patch_dataset([image], box, [1], augment=False, size=20)))
        np.testing.assert_allclose(ready[0], medkeras.preprocess_input(to_rgb(crop)), atol=ATOL)
    kept, _ = next(iter(patch_dataset([two], box, [1], augment=False, size=20, to_rgb=False,
                                      preprocess=False)))
    assert kept.shape == (1, 20, 20, 2)


def test_patch_dataset_is_deterministic_per_seed():
    images = [RNG.integers(0, 256, (50, 60, 3), dtype=np.uint8) for _ in range(3)]
    boxes = np.array([[10, 10, 30, 30], [5, 20, 35, 50], [20, 5, 40, 25]])

    def first_batch(seed, shuffle=True):
        dataset = patch_dataset(images, boxes, [0, 1, 2], batch_size=16, size=16, seed=seed,
                                shuffle=shuffle)
        return [t.numpy() for t in next(iter(dataset))]

    a, b, c = first_batch(0), first_batch(0), first_batch(1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    ordered = first_batch(0, shuffle=False)
    np.testing.assert_array_equal(ordered[1], [0] * 16)       # augment_boxes order
    out, _, orientation = augment_boxes(boxes[:1])
    expected = crop_patches(images[0][None], out[:16], np.zeros(16, int), orientation[:16],
                            size=16)
    np.testing.assert_allclose(ordered[0], medkeras.preprocess_input(expected), atol=ATOL)


# --------------------------------------------------------------------------- splits


def test_balanced_indices():
    labels = np.array([0] * 50 + [1] * 10 + [2] * 30)
    chosen = balanced_indices(labels, seed=3)
    np.testing.assert_array_equal(np.bincount(labels[chosen]), [10, 10, 10])
    np.testing.assert_array_equal(chosen[labels[chosen] == 1], np.arange(50, 60))  # minority kept
    assert np.all(np.diff(chosen) > 0)
    np.testing.assert_array_equal(chosen, balanced_indices(labels, seed=3))
    assert not np.array_equal(chosen, balanced_indices(labels, seed=4))
    capped = balanced_indices(labels, max_per_class=4)
    np.testing.assert_array_equal(np.bincount(labels[capped]), [4, 4, 4])
    names = np.array(["polyp"] * 3 + ["normal"] * 8)
    assert sorted(names[balanced_indices(names)]) == ["normal"] * 3 + ["polyp"] * 3


def group_ids():
    sizes = np.random.default_rng(0).integers(1, 30, 50)        # 50 patients, uneven
    return np.repeat([f"patient{i:02d}" for i in range(50)], sizes)


def test_split_by_group():
    groups = group_ids()
    train, val = split_by_group(groups, seed=1)
    assert len(set(groups[train]) & set(groups[val])) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(len(groups)))
    assert len(set(groups[val])) == 10                          # 20% of 50 groups
    again = split_by_group(groups, seed=1)
    np.testing.assert_array_equal(val, again[1])
    assert set(groups[split_by_group(groups, seed=2)[1]]) != set(groups[val])
    assert len(set(groups[split_by_group(groups, validation_fraction=0.001)[1]])) == 1


def test_subsample_groups_nested_fractions():
    groups = group_ids()
    previous = None
    for fraction, count in [(1.0, 50), (0.5, 25), (0.25, 13), (0.1, 5), (0.01, 1)]:
        chosen = subsample_groups(groups, fraction, seed=5)
        kept = set(groups[chosen])
        assert len(kept) == count
        np.testing.assert_array_equal(chosen, np.flatnonzero(np.isin(groups, list(kept))))
        assert previous is None or kept <= previous
        previous = kept
    assert set(groups[subsample_groups(groups, 0.5, seed=6)]) != \
        set(groups[subsample_groups(groups, 0.5, seed=5)])


def test_stratified_splits_reach_every_class_of_single_class_groups():
    groups = group_ids()
    labels = np.array([int(g[-2:]) % 3 for g in groups])   # every patient of one class
    for seed in range(20):
        train, val = split_by_group(groups, seed=seed, strata=labels)
        assert set(labels[val]) == set(labels[train]) == {0, 1, 2}
        assert not set(groups[train]) & set(groups[val])
        kept = subsample_groups(groups[train], 0.1, seed=seed, strata=labels[train])
        assert set(labels[train][kept]) == {0, 1, 2}
        assert kept.tolist() == sorted(kept.tolist())
    # class by class: 20% of each class's 17, 17 and 16 patients, rounded half up
    counts = [len(set(groups[val][labels[val] == k])) for k in range(3)]
    assert counts == [3, 3, 3]
    previous = None
    for fraction in (1.0, 0.5, 0.25):                     # still nested across fractions
        kept = set(groups[subsample_groups(groups, fraction, seed=3, strata=labels)])
        assert previous is None or kept <= previous
        previous = kept
    unstratified_misses = sum(len(set(labels[split_by_group(groups, seed=s)[1]])) < 3
                              for s in range(200))
    assert unstratified_misses > 0          # what strata prevent: a class missing from validation


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, message", [
    (lambda: augment_boxes([[10, 0, 10, 5]]), "y1 > y0"),
    (lambda: augment_boxes([[0, 8, 10, 5]]), "x1 > x0"),
    (lambda: augment_boxes([0, 0, 10, 10]), r"shape \(n, 4\)"),
    (lambda: augment_boxes([[0, 0, 1, 1]], scales=(1.0, -1.0)), "scales"),
    (lambda: augment_boxes([[0, 0, 1, 1]], orientations=3), "orientations"),
    (lambda: augment_boxes([[0, 0, 1, 1]], orientations=[0, 8]), "0..7"),
    (lambda: orient(IMAGE, 8), "0..7"),
    (lambda: crop_patches(IMAGE[None], [[5, 5, 1, 9]], [0], [0]), "y1 > y0"),
    (lambda: crop_patches(IMAGE[None], [[0, 0, 9, 9]], [1], [0]), "box_indices"),
    (lambda: crop_patches(IMAGE[None], [[0, 0, 9, 9]], [0, 0], [0, 0]), "lengths differ"),
    (lambda: crop_patches(IMAGE, [[0, 0, 9, 9]], [0], [0]), r"\(B, H, W, C\)"),
    (lambda: crop_patches(IMAGE[None], [[0, 0, 9, 9]], [0], [0], size=0), "size"),
    (lambda: patch_dataset([IMAGE], [[0, 0, 9, 9]], [0, 1]), "lengths differ"),
    (lambda: patch_dataset([IMAGE, IMAGE], [[0, 0, 9, 9]], [0]), "image_index"),
    (lambda: patch_dataset([IMAGE], [[0, 0, 9, 9]], [0], image_index=[1]), "image_index"),
    (lambda: patch_dataset([IMAGE, IMAGE[..., :2]], [[0, 0, 9, 9]] * 2, [0, 1]), "same C"),
    (lambda: patch_dataset([IMAGE[..., 0]], [[0, 0, 9, 9]], [0], to_rgb=False), "to_rgb"),
    (lambda: patch_dataset([IMAGE], [[0, 0, 9, 9]], [0], augment="yes"), "augment"),
    (lambda: patch_dataset([IMAGE], [[0, 0, 9, 9]], [0], batch_size=0), "batch_size"),
    (lambda: balanced_indices([]), "non-empty"),
    (lambda: balanced_indices([0, 1], max_per_class=0), "max_per_class"),
    (lambda: split_by_group([1, 2, 3], validation_fraction=0.0), r"\(0, 1\)"),
    (lambda: split_by_group([1, 2, 3], validation_fraction=1.0), r"\(0, 1\)"),
    (lambda: split_by_group([4, 4, 4]), "at least 2 groups"),
    (lambda: subsample_groups([1, 2], 0.0), r"\(0, 1\]"),
    (lambda: subsample_groups([1, 2], 1.5), r"\(0, 1\]"),
    (lambda: subsample_groups([1, 2], -0.1), r"\(0, 1\]"),
])
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_lazy_patches_index_like_an_array_and_predict_in_chunks_matches_predict():
    import keras

    from medkeras.data import LazyPatches, predict_in_chunks

    rng = np.random.default_rng(0)
    eager = rng.normal(size=(23, 5, 5, 3)).astype(np.float32)
    calls = []

    def make(indices):
        calls.append(len(indices))
        return eager[indices]

    lazy = LazyPatches(make, len(eager))
    assert len(lazy) == 23
    np.testing.assert_array_equal(lazy[[4, 1, 9]], eager[[4, 1, 9]])
    np.testing.assert_array_equal(lazy[20:], eager[20:])
    np.testing.assert_array_equal(lazy[3], eager[3])
    model = keras.Sequential([keras.Input((5, 5, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    expected = model.predict(eager, verbose=0)
    calls.clear()
    np.testing.assert_allclose(predict_in_chunks(model, lazy, batch_size=4, chunk=10),
                               expected, rtol=1e-5, atol=1e-6)
    assert calls == [10, 10, 3]
    np.testing.assert_allclose(predict_in_chunks(model, eager, chunk=7), expected,
                               rtol=1e-5, atol=1e-6)


def test_pipelined_scoring_equals_serial_and_keeps_memory_bounded():
    """Cutting the next chunk overlaps scoring this one: the scores are exactly the serial
    ones, and no more than prefetch + 1 chunks are ever cut and not yet scored."""
    import threading

    import keras

    from medkeras.data import LazyPatches, predict_in_chunks

    data = np.random.default_rng(1).normal(size=(50, 6, 6, 3)).astype(np.float32)
    events, lock = [], threading.Lock()

    def make(indices):
        with lock:
            events.append(("cut", int(indices[0])))
        return data[indices]

    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])

    infer = inference_function(model)                   # what predict_in_chunks runs

    class Recording:
        def predict_on_batch(self, batch):
            with lock:
                events.append(("score", len(batch)))
            return infer(batch)

    serial = predict_in_chunks(model, LazyPatches(make, 50), chunk=8, prefetch=0)
    for prefetch in (1, 3):
        events.clear()
        piped = predict_in_chunks(Recording(), LazyPatches(make, 50), chunk=8,
                                  prefetch=prefetch)
        np.testing.assert_array_equal(piped, serial)
        waiting = peak = 0
        for kind, _ in events:
            waiting += 1 if kind == "cut" else -1
            peak = max(peak, waiting)
        assert peak <= prefetch + 1 and [k for k, _ in events].count("score") == 7
