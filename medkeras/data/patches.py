"""Candidate boxes → augmented, oriented, Caffe-ready patches, as tensor ops and ``tf.data``.

Tajbakhsh et al. (2016) classify patches around candidate locations (polyp candidates in
colonoscopy frames, PE candidates, CIMT regions) and augment every candidate by extracting
it at several scales, translating it, and rotating/flipping it; all patches are resized to
the 227×227 input of AlexNet.  This module does that:

* :func:`augment_boxes` lists every (scale, translation, orientation) of every box, in NumPy;
* :func:`crop_patches` crops, resizes and orients a batch of boxes with
  ``tf.image.crop_and_resize`` and batched tensor ops (``tf.function``-safe, GPU-capable);
* :func:`patch_dataset` turns images, boxes and labels into a shuffled, batched, prefetched
  ``tf.data.Dataset`` of ``(patches, labels)`` ready for :class:`medkeras.AlexNet`;
* :func:`orient` is the NumPy reference of the 8 orientations.

Conventions
-----------
Boxes are ``(y0, x0, y1, x1)`` in **pixel-edge** coordinates: pixel ``(i, j)`` covers
``[i, i+1) × [j, j+1)``, so the integer box ``(10, 20, 30, 40)`` is exactly
``image[10:30, 20:40]``.  A box is sampled on a ``size × size`` grid of cells whose centres
are at ``y0 + (i + 0.5)·(y1 − y0)/size`` (the "half-pixel" convention of OpenCV and
``skimage.transform.resize``), interpolated bilinearly between pixel centres.  When the box
size equals ``size`` the crop is therefore exact integer slicing.

A sample whose centre lies inside the image (``0 ≤ y < height``, ``0 ≤ x < width``) takes
the bilinear value, the image being extended by its edge pixels for the half pixel beyond
the outermost pixel centres; a sample whose centre lies outside the image takes
``pad_value`` (default 0: the black surround of colonoscopy and ultrasound frames).

Orientation ``k`` in 0..7 is ``rotations + 4·flip``: mirror left-right if ``k >= 4``, then
rotate counter-clockwise by ``90°·(k % 4)`` (``np.rot90``) — the 8 elements of the dihedral
group of the square.
"""

import numbers

import numpy as np
import tensorflow as tf

from medkeras.preprocessing import grey_to_rgb, preprocess_input, two_channel_to_rgb

#: Orientation ``k`` as (transpose, reverse rows, reverse columns): reverse first, then
#: transpose.  Equal to :func:`orient` (checked in tests/test_patches.py).
_ORIENTATION_OPS = np.array([(0, 0, 0), (1, 0, 1), (0, 1, 1), (1, 1, 0),
                             (0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 1)], bool)

#: The paper's augmentation (Tajbakhsh et al. 2016): 3 scales × 9 translations × 8 orientations.
DEFAULT_AUGMENTATION = {"scales": (1.0, 1.2, 1.5), "translations": (0.0, 0.1), "orientations": 8}

#: No augmentation: every box once, as given.
NO_AUGMENTATION = {"scales": (1.0,), "translations": (0.0,), "orientations": 1}


# --------------------------------------------------------------------------- validation


def _check_boxes(boxes, name="boxes"):
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (n, 4) as (y0, x0, y1, x1), got shape "
                         f"{boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{name} must be finite")
    bad = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    if bad.size:
        raise ValueError(f"{name} need y1 > y0 and x1 > x0; box {bad[0]} is "
                         f"{tuple(boxes[bad[0]].tolist())} ({bad.size} bad boxes)")
    return boxes


def _check_orientation_ids(ids, name="orientations"):
    ids = np.asarray(ids)
    if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() > 7):
        raise ValueError(f"{name} must be integers in 0..7, got {np.unique(ids)[:10]}")
    return ids.astype(np.int64)


def _check_size(size):
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return int(size)


