"""Training from the tf.data patch pipeline on the device: precision × XLA, one run.

On a GPU when one is visible (precisions float32 and mixed_float16, XLA off and on), on the
CPU otherwise (float32, and mixed_bfloat16 where the CPU has native bfloat16).  The model
trains with ``fit`` from ``medkeras.data.patch_dataset`` (synthetic frames, the paper's
augmentation, 227×227 patches), so the figure includes feeding the device.  Variants are
interleaved over rounds and the median is printed, as a ratio to the first (float32, no XLA).

    python bench/bench_device.py [--model squeezenet|alexnet] [--batch 64] [--steps 10]
                                 [--rounds 3]
"""

import argparse
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

import medkeras
from medkeras.data import patch_dataset
from medkeras.precision import cpu_has_native_bfloat16

from bench_pipeline import synthetic_frames      # the same synthetic frames and boxes
from timing import interleaved_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("squeezenet", "alexnet"), default="squeezenet")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    device = (tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
              if gpus else "CPU")
    half = "mixed_float16" if gpus else ("mixed_bfloat16" if cpu_has_native_bfloat16() else None)
    variants = [("float32", False), ("float32", True)] + (
        [(half, False), (half, True)] if half else [])
    print(f"TF {tf.__version__}, Keras {keras.__version__}, device {device}, {args.model}, "
          f"batch {args.batch}, {args.steps} steps × {args.rounds} interleaved rounds")
    images, boxes, labels, index = synthetic_frames(20, 30)
    dataset = patch_dataset(images, boxes, labels, image_index=index, batch_size=args.batch,
                            shuffle=True, seed=0).repeat()
    build = medkeras.SqueezeNet if args.model == "squeezenet" else medkeras.AlexNet
    prepared = []
    for policy, xla in variants:
        keras.config.set_dtype_policy(policy)
        model = build(classes=2)
        keras.config.set_dtype_policy("float32")
        model.compile(keras.optimizers.SGD(0.001, momentum=0.9),
                      "sparse_categorical_crossentropy", jit_compile=xla)
        model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)        # build and warm up
        prepared.append((f"{policy}{' + XLA' if xla else ''}", model))
    seconds = interleaved_seconds(
        {name: functools.partial(model.fit, dataset, steps_per_epoch=args.steps, epochs=1,
                                 verbose=0) for name, model in prepared}, args.rounds)
    rates = {name: [args.batch * args.steps / s for s in values]
             for name, values in seconds.items()}
    base = np.median(rates[prepared[0][0]])
    print(f"{'variant':28s} {'train img/s':>12s} {'ratio':>6s}")
    for name, _ in prepared:
        print(f"{name:28s} {np.median(rates[name]):12.1f} {np.median(rates[name]) / base:6.2f}")


if __name__ == "__main__":
    main()
