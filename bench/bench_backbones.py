"""Training and inference throughput of every keras.applications backbone, one run.

For each backbone at its ImageNet input size: medkeras' block-wise model (new head, every
block trained: ``FT:<first>-head``; and ``FT:only head`` on cached features, the cheapest
depth) against the straightforward Keras model (``keras.applications.<X>(weights=None,
classes=2)``), measured in the same process and interleaved (best of ``--repeats``), so a
busy machine slows both alike.  Images/s on random inputs, SGD with momentum.

    python bench/bench_backbones.py [--batch 16] [--steps 3] [--repeats 2] [--only vgg16,...]
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from medkeras.experiment.cache import split_frozen_prefix
from medkeras.models.applications import APPLICATIONS, ARCHITECTURES


def best_rate(step, images, repeats, steps):
    step()                                              # warm-up: tracing
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = max(best, images * steps / (time.perf_counter() - start))
    return best


def measure(model, x, y, repeats, steps):
    model.compile(keras.optimizers.SGD(0.001, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=False)
    predict = tf.function(lambda images: model(images, training=False))
    return (best_rate(lambda: model.train_on_batch(x, y), len(x), repeats, steps),
            best_rate(lambda: predict(x), len(x), repeats, steps))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", default=",".join(APPLICATIONS))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"TF {tf.__version__}, batch {args.batch}, best of {args.repeats} × {args.steps} steps")
    print(f"{'backbone':16} {'size':>4} {'train':>7} {'keras':>7} {'ratio':>6} "
          f"{'infer':>7} {'keras':>7} {'ratio':>6} {'head only':>9}")
    rng = np.random.default_rng(0)
    for name in args.only.split(","):
        size = ARCHITECTURES[name].input_size
        x = rng.uniform(-1, 1, (args.batch, size, size, 3)).astype(np.float32)
        y = rng.integers(0, 2, args.batch)
        ours = APPLICATIONS[name](classes=2, seed=0)
        plain = getattr(keras.applications, ARCHITECTURES[name].constructor)(
            weights=None, classes=2, input_shape=(size, size, 3))
        train_ours, infer_ours = measure(ours, x, y, args.repeats, args.steps)
        train_plain, infer_plain = measure(plain, x, y, args.repeats, args.steps)
        ours.set_trainable_from("head")
        prefix, head = split_frozen_prefix(ours, "head")
        features = prefix.predict(x, verbose=0)
        head_only, _ = measure(head, features, y, args.repeats, args.steps * 10)
        print(f"{name:16} {size:4d} {train_ours:7.1f} {train_plain:7.1f} "
              f"{train_ours / train_plain:6.2f} {infer_ours:7.1f} {infer_plain:7.1f} "
              f"{infer_ours / infer_plain:6.2f} {head_only:9.0f}", flush=True)
    print("images/s; ratio: medkeras / straightforward Keras (same run); head only: "
          "FT:only head on cached features (the frozen part computed once per image)")


if __name__ == "__main__":
    main()
