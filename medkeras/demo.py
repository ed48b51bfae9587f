"""A small, complete fine-tuning-versus-scratch sweep on built-in synthetic patches.

The task (a faint ring-shaped blob on a textured grey background, or none) stands in for
the applications until they land.  Each scheme trains with the paper's recipe for a few
epochs; the sweep directory gets the results table, the figures and ``report.html``.  With
ImageNet weights unavailable (offline, no local copy), only ``scratch`` runs and the report
says why.
"""

import dataclasses
import time

import numpy as np

DEFAULT_SCHEMES = ("scratch", "FT:only conv10", "FT:fire9-conv10", "FT:conv1-conv10")


@dataclasses.dataclass
class DemoConfig:
    out: str = "runs/demo"
    patches: int = 160
    epochs: int = 3
    batch: int = 16
    seed: int = 0
    precision: str = "auto"
    schemes: tuple = DEFAULT_SCHEMES


def blob_patches(count, rng, size=227):
    """Grey textured patches, half with a faint ring-shaped blob; RGB 0–255 and labels.

    The blob is a difference of Gaussians with zero mean, so brightness alone does not
    separate the classes (random features would score well on a plain bright blob).
    """
    from scipy import ndimage

    labels = np.arange(count) % 2
    rng.shuffle(labels)
    images = np.empty((count, size, size, 3), np.float32)
    yy, xx = np.mgrid[:size, :size]
    for i, label in enumerate(labels):
        texture = ndimage.gaussian_filter(rng.standard_normal((size, size)), 3) * 120
        image = 110 + texture + rng.normal(0, 8, (size, size))
        if label:
            cy, cx = rng.uniform(0.3 * size, 0.7 * size, 2)
            radius = rng.uniform(12, 30)
            r2 = (yy - cy) ** 2 + (xx - cx) ** 2
            image += 60 * (np.exp(-r2 / (2 * radius ** 2))
                           - 0.25 * np.exp(-r2 / (2 * (2 * radius) ** 2)))
        images[i] = np.clip(image, 0, 255)[..., None]
    return images, labels


def blob_task(config):
    """The demo's :class:`~medkeras.experiment.sweep.PatchTask`: development patches in
    "videos" of four, and a separate test set."""
    import medkeras
    from medkeras.experiment.sweep import PatchTask

    rng = np.random.default_rng(config.seed)
    images, labels = blob_patches(config.patches, rng)
    test_images, test_labels = blob_patches(max(20, config.patches // 2), rng)
    return PatchTask("synthetic blobs", medkeras.preprocess_input(images), labels,
                     np.arange(len(labels)) // 4, medkeras.preprocess_input(test_images),
                     test_labels)


def run_demo(config, *, log=print):
    """Run the demo sweep and write its report; returns the results table."""
    from medkeras.experiment.report import write_report
    from medkeras.experiment.runner import TrainConfig
    from medkeras.experiment.sweep import SweepConfig, run_sweep

    sweep = SweepConfig(backbone="squeezenet", schemes=tuple(config.schemes),
                        seeds=(config.seed,), precision=config.precision,
                        train=TrainConfig(epochs=config.epochs, batch_size=config.batch,
                                          patience=config.epochs, tensorboard=False))
    started = time.perf_counter()
    table = run_sweep(blob_task(config), sweep, config.out, log=log)
    report = write_report(config.out, n_bootstrap=1000)
    if log:
        log(f"{len(table)} cells in {time.perf_counter() - started:.0f} s; report: {report}")
    return table
