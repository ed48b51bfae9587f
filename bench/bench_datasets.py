"""One epoch of Kvasir-SEG from the prepared tfds dataset vs walking and decoding the folder.

``kvasir_seg`` (:mod:`apps.polyp.dataset`) is prepared once into a temporary data dir (its
preparation time is printed), then three pipelines each produce every frame of the folder
once per epoch as a batch of (image, mask) resized to ``--size`` (bilinear / nearest), mask
thresholded at 128, batches of ``--batch``:

* ``tfds, from disk``: a new ``builder.as_dataset(split="train+test")`` each epoch,
  tfds' in-memory auto-cache off (the stored JPEG image and PNG mask read and decoded by
  tfds every epoch), resize in a parallel ``map``;
* ``tfds, auto-cached``: one ``as_dataset`` iterated every epoch, as ``model.fit`` does:
  tfds caches a small dataset's decoded examples in memory during the first epoch (for
  Kvasir-SEG about 1 GB), later epochs only resize;
* ``folder, tf.data``: list ``images/`` and ``masks/``, then ``tf.io.read_file`` +
  ``decode_jpeg`` of both files + resize in a parallel ``map`` (the same work, from the
  folder);
* ``folder, PIL``: a plain Python loop with PIL (what a script without tf.data does).

Each pipeline runs one warm-up epoch (file cache, tracing), then ``--epochs`` timed epochs,
the pipelines taking turns; figures are the median frames/s and its ratios to the folder
baselines measured in the same run.  Default
folder: ``../shared/data/kvasir-seg`` beside the checkout; without it (or with ``--synthetic``)
a folder of ``--frames`` synthetic 576×720 JPEG frames and masks is written to a temp dir.

    python bench/bench_datasets.py [--folder DIR] [--synthetic] [--frames 300] [--size 227]
                                   [--batch 32] [--epochs 3]
"""

import argparse
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from medkeras import datasets

DEFAULT_FOLDER = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "kvasir-seg"


def synthetic_folder(root, frames, seed=0):
    """Kvasir layout: smooth RGB frames with noise, one elliptic polyp mask each (JPEG)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows, cols = np.mgrid[0:576, 0:720]
    for i in range(frames):
        base = np.stack([rows * 0.3 + 60, cols * 0.2 + 40, (rows + cols) * 0.1 + 30], -1)
        image = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        cy, cx, ry, rx = rng.uniform(150, 420), rng.uniform(150, 570), *rng.uniform(40, 140, 2)
        mask = (((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1).astype(np.uint8) * 255
        Image.fromarray(image).save(root / "images" / f"frame{i:04d}.jpg", quality=90)
        Image.fromarray(mask).save(root / "masks" / f"frame{i:04d}.jpg", quality=90)
    return root


def _resize(image, mask, size):
    image = tf.image.resize(image, (size, size))  # bilinear, float32
    mask = tf.image.resize(mask, (size, size), method="nearest")
    return image, mask


def tfds_epoch(builder, size, batch, autocache=False):
    def prepare(example):
        return _resize(example["image"], example["mask"], size)

    dataset = builder.as_dataset(split="train+test", shuffle_files=False,
                                 read_config=tfds.ReadConfig(try_autocache=autocache))
    return (dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(batch)
            .prefetch(tf.data.AUTOTUNE))


def folder_epoch(folder, size, batch):
    """The folder walked now (new files show up), each pair read and decoded."""
    names = sorted(p.name for p in (folder / "images").iterdir())
    images = [str(folder / "images" / name) for name in names]
    masks = [str(folder / "masks" / name) for name in names]

    def prepare(image_path, mask_path):
        image = tf.io.decode_jpeg(tf.io.read_file(image_path), channels=3)
        mask = tf.io.decode_jpeg(tf.io.read_file(mask_path), channels=1)
        mask = tf.cast(mask >= 128, tf.uint8)
        return _resize(image, mask, size)

    return (tf.data.Dataset.from_tensor_slices((images, masks))
            .map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(batch)
            .prefetch(tf.data.AUTOTUNE))


def pil_epoch(folder, size, batch):
    names = sorted(p.name for p in (folder / "images").iterdir())
    for start in range(0, len(names), batch):
        images, masks = [], []
        for name in names[start:start + batch]:
            with Image.open(folder / "images" / name) as image:
                images.append(np.asarray(image.convert("RGB").resize((size, size),
                                                                     Image.BILINEAR)))
            with Image.open(folder / "masks" / name) as mask:
                grey = mask.convert("L").resize((size, size), Image.NEAREST)
                masks.append(np.asarray(grey) >= 128)
        yield np.stack(images).astype(np.float32), np.stack(masks)[..., None].astype(np.uint8)


def epoch_rates(pipelines, epochs):
    """Frames/s of each pipeline: median over ``epochs`` timed epochs after one warm-up.

    The pipelines take turns epoch by epoch, so that a load that comes and goes on the
    machine falls on all of them alike.
    """
    for make_epoch in pipelines.values():
        for _ in make_epoch():
            pass
    rates = {name: [] for name in pipelines}
    for _ in range(epochs):
        for name, make_epoch in pipelines.items():
            frames, start = 0, time.perf_counter()
            for images, _masks in make_epoch():
                frames += int(images.shape[0])
            rates[name].append(frames / (time.perf_counter() - start))
    return {name: float(np.median(values)) for name, values in rates.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=pathlib.Path, default=DEFAULT_FOLDER)
    parser.add_argument("--synthetic", action="store_true", help="ignore --folder")
    parser.add_argument("--frames", type=int, default=300, help="synthetic frames")
    parser.add_argument("--size", type=int, default=227)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per pipeline")
    args = parser.parse_args()
    print(f"TF {tf.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if args.synthetic or not folder.is_dir():
            folder = synthetic_folder(pathlib.Path(tmp) / "kvasir", args.frames)
            print(f"synthetic folder: {args.frames} frames 576×720")
        start = time.perf_counter()
        builder = datasets.builder("kvasir_seg", manual_dir=folder,
                                   data_dir=pathlib.Path(tmp) / "data")
        frames = builder.info.splits.total_num_examples
        print(f"kvasir_seg from {folder}: {frames} frames, prepared in "
              f"{time.perf_counter() - start:.1f} s (once)")

        cached = tfds_epoch(builder, args.size, args.batch, autocache=True)
        rates = epoch_rates({
            "tfds, from disk": lambda: tfds_epoch(builder, args.size, args.batch),
            "tfds, auto-cached": lambda: cached,
            "folder, tf.data": lambda: folder_epoch(folder, args.size, args.batch),
            "folder, PIL loop": lambda: pil_epoch(folder, args.size, args.batch),
        }, args.epochs)
    print(f"one epoch, image + mask resized to {args.size}, batch {args.batch} "
          f"(frames/s, median of {args.epochs} epochs):")
    for name, rate in rates.items():
        print(f"  {name:46s} {rate:6.1f}")
    for name in ("tfds, from disk", "tfds, auto-cached"):
        for baseline in ("folder, tf.data", "folder, PIL loop"):
            print(f"  ratio {name + ' / ' + baseline:40s} {rates[name] / rates[baseline]:6.2f}")


if __name__ == "__main__":
    main()
