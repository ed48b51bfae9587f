"""CT volumes for the pulmonary-embolism application: NIfTI and DICOM in, NIfTI and DICOM out.

Conventions (every module of :mod:`apps.pe` follows them):

* in memory a volume is a NumPy array indexed ``(z, y, x)`` = (slice, row, column), with
  ``spacing`` = (z, y, x) in mm; CT values are Hounsfield units (``int16`` where the file's
  rescaling keeps them integral, else ``float32``);
* a point in mm is ``(z, y, x) * spacing`` (voxel centres, origin at voxel 0) unless stated;
* ``affine`` maps a voxel ``(i, j, k, 1)`` = ``(x, y, z, 1)`` to scanner (patient)
  coordinates in mm, RAS+ as in NIfTI (DICOM's LPS positions are converted on reading and
  writing: the first two rows change sign), so a NIfTI and a DICOM copy of one scan have
  the same affine.  :func:`voxel_to_scanner` applies it to ``(z, y, x)`` points.

NIfTI (nibabel) stores ``(i, j, k)`` ≈ ``(x, y, z)`` in Fortran order; the transposed view
is C-contiguous ``(z, y, x)``, so reading costs no copy beyond the decoded data (and one
conversion where the header rescales).  A DICOM series (pydicom) is read header-first:
files are grouped by series, slices sorted by ``ImagePositionPatient`` projected on the
slice normal (file names and order do not matter), checked (one orientation, one size,
uniform slice gaps), and only then are the pixels decoded into one preallocated array.

>>> import numpy as np, tempfile, pathlib
>>> ct = Volume(np.full((3, 4, 5), -1000, np.int16), (2.5, 0.7, 0.7))
>>> ct.affine[:3, :3].diagonal().tolist()       # x, y, z column lengths
[0.7, 0.7, 2.5]
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_nifti(ct, folder / "ct.nii.gz")
>>> back = read_volume(folder / "ct.nii.gz")
>>> back.array.shape, back.spacing, back.array.dtype.name
((3, 4, 5), (2.5, 0.7, 0.7), 'int16')
"""

from __future__ import annotations

import math
import numbers
import os
import pathlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Volume", "as_array_and_spacing", "check_nifti_geometry", "check_spacing",
           "lps_affine", "read_mask", "read_volume", "scanner_to_voxel", "voxel_to_scanner", "write_dicom_series",
           "write_nifti", "write_nifti_atomic"]

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])          # RAS <-> LPS (its own inverse)
_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_INT16 = np.iinfo(np.int16)


def check_spacing(spacing, what="spacing"):
    """``spacing`` as three floats ``(z, y, x)`` mm, or a ``ValueError`` unless it is three
    positive finite numbers."""
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be three numbers (z, y, x) in mm, got {spacing!r}") \
            from None
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"{what} must be three positive numbers (z, y, x) in mm, "
                         f"got {spacing!r}")
    return values


@dataclass(frozen=True, eq=False)
class Volume:
    """A CT volume (or mask) with its geometry.

    Parameters
    ----------
    array : (Z, Y, X) ndarray
        Indexed (slice, row, column); HU for CT.  Kept as given (no copy).
    spacing : 3 floats
        Voxel size (z, y, x) in mm.
    affine : (4, 4) array, optional
        Voxel ``(i=x, j=y, k=z, 1)`` → scanner mm (RAS+, as NIfTI).  Default: axis-aligned,
        ``diag(spacing_x, spacing_y, spacing_z, 1)``, origin at voxel 0.
    """
    array: np.ndarray
    spacing: tuple
    affine: np.ndarray = field(default=None)

    def __post_init__(self):
        if not isinstance(self.array, np.ndarray) or self.array.ndim != 3:
            raise ValueError("array must be a 3-D numpy array indexed (z, y, x), got "
                             f"{getattr(self.array, 'shape', type(self.array).__name__)}")
        spacing = check_spacing(self.spacing)
        object.__setattr__(self, "spacing", spacing)
        if self.affine is None:
            affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
        else:
            affine = np.array(self.affine, dtype=np.float64)
            if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
                raise ValueError(f"affine must be a finite 4×4 matrix, got shape "
                                 f"{affine.shape}")
            if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
                raise ValueError("affine is singular (its voxel axes are not independent)")
        object.__setattr__(self, "affine", affine)

    @property
    def shape(self):
        return self.array.shape