def _check_lengths(**arrays):
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError("lengths differ: " + ", ".join(f"{k}={v}" for k, v in lengths.items()))


# --------------------------------------------------------------------------- NumPy side


def orient(patch, k):
    """Orientation ``k`` (0..7) of a ``(H, W)`` or ``(H, W, C)`` patch, in NumPy.

    ``k = rotations + 4·flip``: mirror left-right if ``k >= 4``, then rotate by
    ``90°·(k % 4)`` counter-clockwise.  The reference :func:`crop_patches` is tested against.

    >>> orient(np.array([[1, 2], [3, 4]]), 1)
    array([[2, 4],
           [1, 3]])
    """
    if not isinstance(k, numbers.Integral) or not 0 <= k <= 7:
        raise ValueError(f"orientation k must be an integer in 0..7, got {k!r}")
    patch = np.asarray(patch)
    if patch.ndim not in (2, 3):
        raise ValueError(f"orient expects a (H, W) or (H, W, C) patch, got shape {patch.shape}")
    if k >= 4:
        patch = np.flip(patch, axis=1)
    return np.rot90(patch, k % 4, axes=(0, 1))


def augment_boxes(boxes, *, scales=(1.0, 1.2, 1.5), translations=(0.0, 0.1), orientations=8):
    """Every scale × translation × orientation of every box (the paper's augmentation).

    Tajbakhsh et al. (2016) augment each candidate by enlarging its box, translating it and
    rotating/flipping the patch.  For a box of height ``h`` and width ``w`` and centre
    ``(cy, cx)``, the augmented box for scale ``s`` and offsets ``(ty, tx)`` has size
    ``(s·h, s·w)`` (aspect kept) and centre ``(cy + ty·h, cx + tx·w)`` — translations are
    fractions of the *given* box, so the object moves by the same amount at every scale.

    Parameters
    ----------
    boxes : (n, 4) array
        ``(y0, x0, y1, x1)`` in pixels, ``y1 > y0`` and ``x1 > x0``.
    scales : sequence of float > 0
        Box enlargements about the centre.
    translations : sequence of float >= 0
        Offset magnitudes.  The offsets along each axis are ``{±t for t in translations}``
        (so ``(0.0, 0.1)`` → ``{-0.1, 0, +0.1}``, ``(0.1,)`` → ``{-0.1, +0.1}``), and every
        ``(ty, tx)`` pair of them is used: 9 pairs for the default.
    orientations : int or sequence of int
        1 (none), 4 (the rotations, ids 0..3) or 8 (rotations and mirrored rotations, ids
        0..7), or explicit orientation ids (see :func:`orient`).

    Returns
    -------
    boxes : (m, 4) float64
        ``m = n · len(scales) · len(offsets)² · len(orientations)``, ordered by source box,
        then scale, then ``ty``, then ``tx``, then orientation (fastest); 216 per box with
        the defaults.
    source : (m,) int64
        Index of the given box each augmented box comes from.
    orientation : (m,) int64
        Orientation id of each augmented box, for :func:`crop_patches`.
    """
    boxes = _check_boxes(boxes)
    scales = np.asarray(scales, dtype=np.float64).ravel()
    if scales.size == 0 or not np.all(np.isfinite(scales) & (scales > 0)):
        raise ValueError(f"scales must be a non-empty sequence of positive numbers, got {scales}")
    translations = np.asarray(translations, dtype=np.float64).ravel()
    if translations.size == 0 or not np.all(np.isfinite(translations) & (translations >= 0)):
        raise ValueError("translations must be a non-empty sequence of non-negative fractions, "
                         f"got {translations}")
    offsets = np.unique(np.concatenate([-translations, translations]))
    if isinstance(orientations, numbers.Integral):
        if orientations not in (1, 4, 8):
            raise ValueError(f"orientations must be 1, 4, 8 or a sequence of ids 0..7, got "
                             f"{orientations!r}")
        ids = np.arange(orientations)
    else:
        ids = _check_orientation_ids(np.asarray(orientations).ravel())
        if ids.size == 0:
            raise ValueError("orientations must not be empty")

    y0, x0, y1, x1 = boxes.T
    height, width = y1 - y0, x1 - x0
    # Axes: (box, scale, ty, tx, orientation).
    index = np.arange(len(boxes))[:, None, None, None, None]
    s = scales[None, :, None, None, None]
    ty = offsets[None, None, :, None, None]
    tx = offsets[None, None, None, :, None]
    k = ids[None, None, None, None, :]
    h, w = height[:, None, None, None, None], width[:, None, None, None, None]
    cy = (y0 + y1)[:, None, None, None, None] / 2 + ty * h
    cx = (x0 + x1)[:, None, None, None, None] / 2 + tx * w
    half_h, half_w = s * h / 2, s * w / 2
    parts = np.broadcast_arrays(cy - half_h, cx - half_w, cy + half_h, cx + half_w, index, k)
    out = np.stack([p.ravel() for p in parts[:4]], axis=1)
    return out, parts[4].ravel().astype(np.int64), parts[5].ravel().astype(np.int64)


