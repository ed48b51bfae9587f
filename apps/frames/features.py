"""Handcrafted informativeness features and a linear classifier: the baseline of application C.

Tajbakhsh et al. (2016) compare their CNNs for telling informative from non-informative
colonoscopy frames with a handcrafted approach.  This module gives such a baseline in the
classical way (Oh et al. 2007 classified frames from edge and colour-texture measures): a
few global sharpness, exposure and colour measures per frame (:func:`frame_features`,
named in :data:`FEATURE_NAMES`), standardised, and a logistic regression
(:func:`fit_baseline`, :class:`HandcraftedBaseline`).  It is a reference point built from
well-known measures, not a re-implementation of a specific published method.

Features (grey = ITU-R BT.601 luma; the sharpness measures are computed on the grey image
resized to 256×256 with area averaging, so they do not depend on the frame's resolution;
the two artefact measures on the frame as it is, where the artefacts live):

``log_dct_high_frequency``
    log10 of the fraction of the AC energy of the grey image's 2-D DCT (orthonormal
    DCT-II, ``scipy.fft.dctn``) that lies outside the lowest 32×32 frequencies (the lowest
    eighth of each axis): blur, defocus and fluid remove it (blur measured from DCT
    coefficients: Marichal et al. 1999).
``log_laplacian_variance``
    log10 of the variance of the Laplacian (Pech-Pacheco et al. 2000), a classic focus
    measure (compared with others by Pertuz et al. 2013).
``log_tenengrad``
    log10 of the mean squared Sobel gradient magnitude (Tenengrad; Krotkov 1987).
``log_haar_detail_1``, ``log_haar_detail_2``
    log10 of the energy of the detail bands (LH, HL, HH) of a Haar wavelet transform at
    levels 1 and 2 (the orthonormal 2×2 block transform, applied twice), per pixel,
    divided by the grey variance: wavelet focus measures (Yang & Nelson 2003).
``brightness_mean``, ``brightness_sd``
    mean and standard deviation of the grey level, in [0, 1].
``saturated_fraction``
    fraction of pixels with grey ≥ 230 (overexposure, specular glare).
``dark_fraction``
    fraction of pixels with grey ≤ 25 (underexposure; the endoscope's black border
    contributes a constant part).
``red_share``
    mean of ``R / (R + G + B)`` over the lit pixels (``R + G + B > 30``): wall contact
    turns the frame red.
``saturation_mean``
    mean HSV saturation, ``(max − min) / max`` of the channels, over the lit pixels.
``colourfulness``
    Hasler & Süsstrunk's (2003) colourfulness of the lit pixels, on the 0-1 scale:
    ``sqrt(σ_rg² + σ_yb²) + 0.3 sqrt(μ_rg² + μ_yb²)`` with ``rg = R − G`` and
    ``yb = (R + G)/2 − B``.
``log_row_alternation``
    log10 of the ratio of the energy of the vertical to the horizontal second difference
    of the grey image (at full resolution): interlacing "comb" artefacts alternate from
    row to row.
``log_blockiness``
    log10 of the ratio of the mean absolute horizontal and vertical differences across
    the 8×8 block boundaries of the frame to those inside the blocks: JPEG blocking
    (Wang, Bovik & Evans 2000).

References
----------
Hasler, D., Süsstrunk, S. (2003).  Measuring colourfulness in natural images.  Proc. SPIE
5007, Human Vision and Electronic Imaging VIII, 87-95.

Krotkov, E. (1987).  Focusing.  International Journal of Computer Vision 1(3), 223-237.

Marichal, X., Ma, W.-Y., Zhang, H. (1999).  Blur determination in the compressed domain
using DCT information.  Proc. IEEE ICIP, vol. 2, 386-390.

Oh, J., Hwang, S., Lee, J., Tavanapong, W., Wong, J., de Groen, P. C. (2007).  Informative
frame classification for endoscopy video.  Medical Image Analysis 11(2), 110-127.

Pech-Pacheco, J. L., Cristóbal, G., Chamorro-Martínez, J., Fernández-Valdivia, J. (2000).
Diatom autofocusing in brightfield microscopy: a comparative study.  Proc. ICPR, vol. 3,
314-317.

Pertuz, S., Puig, D., Garcia, M. A. (2013).  Analysis of focus measure operators for
shape-from-focus.  Pattern Recognition 46(5), 1415-1432.

Tajbakhsh, N., Shin, J. Y., Gurudu, S. R., Hurst, R. T., Kendall, C. B., Gotway, M. B.,
Liang, J. (2016).  Convolutional neural networks for medical image analysis: full training
or fine tuning?  IEEE Transactions on Medical Imaging 35(5), 1299-1312.

Wang, Z., Bovik, A. C., Evans, B. L. (2000).  Blind measurement of blocking artifacts in
images.  Proc. IEEE ICIP, vol. 3, 981-984.

Yang, G., Nelson, B. J. (2003).  Wavelet-based autofocusing and unsupervised segmentation
of microscopic images.  Proc. IEEE/RSJ International Conference on Intelligent Robots and
Systems (IROS).

>>> from apps.polyp.synthetic import synthetic_frame
>>> from apps.frames.degrade import defocus
>>> frame = synthetic_frame(seed=0, shape=(96, 112)).image
>>> sharp, blurred = frame_features(frame), frame_features(defocus(frame, severity=0.5, rng=0))
>>> len(FEATURE_NAMES) == sharp.size, bool(sharp[0] > blurred[0])
(True, True)
"""

