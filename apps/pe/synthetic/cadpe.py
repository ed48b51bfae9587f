"""CAD-PE input and the files out: synthetic CTPA on the vessel labels of real scans.

Part of :mod:`apps.pe.synthetic`, the top of its imports (it uses
:mod:`~apps.pe.synthetic.emboli`, :mod:`~apps.pe.synthetic.intensity` and
:mod:`~apps.pe.synthetic.tubes`; files go through :mod:`medkeras.io.volumes`).
:func:`ctpa_case` reads one case's vessel labels and lung mask (:func:`load_cadpe_case`),
optionally crops (:func:`crop_to_lungs`) and resamples them (:func:`resample_labels`) and
draws its synthetic CTPA; :func:`write_case` writes a :class:`~apps.pe.synthetic.SyntheticCT`
(from here or from :func:`~apps.pe.synthetic.synthetic_tubes_volume`) as NIfTI volumes and
a JSON record; :func:`generate_folder` does that for every case of a folder, reproducibly
(:func:`case_seed`) and resumably; :func:`generate_tubes` writes a folder of fully synthetic
tube volumes (the built-in ``--synthetic`` data of the PE application).

The anatomy comes from the vessel and lung labels of real CTPA scans (CAD-PE challenge data,
González et al., "Computer Aided Detection for Pulmonary Embolism Challenge (CAD-PE)",
arXiv:2003.13440, 2020): ``<id>.nii.gz`` (vessel labels) and ``<id>_lungmask.nii.gz``.

Label convention of the CAD-PE vessel labels
--------------------------------------------
``1`` = arteries, ``2`` = veins (:data:`~apps.pe.synthetic.ARTERY_LABEL`,
:data:`~apps.pe.synthetic.VEIN_LABEL`).  Evidence, from all 47 cases of the development
copy: the part of each class outside the lung masks (the mediastinal and hilar trunks) has
its centroid, in scanner (RAS) coordinates, 21-39 mm (mean 31 mm) *higher* for class 1 than
for class 2 in 47/47 cases and 2-18 mm (mean 10 mm) *more anterior* in 46/47.  That is the
pulmonary trunk and main pulmonary arteries (anterior, at and above the carina, leaving the
right ventricle) against the pulmonary veins converging on the left atrium (posterior, below
the carina).  The thickest point of class 1 lies anterior-superior (pulmonary trunk), that
of class 2 posterior-inferior (venous confluence at the left atrium).  (The lung masks
include the airways, so the bronchus-artery pairing cannot be checked from these labels.)

Conventions: in the CAD-PE files (LPS orientation) y grows towards the patient's back
(posterior), which is where the dependent lung is denser.  NIfTI files store ``(x, y, z)``:
:mod:`medkeras.io.volumes` transposes the arrays to ``(z, y, x)`` and reverses the zooms on
reading and writing.

>>> case_seed(0, "001") == case_seed(0, "001") != case_seed(1, "001")
True
"""

from __future__ import annotations

import json
import math
import numbers
import os
import pathlib
import warnings
import zlib

import numpy as np

from medkeras.io.volumes import Volume, lps_affine, write_nifti_atomic
from .emboli import (ARTERY_LABEL, VEIN_LABEL, SyntheticCT, embolus_shapes, nifti_files,
                     nifti_stem, read_labels, synthesize_ctpa)
from .intensity import bbox, check_number, check_seed, check_spacing
from .tubes import synthetic_tubes_volume

__all__ = ["GENERATOR_VERSION", "case_seed", "crop_to_lungs", "ctpa_case", "generate_folder",
           "generate_tubes", "list_cases", "load_cadpe_case", "resample_labels",
           "write_case"]

#: Written into every case's JSON; bump when the model changes what a seed produces.
GENERATOR_VERSION = "1.0"


# -- smaller volumes ----------------------------------------------------------------------