# --------------------------------------------------------------------------- tensor side


def _crop_padded(padded, image_sizes, boxes, box_indices, orientations, size, pad_value):
    """:func:`crop_patches` on images already extended by one edge pixel on each side.

    ``padded[b, 1:1+h, 1:1+w]`` is image ``b`` of size ``image_sizes[b] = (h, w)``, with its
    edge pixels replicated one pixel around; anything beyond is ignored (``pad_value``).
    This lets images of different sizes share one zero-padded tensor.
    """
    boxes = tf.cast(boxes, tf.float32)
    box_indices = tf.cast(box_indices, tf.int32)
    transpose, flip_y, flip_x = tf.unstack(
        tf.gather(tf.constant(_ORIENTATION_OPS), tf.cast(orientations, tf.int32)), axis=1)
    last = tf.cast(tf.shape(padded)[1:3] - 1, tf.float32)          # (Hp - 1, Wp - 1)
    y0, x0, y1, x1 = tf.unstack(boxes, axis=1)

    def grid(start, stop, flip):
        """Centres of the first cell and the step between cells, in edge coordinates.

        A flip samples the cells in reverse order, which crop_and_resize does when a
        normalised box has y1 > y2 (or x1 > x2): flips cost nothing.
        """
        step = (stop - start) / size
        first = tf.where(flip, stop - 0.5 * step, start + 0.5 * step)
        return first, tf.where(flip, -step, step)

    first_y, step_y = grid(y0, y1, flip_y)
    first_x, step_x = grid(x0, x1, flip_x)
    # crop_and_resize samples linearly from normalised y·(Hp − 1) to y'·(Hp − 1) in pixel-
    # centre coordinates of the padded image: edge coordinate c ↦ c − 0.5 + 1 (the border).
    last_y, last_x = first_y + (size - 1) * step_y, first_x + (size - 1) * step_x
    normalised = tf.stack([(first_y + 0.5) / last[0], (first_x + 0.5) / last[1],
                           (last_y + 0.5) / last[0], (last_x + 0.5) / last[1]], axis=1)
    patches = tf.image.crop_and_resize(padded, normalised, box_indices, [size, size],
                                       method="bilinear", extrapolation_value=pad_value)
    # Cells whose centre is outside their own image take pad_value.
    cells = tf.range(size, dtype=tf.float32)
    cy = first_y[:, None] + cells[None, :] * step_y[:, None]
    cx = first_x[:, None] + cells[None, :] * step_x[:, None]
    extent = tf.gather(tf.cast(image_sizes, tf.float32), box_indices)
    inside_y = (cy >= 0) & (cy < extent[:, 0:1])
    inside_x = (cx >= 0) & (cx < extent[:, 1:2])
    inside = inside_y[:, :, None, None] & inside_x[:, None, :, None]
    patches = tf.where(inside, patches, tf.constant(pad_value, tf.float32))
    # The remaining part of the orientation, a transpose, applied after the flips.
    return tf.where(transpose[:, None, None, None], tf.transpose(patches, [0, 2, 1, 3]),
                    patches)