def as_array_and_spacing(ct, spacing):
    """``(array, spacing)`` from a :class:`Volume` (``spacing`` None) or an array + spacing.

    For the functions of :mod:`apps.pe` that take either; raises ``ValueError`` early on a
    non-3-D input, a missing or conflicting spacing.
    """
    if isinstance(ct, Volume):
        if spacing is not None and not np.allclose(check_spacing(spacing), ct.spacing):
            raise ValueError(f"spacing {spacing!r} conflicts with the Volume's {ct.spacing}")
        return ct.array, ct.spacing
    if not isinstance(ct, np.ndarray) or ct.ndim != 3:
        raise ValueError("ct must be a Volume or a 3-D numpy array indexed (z, y, x), got "
                         f"{getattr(ct, 'shape', type(ct).__name__)}")
    if ct.dtype.kind not in "iuf":
        raise ValueError(f"ct must hold numbers (HU), got {ct.dtype}")
    if spacing is None:
        raise ValueError("spacing (z, y, x) in mm is required with a plain array")
    return ct, check_spacing(spacing)


def lps_affine(spacing):
    """The affine of an axis-aligned grid at the origin in DICOM's usual (LPS) order.

    Voxel ``x`` grows to the patient's left, ``y`` to the back, ``z`` to the head (as
    axial CT slices are stored); ``spacing`` is ``(z, y, x)`` mm.  (A :class:`Volume`
    without an affine is RAS: ``x`` to the right, ``y`` to the front.)

    >>> lps_affine((2.5, 0.7, 0.7)).diagonal().tolist()
    [-0.7, -0.7, 2.5, 1.0]
    """
    spacing = check_spacing(spacing)
    return np.diag([-spacing[2], -spacing[1], spacing[0], 1.0])


# --------------------------------------------------------------------------- coordinates


def voxel_to_scanner(affine, points):
    """Scanner (patient) coordinates, mm, of voxel points given as ``(z, y, x)``.

    Parameters
    ----------
    affine : (4, 4) array or Volume
    points : (..., 3) array of voxel indices (float allowed), order (z, y, x)

    Returns
    -------
    (..., 3) float ndarray of scanner ``(x, y, z)`` (RAS+ for this package's affines).
    """
    affine = affine.affine if isinstance(affine, Volume) else np.asarray(affine, float)
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (3,):
        raise ValueError(f"points must have a last axis of 3 (z, y, x), got {points.shape}")
    ijk = points[..., ::-1]
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def scanner_to_voxel(affine, points):
    """Inverse of :func:`voxel_to_scanner`: scanner ``(x, y, z)`` mm → voxel ``(z, y, x)``."""
    affine = affine.affine if isinstance(affine, Volume) else np.asarray(affine, float)
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (3,):
        raise ValueError(f"points must have a last axis of 3 (x, y, z), got {points.shape}")
    inverse = np.linalg.inv(affine)
    ijk = points @ inverse[:3, :3].T + inverse[:3, 3]
    return ijk[..., ::-1]


# --------------------------------------------------------------------------- NIfTI


