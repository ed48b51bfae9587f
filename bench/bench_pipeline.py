"""Patch pipeline throughput next to AlexNet training throughput, one run.

``medkeras.data.patch_dataset`` on synthetic frames (default: 20 RGB images of 500×700,
50 random square candidate boxes each, the paper's full augmentation = 216 patches per box,
227×227 patches, batch 64), in patches/s over a fixed number of batches after warm-up; then
``medkeras.AlexNet(classes=2)`` trained with ``train_on_batch`` (SGD 0.001, momentum 0.9,
sparse categorical cross-entropy) on random batches, in images/s after warm-up steps; then
the ratio pipeline/training (above 1: the pipeline outruns training when both have the whole
machine) and AlexNet trained from the pipeline itself, where both share the machine.

    python bench/bench_pipeline.py [--images 20] [--boxes 50] [--batch 64] [--batches 20]
                                   [--steps 4] [--warmup 2]
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

import medkeras
from medkeras.data import patch_dataset


def synthetic_frames(count, boxes_per_image, seed=0):
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (500, 700, 3), dtype=np.uint8) for _ in range(count)]
    side = rng.uniform(30, 120, (count, boxes_per_image))
    y0, x0 = rng.uniform(0, 500 - side), rng.uniform(0, 700 - side)
    boxes = np.stack([y0, x0, y0 + side, x0 + side], axis=-1).reshape(-1, 4)
    labels = rng.integers(0, 2, len(boxes))
    return images, boxes, labels, np.repeat(np.arange(count), boxes_per_image)


def pipeline_throughput(dataset, batches, warmup):
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    patches = sum(int(next(iterator)[0].shape[0]) for _ in range(batches))
    return patches / (time.perf_counter() - start)


def compiled_alexnet():
    model = medkeras.AlexNet(classes=2)
    model.compile(keras.optimizers.SGD(0.001, momentum=0.9), "sparse_categorical_crossentropy")
    return model


def training_throughput(model, batches, steps, warmup):
    """Images/s of ``train_on_batch`` over ``steps`` batches after ``warmup`` steps."""
    iterator = iter(batches)
    for _ in range(warmup):
        model.train_on_batch(*next(iterator))
    start = time.perf_counter()
    images = 0
    for _ in range(steps):
        x, y = next(iterator)
        model.train_on_batch(x, y)
        images += len(y)
    return images / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--boxes", type=int, default=50, help="candidate boxes per image")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20, help="pipeline batches timed")
    parser.add_argument("--steps", type=int, default=4, help="training steps timed")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    gpus = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
    print(f"TF {tf.__version__}, Keras {keras.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"GPUs: {', '.join(gpus) or 'none'} (the pipeline runs on the CPUs)")

    images, boxes, labels, image_index = synthetic_frames(args.images, args.boxes)
    start = time.perf_counter()
    dataset = patch_dataset(images, boxes, labels, image_index=image_index,
                            batch_size=args.batch)
    print(f"patch_dataset: {args.images} images 500×700×3, {len(boxes)} boxes × 216 "
          f"augmentations = {len(boxes) * 216} patches/epoch, built in "
          f"{time.perf_counter() - start:.2f} s")
    patches_per_s = pipeline_throughput(dataset, args.batches, args.warmup)

    rng = np.random.default_rng(0)
    x = rng.uniform(-120, 120, (args.batch, 227, 227, 3)).astype(np.float32)
    y = rng.integers(0, 2, args.batch)
    model = compiled_alexnet()
    train_per_s = training_throughput(model, iter(lambda: (x, y), None), args.steps,
                                      args.warmup)
    fed_per_s = training_throughput(model, dataset, args.steps, args.warmup)

    print(f"{'pipeline (patches/s, batch ' + str(args.batch) + ')':44s} {patches_per_s:9.1f}")
    print(f"{'AlexNet training, random batches (img/s)':44s} {train_per_s:9.1f}")
    print(f"{'ratio pipeline / training':44s} {patches_per_s / train_per_s:9.2f}")
    print(f"{'AlexNet training fed by the pipeline (img/s)':44s} {fed_per_s:9.1f}")


if __name__ == "__main__":
    main()