from __future__ import annotations

import numbers

import cv2
import numpy as np
from scipy import fft

__all__ = ["DCT_LOW", "DCT_SIZE", "FEATURE_NAMES", "HandcraftedBaseline", "features_of",
           "fit_baseline", "frame_features"]

FEATURE_NAMES = (
    "log_dct_high_frequency", "log_laplacian_variance", "log_tenengrad",
    "log_haar_detail_1", "log_haar_detail_2", "brightness_mean", "brightness_sd",
    "saturated_fraction", "dark_fraction", "red_share", "saturation_mean", "colourfulness",
    "log_row_alternation", "log_blockiness",
)
#: Side of the square grey image the sharpness features are computed on.
DCT_SIZE = 256
#: Frequencies below this (along each axis) are the DCT's low-frequency block.
DCT_LOW = 32
SATURATED_LEVEL = 230
DARK_LEVEL = 25
LIT_SUM = 30   # R + G + B above which a pixel counts as lit (the colour features)
_EPS = 1e-12


def _check_image(image):
    from medkeras.checks import rgb_image
    return rgb_image(image)


def _log(x):
    return float(np.log10(max(float(x), 0.0) + _EPS))


def _haar(grey):
    """One level of the orthonormal 2-D Haar transform: (LL, detail energy per pixel)."""
    h, w = grey.shape[0] // 2 * 2, grey.shape[1] // 2 * 2
    a, b = grey[0:h:2, 0:w:2], grey[0:h:2, 1:w:2]
    c, d = grey[1:h:2, 0:w:2], grey[1:h:2, 1:w:2]
    low = (a + b + c + d) / 2
    detail = ((a + b - c - d) ** 2 + (a - b + c - d) ** 2 + (a - b - c + d) ** 2) / 4
    return low / 2, float(detail.mean())   # LL/2 keeps the grey scale for the next level


def _blockiness(grey):
    """Mean |difference| across 8×8 block boundaries over that inside blocks (1: none)."""
    ratios = []
    for diff in (np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0)).T):
        if diff.shape[1] < 16:
            continue
        positions = np.arange(diff.shape[1])
        across = (positions % 8) == 7      # between pixel 8k+7 and 8k+8
        ratios.append((diff[:, across].mean() + 1e-3) / (diff[:, ~across].mean() + 1e-3))
    return float(np.mean(ratios)) if ratios else 1.0