def _is_nifti(path):
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def _read_nifti(path):
    import nibabel as nib

    try:
        with nib.openers.ImageOpener(str(path)) as f:    # the header as written (nibabel's
            raw_header = nib.Nifti1Header.from_fileobj(f, check=False)     # load fixes it)
        written_zooms = tuple(float(z) for z in raw_header["pixdim"][1:4])
        image = nib.load(str(path))
        proxy = image.dataobj
        raw = np.asanyarray(proxy.get_unscaled())
    except Exception as err:     # gzip/zlib errors, EOFError, nibabel's ImageFileError...
        raise ValueError(f"{path}: unreadable NIfTI ({type(err).__name__}: {err}); the file "
                         "is truncated or not a NIfTI volume") from None
    shape = image.shape
    if len(shape) > 3 and all(s == 1 for s in shape[3:]):
        shape = shape[:3]
    if len(shape) != 3:
        raise ValueError(f"{path}: expected a 3-D NIfTI volume, got shape {image.shape}")
    slope = float(getattr(proxy, "slope", 1.0))
    inter = float(getattr(proxy, "inter", 0.0))
    if not math.isfinite(slope) or slope == 0:
        slope = 1.0
    if not math.isfinite(inter):
        inter = 0.0
    raw = raw.reshape(shape, order="F")
    whole = raw.dtype.kind in "iu" and slope == 1.0 and inter.is_integer()
    if whole and raw.size:
        lo, hi = int(raw.min()), int(raw.max())
        whole = _INT16.min <= min(lo, lo + inter) and max(hi, hi + inter) <= _INT16.max
    if slope == 1.0 and inter == 0.0:
        data = raw
    elif whole:
        data = raw.astype(np.int16, copy=False)      # CT's usual -1024 intercept
        data += np.int16(inter)
    else:
        data = raw.astype(np.float32)
        data *= np.float32(slope)
        data += np.float32(inter)
    zooms = image.header.get_zooms()[:3]
    if not all(math.isfinite(z) and z > 0 for z in written_zooms):
        raise ValueError(f"{path}: voxel size {written_zooms} mm (x, y, z; the header's pixdim) "
                         "must be positive and finite; fix the header")
    check_nifti_geometry(path, zooms, image.affine)
    if data.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            raise ValueError(f"{path}: {bad} of {data.size} voxels are NaN or infinite; a CT "
                             "must hold finite values (replace them, e.g. by -1024 HU for "
                             "air, and save it again)")
    # the header holds float32: take the shortest decimal that gives it back (0.7, not
    # 0.699999988), which is what the writer meant
    spacing = tuple(float(str(np.float32(z))) for z in zooms[::-1])
    return Volume(data.transpose(2, 1, 0), spacing, image.affine)


