"""Training patches of the CIMT classifier: lumen-intima, media-adventitia, background.

Tajbakhsh et al. (IEEE TMI 2016, §CIMT) train a 3-class CNN on patches centred on the
lumen-intima interface (class 1), on the media-adventitia interface (class 2) and on the
background (class 0), and do **not** augment the interface patches by translation: a
shifted patch would be centred off the interface, i.e. a wrongly labelled positive.  This
module samples such patches:

* :func:`sample_centres`: pixel centres of one case — for each class-1/2 column the pixel
  nearest the expert's interface (``round(y)``), background pixels of the ROI at least
  ``min_background_distance_mm`` (vertically) from both interfaces — balanced per case and
  seeded;
* :func:`extract_patches`: a square field of view of ``fov_mm`` millimetres around each
  pixel centre, resampled to ``size × size`` (227 for AlexNet and SqueezeNet) in batches
  with ``tf.image.crop_and_resize`` (:func:`medkeras.data.crop_patches`: bilinear,
  half-pixel, zero outside the image), grey repeated to 3 channels, optionally
  :func:`medkeras.preprocess_input`;
* :func:`sample_patches`: both, over a list of cases, with the case's group (patient) as the
  group.

:func:`apps.cimt.measure.dense_confidence` uses the same :func:`patch_boxes`, so a pixel's
dense confidence is exactly the classifier's output on its training-style patch.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from medkeras.checks import integer_at_least, non_negative_number, positive_number

from .data import CIMTCase, roi_from_annotations

__all__ = ["BACKGROUND", "LUMEN_INTIMA", "MEDIA_ADVENTITIA", "PatchSet", "extract_patches",
           "patch_boxes", "sample_centres", "sample_patches"]

#: Class labels of the 3-class CIMT classifier.
BACKGROUND, LUMEN_INTIMA, MEDIA_ADVENTITIA = 0, 1, 2


class PatchSet(NamedTuple):
    """Patches with their labels, groups (case ids) and centres ``(row, col)``."""
    patches: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    centres: np.ndarray




def patch_boxes(centres, fov_px):
    """Square boxes of side ``fov_px`` centred on pixel centres, for crop_and_resize.

    Parameters
    ----------
    centres : (n, 2) array
        ``(row, col)`` pixel indices (or fractional positions in the same, pixel-centre,
        coordinates).
    fov_px : float
        Side of the field of view in pixels.

    Returns
    -------
    (n, 4) float64
        ``(y0, x0, y1, x1)`` in the pixel-edge coordinates of
        :mod:`medkeras.data.patches` (pixel ``r`` spans ``[r, r + 1)``, its centre is
        ``r + ½``).  With an odd integer ``fov_px`` equal to the patch size the crop is the
        exact slice ``image[r − h : r + h + 1, c − h : c + h + 1]``, ``h = fov_px // 2``.

    >>> patch_boxes([(10, 20)], 5)
    array([[ 8., 18., 13., 23.]])
    """
    centres = np.asarray(centres, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise ValueError(f"centres must have shape (n, 2) as (row, col), got {centres.shape}")
    fov_px = positive_number(fov_px, "fov_px")
    middle = centres + 0.5
    half = fov_px / 2
    return np.concatenate([middle - half, middle + half], axis=1)


def extract_patches(image, centres, *, fov_mm, mm_per_pixel, size=227, preprocess=True,
                    batch_size=256, pad_value=0.0):
    """Grey image → ``(n, size, size, 3)`` float32 patches centred on pixel centres.

    Each patch covers ``fov_mm × fov_mm`` millimetres (``fov_mm / mm_per_pixel`` pixels)
    around its centre, resampled bilinearly to ``size × size``; cells outside the image take
    ``pad_value``.  Computed ``batch_size`` patches at a time with one
    ``tf.image.crop_and_resize`` each (no loop over pixels).

    Parameters
    ----------
    image : (H, W) array
        Grey image, values 0–255.
    centres : (n, 2) array
        ``(row, col)`` pixel centres.
    fov_mm, mm_per_pixel : float
        Field of view and pixel size.
    size : int
        Patch side (227: the input of :class:`medkeras.AlexNet` and :class:`medkeras.SqueezeNet`).
    preprocess : bool
        Apply :func:`medkeras.preprocess_input` (BGR, ImageNet mean subtracted) to the
        3-channel grey patches; ``False`` returns RGB 0–255 floats.
    batch_size : int
    pad_value : float
        Grey value outside the image (0: the black surround of ultrasound frames).

    Returns
    -------
    (n, size, size, 3) float32 NumPy array
        Memory: ``n · size² · 12`` bytes (618 kB a patch at 227).
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grey array, got shape {image.shape}")
    fov_px = positive_number(fov_mm, "fov_mm") / positive_number(mm_per_pixel, "mm_per_pixel")
    boxes = patch_boxes(centres, fov_px)
    size = integer_at_least(size, "size")
    out = np.empty((len(boxes), size, size, 3), np.float32)
    for start, patches in patch_batches(image, boxes, size=size, batch_size=batch_size,
                                        preprocess=preprocess, pad_value=pad_value):
        out[start:start + len(patches)] = patches.numpy()
    return out