def crop_to_lungs(lung_mask, spacing, *, margin_mm=20.0):
    """Bounding box of the lungs grown by ``margin_mm``, as ``(z, y, x)`` slices.

    Cropping the labels to it before :func:`synthesize_ctpa` drops the neck and abdomen
    (typically a third of the slices) and the air around the body.

    >>> m = np.zeros((10, 20, 20), bool); m[4:6, 5:9, 8:12] = True
    >>> crop_to_lungs(m, (1.0, 1.0, 1.0), margin_mm=2)
    (slice(2, 8, None), slice(3, 11, None), slice(6, 14, None))
    """
    margin_mm = check_number(margin_mm, "margin_mm")
    spacing = check_spacing(spacing)
    box = bbox(np.asarray(lung_mask) != 0)
    if box is None:
        raise ValueError("the lung mask is empty")
    shape = np.shape(lung_mask)
    return tuple(slice(max(0, s.start - int(math.ceil(margin_mm / sp))),
                       min(n, s.stop + int(math.ceil(margin_mm / sp))))
                 for s, sp, n in zip(box, spacing, shape))


def _resampling(shape, spacing, target_spacing):
    """Per axis: new size and the ratio old/new voxel count."""
    sizes, ratios = [], []
    for n, s, t in zip(shape, spacing, target_spacing):
        m = max(1, int(round(n * s / t)))
        sizes.append(m)
        ratios.append(n / m)
    return sizes, ratios


