"""Synthetic longitudinal B-mode images of the carotid far wall with known interfaces.

A documented, seeded generator for tests and demonstrations: the same :class:`CIMTCase` as
real data, with the true lumen-intima and media-adventitia rows at **every** column as its
points, so the whole pipeline (patch sampling, dense confidence, snakes, thickness) runs on
it unchanged and its errors are measured against the exact truth.

Image model (top to bottom, every boundary a slowly curving function of the column):

1. near-wall tissue with a smooth texture, then the near wall's bright adventitia;
2. the **lumen**: blood, near black (−46 dB below the adventitia: just inside the dynamic
   range, so that clipping does not move the displayed lumen-intima edge off the true step;
   real lumens are darker and clipped);
3. the **lumen-intima interface** ``y_li(x)``, a dark→bright step: the first bright echo
   line (intima, ≈0.2 mm, −24 dB) begins there — the "leading edge" of the first echo, the
   convention of IMT measurement (Wendelhag et al., Clin. Physiol. 1991);
4. the hypoechoic **media** (−32 dB);
5. the **media-adventitia interface** ``y_ma(x) = y_li(x) + IMT(x)``: the leading edge of
   the brightest echo, the **adventitia** (0 dB, ≈0.6–1.0 mm thick);
6. deeper tissue with a smooth texture and a few bright specular streaks.

Boundaries are rendered with exact sub-pixel area coverage, blurred by a Gaussian point
spread function (longer laterally than axially) in the log (display) domain so that each
interface stays where the displayed edge is steepest, multiplied by **speckle**: the modulus
of PSF-filtered complex Gaussian noise, i.e. spatially correlated Rayleigh-distributed
(fully developed speckle, Burckhardt, IEEE Trans. Sonics Ultrason. 25(1), 1978), and
log-compressed to 8 bits over a 50 dB dynamic range.  The IMT is 0.5–1.0 mm by default,
varying ±8 % along the vessel; the pixel size 0.06 mm, as in the real database.
"""

from __future__ import annotations


import numpy as np

from medkeras.checks import integer_at_least, positive_number
from scipy import ndimage

from .data import CIMTCase

__all__ = ["synthetic_case", "synthetic_cases"]

#: Echogenicity of each layer in dB relative to the adventitia.
LEVELS_DB = {"near_tissue": -34.0, "near_wall": -8.0, "lumen": -46.0, "intima": -24.0,
             "media": -32.0, "adventitia": 0.0, "deep_tissue": -34.0}