def crop_patches(images, boxes, box_indices, orientations, *, size=227, pad_value=0.0):
    """Crop, resize to ``size × size`` and orient boxes of a batch of images, as tensor ops.

    Runs eagerly or inside ``tf.function`` (and on a GPU when present): one
    ``tf.image.crop_and_resize`` for all boxes (bilinear, half-pixel convention of the module
    docstring) in which each orientation's flips are a reversed sampling order, a mask for
    cells outside the image, and one batched transpose selected with ``tf.where`` for the
    orientations that need it.

    Parameters
    ----------
    images : (B, H, W, C) array or tensor
        Any real dtype; C is typically 1, 2 or 3.
    boxes : (n, 4)
        ``(y0, x0, y1, x1)`` in pixels (see :func:`augment_boxes`).
    box_indices : (n,) int
        Image of each box, in ``0..B-1``.
    orientations : (n,) int
        Orientation id of each box, 0..7 (see :func:`orient`).
    size : int
        Output height and width (227 for AlexNet and SqueezeNet).
    pad_value : float
        Value of cells whose centre lies outside the image.

    Returns
    -------
    (n, size, size, C) float32 tensor
    """
    size = _check_size(size)
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"images must have shape (B, H, W, C), got shape {images.shape}")
    boxes = tf.cast(tf.convert_to_tensor(boxes), tf.float32)
    if boxes.shape.rank != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (n, 4), got shape {boxes.shape}")
    if tf.executing_eagerly():  # values can be checked only outside tf.function
        _check_boxes(boxes.numpy())
        indices = np.asarray(box_indices)
        _check_orientation_ids(np.asarray(orientations))
        _check_lengths(boxes=boxes, box_indices=indices, orientations=np.asarray(orientations))
        if indices.size and (indices.min() < 0 or indices.max() >= images.shape[0]):
            raise ValueError(f"box_indices must be in 0..{images.shape[0] - 1}, got values in "
                             f"{indices.min()}..{indices.max()}")
    shape = tf.shape(images)
    image_sizes = tf.broadcast_to(shape[1:3], tf.stack([shape[0], 2]))
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    return _crop_padded(padded, image_sizes, boxes, box_indices, orientations, size,
                        float(pad_value))


def three_channels(patches):
    """``(..., C)`` patches with C = 1, 2 or 3 → 3 channels, as a tensor op.

    Grey is repeated (:func:`medkeras.grey_to_rgb`), two channels become ``[c0, c1, c1]``
    (:func:`medkeras.two_channel_to_rgb`), three are kept.
    """
    channels = patches.shape[-1]
    if channels == 1:
        return grey_to_rgb(patches)
    if channels == 2:
        return two_channel_to_rgb(patches)
    if channels == 3:
        return patches
    raise ValueError(f"three_channels expects 1, 2 or 3 channels, got shape {patches.shape}")


# --------------------------------------------------------------------------- tf.data


def _stack_images(images):
    """Images of different sizes → one edge-extended, zero-padded array and their sizes."""
    if isinstance(images, np.ndarray):
        images = list(images)  # a batch array is a sequence along axis 0
    images = [np.asarray(image) for image in images]
    if not images:
        raise ValueError("images must not be empty")
    images = [image[..., None] if image.ndim == 2 else image for image in images]
    shapes = {image.shape[2:] for image in images}
    if any(image.ndim != 3 for image in images) or len(shapes) != 1 \
            or images[0].shape[2] not in (1, 2, 3):
        raise ValueError("images must all be (H, W) or all (H, W, C) with the same C in "
                         f"1, 2, 3; got shapes {sorted({image.shape for image in images})[:5]}")
    if any(min(image.shape[:2]) < 1 for image in images):
        raise ValueError("images must have at least one pixel")
    dtype = np.result_type(*images)
    if dtype not in (np.uint8, np.uint16, np.int8, np.int16, np.float16, np.float32):
        dtype = np.dtype(np.float32)
    sizes = np.array([image.shape[:2] for image in images], np.int32)
    stack = np.zeros((len(images), *(sizes.max(axis=0) + 2), images[0].shape[2]), dtype)
    for out, image, (h, w) in zip(stack, images, sizes):
        out[:h + 2, :w + 2] = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    return stack, sizes


