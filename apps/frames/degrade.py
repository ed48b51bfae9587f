"""Non-informative colonoscopy frames made from informative ones, the ways they arise.

A colonoscopy video holds many frames in which the mucosa cannot be assessed: the camera
moves fast or is out of focus, touches the wall, is flooded with light or fluid, or the
recording is degraded (Oh et al. 2007; Tajbakhsh et al. 2016, application C).  These
functions turn an informative frame into a non-informative one through one such mechanism
each, so that a folder of informative frames (e.g. Kvasir-SEG's) gives a labelled
informative / non-informative set.  Every function takes an ``(H, W, 3)`` ``uint8`` RGB frame, a
``severity`` in ``[0, 1]`` (0: the mildest version, 1: the most extreme) and ``rng`` (a
``numpy.random.Generator``, a seed, or ``None``), and returns a new ``uint8`` frame of the
same size.  Lengths scale with the frame (fractions of its shorter side), so a severity
means the same on a 288×352 frame as on a 1080×1920 one.

The endoscope's field of view (the bright, convex region inside the black border) is
estimated from the frame (:func:`field_of_view`): the border and any text on it are left as
they are, as on a real processor's output, and blurs are normalised convolutions inside the
field of view (the black border is not smeared into the picture).  Blurred frames get fresh
sensor noise (as the camera adds it after the optics), so that the absence of noise is not
what tells them apart.

Mechanisms (:data:`KINDS`):

``motion_blur``
    The camera moves during the exposure: the frame convolved with a line of random
    direction, slightly curved (a quadratic bend of up to 15 % of its length), of length
    1.5 % to 10 % of the shorter side.
``defocus``
    The mucosa is nearer than the optics' depth of field: an anti-aliased disc (pillbox)
    kernel (the geometric-optics point spread function of a defocused lens) of radius
    0.6 % to 5 % of the shorter side.
``overexposure``
    The light source or auto-exposure overshoots: in linear light (sRGB-like gamma 2.2) the
    frame is multiplied by 4 to 32 (+2 to +5 stops) plus a veiling haze (scattered
    light) of up to 10 % to 40 % of full scale, clipped per channel (the wall turns
    yellow-white), with a bloom around the clipped areas.
``underexposure``
    Too little light reaches the sensor (the lumen far away, the light failing): linear
    light multiplied by 0.03 to 0.003 (−5 to −8.4 stops), a black level crushed by
    2 grey levels and amplified sensor noise (σ 2 to 5 grey levels).
``specular_flooding``
    A water film close to the lens reflects the light: saturated white glare regions
    (random smooth blobs) covering 10 % to 70 % of the field of view, with soft edges and a
    wide glow.
``wall_contact``
    The lens touches the wall ("red-out"): light scattered through the tissue makes the
    frame a featureless red: the picture blurred (Gaussian σ 3 % to 10 % of the shorter
    side) and mixed (75 % to 100 %) with a smooth red glow whose green is 10 % to 30 % of
    its red, and blue 60 % to 100 % of its green.
``fluid_bubbles``
    Turbid fluid (bile, residual stool, water) fills the view: the picture blurred by
    scattering and veiled (60 % to 95 %) by a yellow-brown or green fluid colour lit by the
    scene, with 80 to 400 bubbles (radii 0.8 % to 5 % of the shorter side, in clusters)
    with bright rims, a darker film and a highlight.
``interlacing_compression``
    A degraded recording: the two interlaced fields were captured while the camera moved
    fast (each smeared by the motion, the odd rows shifted by 1 % to 6 % of the width: comb
    artefacts along every edge), then
    heavily JPEG-compressed (quality 25 down to 3: 8×8 blocking, ringing, colour
    bleeding).

:func:`degrade` draws the kind uniformly and the severity uniformly from
:data:`NON_INFORMATIVE_SEVERITY` (the range in which the frame is clearly non-informative,
as an expert would label it, not a subtle change), and records both.

References
----------
Oh, J., Hwang, S., Lee, J., Tavanapong, W., Wong, J., de Groen, P. C. (2007).  Informative
frame classification for endoscopy video.  Medical Image Analysis 11(2), 110-127.

Tajbakhsh, N., Shin, J. Y., Gurudu, S. R., Hurst, R. T., Kendall, C. B., Gotway, M. B.,
Liang, J. (2016).  Convolutional neural networks for medical image analysis: full training
or fine tuning?  IEEE Transactions on Medical Imaging 35(5), 1299-1312.

>>> from apps.polyp.synthetic import synthetic_frame
>>> frame = synthetic_frame(seed=0, shape=(72, 88)).image
>>> out = degrade(frame, kind="defocus", rng=1)
>>> out.kind, out.image.shape, out.image.dtype, 0.3 <= out.severity <= 1
('defocus', (72, 88, 3), dtype('uint8'), True)
>>> bool((degrade(frame, rng=7).image == degrade(frame, rng=7).image).all())
True
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import cv2
import numpy as np

__all__ = ["Degraded", "FLUID_COLOURS", "KINDS", "NON_INFORMATIVE_SEVERITY", "check_kinds",
           "defocus", "degrade", "draw_degradation", "field_of_view", "fluid_bubbles",
           "interlacing_compression", "motion_blur", "overexposure", "specular_flooding",
           "underexposure", "wall_contact"]

#: The mechanisms, in the order of the module description.
KINDS = ("motion_blur", "defocus", "overexposure", "underexposure", "specular_flooding",
         "wall_contact", "fluid_bubbles", "interlacing_compression")

#: Severity range of each kind in which a frame is clearly non-informative (drawn uniformly
#: by :func:`degrade`).  The lower ends, on a 288×352 frame: a 13 px motion streak; a
#: defocus disc of 5.5 px radius; +2.9 stops of overexposure with up to 19 % haze; −6 stops of
#: underexposure; glare over 37 % of the view; a red-out mixed at 81 % and blurred by
#: σ = 14 px; a 72 % fluid veil with 190 bubbles; a comb of 11 px and JPEG quality 15.
NON_INFORMATIVE_SEVERITY = {
    "motion_blur": (0.35, 1.0),
    "defocus": (0.3, 1.0),
    "overexposure": (0.3, 1.0),
    "underexposure": (0.3, 1.0),
    "specular_flooding": (0.45, 1.0),
    "wall_contact": (0.25, 1.0),
    "fluid_bubbles": (0.35, 1.0),
    "interlacing_compression": (0.45, 1.0),
}

GAMMA = 2.2   # encoding gamma of the frames (sRGB-like), for the exposure changes
SENSOR_NOISE = 1.5   # grey levels, added back after a blur (as synthetic_frame's camera)


class Degraded(NamedTuple):
    """A degraded frame: ``image`` (``uint8``, the input's shape), ``kind`` (one of
    :data:`KINDS`) and ``severity`` (in ``[0, 1]``)."""
    image: np.ndarray
    kind: str
    severity: float


# -- checks and helpers --------------------------------------------------------------------


def _check_image(image):
    from medkeras.checks import rgb_image
    return rgb_image(image)


def _check_severity(severity):
    if isinstance(severity, bool) or not isinstance(severity, numbers.Real) \
            or not 0 <= severity <= 1:
        raise ValueError(f"severity must be a number in [0, 1], got {severity!r}")
    return float(severity)


def _generator(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, np.random.SeedSequence) or (
            isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, a seed (integer >= 0) or None, "
                     f"got {rng!r}")


def _prepare(image, severity, rng):
    image = _check_image(image)
    return (image.astype(np.float32) / 255, _check_severity(severity), _generator(rng),
            float(min(image.shape[:2])))


def _to_uint8(x):
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def _noise(rng, shape, sigma):
    """Gaussian sensor noise of ``sigma`` grey levels, in [0, 1] units."""
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma / 255)


def _smooth_field(rng, shape, scale):
    """A smooth random field of unit variance with features about ``scale`` pixels wide.

    Drawn on a coarse grid (one value per ``scale`` pixels) and resized bicubically, so
    the cost does not grow with the frame.
    """
    height, width = shape
    rows, cols = max(2, math.ceil(height / scale) + 1), max(2, math.ceil(width / scale) + 1)
    coarse = rng.standard_normal((rows, cols)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def _gaussian(x, sigma):
    """Gaussian blur; wide ones (σ > 4 px) on a copy shrunk to σ = 4 px, then enlarged
    bicubically (the result is smooth at that scale, and the cost does not grow with σ)."""
    sigma = max(float(sigma), 0.1)
    factor = sigma / 4
    height, width = x.shape[:2]
    if factor <= 1.5 or min(height, width) / factor < 8:
        return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    small = cv2.resize(x, (max(1, round(width / factor)), max(1, round(height / factor))),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=4.0, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def field_of_view(image, *, threshold=12):
    """The endoscope's field of view: the convex bright region inside the black border.

    The grey level (maximum of the channels), smoothed, is thresholded at ``threshold``
    on a copy of at most 256 pixels a side; the largest connected component (text and
    overlays on the border are separate components) is filled by its convex hull (the field
    of view of an endoscope is a disc or an octagon, and the dark lumen inside it is part
    of it).  A frame without a border is all field of view.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    threshold : int
        Grey level above which a pixel is lit.

    Returns
    -------
    (H, W) float32 ndarray
        1 inside, 0 outside, with a one-pixel soft edge.

    >>> frame = np.zeros((40, 40, 3), np.uint8); frame[5:35, 8:30] = 150
    >>> fov = field_of_view(frame)
    >>> float(fov[20, 20]), float(fov[2, 2])
    (1.0, 0.0)
    """
    image = _check_image(image)
    height, width = image.shape[:2]
    factor = min(1.0, 256 / max(height, width))
    small = cv2.resize(image.max(axis=2), (max(1, round(width * factor)),
                                           max(1, round(height * factor))),
                       interpolation=cv2.INTER_AREA)
    lit = (cv2.GaussianBlur(small, (5, 5), 0) > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(lit, connectivity=8)
    if count <= 1:   # nothing lit: treat the whole frame as the view
        return np.ones((height, width), np.float32)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    points = cv2.findNonZero((labels == largest).astype(np.uint8))
    hull = cv2.convexHull(points)
    mask = np.zeros(small.shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    mask = cv2.resize(mask.astype(np.float32), (width, height),
                      interpolation=cv2.INTER_LINEAR)
    return np.clip(_gaussian((mask > 0.5).astype(np.float32), 0.7), 0, 1)


def _inside(fov, changed, original):
    """``changed`` inside the field of view, ``original`` (the border) outside."""
    return fov[..., None] * changed + (1 - fov[..., None]) * original


def _blur_inside(x, fov, kernel=None, sigma=None):
    """Normalised convolution inside the field of view: the black border is not smeared in."""
    def blur(a):
        if kernel is not None:
            return cv2.filter2D(a, -1, kernel, borderType=cv2.BORDER_REFLECT)
        return _gaussian(a, sigma)
    weight = blur(fov)
    blurred = blur(x * fov[..., None]) / np.maximum(weight, 1e-3)[..., None]
    return _inside(fov, blurred, x)


# -- the mechanisms ------------------------------------------------------------------------


def motion_blur(image, *, severity, rng=None):
    """Camera motion during the exposure: a slightly curved line kernel of random direction.

    Length ``(0.015 + 0.085 × severity) ×`` the shorter side (4 to 29 pixels on a 288×352
    frame), direction uniform, a quadratic bend of up to ±15 % of the length; the kernel is
    rasterised by splatting 8 points a pixel bilinearly.  Fresh sensor noise is added.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB frame.
    severity : float in [0, 1]
    rng : numpy.random.Generator, int or None

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    x, severity, rng, side = _prepare(image, severity, rng)
    length = max(2.0, (0.015 + 0.085 * severity) * side)
    angle = rng.uniform(0, np.pi)
    bend = rng.uniform(-0.15, 0.15) * length
    t = np.linspace(-0.5, 0.5, int(8 * length) + 1)
    along, across = t * length, bend * (4 * t * t - 1 / 3)   # bend centred on the line
    half = math.ceil(length / 2 + abs(bend)) + 2
    px = half + along * np.cos(angle) - across * np.sin(angle)
    py = half + along * np.sin(angle) + across * np.cos(angle)
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.float64)
    x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
    fx, fy = px - x0, py - y0
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)),
                      (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + dy, x0 + dx), w)
    kernel = (kernel / kernel.sum()).astype(np.float32)
    out = _blur_inside(x, field_of_view(image), kernel=kernel)
    return _to_uint8(out + _noise(rng, x.shape, SENSOR_NOISE))