def synthetic_case(*, seed=0, shape=(240, 320), mm_per_pixel=0.06, imt_mm=None, speckle=1.0,
                   psf_mm=(0.08, 0.2), dynamic_range_db=50.0, case_id=None):
    """A synthetic far-wall B-mode image with its true interfaces.

    Parameters
    ----------
    seed : int
        Everything random (geometry, texture, speckle) follows from it.
    shape : (int, int)
        ``(H, W)``; at least 32 columns, and enough rows for the random anatomy (up to
        ≈12 mm of depth: the default 240 rows at 0.06 mm/pixel always suffice); a clear
        error says when it does not fit.
    mm_per_pixel : float
    imt_mm : float, optional
        Mean intima-media thickness over the columns (it varies ±8 % along the vessel);
        default uniform in [0.5, 1.0] mm.
    speckle : float in [0, 1]
        Weight of the multiplicative Rayleigh speckle: 0 gives the noise-free mean image,
        1 fully developed speckle (unit-mean factor ``(1 − s) + s·R``).
    psf_mm : (float, float)
        Standard deviations of the Gaussian point spread function, axial and lateral, mm.
    dynamic_range_db : float
        Log compression: 0 dB (the adventitia's mean) maps to 255·range/(range + 20)
        (182 for 50 dB), −range dB to 0.
    case_id : str, optional
        Default ``"synthetic-<seed>"``.

    Returns
    -------
    CIMTCase
        ``lumen_intima`` and ``media_adventitia`` hold ``(x, y_true)`` for every column
        ``x = 0 … W−1`` (so :func:`~apps.cimt.data.interface_rows` at integer columns gives
        the truth exactly); ``imt_mm`` is the true mean thickness over the columns;
        ``description`` records the generator's parameters.

    Examples
    --------
    >>> case = synthetic_case(seed=1)
    >>> case.image.shape, case.image.dtype, case.mm_per_pixel
    ((240, 320), dtype('uint8'), 0.06)
    >>> 0.45 < case.imt_mm < 1.1
    True
    """
    seed = integer_at_least(seed, "seed", 0)
    if len(shape) != 2:
        raise ValueError(f"shape must be (H, W), got {shape!r}")
    height, width = (integer_at_least(v, "shape", 2) for v in shape)
    mm_per_pixel = positive_number(mm_per_pixel, "mm_per_pixel")
    if width < 32:
        raise ValueError(f"shape {shape}: at least 32 columns are needed")
    if not 0 <= speckle <= 1:
        raise ValueError(f"speckle must be in [0, 1], got {speckle!r}")
    if len(psf_mm) != 2 or min(psf_mm) <= 0:
        raise ValueError(f"psf_mm must be two positive standard deviations, got {psf_mm!r}")
    if not dynamic_range_db > 0:
        raise ValueError(f"dynamic_range_db must be positive, got {dynamic_range_db!r}")
    rng = np.random.default_rng(seed)
    px = 1.0 / mm_per_pixel                                   # pixels per mm
    if imt_mm is None:
        imt_mm = rng.uniform(0.5, 1.0)
    if not 0.1 <= imt_mm <= 3.0:
        raise ValueError(f"imt_mm must be in [0.1, 3] mm, got {imt_mm!r}")

    # Geometry: slowly curving interfaces (a tilt plus one long sine), varying thickness.
    x = np.arange(width, dtype=np.float64)
    centred = x - (width - 1) / 2
    curve = (rng.uniform(-1, 1) * 0.04 * centred
             + rng.uniform(0.2, 0.6) * px * np.sin(2 * np.pi * x / (rng.uniform(1.5, 3.0) * width)
                                                   + rng.uniform(0, 2 * np.pi)))
    profile = 1 + 0.08 * np.sin(2 * np.pi * x / (rng.uniform(1.0, 2.0) * width)
                                + rng.uniform(0, 2 * np.pi))
    imt = imt_mm * px * profile / profile.mean()              # mean exactly imt_mm
    lumen = rng.uniform(4.5, 6.5) * px                        # lumen diameter
    near_wall = rng.uniform(0.6, 1.0) * px
    adventitia = rng.uniform(0.6, 1.0) * px
    # The far wall near 58 % of the depth, moved where needed to fit the anatomy.
    lowest = near_wall + lumen + 0.3 * px - curve.min()       # lumen-intima row bounds
    highest = height - 0.5 * px - (imt + adventitia + curve).max()
    if lowest > highest:
        raise ValueError(f"shape {shape} at {mm_per_pixel} mm/pixel cannot hold the anatomy "
                         "(about 7–10 mm of depth around the far wall); use more rows")
    li = float(np.clip(0.58 * height, lowest, highest)) + curve
    ma = li + imt
    intima = li + rng.uniform(0.15, 0.25) * px
    adventitia_end = ma + adventitia
    lumen_top = li - lumen
    near_wall_top = lumen_top - near_wall

    # Layered echogenicity in dB with exact area coverage of each pixel by each layer.
    rows = np.arange(height, dtype=np.float64)[:, None]

    def below(boundary):       # fraction of pixel [r − ½, r + ½] below the boundary row
        return np.clip(rows + 0.5 - boundary[None, :], 0.0, 1.0)

    texture = ndimage.gaussian_filter(rng.standard_normal((height, width)),
                                      (0.4 * px, 1.2 * px), mode="reflect")
    texture *= 6.0 / max(texture.std(), 1e-12)                # ±6 dB slow texture
    streaks = ndimage.gaussian_filter((rng.random((height, width)) < 0.004).astype(float),
                                      (0.05 * px, 0.6 * px), mode="reflect")
    streaks = 12.0 * np.clip(streaks / max(streaks.max(), 1e-12), 0, 1)   # up to +12 dB
    L = LEVELS_DB
    db = (L["near_tissue"] + texture
          + (L["near_wall"] - L["near_tissue"] - texture) * below(near_wall_top)
          + (L["lumen"] - L["near_wall"]) * below(lumen_top)
          + (L["intima"] - L["lumen"]) * below(li)
          + (L["media"] - L["intima"]) * below(intima)
          + (L["adventitia"] - L["media"]) * below(ma)
          + (L["deep_tissue"] + texture + streaks - L["adventitia"]) * below(adventitia_end))
    sigma = (psf_mm[0] * px, psf_mm[1] * px)
    db = ndimage.gaussian_filter(db, sigma, mode="nearest")   # PSF, in the display domain
    amplitude = 10.0 ** (db / 20.0)

    if speckle > 0:
        field = ndimage.gaussian_filter(rng.standard_normal((height, width)), sigma,
                                        mode="reflect") \
            + 1j * ndimage.gaussian_filter(rng.standard_normal((height, width)), sigma,
                                           mode="reflect")
        rayleigh = np.abs(field)
        rayleigh /= rayleigh.mean()                           # unit mean
        amplitude = amplitude * ((1.0 - speckle) + speckle * rayleigh)
    amplitude += 10.0 ** ((-dynamic_range_db - 6) / 20) * np.abs(
        rng.standard_normal((height, width)))                 # faint electronic noise
    display = (20 * np.log10(amplitude) + dynamic_range_db) / (dynamic_range_db + 20.0)
    image = np.clip(np.round(255 * display), 0, 255).astype(np.uint8)

    points = lambda rows_: np.stack([x, rows_], axis=1)       # noqa: E731
    true_imt = float(np.mean(ma - li) * mm_per_pixel)
    description = (f"synthetic seed={seed} imt_mm={imt_mm:.3f} speckle={speckle:g} "
                   f"psf_mm={tuple(psf_mm)}")
    return CIMTCase(f"synthetic-{seed}" if case_id is None else case_id, image,
                    float(mm_per_pixel), points(li), points(ma), imt_mm=true_imt,
                    description=description)


def synthetic_cases(n, *, seed=0, **options):
    """``n`` synthetic cases with seeds ``seed, seed + 1, …`` (options of
    :func:`synthetic_case`).

    >>> [c.case_id for c in synthetic_cases(2, seed=5, shape=(200, 64))]
    ['synthetic-5', 'synthetic-6']
    """
    n = integer_at_least(n, "n", 1)
    return [synthetic_case(seed=seed + i, **options) for i in range(n)]