def patch_dataset(images, boxes, labels, *, image_index=None, augment=True, batch_size=64,
                  shuffle=True, seed=0, size=227, to_rgb=True, preprocess=True, pad_value=0.0):
    """``tf.data.Dataset`` of ``(patches, labels)`` batches from candidate boxes in images.

    Every box is augmented (:func:`augment_boxes`; by default the paper's 3 scales ×
    9 translations × 8 orientations = 216 patches per box), the (box, orientation) samples
    are shuffled, batched, and each batch is cropped, resized and oriented in one
    :func:`crop_patches` call, made 3-channel and Caffe-preprocessed.  Prefetched.

    The images are held once, on the CPU, in one tensor zero-padded to the largest image
    (memory: ``len(images) · max H · max W · C`` of their dtype, uint8 kept); patches are
    computed per batch, never stored.

    Parameters
    ----------
    images : sequence of (H, W) or (H, W, C) arrays, C in 1, 2, 3
        Sizes may differ; the channel count may not.  An array is read along axis 0.
        Values 0–255 (RGB for colour) when ``preprocess`` is on.
    boxes : (m, 4) array
        Candidate boxes ``(y0, x0, y1, x1)`` in pixels of their image.
    labels : (m, ...) array
        Label of each box, repeated for its augmented patches.
    image_index : (m,) int, optional
        Index in ``images`` of the image each box lies in.  Default: box ``i`` lies in
        image ``i`` (needs ``len(images) == m``).
    augment : bool or dict
        ``True``: the paper's augmentation (:data:`DEFAULT_AUGMENTATION`); ``False``: each
        box once, unscaled, unmoved, unrotated; a dict: keyword arguments of
        :func:`augment_boxes`.
    batch_size : int
    shuffle : bool
        Shuffle all samples, again every epoch.  Off: the order of :func:`augment_boxes`.
    seed : int
        Seed of the shuffle: the same seed gives the same batches (with TF's global seed,
        which ``keras.utils.set_random_seed`` sets, unchanged).
    size : int
        Patch size.
    to_rgb : bool
        Make 3 channels: grey repeated, 2 channels as ``[c0, c1, c1]``.
    preprocess : bool
        Apply :func:`medkeras.preprocess_input` (RGB → BGR, ImageNet mean subtracted), the
        input of :class:`medkeras.AlexNet` and :class:`medkeras.SqueezeNet`.
    pad_value : float
        Value of patch cells outside the image, before preprocessing.

    Returns
    -------
    tf.data.Dataset
        Elements ``(patches, labels)``: float32 ``(batch, size, size, 3)`` (C without
        ``to_rgb``) and the labels' dtype; the last batch may be smaller.
    """
    stack, image_sizes = _stack_images(images)
    boxes = _check_boxes(boxes)
    labels = np.asarray(labels)
    if labels.ndim == 0:
        raise ValueError("labels must be an array with one label per box")
    if image_index is None:
        if len(stack) != len(boxes):
            raise ValueError(f"without image_index, box i lies in image i: got {len(stack)} "
                             f"images and {len(boxes)} boxes")
        image_index = np.arange(len(boxes))
    image_index = np.asarray(image_index)
    _check_lengths(boxes=boxes, labels=labels, image_index=image_index)
    if len(boxes) == 0:
        raise ValueError("boxes must not be empty")
    if not np.issubdtype(image_index.dtype, np.integer) or image_index.min() < 0 \
            or image_index.max() >= len(stack):
        raise ValueError(f"image_index must be integers in 0..{len(stack) - 1}")
    if augment is True:
        augment = DEFAULT_AUGMENTATION
    elif augment is False:
        augment = NO_AUGMENTATION
    elif not isinstance(augment, dict):
        raise ValueError(f"augment must be True, False or a dict of augment_boxes options, "
                         f"got {augment!r}")
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    size = _check_size(size)
    if preprocess and not to_rgb and stack.shape[-1] != 3:
        raise ValueError(f"preprocess needs 3 channels: images have {stack.shape[-1]}, "
                         "set to_rgb=True")

    sample_boxes, source, sample_orientations = augment_boxes(boxes, **augment)
    with tf.device("/CPU:0"):
        stack = tf.constant(stack)
        image_sizes = tf.constant(image_sizes)
        sample_boxes = tf.constant(sample_boxes, tf.float32)
        sample_images = tf.constant(image_index[source], tf.int32)
        sample_orientations = tf.constant(sample_orientations, tf.int32)
        sample_labels = tf.constant(labels[source])

    def load(indices):
        patches = _crop_padded(stack, image_sizes, tf.gather(sample_boxes, indices),
                               tf.gather(sample_images, indices),
                               tf.gather(sample_orientations, indices), size, float(pad_value))
        if to_rgb:
            patches = three_channels(patches)
        if preprocess:
            patches = preprocess_input(patches)
        return patches, tf.gather(sample_labels, indices)

    count = len(source)
    dataset = tf.data.Dataset.range(count)
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