def defocus(image, *, severity, rng=None):
    """Out of focus: an anti-aliased disc (pillbox) kernel.

    Radius ``(0.006 + 0.044 × severity) ×`` the shorter side (1.7 to 14 pixels on a
    288×352 frame); fresh sensor noise is added.  (The disc is the point spread function of
    a defocused lens in geometric optics.)

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    severity : float in [0, 1]
    rng : numpy.random.Generator, int or None

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    x, severity, rng, side = _prepare(image, severity, rng)
    radius = max(1.0, (0.006 + 0.044 * severity) * side)
    half = math.ceil(radius) + 1
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = np.clip(radius + 0.5 - np.hypot(yy, xx), 0, 1).astype(np.float32)
    kernel /= kernel.sum()
    out = _blur_inside(x, field_of_view(image), kernel=kernel)
    return _to_uint8(out + _noise(rng, x.shape, SENSOR_NOISE))


def overexposure(image, *, severity, rng=None):
    """Too much light: linear-light gain, veiling haze, per-channel clipping and bloom.

    In linear light (``x ** 2.2``) the field of view is multiplied by ``4 × 8 ** severity``
    (4 to 32, +2 to +5 stops, with ±10 % smooth variation) and a veiling haze (light
    scattered in the optics: a wide blur of the scene's light, so less over the dark lumen)
    of up to ``0.1 + 0.3 × severity`` of full scale is added; channels clip separately
    (the red wall turns yellow then white) and the clipped excess glows (Gaussian bloom of
    3 % of the shorter side).

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    severity : float in [0, 1]
    rng : numpy.random.Generator, int or None

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    x, severity, rng, side = _prepare(image, severity, rng)
    fov = field_of_view(image)
    linear = x ** GAMMA
    gain = 4 * 8 ** severity * (1 + 0.1 * _smooth_field(rng, x.shape[:2], side / 3))
    # Veiling glare: light scattered in the optics, a wide blur of the scene's own light.
    scattered = _blur_inside(linear, fov, sigma=0.15 * side).mean(axis=2)
    scattered /= max(float(scattered.max()), 1e-3)
    haze = (0.1 + 0.3 * severity) * (0.3 + 0.7 * scattered) * fov
    exposed = linear * gain[..., None] + haze[..., None]
    excess = np.maximum(exposed - 1, 0).mean(axis=2)
    glow = _gaussian(excess, 0.03 * side)
    exposed = np.clip(exposed, 0, 1) + 0.5 * glow[..., None]
    out = np.clip(exposed, 0, 1) ** (1 / GAMMA)
    return _to_uint8(_inside(fov, out, x))


def underexposure(image, *, severity, rng=None):
    """Too little light: linear-light attenuation, crushed blacks, amplified noise.

    Linear light (``x ** 2.2``) multiplied by ``0.03 × 0.1 ** severity`` (0.03 to 0.003),
    2 grey levels of black level subtracted, and sensor noise of ``2 + 3 × severity`` grey
    levels (the camera's gain amplifies it).

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    severity : float in [0, 1]
    rng : numpy.random.Generator, int or None

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    x, severity, rng, _ = _prepare(image, severity, rng)
    gain = 0.03 * 0.1 ** severity
    out = (x ** GAMMA * gain) ** (1 / GAMMA) - 2 / 255
    out += _noise(rng, x.shape, 2 + 3 * severity)
    return _to_uint8(out)


def specular_flooding(image, *, severity, rng=None):
    """Glare from a water film near the lens: large saturated white regions with a glow.

    A smooth random field (blobs about 12 % of the shorter side) thresholded so that
    ``0.1 + 0.6 × severity`` of the field of view (10 % to 70 %) is saturated white, with
    soft edges, and a glow (Gaussian of 5 % of the shorter side) brightening around them.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    severity : float in [0, 1]
    rng : numpy.random.Generator, int or None

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    x, severity, rng, side = _prepare(image, severity, rng)
    fov = field_of_view(image)
    inside = fov > 0.5
    coverage = 0.1 + 0.6 * severity
    field = _smooth_field(rng, x.shape[:2], 0.12 * side) \
        + 0.35 * _smooth_field(rng, x.shape[:2], 0.04 * side)
    level = float(np.quantile(field[inside], 1 - coverage)) if inside.any() else 0.0
    core = _smoothstep(level - 0.05, level + 0.05, field) * fov
    glow = np.clip(_gaussian(core, 0.05 * side) * 1.2, 0, 1)
    white = np.array([1.0, 1.0, 0.98], np.float32)
    out = x + (white - x) * (0.6 * glow)[..., None]
    out = out * (1 - core[..., None]) + white * core[..., None]
    return _to_uint8(_inside(fov, out, x))


def wall_contact(image, *, severity, rng=None):
    """The lens against the wall ("red-out"): a featureless red glow.

    The picture is blurred (Gaussian ``σ = (0.03 + 0.07 × severity) ×`` the shorter side)
    and mixed at ``0.75 + 0.25 × severity`` with a red glow: red 0.55 to 0.95 of full
    scale, green 10 % to 30 % of it, blue 60 % to 100 % of green, lit by a smooth field
    and the blurred picture's own brightness; fresh sensor noise is added.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    severity : float in [0, 1]
    rng : numpy.random.Generator, int or None

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    x, severity, rng, side = _prepare(image, severity, rng)
    fov = field_of_view(image)
    blurred = _blur_inside(x, fov, sigma=(0.03 + 0.07 * severity) * side)
    red = rng.uniform(0.55, 0.95)
    green = red * rng.uniform(0.1, 0.3)
    colour = np.array([red, green, green * rng.uniform(0.6, 1.0)], np.float32)
    brightness = blurred.mean(axis=2)
    light = 0.75 + 0.25 * brightness / max(float(brightness[fov > 0.5].mean()
                                                 if (fov > 0.5).any() else 1), 1e-3)
    light = light * (1 + 0.2 * _smooth_field(rng, x.shape[:2], 0.4 * side))
    glow = colour * np.clip(light, 0.2, 1.6)[..., None]
    mix = 0.75 + 0.25 * severity
    out = (1 - mix) * blurred + mix * glow
    out = _inside(fov, out, x) + _noise(rng, x.shape, SENSOR_NOISE) * fov[..., None]
    return _to_uint8(out)


#: Colours of turbid fluid (linear RGB fractions): bile-yellow, brown stool, green bile.
FLUID_COLOURS = ((0.8, 0.6, 0.25), (0.55, 0.38, 0.18), (0.45, 0.5, 0.2))


def fluid_bubbles(image, *, severity, rng=None):
    """Turbid fluid and bubbles filling the view.

    The picture is blurred by scattering (Gaussian ``σ = (0.01 + 0.025 × severity) ×`` the
    shorter side) and veiled at ``0.6 + 0.35 × severity`` (±15 % smooth variation) by a
    fluid colour (one of :data:`FLUID_COLOURS`, jittered) lit by the blurred scene; then
    ``80 + 320 × severity`` bubbles in one to four clusters, radii log-uniform in 0.8 % to
    5 % of the shorter side, each a darker film, a bright anti-aliased rim and a highlight
    towards the light.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    severity : float in [0, 1]
    rng : numpy.random.Generator, int or None

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    x, severity, rng, side = _prepare(image, severity, rng)
    height, width = x.shape[:2]
    fov = field_of_view(image)
    blurred = _blur_inside(x, fov, sigma=(0.01 + 0.025 * severity) * side)
    colour = np.array(FLUID_COLOURS[rng.integers(len(FLUID_COLOURS))], np.float32)
    colour = np.clip(colour * rng.uniform(0.85, 1.15, 3), 0, 1).astype(np.float32)
    light = _blur_inside(x, fov, sigma=0.08 * side).mean(axis=2, keepdims=True)
    light = np.clip(light * 1.6 + 0.08, 0, 1.2)
    veil = (0.6 + 0.35 * severity) * (1 + 0.15 * _smooth_field(rng, (height, width),
                                                               0.3 * side))
    veil = np.clip(veil, 0, 0.97)[..., None]
    out = (1 - veil) * blurred + veil * colour * light

    # Bubbles: drawn one by one (a few hundred circles), on 8-bit layers with subpixel
    # precision (cv2's anti-aliasing needs 8 bits).
    count = int(round(80 + 320 * severity))
    clusters = rng.integers(1, 5)
    inside = np.argwhere(fov > 0.5)
    if len(inside) == 0:
        inside = np.array([[height // 2, width // 2]])
    centres = inside[rng.integers(len(inside), size=clusters)].astype(np.float64)
    which = rng.integers(clusters, size=count)
    positions = centres[which] + rng.normal(0, 0.18 * side, (count, 2))
    radii = np.exp(rng.uniform(np.log(0.008 * side), np.log(0.05 * side), count))
    film = np.zeros((height, width), np.uint8)
    rims = np.zeros((height, width), np.uint8)
    shine = np.zeros((height, width), np.uint8)
    scale = 16   # cv2 shift=4: coordinates in 1/16 pixel
    for (cy, cx), r in zip(positions, radii):
        centre = (int(cx * scale), int(cy * scale))
        cv2.circle(film, centre, int(r * scale), 255, -1, cv2.LINE_AA, 4)
        cv2.circle(rims, centre, int(r * scale), 255, max(1, int(round(0.12 * r))),
                   cv2.LINE_AA, 4)
        spot = (int((cx - 0.4 * r) * scale), int((cy - 0.4 * r) * scale))
        cv2.circle(shine, spot, int(max(0.7, 0.18 * r) * scale), 255, -1, cv2.LINE_AA, 4)
    film, rims, shine = (layer.astype(np.float32)[..., None] * (fov[..., None] / 255)
                         for layer in (film, rims, shine))
    out = out * (1 - 0.25 * film) + 0.1 * film * colour
    out = out + (0.85 - out) * rims * 0.9
    out = out + (1 - out) * shine
    out = _inside(fov, out, x) + _noise(rng, x.shape, SENSOR_NOISE) * fov[..., None]
    return _to_uint8(out)


def interlacing_compression(image, *, severity, rng=None):
    """A degraded recording: fields captured apart (comb artefacts), then heavy JPEG.

    The camera moved fast: each field is smeared horizontally over half the shift between
    the fields, and the odd rows (second field) come from the picture shifted by ``(0.01 +
    0.05 × severity) ×`` the width in a random horizontal direction (and up to a fifth of
    that vertically), 3 % brighter or darker, inside the field of view (the border, the
    processor's mask, stays still).  The frame is then JPEG-encoded with
    ``cv2.imencode`` at quality ``round(25 − 22 × severity)`` (25 to 3, 4:2:0 chroma) and
    decoded.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    severity : float in [0, 1]
    rng : numpy.random.Generator, int or None

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    x, severity, rng, _ = _prepare(image, severity, rng)
    height, width = x.shape[:2]
    shift = (0.01 + 0.05 * severity) * width * rng.choice([-1.0, 1.0])
    lift = rng.uniform(-0.2, 0.2) * abs(shift)
    fov = field_of_view(image)
    # Each field is smeared by the motion during its own exposure (half the shift between
    # the fields), inside the field of view (the processor's mask does not move).
    streak = max(1, int(round(abs(shift) / 2)))
    kernel = np.full((1, streak), 1 / streak, np.float32)
    scene = _blur_inside(x, fov, kernel=kernel)
    moved = cv2.warpAffine(scene, np.float32([[1, 0, shift], [0, 1, lift]]), (width, height),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    gain = 1 + rng.choice([-0.03, 0.03])
    interlaced = scene.copy()
    interlaced[1::2] = _inside(fov, moved * gain, x)[1::2]
    interlaced = _to_uint8(interlaced)
    quality = int(round(25 - 22 * severity))
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(interlaced, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover (cv2 encodes any uint8 image)
        raise RuntimeError("cv2.imencode failed to encode a JPEG")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


_FUNCTIONS = {"motion_blur": motion_blur, "defocus": defocus, "overexposure": overexposure,
              "underexposure": underexposure, "specular_flooding": specular_flooding,
              "wall_contact": wall_contact, "fluid_bubbles": fluid_bubbles,
              "interlacing_compression": interlacing_compression}


def check_kinds(kinds):
    """``kinds`` (None: all of :data:`KINDS`) as a tuple of known kinds, or ``ValueError``.

    >>> check_kinds(["defocus", "motion_blur"])
    ('defocus', 'motion_blur')
    """
    if kinds is None:
        return KINDS
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in _FUNCTIONS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty selection of {', '.join(KINDS)}; "
                         f"got {list(kinds)!r}")
    return kinds


def draw_degradation(rng, *, kind=None, severity=None, kinds=None):
    """The kind and severity :func:`degrade` uses, drawn from ``rng`` (a Generator).

    ``kind`` None: uniform over ``kinds`` (default :data:`KINDS`); ``severity`` None:
    uniform in the kind's :data:`NON_INFORMATIVE_SEVERITY` range.  Drawing only these
    (without degrading) lets a caller know what :func:`degrade` will do with the same
    generator state.

    Returns
    -------
    kind : str
    severity : float
    """
    kinds = check_kinds(kinds)
    if kind is None:
        kind = kinds[int(rng.integers(len(kinds)))]
    elif kind not in _FUNCTIONS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if severity is None:
        severity = float(rng.uniform(*NON_INFORMATIVE_SEVERITY[kind]))
    return kind, _check_severity(severity)


def degrade(image, *, kind=None, severity=None, rng=None, kinds=None):
    """A non-informative frame made from an informative one.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB frame (any size of at least 16×16).
    kind : str, optional
        One of :data:`KINDS`; default drawn uniformly from ``kinds``.
    severity : float in [0, 1], optional
        Default drawn uniformly from the kind's :data:`NON_INFORMATIVE_SEVERITY` range (a
        clearly non-informative frame).  A value given is used as it is (values below the
        range make milder, possibly still informative frames).
    rng : numpy.random.Generator, int or None
        Source of randomness; a seed gives the same frame every time.
    kinds : sequence of str, optional
        The kinds drawn from when ``kind`` is None; default all of :data:`KINDS`.

    Returns
    -------
    Degraded
        ``image`` (``uint8``, the input's shape), ``kind`` and ``severity``.

    Raises
    ------
    ValueError
        Not an ``(H, W, 3)`` ``uint8`` image, unknown kind, severity outside ``[0, 1]``.

    Notes
    -----
    The generator is used in this order: kind (if drawn), severity (if drawn), then the
    degradation (:func:`draw_degradation` draws the first two).
    """
    _check_image(image)
    rng = _generator(rng)
    kind, severity = draw_degradation(rng, kind=kind, severity=severity, kinds=kinds)
    return Degraded(_FUNCTIONS[kind](image, severity=severity, rng=rng), kind, severity)
