"""A default layer-wise sweep with and without frozen-prefix caching, in one run.

Every scheme of the backbone (scratch and all fine-tuning depths) trains for a few epochs
on random patches, once with caching and once without; the figure is the ratio of total
sweep times.  The issue's goal is a cached sweep at most half as long as the uncached one.

    python bench/bench_sweep.py [--backbone alexnet|squeezenet] [--patches 192] [--epochs 3]
"""

import argparse
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from medkeras.experiment.runner import TrainConfig, train_scheme
from medkeras.experiment.sweep import build_model
from medkeras.models import BACKBONES


def sweep_seconds(backbone, cache, x, y, epochs, batch):
    per_scheme = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scheme in BACKBONES[backbone].scheme_table():
            keras.backend.clear_session()
            model = build_model(backbone, classes=2, seed=0)
            config = TrainConfig(epochs=epochs, batch_size=batch, patience=epochs,
                                 cache_frozen=cache, tensorboard=False)
            split = int(0.8 * len(y))
            start = time.perf_counter()
            train_scheme(model, scheme, (x[:split], y[:split]), (x[split:], y[split:]),
                         run_dir=os.path.join(tmp, scheme.replace(":", "_").replace(" ", "_")),
                         config=config, verbose=0)
            per_scheme[scheme] = time.perf_counter() - start
    return per_scheme


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="alexnet", choices=["alexnet", "squeezenet"])
    parser.add_argument("--patches", type=int, default=192)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    print(f"TF {tf.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, GPUs: "
          f"{len(tf.config.list_physical_devices('GPU'))}; {args.backbone}, {args.patches} "
          f"patches, {args.epochs} epochs, batch {args.batch}")
    rng = np.random.default_rng(0)
    y = np.arange(args.patches) % 2
    x = rng.normal(0, 30, (args.patches, 227, 227, 3)).astype(np.float32) + 5 * y[:, None, None, None]
    plain = sweep_seconds(args.backbone, False, x, y, args.epochs, args.batch)
    cached = sweep_seconds(args.backbone, True, x, y, args.epochs, args.batch)
    print(f"{'scheme':22s} {'uncached s':>10s} {'cached s':>9s} {'ratio':>6s}")
    for scheme in plain:
        print(f"{scheme:22s} {plain[scheme]:10.1f} {cached[scheme]:9.1f} "
              f"{cached[scheme] / plain[scheme]:6.2f}")
    total_plain, total_cached = sum(plain.values()), sum(cached.values())
    print(f"{'whole sweep':22s} {total_plain:10.1f} {total_cached:9.1f} "
          f"{total_cached / total_plain:6.2f}  (goal <= 0.50)")


if __name__ == "__main__":
    main()