def check_nifti_geometry(path, zooms, affine, *, tolerance=1e-3):
    """A ``ValueError`` naming ``path`` unless the voxel sizes (``zooms``, x y z) are
    positive and finite and equal the lengths of the affine's columns (to ``tolerance``
    relative): a header whose pixdim disagrees with its qform/sform is ambiguous."""
    zooms = np.asarray(zooms, np.float64)
    if zooms.shape != (3,) or not np.all(np.isfinite(zooms)) or np.any(zooms <= 0):
        raise ValueError(f"{path}: voxel size {tuple(float(z) for z in zooms)} mm (x, y, z) "
                         "must be positive and finite; fix the header's pixdim")
    affine = np.asarray(affine, np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError(f"{path}: the header's affine is not a finite 4×4 matrix")
    lengths = np.linalg.norm(affine[:3, :3], axis=0)
    if not np.allclose(lengths, zooms, rtol=tolerance, atol=0):
        raise ValueError(f"{path}: voxel size {tuple(round(float(z), 6) for z in zooms)} mm "
                         f"(pixdim) disagrees with the affine's "
                         f"{tuple(round(float(v), 6) for v in lengths)} (qform/sform); fix "
                         "the header so that both agree")


def write_nifti(volume, path):
    """Write ``volume`` as NIfTI-1 (``.nii`` or ``.nii.gz``), array ``(z, y, x)`` → ``(i, j, k)``.

    The data type is kept (bool becomes uint8; 64-bit integers become int32 where they
    fit), sform and qform are set to ``volume.affine`` (code 1, scanner), units mm.
    """
    import nibabel as nib

    image, path = _nifti_image(volume, path)
    nib.save(image, str(path))


def write_nifti_atomic(volume, path):
    """:func:`write_nifti`, but to a temporary file beside ``path``, then renamed over it.

    ``path`` is either absent (or its old content) or the complete new file, never a part:
    for writers that must be resumable after an interruption.  The temporary file is named
    ``.<stem>.<pid>.tmp.nii[.gz]`` and removed if writing fails.

    >>> import tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_nifti_atomic(Volume(np.zeros((2, 3, 4), np.uint8), (1, 1, 1)), folder / "m.nii.gz")
    >>> sorted(p.name for p in folder.iterdir())
    ['m.nii.gz']
    """
    import nibabel as nib

    image, path = _nifti_image(volume, path)
    suffix = ".nii.gz" if path.name.lower().endswith(".nii.gz") else ".nii"
    tmp = path.with_name(f".{path.name[:-len(suffix)]}.{os.getpid()}.tmp{suffix}")
    try:
        nib.save(image, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _nifti_image(volume, path):
    import nibabel as nib

    if not isinstance(volume, Volume):
        raise ValueError(f"volume must be a Volume, got {type(volume).__name__}")
    path = pathlib.Path(path)
    if not _is_nifti(path):
        raise ValueError(f"{path}: a NIfTI file name must end in .nii or .nii.gz")
    data = volume.array
    if data.dtype == bool:
        data = data.view(np.uint8)
    elif data.dtype.kind in "iu" and data.dtype.itemsize == 8:
        if data.size and (data.min() < np.iinfo(np.int32).min
                          or data.max() > np.iinfo(np.int32).max):
            raise ValueError("values do not fit the int32 NIfTI can store")
        data = data.astype(np.int32)
    image = nib.Nifti1Image(data.transpose(2, 1, 0), volume.affine)
    image.set_sform(volume.affine, code=1)
    image.set_qform(volume.affine, code=1)
    image.header.set_zooms(volume.spacing[::-1])
    image.header.set_xyzt_units("mm")
    return image, path


# --------------------------------------------------------------------------- DICOM


def _dicom_headers(folder):
    import pydicom
    from pydicom.errors import InvalidDicomError

    headers = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError):
            continue
        if "SeriesInstanceUID" not in ds or "Rows" not in ds or "Columns" not in ds:
            continue                      # DICOMDIR, reports, presentation states ...
        headers.append((path, ds))
    return headers


def _series_listing(groups):
    lines = []
    for uid, items in groups.items():
        ds = items[0][1]
        desc = str(ds.get("SeriesDescription", "")).strip() or "no description"
        number = ds.get("SeriesNumber", "?")
        lines.append(f"  {uid} (series {number}, {desc!r}, {len(items)} images)")
    return "\n".join(lines)


def _floats(ds, keyword, count, path):
    value = ds.get(keyword)
    if value is None:
        raise ValueError(f"{path}: missing {keyword}; cannot place the slice in space")
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"{path}: unreadable {keyword} {value!r}") from None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{path}: {keyword} must hold {count} finite numbers, got {value!r}")
    return np.array(values)


