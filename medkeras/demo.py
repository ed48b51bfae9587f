"""A small, complete fine-tuning-versus-scratch comparison on built-in synthetic patches.

The task (a faint, blurred blob on a textured grey background, or none) stands in for the
applications until they land.  Each scheme trains with the paper's recipe for a few epochs;
the result is a table of validation AUCs, a bar chart, the recorded configuration and the
best model as a SavedModel.  With ImageNet weights unavailable (offline, no local copy),
only ``scratch`` runs and the report says why.
"""

import dataclasses
import json
import os
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


def run_demo(config, *, log=print):
    import keras
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    import medkeras

    os.makedirs(config.out, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    images, labels = blob_patches(config.patches, rng)
    split = int(0.8 * len(labels))
    x = medkeras.preprocess_input(images)
    x_train, y_train, x_val, y_val = x[:split], labels[:split], x[split:], labels[split:]
    with open(os.path.join(config.out, "config.json"), "w") as f:
        json.dump({**dataclasses.asdict(config), "medkeras": medkeras.__version__,
                   "model": "SqueezeNet v1.1", "train": int(split),
                   "validation": int(len(labels) - split)}, f, indent=2)

    rows, best, unavailable = [], None, None
    for scheme in config.schemes:
        weights = None if scheme == "scratch" else "imagenet"
        try:
            if weights and unavailable:
                raise unavailable  # asked once; not again for every scheme
            model = medkeras.SqueezeNet(classes=2, weights=weights, seed=config.seed)
        except medkeras.WeightsUnavailableError as err:
            if unavailable is None:
                log(f"ImageNet weights unavailable, fine-tuning schemes skipped: {err}")
            unavailable = err
            rows.append({"scheme": scheme, "val_auc": np.nan, "seconds": 0.0,
                         "note": "ImageNet weights unavailable"})
            continue
        steps = int(np.ceil(split / config.batch))
        medkeras.compile_for_scheme(model, scheme, steps_per_epoch=steps)
        log(f"[{scheme}] training {config.epochs} epochs on {split} patches")
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=config.batch, epochs=config.epochs, verbose=2)
        seconds = time.perf_counter() - start
        scores = model.predict(x_val, batch_size=config.batch, verbose=0)[:, 1]
        auc = float(roc_auc_score(y_val, scores))
        log(f"[{scheme}] validation AUC {auc:.3f} ({seconds:.0f} s)")
        rows.append({"scheme": scheme, "val_auc": auc, "seconds": seconds, "note": ""})
        if best is None or auc > best[0]:
            best = (auc, scheme, model)

    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(config.out, "results.csv"), index=False)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.barh(table["scheme"], table["val_auc"].fillna(0), color="tab:blue")
    for i, row in table.iterrows():
        label = f"{row['val_auc']:.3f}" if np.isfinite(row["val_auc"]) else "no ImageNet weights"
        ax.text(0.01, i, label, va="center", color="white" if np.isfinite(row["val_auc"]) else "k")
    ax.set_xlim(0, 1)
    ax.set_xlabel("validation AUC")
    ax.set_title(f"SqueezeNet, {config.epochs} epochs, {split} synthetic patches")
    fig.tight_layout()
    fig.savefig(os.path.join(config.out, "val_auc.png"), dpi=120)
    plt.close(fig)
    if best is not None:
        export = os.path.join(config.out, "best_model")
        if os.path.exists(export):
            import shutil
            shutil.rmtree(export)
        medkeras.export_saved_model(best[2], export, metadata={"scheme": best[1],
                                                               "val_auc": best[0]})
        log(f"best scheme {best[1]} (AUC {best[0]:.3f}) exported to {export}")
    log(f"results: {os.path.join(config.out, 'results.csv')}, "
        f"{os.path.join(config.out, 'val_auc.png')}")
    return table
