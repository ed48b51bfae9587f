"""CIMT cases: B-mode images with the expert's far-wall interfaces, as plain arrays.

Application D of Tajbakhsh et al. (IEEE TMI 35(5), 2016, §CIMT) measures the carotid
intima-media thickness (IMT) on the far wall of longitudinal B-mode ultrasound: the distance
between the **lumen-intima** (LI) and the **media-adventitia** (MA) interfaces.

A case on disk is a pair ``<ID>.png`` (8-bit grey) + ``<ID>.json``::

    {"id": "AAAAA", "description": "LCCA LS", "mm_per_pixel": 0.0609756,
     "imt_mm": 0.857,                         # the expert's IMT; 0 or absent: none recorded
     "lumen_intima":     [[x, y], ...],       # the expert's points, pixels
     "media_adventitia": [[x, y], ...],
     "image_sha256": "..."}                   # optional: sha256 of the raw pixel bytes

This is the layout of the development copy of the University of Cyprus IMT segmentation
database (Loizou et al., IEEE TUFFC 56(5), 2009; Med. Biol. Eng. Comput. 45(1), 2007),
converted from its Matlab ``.scl`` delineations.  That database's copyright notice,
``IMT-ImageDataSet.txt``, must travel with any copy of the data; the loader does not read it.

Conventions
-----------
* Points are ``(x, y)`` = (column, row) in pixels; pixel ``(r, c)`` (``image[r, c]``) has its
  centre at ``x = c, y = r`` (0-based).  The files of the Cyprus database are 1-based
  (Matlab's image axes), and :func:`load_case` subtracts 1 (its ``origin``).  An interface
  is a function of the column: ``y(x)``.
* Rows per column (:func:`interface_rows`) interpolate the expert's points linearly and
  are NaN outside the range of their x.
* A region of interest is ``(y0, x0, y1, x1)`` in integer pixels, half-open:
  ``image[y0:y1, x0:x1]``.

>>> case = CIMTCase("demo", np.zeros((40, 50), np.uint8), 0.06,
...                 lumen_intima=[(5, 20.0), (45, 22.0)], media_adventitia=[(5, 30.0), (45, 32.0)])
>>> interface_rows(case.lumen_intima, [5, 25, 45, 46])
array([20., 21., 22., nan])
>>> roi_from_annotations(case, margin_mm=0.3)
(15, 5, 38, 46)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import pathlib

import numpy as np

from medkeras.checks import non_negative_number, positive_number

__all__ = ["CIMTCase", "check_roi", "interface_rows", "load_case", "load_folder",
           "read_grey_png", "roi_from_annotations"]

INTERFACES = ("lumen_intima", "media_adventitia")


@dataclasses.dataclass
class CIMTCase:
    """One ultrasound image with its far-wall interfaces.

    Parameters
    ----------
    case_id : str
        Case identifier (the file stem for :func:`load_case`); the group of its patches.
    image : (H, W) uint8
        B-mode image.
    mm_per_pixel : float
        Pixel size (square pixels), millimetres.
    lumen_intima, media_adventitia : (n, 2) float64
        Interface points ``(x, y)`` in pixels, ``n >= 2``, x strictly increasing, inside the
        image.  The expert's 8–11 clicks for real data; every column for synthetic data.
    imt_mm : float or None
        The expert's recorded IMT (``None`` where none was recorded).
    description : str
        Free text (the real data: the vessel and view, e.g. ``"LCCA LS"``).
    path : str or None
        The PNG it was read from.
    group : str
        The patient (or scan) the case belongs to: cases of one group never straddle a
        training/test split.  Empty: the case id.
    """
    case_id: str
    image: np.ndarray
    mm_per_pixel: float
    lumen_intima: np.ndarray
    media_adventitia: np.ndarray
    imt_mm: float | None = None
    description: str = ""
    path: str | None = None
    group: str = ""

    def __post_init__(self):
        self.case_id = str(self.case_id)
        self.group = str(self.group) or self.case_id
        image = np.asarray(self.image)
        if image.ndim != 2 or image.dtype != np.uint8 or min(image.shape, default=0) < 2:
            raise ValueError(f"case {self.case_id}: image must be a 2-D uint8 array of at least "
                             f"2×2 pixels, got {image.dtype} with shape {image.shape}")
        self.image = image
        self.mm_per_pixel = positive_number(self.mm_per_pixel, f"case {self.case_id}: mm_per_pixel")
        for name in INTERFACES:
            setattr(self, name, _check_points(getattr(self, name), image.shape,
                                              f"case {self.case_id}: {name}"))
        if self.imt_mm is not None:
            self.imt_mm = positive_number(self.imt_mm, f"case {self.case_id}: imt_mm")
        check_interface_order(self.lumen_intima, self.media_adventitia,
                              f"case {self.case_id}")

    @property
    def shape(self):
        """``(H, W)`` of the image."""
        return self.image.shape

    def columns(self):
        """Integer columns where both interfaces are defined (their common x-range)."""
        lo = max(self.lumen_intima[0, 0], self.media_adventitia[0, 0])
        hi = min(self.lumen_intima[-1, 0], self.media_adventitia[-1, 0])
        return np.arange(math.ceil(lo), math.floor(hi) + 1, dtype=np.int64)

    def rows(self, columns=None):
        """Expert rows of both interfaces at ``columns`` (default :meth:`columns`)."""
        columns = self.columns() if columns is None else columns
        return (interface_rows(self.lumen_intima, columns),
                interface_rows(self.media_adventitia, columns))



def _check_points(points, shape, what, *, sort=False):
    try:
        points = np.array(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a list of [x, y] pairs of numbers") from None
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
        raise ValueError(f"{what} must be at least two [x, y] points, got shape {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{what} has a non-finite coordinate")
    if shape is not None:
        height, width = shape
        outside = np.flatnonzero((points[:, 0] < -0.5) | (points[:, 0] > width - 0.5)
                                 | (points[:, 1] < -0.5) | (points[:, 1] > height - 0.5))
        if outside.size:
            x, y = points[outside[0]]
            raise ValueError(f"{what}: point {outside[0]} (x={x:g}, y={y:g}) lies outside the "
                             f"{width}×{height} image ({outside.size} such points)")
    if sort:
        points = points[np.argsort(points[:, 0], kind="stable")]
    bad = np.flatnonzero(np.diff(points[:, 0]) <= 0)
    if bad.size:
        i = bad[0]
        raise ValueError(f"{what}: x must increase strictly from point to point; point {i + 1} "
                         f"(x={points[i + 1, 0]:g}) follows x={points[i, 0]:g}"
                         + ("" if sort else " (sort_points=True orders points by x)"))
    return points


def check_interface_order(lumen_intima, media_adventitia, what):
    """A ``ValueError`` unless the two interfaces share columns and the lumen-intima lies
    above the media-adventitia (smaller row) in every shared column: swapped points would
    give a negative thickness and swap the classes of training."""
    lo = max(lumen_intima[0, 0], media_adventitia[0, 0])
    hi = min(lumen_intima[-1, 0], media_adventitia[-1, 0])
    columns = np.arange(math.ceil(lo), math.floor(hi) + 1, dtype=np.int64)
    if columns.size == 0:
        raise ValueError(f"{what}: the lumen-intima (x {lumen_intima[0, 0]:g}–"
                         f"{lumen_intima[-1, 0]:g}) and media-adventitia (x "
                         f"{media_adventitia[0, 0]:g}–{media_adventitia[-1, 0]:g}) "
                         "interfaces share no column")
    gap = interface_rows(media_adventitia, columns) - interface_rows(lumen_intima, columns)
    wrong = np.flatnonzero(gap <= 0)
    if wrong.size:
        raise ValueError(f"{what}: the lumen-intima must lie above the media-adventitia "
                         f"(a smaller y) in every column; at x={columns[wrong[0]]} it is "
                         f"{-gap[wrong[0]]:.3g} px below it ({wrong.size} of {columns.size} "
                         "columns): are lumen_intima and media_adventitia swapped?")


def check_roi(roi, shape):
    """A region of interest ``(y0, x0, y1, x1)`` → ints, checked against an image shape.

    >>> check_roi((1, 2, 5, 9), (10, 10))
    (1, 2, 5, 9)
    """
    try:
        values = [float(v) for v in roi]
    except (TypeError, ValueError):
        raise ValueError(f"roi must be (y0, x0, y1, x1) integers, got {roi!r}") from None
    if len(values) != 4 or any(v != int(v) for v in values):
        raise ValueError(f"roi must be four integers (y0, x0, y1, x1), got {roi!r}")
    y0, x0, y1, x1 = (int(v) for v in values)
    height, width = shape[:2]
    if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
        raise ValueError(f"roi {roi!r} must satisfy 0 <= y0 < y1 <= {height} and "
                         f"0 <= x0 < x1 <= {width} (image[y0:y1, x0:x1])")
    return y0, x0, y1, x1


def interface_rows(points, columns):
    """Row of an interface at each column: linear between the expert's points.

    Parameters
    ----------
    points : (n, 2) array
        ``(x, y)`` points, x strictly increasing (:class:`CIMTCase` guarantees it).
    columns : array of float
        Columns (x) to evaluate at.

    Returns
    -------
    float64 array, shape of ``columns``
        ``y`` at each column: exactly the expert's ``y`` at an expert ``x``, linear in between
        (the polyline the expert drew), **NaN outside** ``[x_first, x_last]`` — no
        extrapolation, so errors and thicknesses are only computed where the expert traced.

    >>> interface_rows([(0, 10), (4, 14)], [0, 1, 3.5, -1])
    array([10. , 11. , 13.5,  nan])
    """
    points = _check_points(points, None, "points")
    columns = np.asarray(columns, dtype=np.float64)
    return np.interp(columns, points[:, 0], points[:, 1], left=np.nan, right=np.nan)


def roi_from_annotations(case, *, margin_mm=1.0, lateral_margin_mm=0.0):
    """Region of interest holding both interfaces: ``(y0, x0, y1, x1)``, clipped to the image.

    Rows: from ``margin_mm`` above the highest lumen-intima row to ``margin_mm`` below the
    lowest media-adventitia row over the interfaces' common x-range (the margins converted
    with ``case.mm_per_pixel`` and rounded outwards).  Columns: the common x-range, widened by
    ``lateral_margin_mm`` on each side (0 by default, so that every ROI column has an expert
    row of both interfaces).  Tajbakhsh et al. (2016) measure inside a user-given ROI on the
    far wall; this derives one from the expert's tracing for training and evaluation.

    Returns
    -------
    (y0, x0, y1, x1) : ints, ``image[y0:y1, x0:x1]``
    """
    margin = non_negative_number(margin_mm, "margin_mm") / case.mm_per_pixel
    lateral = non_negative_number(lateral_margin_mm, "lateral_margin_mm") / case.mm_per_pixel
    columns = case.columns()
    if columns.size == 0:
        raise ValueError(f"case {case.case_id}: the two interfaces share no column (x-ranges "
                         f"{case.lumen_intima[[0, -1], 0]} and "
                         f"{case.media_adventitia[[0, -1], 0]})")
    lo_x, hi_x = columns[0], columns[-1]
    # Both interfaces' rows at the integer columns, and their points inside that range.
    rows = np.concatenate([*case.rows(columns),
                           *(p[(p[:, 0] >= lo_x) & (p[:, 0] <= hi_x), 1]
                             for p in (case.lumen_intima, case.media_adventitia))])
    top, bottom = rows.min(), rows.max()
    height, width = case.shape
    y0 = max(0, math.floor(top - margin))
    y1 = min(height, math.ceil(bottom + margin) + 1)
    x0 = max(0, math.ceil(lo_x - lateral - 1e-9))
    x1 = min(width, math.floor(hi_x + lateral + 1e-9) + 1)
    return y0, x0, y1, x1


def read_grey_png(path):
    """An 8-bit grey image file → a ``(H, W)`` uint8 array, through
    :func:`medkeras.io.images.read_image`: a 16-bit grey file is scaled by its bit depth
    (65535 → 255, never clipped); an RGB file whose three channels are equal is accepted;
    a ``ValueError`` naming the file otherwise (unreadable, truncated, colour)."""
    from PIL import Image

    from medkeras.io.images import WIDE_GREY_MODES, read_image

    try:
        with Image.open(path) as image:
            mode = image.mode
    except Exception:               # PIL raises many types; read_image names them
        mode = None
    if mode in ("RGB", "RGBA"):
        pixels = read_image(path, channels=3, dtype=np.uint8)
        if not np.all(pixels[..., 0:1] == pixels[..., 1:3]):
            raise ValueError(f"{path}: expected a grey image, got colour (mode {mode!r} with "
                             "differing colour channels)")
        return np.ascontiguousarray(pixels[..., 0])
    if mode is not None and mode not in ("L", "F", *WIDE_GREY_MODES):  # F: read_image refuses
        raise ValueError(f"{path}: expected an 8- or 16-bit grey image, got mode {mode!r}")
    return read_image(path, channels=1, dtype=np.uint8)[..., 0]


def load_case(png_path, *, origin=1.0, sort_points=True, verify_checksum=True,
              annotation_path=None):
    """Read one case: ``<ID>.png`` and the ``<ID>.json`` beside it.

    Parameters
    ----------
    png_path : str or path-like
        The 8-bit grey PNG (an RGB file whose three channels are equal is accepted).
    origin : float
        The file's coordinate of the centre of the first pixel, subtracted from every point
        to give this package's 0-based convention.  1 (the default) for the Cyprus
        database: its points are Matlab image-axes coordinates, in which pixel centres are
        at 1 … N — every one of its coordinates is ``0.5 + (k + ½)·768/488`` for an integer
        ``k`` (to 3·10⁻⁴ px), the centre of a screen pixel of a 488-pixel-wide display of the
        768-pixel image in those coordinates.  0 for files already 0-based.
    sort_points : bool
        Order each interface's points by x before checking that x increases strictly.  The
        Matlab delineations store points in the order the expert clicked them, and in 8 of
        the 52 development cases one point was added last, out of order; sorting restores
        the interface (points sharing an x still raise).  ``False``: any non-increasing x
        raises.
    verify_checksum : bool
        When the JSON has ``image_sha256`` (sha256 of the image's raw row-major pixel
        bytes), check it: a mismatch means the PNG is not the image that was annotated.
    annotation_path : str or path-like, optional
        The JSON, when it is not ``<ID>.json`` beside the image (its ``id`` is then not
        compared with the image's name).

    Returns
    -------
    CIMTCase
        ``imt_mm`` is ``None`` where the JSON has 0, null or no ``imt_mm``.

    Raises
    ------
    ValueError
        Naming the file: missing or broken JSON, missing keys, a bad pixel size, points
        outside the image or not increasing in x, an image that is not 8-bit grey, a
        checksum or id mismatch.
    """
    png_path = pathlib.Path(png_path)
    if not png_path.is_file():
        raise ValueError(f"{png_path}: no such image file")
    json_path = (png_path.with_suffix(".json") if annotation_path is None
                 else pathlib.Path(annotation_path))
    if not json_path.is_file():
        raise ValueError(f"{png_path}: its annotation {json_path.name} is missing (expected "
                         f"{json_path})")
    try:
        with open(json_path, encoding="utf-8") as f:
            record = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{json_path}: broken JSON ({err})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{json_path}: expected a JSON object, got {type(record).__name__}")
    missing = [k for k in ("mm_per_pixel", *INTERFACES) if k not in record]
    if missing:
        raise ValueError(f"{json_path}: missing keys {missing}")
    case_id = png_path.stem
    if annotation_path is None and "id" in record and str(record["id"]) != case_id:
        raise ValueError(f"{json_path}: its id {record['id']!r} does not match the file name "
                         f"{case_id!r}")
    image = read_grey_png(png_path)
    expected = record.get("image_sha256")
    if isinstance(origin, bool) or not isinstance(origin, numbers.Real) \
            or not math.isfinite(origin):
        raise ValueError(f"origin must be a number, got {origin!r}")
    if verify_checksum and expected:
        actual = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
        if actual != str(expected).lower():
            raise ValueError(f"{png_path}: pixel checksum {actual[:12]}… differs from "
                             f"image_sha256 {str(expected)[:12]}… in {json_path.name}")
    try:
        mm_per_pixel = positive_number(record["mm_per_pixel"], "mm_per_pixel")
        points = {name: _check_points(_shifted(record[name], origin), image.shape, name,
                                      sort=sort_points)
                  for name in INTERFACES}
    except ValueError as err:
        raise ValueError(f"{json_path}: {err}") from None
    imt = record.get("imt_mm")
    if imt is not None and (isinstance(imt, bool) or not isinstance(imt, numbers.Real)
                            or not math.isfinite(imt) or imt < 0):
        raise ValueError(f"{json_path}: imt_mm must be a non-negative number, got {imt!r}")
    return CIMTCase(case_id, image, mm_per_pixel, points["lumen_intima"],
                    points["media_adventitia"], imt_mm=float(imt) if imt else None,
                    description=str(record.get("description", "")), path=str(png_path))


def _shifted(points, origin):
    try:
        return np.array(points, dtype=np.float64) - origin
    except (TypeError, ValueError):
        raise ValueError("points must be a list of [x, y] pairs of numbers") from None


def load_folder(path, *, origin=1.0, sort_points=True, verify_checksum=True):
    """Every case of a folder: each ``*.png`` with its ``.json``, sorted by name.

    Other files (the database's ``IMT-ImageDataSet.txt`` copyright notice, which must stay
    with the data) are ignored.  Options as in :func:`load_case`.

    Raises
    ------
    ValueError
        No such folder, no PNG in it, or any case that :func:`load_case` rejects (the first).
    """
    path = pathlib.Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder")
    pngs = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    if not pngs:
        raise ValueError(f"{path}: no .png images in this folder")
    return [load_case(p, origin=origin, sort_points=sort_points,
                      verify_checksum=verify_checksum) for p in pngs]