class LazyPatches:
    """An array of patches cut on demand: ``len()`` and indexing like a NumPy array.

    Test sets of the detection applications are large (Kvasir-SEG's 200 test frames × 10
    candidates × 24 augmentations = 48,000 patches, 30 GB as float32); a sweep reads them in
    chunks (:func:`predict_in_chunks`), so only one chunk is ever in memory.
    ``make(indices)`` returns the ``(len(indices), H, W, C)`` patches of those indices.

    >>> import numpy as np
    >>> patches = LazyPatches(lambda i: np.zeros((len(i), 4, 4, 3)) + i[:, None, None, None], 10)
    >>> len(patches), patches[2:4][:, 0, 0, 0].tolist()
    (10, [2.0, 3.0])
    """

    def __init__(self, make, length):
        self._make = make
        self._length = int(length)

    def __len__(self):
        return self._length

    def __getitem__(self, index):
        indices = np.arange(self._length)[index]
        if np.ndim(indices) == 0:
            return self._make(indices[None])[0]
        return np.asarray(self._make(indices))


def predict_in_chunks(model, patches, *, batch_size=64, chunk=2048, prefetch=1):
    """The model's outputs over an array or :class:`LazyPatches`, ``chunk`` patches at a time
    (:func:`medkeras.inference.inference_function`: XLA-compiled, ``batch_size`` at once).

    Cutting and predicting overlap: while the network scores one chunk, a worker thread
    cuts the next ``prefetch`` (:func:`medkeras.data.prefetch.prefetched`; NumPy and
    TensorFlow release the interpreter lock), so the scoring runs at the network's rate
    when cutting is cheaper than the network.  Memory
    stays bounded: at most ``prefetch + 1`` chunks of patches exist at once, for any test
    size.  The scores are exactly the serial ones (``prefetch=0``): same chunks, same
    batches, same order.
    """
    from medkeras.data.prefetch import prefetched
    from medkeras.inference import inference_function

    infer = inference_function(model, batch_size=batch_size)
    cut = (np.asarray(patches[start:start + chunk]) for start in range(0, len(patches), chunk))
    outputs = [infer(batch) for batch in prefetched(cut, depth=prefetch)]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.output_shape[-1]))