def _read_dicom(folder, series_uid, spacing_tolerance):
    import pydicom

    headers = _dicom_headers(folder)
    if not headers:
        raise ValueError(f"{folder}: no DICOM images found (empty folder, or files without "
                         "the DICOM preamble)")
    groups = {}
    for path, ds in headers:
        groups.setdefault(str(ds.SeriesInstanceUID), []).append((path, ds))
    if series_uid is not None:
        if str(series_uid) not in groups:
            raise ValueError(f"{folder}: no series {series_uid!r}; found:\n"
                             f"{_series_listing(groups)}")
        items = groups[str(series_uid)]
    elif len(groups) > 1:
        raise ValueError(f"{folder} holds {len(groups)} series; choose one with "
                         f"series_uid=...:\n{_series_listing(groups)}")
    else:
        items = next(iter(groups.values()))

    first_path, first = items[0]
    if int(first.get("NumberOfFrames", 1) or 1) > 1:
        raise ValueError(f"{first_path}: multi-frame (enhanced) DICOM is not supported; "
                         "convert the series to one file per slice")
    orientation = _floats(first, "ImageOrientationPatient", 6, first_path)
    pixel = _floats(first, "PixelSpacing", 2, first_path)
    rows, cols = int(first.Rows), int(first.Columns)
    row_cos, col_cos = orientation[:3], orientation[3:]
    normal = np.cross(row_cos, col_cos)
    if not (abs(np.linalg.norm(row_cos) - 1) < 1e-3 and abs(np.linalg.norm(col_cos) - 1) < 1e-3
            and np.linalg.norm(normal) > 0.99):
        raise ValueError(f"{first_path}: ImageOrientationPatient {orientation.tolist()} is "
                         "not two orthogonal unit vectors")
    normal /= np.linalg.norm(normal)
    positions = []
    for path, ds in items:
        if int(ds.Rows) != rows or int(ds.Columns) != cols:
            raise ValueError(f"{path}: {ds.Rows}×{ds.Columns} pixels, but {first_path} has "
                             f"{rows}×{cols}; one series must have one image size")
        if not np.allclose(_floats(ds, "ImageOrientationPatient", 6, path), orientation,
                           atol=1e-4):
            raise ValueError(f"{path}: ImageOrientationPatient differs from {first_path}'s; "
                             "slices of one volume must share one orientation")
        if not np.allclose(_floats(ds, "PixelSpacing", 2, path), pixel, rtol=1e-4):
            raise ValueError(f"{path}: PixelSpacing differs from {first_path}'s")
        positions.append(_floats(ds, "ImagePositionPatient", 3, path))
    positions = np.array(positions)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along, positions = along[order], positions[order]
    items = [items[i] for i in order]
    if len(items) > 1:
        gaps = np.diff(along)
        if np.any(gaps < 1e-3 * min(pixel)):
            k = int(np.argmin(gaps))
            raise ValueError(f"{items[k][0]} and {items[k + 1][0]} lie at the same slice "
                             "position; the series holds several volumes (phases, echoes "
                             "or repeats): split it or choose another series")
        median = float(np.median(gaps))
        if np.any(np.abs(gaps - median) > spacing_tolerance * median):
            raise ValueError(f"{folder}: non-uniform slice spacing, gaps from {gaps.min():.4g} "
                             f"to {gaps.max():.4g} mm (median {median:.4g}; missing slices?); "
                             f"allowed deviation {spacing_tolerance:.0%} "
                             "(spacing_tolerance=)")
        step = (positions[-1] - positions[0]) / (len(items) - 1)
    else:
        thickness = float(first.get("SpacingBetweenSlices", 0) or first.get("SliceThickness", 0)
                          or 1.0)
        step = normal * thickness
    lps = np.eye(4)
    lps[:3, 0] = row_cos * pixel[1]       # i: along a row = next column
    lps[:3, 1] = col_cos * pixel[0]       # j: next row
    lps[:3, 2] = step
    lps[:3, 3] = positions[0]
    affine = _LPS @ lps
    spacing = (float(np.linalg.norm(step)), float(pixel[0]), float(pixel[1]))

    rescale = [(float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0))
               for _, ds in items]
    integral = all(s == 1.0 and i.is_integer() for s, i in rescale)
    out = np.empty((len(items), rows, cols), np.int16 if integral else np.float32)
    for k, ((path, _), (slope, inter)) in enumerate(zip(items, rescale)):
        try:
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array
        except Exception as error:      # noqa: BLE001 - name the file, keep the cause
            raise ValueError(f"{path}: cannot decode the pixel data ({error})") from error
        if pixels.shape != (rows, cols):
            raise ValueError(f"{path}: pixel data of shape {pixels.shape}, expected "
                             f"{(rows, cols)} (colour or multi-frame images are not CT)")
        if out.dtype == np.int16:
            lo, hi = int(pixels.min()) + int(inter), int(pixels.max()) + int(inter)
            if lo < _INT16.min or hi > _INT16.max:
                out = out.astype(np.float32)
        if out.dtype == np.int16:
            out[k] = pixels.astype(np.int32) + int(inter)
        else:
            out[k] = pixels.astype(np.float32) * np.float32(slope) + np.float32(inter)
    return Volume(out, spacing, affine)


