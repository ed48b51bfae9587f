"""A PE case: reading it, its candidates and their patches.

The one owner of what a case becomes, shared by the dataset (:mod:`apps.pe.dataset`), the
experiment (:mod:`apps.pe.experiment`), inference (:mod:`apps.pe.detect`) and the
``candidates`` command:

* :func:`read_case` — a case's CT, embolus labels and lung mask, on one grid;
* :func:`volume_candidates` — one volume's candidates, labels and stored patches (what the
  ``ctpa_candidates`` builder keeps per volume);
* :data:`AUGMENTATIONS` — the patches of a candidate (3 sizes × 3 translations × 6
  rotations), :func:`channels` — the planes of a representation, and
  :func:`averaged_patches` — which patches a test candidate's probability averages.

>>> channels("vessel_aligned"), channels("standard")
(2, 3)
>>> int(averaged_patches(False).sum()), int(averaged_patches(True).sum())
(18, 54)
"""

from __future__ import annotations

import numpy as np

from .settings import MAX_CANDIDATES, PATCH_PIXELS, REPRESENTATIONS

__all__ = ["AUGMENTATIONS", "averaged_patches", "channels", "read_case", "untranslated",
           "volume_candidates"]

#: Patches per candidate: 3 sizes × 3 translations along the vessel × 6 rotations.
AUGMENTATIONS = 54


def channels(representation):
    """Planes (channels) of a stored patch: 2 vessel-aligned (cross-section, longitudinal),
    3 standard (axial, coronal, sagittal)."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be 'vessel_aligned' or 'standard', got "
                         f"{representation!r}")
    return 2 if representation == "vessel_aligned" else 3


def untranslated(n_aug=AUGMENTATIONS):
    """Which of a candidate's ``n_aug`` patches are not translated along the vessel (bool)."""
    from .patches import patch_parameters

    parameters = patch_parameters()
    if len(parameters) != n_aug:
        raise ValueError(f"the dataset holds {n_aug} patches per candidate, the patch "
                         f"parameters {len(parameters)}")
    return parameters[:, 1] == 0


def averaged_patches(test_translations, n_aug=AUGMENTATIONS):
    """Which of a candidate's patches its probability averages (bool): all of them with
    ``test_translations`` (the paper), else the untranslated ones — in the evaluation and
    in :func:`apps.pe.detect.detect` alike."""
    return np.ones(n_aug, bool) if test_translations else untranslated(n_aug)


def read_case(ct_path, emboli_path, lungs_path=None):
    """A case's CT (:class:`~medkeras.io.volumes.Volume`), embolus labels and count, and lung
    mask (bool, or None), the masks checked to lie on the CT's grid."""
    from .candidates import embolus_labels
    from medkeras.io.volumes import read_mask, read_volume

    ct = read_volume(ct_path)
    emboli, count = embolus_labels(read_mask(emboli_path, like=ct))
    lungs = read_mask(lungs_path, like=ct) > 0 if lungs_path is not None else None
    return ct, emboli, count, lungs


def volume_candidates(ct_path, emboli_path, lungs_path=None, *, representation="vessel_aligned",
                      max_candidates=MAX_CANDIDATES, patch_pixels=PATCH_PIXELS,
                      candidate_options=None):
    """Candidates of one volume with their labels and patches (``uint8``).

    Returns a dict: ``patches`` ``(n, 54, p, p, C)`` (C = :func:`channels`), ``labels``
    (1 = the candidate hits an embolus), ``embolus`` (its id, 0 none), ``scores``
    (tobogganing contrast depth), ``centres_mm`` (z, y, x mm from voxel 0),
    ``centres_scanner_mm`` (RAS scanner coordinates), ``emboli`` (in the volume), ``spacing``.
    """
    from .candidates import candidate_hits, detect_candidates
    from .patches import candidate_patches
    from medkeras.io.volumes import voxel_to_scanner

    planes = channels(representation)
    ct, emboli, count, lungs = read_case(ct_path, emboli_path, lungs_path)
    found = detect_candidates(ct.array, ct.spacing, lung_mask=lungs,
                              max_candidates=max_candidates, **(candidate_options or {}))
    n = len(found.scores)
    patches = np.zeros((n, AUGMENTATIONS, patch_pixels, patch_pixels, planes), np.uint8)
    if n:
        for batch, index in candidate_patches(ct, None, found, representation=representation,
                                              out=patch_pixels, three_channels=False):
            first = index[0]
            rows = batch.reshape(-1, AUGMENTATIONS, patch_pixels, patch_pixels,
                                 batch.shape[-1])[..., :planes]
            patches[first:first + len(rows)] = np.clip(np.rint(rows), 0, 255)
    hits = candidate_hits(found, emboli) if n else np.zeros(0, np.int64)
    return {"patches": patches, "labels": (hits > 0).astype(np.int64),
            "embolus": hits.astype(np.int64), "scores": found.scores.astype(np.float32),
            "centres_mm": found.centres_mm.astype(np.float32),
            "centres_scanner_mm": voxel_to_scanner(ct.affine, found.centres).astype(np.float32)
            if n else np.zeros((0, 3), np.float32),
            "emboli": np.int64(count), "spacing": np.asarray(ct.spacing, np.float32)}
