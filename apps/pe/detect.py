"""Detect pulmonary emboli in a CT volume with an exported model.

Tobogganing candidates (as in training), their 54 augmented patches in the model's
representation, the mean probability per candidate over the patches the evaluation averaged
(the 18 untranslated ones, or all 54 if the model was evaluated with ``test_translations``:
:func:`apps.pe.cases.averaged_patches`).  Written to ``OUT``:
``detections.csv`` (one row per candidate: voxel ``z, y, x``, ``z_mm, y_mm, x_mm`` from
voxel 0, scanner ``R, A, S`` mm, ``tobogganing_score``, ``probability``, ``detected`` =
probability ≥ threshold), ``detections.json`` (the detected ones and the settings) and
``pictures/detection<k>.png``: the patches of each detection (three sizes; for the
vessel-aligned representation the cross-section and the longitudinal plane).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

from medkeras.inference import inference_function

__all__ = ["detect"]


def detect(volume, *, model_dir, out, lungs=None, threshold=0.5, progress=True):
    """Run candidates and the model over a CT volume; returns the detections table."""
    from tqdm.auto import tqdm

    from medkeras.atomic import write_json_atomic, write_text_atomic
    from medkeras.data.prefetch import prefetched
    from medkeras.export import load_exported

    from .candidates import detect_candidates
    from .cases import AUGMENTATIONS, averaged_patches, channels
    from .experiment import upsample_patches
    from .patches import candidate_patches
    from .settings import PESettings
    from medkeras.io.volumes import read_mask, read_volume, voxel_to_scanner

    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
    model, info = load_exported(model_dir, application="pe", settings=PESettings)
    settings = info["settings"]
    ct = read_volume(volume)
    lung_mask = read_mask(lungs, like=ct) > 0 if lungs is not None else None
    found = detect_candidates(ct.array, ct.spacing, lung_mask=lung_mask,
                              max_candidates=settings.max_candidates)
    n = len(found.scores)
    probabilities = np.zeros(n)
    stored = np.zeros((n, AUGMENTATIONS, settings.patch_pixels, settings.patch_pixels,
                       channels(settings.representation)), np.uint8)
    averaged = averaged_patches(settings.test_translations)      # as in the evaluation
    if n:
        bar = tqdm(total=n, desc="candidates", unit="candidate", disable=not progress)
        patches = candidate_patches(ct, None, found, representation=settings.representation,
                                    out=settings.patch_pixels, three_channels=False)
        for batch, index in prefetched(patches):      # the next candidate's cut meanwhile
            rows = np.clip(np.rint(batch[..., :stored.shape[-1]]), 0, 255).astype(np.uint8)
            stored.reshape(-1, *stored.shape[2:])[index[0] * AUGMENTATIONS:
                                                   index[0] * AUGMENTATIONS + len(rows)] = rows
            use = np.tile(averaged, len(rows) // AUGMENTATIONS)
            p = inference_function(model)(upsample_patches(rows[use]))[:, 1]
            probabilities += np.bincount(index[use], weights=p, minlength=n) / averaged.sum()
            bar.update(len(np.unique(index)))
        bar.close()
    scanner = voxel_to_scanner(ct.affine, found.centres) if n else np.zeros((0, 3))
    table = pd.DataFrame({
        "z": found.centres[:, 0], "y": found.centres[:, 1], "x": found.centres[:, 2],
        "z_mm": found.centres_mm[:, 0], "y_mm": found.centres_mm[:, 1],
        "x_mm": found.centres_mm[:, 2], "R": scanner[:, 0], "A": scanner[:, 1],
        "S": scanner[:, 2], "tobogganing_score": found.scores, "probability": probabilities,
        "detected": probabilities >= threshold}).round(3)
    out = pathlib.Path(out)
    (out / "pictures").mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "detections.csv", table.to_csv(index_label="candidate"))
    detected = table[table.detected]
    for k in detected.index:
        _picture(stored[k], out / "pictures" / f"detection{k}.png",
                 f"candidate {k}: p = {table.probability[k]:.2f}")
    write_json_atomic(out / "detections.json", {
        "volume": str(volume), "model": str(model_dir), "threshold": threshold,
        "settings": settings.to_json(), "spacing_zyx_mm": list(ct.spacing),
        "detections": detected.reset_index().to_dict(orient="records")})
    return table


def _picture(patches, path, title):
    """The unrotated, untranslated patch of each size: one row per channel."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medkeras.atomic import save_figure_atomic

    from .patches import patch_parameters

    parameters = patch_parameters()
    sizes = sorted(set(parameters[:, 0]))
    picks = [int(np.flatnonzero((parameters[:, 0] == s) & (parameters[:, 1] == 0)
                                & (parameters[:, 2] == 0))[0]) for s in sizes]
    channels = patches.shape[-1]
    names = (["cross-section", "longitudinal"] if channels == 2
             else ["axial", "coronal", "sagittal"])
    fig, axes = plt.subplots(channels, len(sizes), figsize=(2.2 * len(sizes), 2.2 * channels),
                             squeeze=False)
    for row in range(channels):
        for col, (size, pick) in enumerate(zip(sizes, picks)):
            ax = axes[row, col]
            ax.imshow(patches[pick, ..., row], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{size:g} mm", fontsize=9)
            if col == 0:
                ax.set_ylabel(names[row], fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=100)
    plt.close(fig)