def write_dicom_series(volume, folder, *, series_description="medkeras", patient_id="ANONYMOUS",
                       patient_name="Anonymous", series_number=1, study_uid=None,
                       series_uid=None):
    """Write ``volume`` (HU) as a CT Image Storage series, one file per slice.

    Pixels are stored as signed 16-bit integers with ``RescaleIntercept`` −1024 and slope 1
    (values are rounded to whole HU), uncompressed explicit VR little endian; position and
    orientation come from ``volume.affine`` (converted to DICOM's LPS), so
    :func:`read_volume` gives back the same HU, spacing and affine.  Slice ``k`` of the
    array is written at ``ImagePositionPatient`` = affine applied to voxel (0, 0, k).

    Parameters
    ----------
    volume : Volume
    folder : path
        Created if missing; it must not already hold files (series would mix).
    series_description, patient_id, patient_name : str
    series_number : int
    study_uid, series_uid : str, optional
        New UIDs are generated by default.

    Returns
    -------
    list of pathlib.Path, slice order.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    from pydicom.valuerep import DSfloat

    if not isinstance(volume, Volume):
        raise ValueError(f"volume must be a Volume, got {type(volume).__name__}")
    folder = pathlib.Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty; write a series into a new folder")
    data = volume.array
    if data.dtype.kind not in "iufb":
        raise ValueError(f"cannot write {data.dtype} values as CT")
    intercept = -1024
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)) \
            or round(lo) - intercept < _INT16.min or round(hi) - intercept > _INT16.max:
        raise ValueError(f"values {lo:g}..{hi:g} HU do not fit 16-bit storage with "
                         f"intercept {intercept}")
    folder.mkdir(parents=True, exist_ok=True)
    lps = _LPS @ volume.affine
    col_i, col_j, step = lps[:3, 0], lps[:3, 1], lps[:3, 2]
    dx, dy = float(np.linalg.norm(col_i)), float(np.linalg.norm(col_j))
    row_cos, col_cos = col_i / dx, col_j / dy
    if abs(row_cos @ col_cos) > 1e-4:
        raise ValueError("the affine's row and column axes are not orthogonal; DICOM cannot "
                         "store that")
    normal = np.cross(row_cos, col_cos)
    if abs(step @ normal) < 1e-6:
        raise ValueError("the affine's slice axis lies in the image plane")

    def ds_values(values):
        return [DSfloat(float(v), auto_format=True) for v in values]

    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    paths = []
    for k in range(data.shape[0]):
        position = lps[:3, 3] + k * step
        instance_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = _CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = instance_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = _CT_IMAGE_STORAGE
        ds.SOPInstanceUID = instance_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "CT"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.SeriesDescription = series_description
        ds.SeriesNumber = int(series_number)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = ds_values(position)
        ds.ImageOrientationPatient = ds_values(np.concatenate([row_cos, col_cos]))
        ds.PixelSpacing = ds_values([dy, dx])
        ds.SliceThickness = DSfloat(float(abs(step @ normal)), auto_format=True)
        ds.SliceLocation = DSfloat(float(position @ normal), auto_format=True)
        ds.Rows, ds.Columns = data.shape[1], data.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = intercept
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        stored = np.rint(data[k]).astype(np.int32) - intercept if data.dtype.kind == "f" \
            else data[k].astype(np.int32) - intercept
        ds.PixelData = stored.astype("<i2").tobytes()
        path = folder / f"slice_{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- public readers


def read_volume(path, *, series_uid=None, spacing_tolerance=0.05):
    """Read a CT volume: a NIfTI file or a DICOM series folder → :class:`Volume` in HU.

    Parameters
    ----------
    path : path
        ``.nii``/``.nii.gz`` (scl_slope/scl_inter applied), a folder holding one DICOM
        series (searched recursively; non-DICOM files are skipped), or one DICOM file of
        the series (its folder is read, restricted to its series).
    series_uid : str, optional
        The ``SeriesInstanceUID`` to read where the folder holds several series (the
        error then lists them).
    spacing_tolerance : float
        Largest allowed deviation of a DICOM slice gap from the median gap, as a fraction
        (default 5%): larger deviations mean missing or irregular slices.

    Returns
    -------
    Volume
        ``array`` (z, y, x): int16 where the rescaling keeps whole HU, else float32.
    """
    path = pathlib.Path(path)
    if isinstance(spacing_tolerance, bool) \
            or not isinstance(spacing_tolerance, numbers.Real) \
            or not 0 <= spacing_tolerance < 1:
        raise ValueError(f"spacing_tolerance must be a fraction in [0, 1), got "
                         f"{spacing_tolerance!r}")
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if path.is_dir():
        return _read_dicom(path, series_uid, float(spacing_tolerance))
    if _is_nifti(path):
        if series_uid is not None:
            raise ValueError("series_uid is for DICOM folders, not NIfTI files")
        return _read_nifti(path)
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        raise ValueError(f"{path}: neither NIfTI (.nii, .nii.gz) nor DICOM") from None
    uid = str(ds.get("SeriesInstanceUID", ""))
    if series_uid is not None and str(series_uid) != uid:
        raise ValueError(f"{path} belongs to series {uid}, not {series_uid}")
    return _read_dicom(path.parent, uid or None, float(spacing_tolerance))


def read_mask(path, *, like, series_uid=None, tolerance_mm=0.1):
    """Read a mask or label volume that must lie on the voxel grid of the CT ``like``.

    Parameters
    ----------
    path : path
        NIfTI or DICOM, as for :func:`read_volume`.
    like : Volume
        The CT the mask belongs to.
    tolerance_mm : float
        Largest allowed difference of spacing and of the affine's entries (mm).

    Returns
    -------
    (Z, Y, X) integer ndarray
        uint8 for a 0/1 mask, else the file's integer labels (whole-valued float files are
        converted to the smallest unsigned type that holds them).

    Raises
    ------
    ValueError
        If shape, spacing or orientation differ from ``like``'s, or values are not
        non-negative integers.
    """
    if not isinstance(like, Volume):
        raise ValueError(f"like must be the CT Volume the mask belongs to, got "
                         f"{type(like).__name__}")
    mask = read_volume(path, series_uid=series_uid)
    if mask.shape != like.shape:
        raise ValueError(f"{path}: mask shape {mask.shape} (z, y, x) differs from the CT's "
                         f"{like.shape}")
    if not np.allclose(mask.spacing, like.spacing, rtol=0, atol=tolerance_mm):
        raise ValueError(f"{path}: mask spacing {mask.spacing} mm differs from the CT's "
                         f"{like.spacing}")
    if not np.allclose(mask.affine, like.affine, rtol=0, atol=tolerance_mm):
        raise ValueError(f"{path}: mask orientation/position (affine) differs from the CT's; "
                         f"mask\n{np.round(mask.affine, 3)}\nCT\n{np.round(like.affine, 3)}")
    data = mask.array
    if data.dtype == bool:
        return data.view(np.uint8)
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise ValueError(f"{path}: a mask must hold whole numbers (labels)")
    if data.size and data.min() < 0:
        raise ValueError(f"{path}: mask labels must be >= 0, got minimum {data.min()}")
    if data.dtype.kind == "f" or data.dtype.kind == "i":
        top = int(data.max()) if data.size else 0
        kind = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
        return data.astype(kind)
    return data