def patch_batches(image, boxes, *, size, batch_size, preprocess, pad_value=0.0):
    """``(start, patches)`` for ``boxes`` of a 2-D grey image, ``batch_size`` at a time.

    The one definition of a CIMT patch, for training (:func:`extract_patches`) and dense
    inference (:func:`apps.cimt.measure.dense_confidence`) alike: the box cropped with
    :func:`medkeras.data.crop_patches`, grey repeated to 3 channels, optionally
    :func:`medkeras.preprocess_input`.  ``patches`` is a float32 tensor.
    """
    import tensorflow as tf

    from medkeras.data import crop_patches
    from medkeras.preprocessing import grey_to_rgb, preprocess_input

    batch_size = integer_at_least(batch_size, "batch_size")
    stack = tf.constant(np.asarray(image)[None, :, :, None].astype(np.float32))
    for start in range(0, len(boxes), batch_size):
        chunk = boxes[start:start + batch_size]
        zeros = np.zeros(len(chunk), np.int32)
        rgb = grey_to_rgb(crop_patches(stack, chunk, zeros, zeros, size=size,
                                       pad_value=pad_value))
        yield start, preprocess_input(rgb) if preprocess else rgb


def sample_centres(case, *, per_class=100, min_background_distance_mm=0.3, roi_margin_mm=1.0,
                   seed=0):
    """Balanced, seeded pixel centres of one case: background, lumen-intima, media-adventitia.

    * Class 1 / 2: one centre per column where both interfaces are defined (their common
      x-range), at the pixel nearest the expert's row, ``(round(y(c)), c)``; distinct
      columns are drawn without replacement.
    * Class 0: pixels of :func:`~apps.cimt.data.roi_from_annotations` (``roi_margin_mm``)
      in those columns whose vertical distance to **both** interfaces is at least
      ``min_background_distance_mm`` — so lumen, the middle of a thick intima-media layer,
      adventitia and tissue, never the interfaces' immediate neighbourhood.
    * Balance: every class gets ``min(per_class, available in the scarcest class)``.

    Returns
    -------
    centres : (3k, 2) int64
        ``(row, col)``, grouped by class 0, 1, 2.
    labels : (3k,) int64
    """
    if not isinstance(case, CIMTCase):
        raise ValueError(f"expected a CIMTCase, got {type(case).__name__}")
    per_class = integer_at_least(per_class, "per_class")
    distance = non_negative_number(min_background_distance_mm, "min_background_distance_mm")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    columns = case.columns()
    if columns.size == 0:
        raise ValueError(f"case {case.case_id}: the interfaces share no column")
    li, ma = case.rows(columns)
    height = case.shape[0]
    y0, x0, y1, x1 = roi_from_annotations(case, margin_mm=roi_margin_mm)
    rows = np.arange(y0, y1)[:, None]
    far = ((np.abs(rows - li[None, :]) >= distance / case.mm_per_pixel)
           & (np.abs(rows - ma[None, :]) >= distance / case.mm_per_pixel))
    bg_rows, bg_cols = np.nonzero(far)
    background = np.stack([bg_rows + y0, columns[bg_cols]], axis=1)
    interface = [np.stack([np.clip(np.round(r), 0, height - 1).astype(np.int64), columns],
                          axis=1) for r in (li, ma)]
    pools = [background, *interface]
    k = min(per_class, *(len(p) for p in pools))
    if k == 0:
        raise ValueError(f"case {case.case_id}: no background pixel is "
                         f"{distance} mm from both interfaces inside the ROI; lower "
                         "min_background_distance_mm or raise roi_margin_mm")
    centres = [pool[np.sort(rng.choice(len(pool), k, replace=False))] for pool in pools]
    labels = np.repeat(np.arange(3, dtype=np.int64), k)
    return np.concatenate(centres).astype(np.int64), labels


def sample_patches(cases, *, per_class=100, fov_mm=3.0, size=227, min_background_distance_mm=0.3,
                   roi_margin_mm=1.0, preprocess=True, seed=0, batch_size=256):
    """Balanced 3-class training patches of a list of cases (no augmentation).

    Parameters
    ----------
    cases : sequence of CIMTCase
    per_class : int
        Patches per class per case (fewer if a case has fewer interface columns).
    fov_mm : float
        Field of view of a patch, millimetres (3 mm: about 50 pixels at 0.06 mm/pixel,
        enough to see the lumen, both interfaces and the adventitia around a pixel).
    size, preprocess, batch_size
        As in :func:`extract_patches`.
    min_background_distance_mm, roi_margin_mm
        As in :func:`sample_centres`.
    seed : int
        Case ``i`` samples with ``seed + i``.

    Returns
    -------
    PatchSet
        ``patches`` (n, size, size, 3) float32, ``labels`` (n,) int64 in {0, 1, 2},
        ``groups`` (n,) the cases' groups (str; the case id by default), ``centres`` (n, 2) int64 ``(row, col)`` — ordered by
        case, then class.
    """
    cases = list(cases)
    if not cases:
        raise ValueError("cases must not be empty")
    parts = []
    for index, case in enumerate(cases):
        centres, labels = sample_centres(case, per_class=per_class, seed=seed + index,
                                         min_background_distance_mm=min_background_distance_mm,
                                         roi_margin_mm=roi_margin_mm)
        patches = extract_patches(case.image, centres, fov_mm=fov_mm,
                                  mm_per_pixel=case.mm_per_pixel, size=size,
                                  preprocess=preprocess, batch_size=batch_size)
        parts.append((patches, labels, np.full(len(labels), case.group), centres))
    return PatchSet(*(np.concatenate(column) for column in zip(*parts)))