def frame_features(image):
    """The handcrafted features of one frame, in the order of :data:`FEATURE_NAMES`.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB frame, at least 16×16.

    Returns
    -------
    (k,) float64 ndarray
        ``k = len(FEATURE_NAMES)``; see the module description for each feature.

    Raises
    ------
    ValueError
        Not an ``(H, W, 3)`` ``uint8`` array.
    """
    image = _check_image(image)
    rgb = image.astype(np.float32)
    grey_full = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    grey = cv2.resize(grey_full, (DCT_SIZE, DCT_SIZE), interpolation=cv2.INTER_AREA)

    coefficients = fft.dctn(grey.astype(np.float64), norm="ortho") ** 2
    coefficients[0, 0] = 0.0
    total = coefficients.sum()
    high = total - coefficients[:DCT_LOW, :DCT_LOW].sum()
    dct_high = high / total if total > 0 else 0.0

    laplacian = cv2.Laplacian(grey, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    variance = float(grey.var()) + 1e-6
    low, detail_1 = _haar(grey.astype(np.float64))
    _, detail_2 = _haar(low)

    saturated = float((grey_full >= SATURATED_LEVEL).mean())
    dark = float((grey_full <= DARK_LEVEL).mean())
    total_rgb = rgb.sum(axis=2)
    lit = total_rgb > LIT_SUM
    if lit.any():
        r, g, b = (rgb[..., c][lit] for c in range(3))
        red_share = float((r / total_rgb[lit]).mean())
        top = np.maximum(np.maximum(r, g), b)
        saturation = float(((top - np.minimum(np.minimum(r, g), b)) / top).mean())
        rg, yb = (r - g) / 255, ((r + g) / 2 - b) / 255
        colourfulness = float(np.hypot(rg.std(), yb.std())
                              + 0.3 * np.hypot(rg.mean(), yb.mean()))
    else:
        red_share, saturation, colourfulness = 1 / 3, 0.0, 0.0

    vertical = grey_full[2:] - 2 * grey_full[1:-1] + grey_full[:-2]
    horizontal = grey_full[:, 2:] - 2 * grey_full[:, 1:-1] + grey_full[:, :-2]
    alternation = (float((vertical ** 2).mean()) + 1e-3) / (float((horizontal ** 2).mean())
                                                           + 1e-3)

    return np.array([
        _log(dct_high), _log(laplacian.var()), _log((gx * gx + gy * gy).mean()),
        _log(detail_1 / variance), _log(detail_2 / variance),
        float(grey_full.mean()) / 255, float(grey_full.std()) / 255, saturated, dark,
        red_share, saturation, colourfulness, _log(alternation),
        _log(_blockiness(grey_full)),
    ], np.float64)


def features_of(images):
    """:func:`frame_features` of each image, stacked.

    Parameters
    ----------
    images : iterable of (H, W, 3) uint8 ndarrays, or an (n, H, W, 3) uint8 array
        Frames of any sizes.

    Returns
    -------
    (n, k) float64 ndarray

    >>> features_of(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, len(FEATURE_NAMES))
    True
    """
    rows = [frame_features(image) for image in images]
    if not rows:
        raise ValueError("features_of needs at least one image")
    return np.stack(rows)


def _check_training(features, labels):
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be an (n, k) array with n >= 1, got shape "
                         f"{features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("features must be finite (no NaN or infinity)")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"labels must be a vector of {features.shape[0]} labels (one per "
                         f"row of features), got shape {labels.shape}")
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1} or len(values) < 2:
        raise ValueError(f"labels must be 0 (non-informative) and 1 (informative), both "
                         f"present; got the values {sorted(values)}")
    return features, labels.astype(np.int64)


def fit_baseline(features, labels, *, C=1.0):
    """A standardised logistic regression fitted to frame features.

    Parameters
    ----------
    features : (n, k) array
        E.g. :func:`features_of` of the training frames.
    labels : (n,) array of 0 (non-informative) and 1 (informative)
    C : float
        Inverse L2 regularisation strength of ``sklearn.linear_model.LogisticRegression``.

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``StandardScaler`` then ``LogisticRegression`` (classes weighted to balance them);
        ``predict_proba(X)[:, 1]`` is the probability that a frame is informative.

    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 3)), rng.normal(3, 1, (20, 3))]
    >>> y = np.r_[np.zeros(20, int), np.ones(20, int)]
    >>> fit_baseline(X, y).score(X, y) > 0.9
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = _check_training(features, labels)
    if isinstance(C, bool) or not isinstance(C, numbers.Real) or not C > 0:
        raise ValueError(f"C must be a positive number, got {C!r}")
    model = Pipeline([("scale", StandardScaler()),
                      ("classify", LogisticRegression(C=float(C), max_iter=2000,
                                                      class_weight="balanced"))])
    return model.fit(features, labels)


class HandcraftedBaseline:
    """Handcrafted features (:func:`frame_features`) and a logistic regression.

    Parameters
    ----------
    C : float
        See :func:`fit_baseline`.

    Attributes
    ----------
    model : sklearn.pipeline.Pipeline or None
        The fitted pipeline (None before :meth:`fit`).
    feature_names : tuple of str
        :data:`FEATURE_NAMES`.

    Examples
    --------
    >>> from apps.frames.synthetic import synthetic_labelled_frames
    >>> frames = synthetic_labelled_frames(8, shape=(64, 80))
    >>> baseline = HandcraftedBaseline().fit([f.image for f in frames],
    ...                                      [f.label for f in frames])
    >>> baseline.score([frames[0].image]).shape
    (1,)
    """

    feature_names = FEATURE_NAMES

    def __init__(self, *, C=1.0):
        self.C = C
        self.model = None

    def fit(self, images, labels):
        """Fit to frames (``uint8`` RGB arrays) and labels (1 informative, 0 not)."""
        self.model = fit_baseline(features_of(images), labels, C=self.C)
        return self

    def score(self, images):
        """The probability that each frame is informative, ``(n,)`` in [0, 1]."""
        if self.model is None:
            raise ValueError("HandcraftedBaseline.score needs fit() first")
        return self.model.predict_proba(features_of(images))[:, 1]