def resample_labels(labels, spacing, target_spacing):
    """Nearest-neighbour resampling of a label volume to about ``target_spacing`` mm.

    The volume keeps its physical extent: each axis gets ``round(n * spacing / target)``
    voxels, so the new spacing (returned) is close to, not exactly, the target.  Labels are
    sampled at the new voxel centres (thin vessels can break up when downsampling).

    Returns
    -------
    (ndarray, tuple)
        The resampled labels and their spacing ``(z, y, x)``.

    >>> lab = np.zeros((4, 6, 6), np.uint8); lab[:, 2:4, 2:4] = 1
    >>> out, sp = resample_labels(lab, (1.0, 0.5, 0.5), 1.0)
    >>> out.shape, sp, int(out.sum())
    ((4, 3, 3), (1.0, 1.0, 1.0), 4)
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be a 3-D array, got shape {labels.shape}")
    spacing = check_spacing(spacing)
    if isinstance(target_spacing, numbers.Real):
        target_spacing = (target_spacing,) * 3
    target_spacing = check_spacing(target_spacing, "target_spacing")
    sizes, ratios = _resampling(labels.shape, spacing, target_spacing)
    index = [np.minimum(((np.arange(m) + 0.5) * r).astype(np.intp), n - 1)
             for m, r, n in zip(sizes, ratios, labels.shape)]
    out = labels[np.ix_(*index)]
    return out, tuple(float(s * r) for s, r in zip(spacing, ratios))


# -- CAD-PE cases, files ------------------------------------------------------------------


def list_cases(vessels_dir):
    """Case ids (file stems) of the vessel label files ``<id>.nii.gz`` in ``vessels_dir``."""
    files = nifti_files(vessels_dir, "vessels")
    ids = sorted(nifti_stem(f) for f in files if not nifti_stem(f).endswith("_lungmask"))
    if not ids:
        raise ValueError(f"no vessel label files (<id>.nii.gz) in {str(vessels_dir)!r}")
    return ids


def _case_files(vessels_dir, case_id):
    folder = pathlib.Path(vessels_dir)
    if not folder.is_dir():
        raise ValueError(f"vessels folder {str(folder)!r} does not exist")
    found = []
    for stem in (case_id, f"{case_id}_lungmask"):
        for ext in (".nii.gz", ".nii"):
            if (folder / (stem + ext)).is_file():
                found.append(folder / (stem + ext))
                break
        else:
            raise ValueError(f"missing file {str(folder / (stem + '.nii.gz'))!r} of case "
                             f"{case_id!r}")
    return found


def case_seed(seed, case_id):
    """The seed of one case of :func:`generate_folder`: a hash of ``seed`` and the id."""
    state = np.random.SeedSequence([check_seed(seed), zlib.crc32(str(case_id).encode())])
    return int(state.generate_state(1, np.uint32)[0])


def load_cadpe_case(case_id, *, vessels_dir):
    """Vessel labels, lung mask, spacing and NIfTI affine of one CAD-PE case.

    Returns
    -------
    (labels uint8 (z, y, x), lungs bool (z, y, x), spacing (z, y, x) mm, affine (4, 4))
    """
    vessel_file, lung_file = _case_files(vessels_dir, case_id)
    vessels, lung_volume = read_labels(vessel_file), read_labels(lung_file)
    labels, spacing, affine = vessels.array, vessels.spacing, vessels.affine
    lungs, lung_spacing = lung_volume.array, lung_volume.spacing
    if lungs.shape != labels.shape:
        raise ValueError(f"lung mask {str(lung_file)!r} has shape {lungs.shape[::-1]} (x, y, z)"
                         f" but the vessel labels {str(vessel_file)!r} have "
                         f"{labels.shape[::-1]}")
    if not np.allclose(lung_spacing, spacing, rtol=1e-3):
        raise ValueError(f"lung mask {str(lung_file)!r} has voxel size {lung_spacing[::-1]} "
                         f"but the vessel labels have {spacing[::-1]}")
    if not np.issubdtype(labels.dtype, np.integer):
        labels = np.rint(labels)
    return labels.astype(np.uint8, copy=False), lungs != 0, spacing, affine


def ctpa_case(case_id, *, vessels_dir, emboli_dir=None, seed=0, emboli_shapes=None,
              crop=False, crop_margin_mm=20.0, target_spacing=None, **options):
    """Synthetic CTPA of one CAD-PE case (its real vessel and lung labels).

    Parameters
    ----------
    case_id : str
        Stem of ``<vessels_dir>/<case_id>.nii.gz`` (with ``<case_id>_lungmask.nii.gz``).
    vessels_dir : path-like, keyword-only
    emboli_dir : path-like, optional
        FUMPE-like embolus masks, the shape bank (:func:`embolus_shapes`, cached).  Without
        it (and without ``emboli_shapes``) the emboli are ellipsoids.
    seed : int
        The case's seed (:func:`generate_folder` derives it with :func:`case_seed`).
    emboli_shapes : list of EmbolusShape, optional
        A bank already loaded (takes precedence over ``emboli_dir``).
    crop : bool
        Crop the labels to the lungs' bounding box plus ``crop_margin_mm`` first.
    target_spacing : float or 3 floats, optional
        Resample the labels (nearest neighbour) to about this spacing first, e.g. 1.0 for
        isotropic 1 mm: smaller volumes for the application.
    **options
        Passed to :func:`synthesize_ctpa` (``n_emboli``, ``artery_hu``, ``noise_sd``, ...).

    Returns
    -------
    SyntheticCT
        With the affine of the (cropped, resampled) grid and ``case_id``.
    """
    labels, lungs, spacing, affine = load_cadpe_case(case_id, vessels_dir=vessels_dir)
    affine = np.asarray(affine, float)
    if crop:
        box = crop_to_lungs(lungs, spacing, margin_mm=crop_margin_mm)
        labels, lungs = labels[box], lungs[box]
        shift = np.eye(4)
        shift[:3, 3] = [box[2].start, box[1].start, box[0].start]
        affine = affine @ shift
    if target_spacing is not None:
        if isinstance(target_spacing, numbers.Real):
            target_spacing = (target_spacing,) * 3
        target_spacing = check_spacing(target_spacing, "target_spacing")
        _, ratios = _resampling(labels.shape, spacing, target_spacing)
        labels, new_spacing = resample_labels(labels, spacing, target_spacing)
        lungs, _ = resample_labels(lungs, spacing, target_spacing)
        scale = np.eye(4)
        for k, r in enumerate(ratios[::-1]):   # (x, y, z)
            scale[k, k] = r
            scale[k, 3] = (r - 1) / 2
        affine = affine @ scale
        spacing = new_spacing
    if emboli_shapes is None and emboli_dir is not None:
        emboli_shapes = embolus_shapes(emboli_dir)
    import nibabel as nib
    codes = nib.aff2axcodes(affine)
    posterior = options.pop("posterior", -1 if codes[1] == "A" else 1)
    if codes[1] not in "AP":
        warnings.warn(f"case {case_id}: array axis y is {codes[1]}, not anterior-posterior; "
                      "the dependent lung gradient will be along y anyway", RuntimeWarning,
                      stacklevel=2)
    return synthesize_ctpa(labels, lungs, spacing, emboli_shapes=emboli_shapes, seed=seed,
                           posterior=posterior, affine=affine, case_id=case_id, **options)


def _check_name(name):
    name = str(name)
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"name must be a plain file name stem, got {name!r}")
    return name


def write_case(case, folder, name):
    """Write a :class:`SyntheticCT` as NIfTI volumes and a JSON record.

    Files (in ``folder``, created if needed; each written to a temporary name and renamed,
    the JSON last, so a case with its JSON is complete):

    * ``<name>_ct.nii.gz``: ``int16`` HU;
    * ``<name>_emboli.nii.gz``: ``int32`` embolus labels (0 none, k embolus k);
    * ``<name>_lungs.nii.gz``: ``uint8`` lung mask;
    * ``<name>_vessels.nii.gz``: ``uint8`` 1 arteries, 2 veins (the CAD-PE convention);
    * ``<name>.json``: generator version, seed, spacing, shape, intensity parameters, the
      emboli (with their centres also in scanner RAS mm), and ``"patient"``: the anatomy's
      ``case_id`` (so that volumes made on one case's anatomy stay on one side of a
      patient-wise split, see :mod:`apps.pe.dataset`), else ``name``.

    The NIfTI grids use ``case.affine`` (the source scan's, for :func:`ctpa_case`), or an LPS
    grid with the case's spacing.

    Returns
    -------
    dict
        ``{"ct", "emboli", "lungs", "vessels", "json"}`` -> :class:`pathlib.Path`.
    """
    if not isinstance(case, SyntheticCT):
        raise ValueError(f"case must be a SyntheticCT, got {type(case).__name__}")
    name = _check_name(name)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    affine = lps_affine(case.spacing) if case.affine is None else np.asarray(case.affine)
    paths = {key: folder / f"{name}_{key}.nii.gz" for key in ("ct", "emboli", "lungs", "vessels")}
    paths["json"] = folder / f"{name}.json"
    vessels = np.zeros(case.ct.shape, np.uint8)
    vessels[case.vein_mask] = VEIN_LABEL
    vessels[case.artery_mask] = ARTERY_LABEL
    for key, array in (("ct", case.ct.astype(np.int16, copy=False)),
                       ("emboli", case.emboli.astype(np.int32, copy=False)),
                       ("lungs", case.lung_mask.astype(np.uint8)), ("vessels", vessels)):
        write_nifti_atomic(Volume(array, case.spacing, affine), paths[key])
    emboli = []
    for e in case.emboli_info:
        d = e.as_dict()
        z, y, x = e.centre_voxel
        d["centre_ras_mm"] = [round(float(v), 3) for v in (affine @ [x, y, z, 1.0])[:3]]
        emboli.append(d)
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in (case.params or {}).items()}
    record = {
        "generator": "apps.pe.synthetic", "version": GENERATOR_VERSION,
        "note": "synthetic CT intensities on real (or synthetic) anatomy, for development;"
                " not real CTPA",
        "name": name, "case_id": case.case_id, "patient": case.case_id or name,
        "seed": case.seed,
        "shape_zyx": list(case.ct.shape), "spacing_zyx_mm": list(case.spacing),
        "affine": np.asarray(affine).tolist(), "labels": {"artery": ARTERY_LABEL,
                                                         "vein": VEIN_LABEL},
        "params": params, "n_emboli": len(emboli), "emboli": emboli,
        "files": {k: p.name for k, p in paths.items() if k != "json"},
    }
    tmp = paths["json"].with_name(f".{name}.{os.getpid()}.tmp.json")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, paths["json"])
    return paths


def _complete(folder, name):
    folder = pathlib.Path(folder)
    return (folder / f"{name}.json").is_file() and all(
        (folder / f"{name}_{k}.nii.gz").is_file() for k in ("ct", "emboli", "lungs", "vessels"))


def generate_folder(vessels_dir, emboli_dir, out_dir, *, cases=None, seed=0, progress=True,
                    **options):
    """Write a synthetic CTPA for every CAD-PE case of ``vessels_dir`` into ``out_dir``.

    Reproducible (case ``c`` gets the seed ``case_seed(seed, c)``, whatever else is
    generated) and resumable (cases whose files are all there are skipped; each file is
    written atomically, the JSON last).

    Parameters
    ----------
    vessels_dir : path-like
        CAD-PE vessel labels ``<id>.nii.gz`` and ``<id>_lungmask.nii.gz``.
    emboli_dir : path-like or None
        FUMPE-like embolus masks for the shape bank (``None``: ellipsoids).
    out_dir : path-like
        Created if needed; files as in :func:`write_case`, named by the case id.
    cases : str or list of str, optional
        Case ids (all by default).
    seed : int
    progress : bool
        Show a ``tqdm`` progress bar.
    **options
        Passed to :func:`ctpa_case` (``crop``, ``target_spacing``, ``n_emboli``, ...).

    Returns
    -------
    dict
        Case id -> path of its JSON record, in case order.

    Raises
    ------
    ValueError
        A folder is missing, a requested case does not exist, or a case's lung mask is
        missing (checked before anything is generated) or does not match its labels.
    """
    from tqdm.auto import tqdm
    seed = check_seed(seed)
    available = list_cases(vessels_dir)
    if cases is None:
        cases = available
    else:
        cases = [cases] if isinstance(cases, str) else [str(c) for c in cases]
        unknown = [c for c in cases if c not in available]
        if unknown:
            raise ValueError(f"unknown case ids {unknown} (not in {str(vessels_dir)!r})")
    for case_id in cases:
        _case_files(vessels_dir, case_id)   # fail early on a missing lung mask
    shapes = None if emboli_dir is None else embolus_shapes(emboli_dir)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    bar = tqdm(cases, desc="synthetic CTPA", unit="case", disable=not progress)
    for case_id in bar:
        name = _check_name(case_id)
        if not _complete(out_dir, name):
            bar.set_postfix_str(case_id)
            case = ctpa_case(case_id, vessels_dir=vessels_dir, seed=case_seed(seed, case_id),
                             emboli_shapes=shapes, **options)
            write_case(case, out_dir, name)
            del case
        written[case_id] = out_dir / f"{name}.json"
    return written


def generate_tubes(out_dir, n, *, seed=0, shape=(64, 96, 96)):
    """Write ``n`` fully synthetic tube volumes (:func:`synthetic_tubes_volume`, seeds
    ``seed``, ``seed + 1``, …, 2 to 4 emboli each) into ``out_dir`` as
    ``tubes000``, ``tubes001``, … (files as in :func:`write_case`); volumes already there
    (their JSON written) are kept.  Returns ``out_dir``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    out_dir = pathlib.Path(out_dir)
    for i in range(n):
        name = f"tubes{i:03d}"
        if not (out_dir / f"{name}.json").exists():
            with warnings.catch_warnings():     # "placed 3 of 4 emboli": fine for a demo
                warnings.simplefilter("ignore", RuntimeWarning)
                case = synthetic_tubes_volume(seed=seed + i, shape=shape, n_emboli=(2, 4))
            write_case(case, out_dir, name)
    return out_dir
