"""A synthetic H&E-like histopathology set: two tissue classes with stain variation.

**Synthetic, for the demo and tests only** — no conclusion about real tissue follows from it.
Each image is drawn as stain concentrations and rendered by the Beer–Lambert law (Ruifrok &
Johnston, Anal. Quant. Cytol. Histol. 23(4), 2001, through scikit-image's
``combine_stains``):

* ``tumour``: crowded, large, round-to-irregular nuclei (dense haematoxylin) on little
  stroma;
* ``stroma``: few small elongated (spindle) nuclei along eosin-rich wavy fibres.

A *slide* is the group: every slide has its own stain vectors and strengths (a perturbed
H&E matrix, the variation between labs and scanners that stain normalisation fights) and
patches of both classes, so a model has to learn tissue, not colour.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["CLASSES", "SYNTHETIC_SETS", "synthetic_tissue", "write_synthetic_folder"]

CLASSES = ("stroma", "tumour")
#: Built-in sets: slides, patches per class and slide, patch size in pixels.
SYNTHETIC_SETS = {"small": {"slides": 10, "per_class": 8, "size": 64},
                  "medium": {"slides": 24, "per_class": 25, "size": 96}}


def _slide_stains(rng):
    """A slide's stain matrix (rows: haematoxylin, eosin, residual; optical density per RGB
    channel): scikit-image's H&E(DAB) vectors rotated a little, and strengths."""
    from skimage.color import rgb_from_hed

    matrix = rgb_from_hed.copy()
    matrix[:2] += rng.normal(0, 0.06, (2, 3))
    matrix = np.clip(matrix, 0.02, None)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix, rng.uniform(0.7, 1.3, 2)


def _blobs(rng, size, count, radius, elongation, angle=None):
    """A map of ``count`` filled ellipses (nuclei) with smooth edges, values 0–1."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.zeros((size, size), np.float32)
    for _ in range(count):
        cy, cx = rng.uniform(0, size, 2)
        r = radius * rng.uniform(0.7, 1.3)
        a, b = r * elongation, r / np.sqrt(elongation)
        theta = rng.uniform(0, np.pi) if angle is None else angle + rng.normal(0, 0.25)
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / a
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / b
        out = np.maximum(out, np.clip(1.5 - (u * u + v * v) ** 0.5 * 1.5, 0, 1))
    return out


def _fibres(rng, size, angle):
    """Wavy eosin-rich fibres running along ``angle``, values 0–1."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    along = xx * np.cos(angle) + yy * np.sin(angle)
    across = -xx * np.sin(angle) + yy * np.cos(angle)
    period = rng.uniform(5, 9)
    wave = np.sin(2 * np.pi * (across + 2.5 * np.sin(along / rng.uniform(6, 12))) / period)
    return 0.5 + 0.5 * wave


def _patch(rng, label, size, stains):
    from scipy.ndimage import gaussian_filter
    from skimage.color import combine_stains

    matrix, strength = stains
    scale = size / 64
    background = gaussian_filter(rng.normal(0, 1, (size, size)), 2 * scale)
    if label == CLASSES.index("tumour"):
        nuclei = _blobs(rng, size, int(rng.integers(14, 22) * scale ** 2), 4.2 * scale,
                        rng.uniform(1.0, 1.6))
        haematoxylin = 0.25 + 1.1 * nuclei + 0.05 * background
        eosin = 0.35 + 0.1 * background - 0.2 * nuclei
    else:
        angle = rng.uniform(0, np.pi)
        nuclei = _blobs(rng, size, int(rng.integers(3, 7) * scale ** 2), 2.6 * scale,
                        rng.uniform(2.5, 4.0), angle=angle)
        haematoxylin = 0.1 + 0.9 * nuclei + 0.04 * background
        eosin = 0.45 + 0.45 * _fibres(rng, size, angle) + 0.1 * background
    concentrations = np.stack([np.clip(haematoxylin, 0, None) * strength[0],
                               np.clip(eosin, 0, None) * strength[1],
                               np.zeros((size, size))], axis=-1)
    rgb = combine_stains(concentrations * 0.06, matrix)
    noise = rng.normal(0, 0.015, rgb.shape)
    return np.clip((rgb + noise) * 255, 0, 255).astype(np.uint8)


def synthetic_tissue(name="small", *, seed=0):
    """The built-in set ``name`` (:data:`SYNTHETIC_SETS`): ``(images, labels, slides)`` —
    ``(N, size, size, 3)`` uint8, class indices into :data:`CLASSES`, slide names."""
    if name not in SYNTHETIC_SETS:
        raise ValueError(f"synthetic set must be one of {list(SYNTHETIC_SETS)}; "
                         f"Received: {name!r}")
    spec = SYNTHETIC_SETS[name]
    images, labels, slides = [], [], []
    for slide in range(spec["slides"]):
        rng = np.random.default_rng([seed, slide])
        stains = _slide_stains(rng)
        for label in range(len(CLASSES)):
            for _ in range(spec["per_class"]):
                images.append(_patch(rng, label, spec["size"], stains))
                labels.append(label)
                slides.append(f"slide{slide:02d}")
    return np.stack(images), np.array(labels, np.int64), np.array(slides)


def write_synthetic_folder(out, name="small", *, seed=0):
    """The set as class folders, ``out/<class>/<slide>/<slide>_<n>.png`` (the layout
    ``--data`` reads, the slide being the group); returns ``out``."""
    from PIL import Image

    images, labels, slides = synthetic_tissue(name, seed=seed)
    for index, (image, label, slide) in enumerate(zip(images, labels, slides)):
        folder = os.path.join(out, CLASSES[label], slide)
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image).save(os.path.join(folder, f"{slide}_{index:05d}.png"))
    return out
