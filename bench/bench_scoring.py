"""Test-time scoring: patches cut on demand and scored, serial vs pipelined, one run.

The sweeps score their test sets through ``medkeras.data.predict_in_chunks`` over
``LazyPatches`` (as the polyp application does: boxes of candidates on frames, each cut in
8 orientations by ``crop_patches`` and preprocessed).  Serial: cut a chunk, then score it.
Pipelined (the default): the next chunk is cut while this one is scored.  The baseline is
the network alone on patches already in memory, through the forward pass every inference
path uses (:func:`medkeras.inference.inference_function`, XLA-compiled); Keras' ``predict``
without XLA is shown beside it.  Variants are interleaved over rounds; the median
patches/s is printed with its ratio to the network alone.

    python bench/bench_scoring.py [--model squeezenet|alexnet] [--patches 1024] [--rounds 3]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import medkeras
from medkeras.data import LazyPatches, crop_patches, predict_in_chunks
from medkeras.inference import inference_function
from timing import interleaved_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("squeezenet", "alexnet"), default="squeezenet")
    parser.add_argument("--patches", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (10, 288, 352, 3)).astype(np.float32)
    side = rng.uniform(40, 120, args.patches)
    y0, x0 = rng.uniform(0, 288 - side), rng.uniform(0, 352 - side)
    boxes = np.stack([y0, x0, y0 + side, x0 + side], 1)
    frame_of = rng.integers(0, len(frames), args.patches)
    orientation = np.arange(args.patches) % 8

    def cut(indices):
        patches = crop_patches(frames, boxes[indices], frame_of[indices], orientation[indices])
        return medkeras.preprocess_input(np.asarray(patches))

    lazy = LazyPatches(cut, args.patches)
    model = (medkeras.SqueezeNet if args.model == "squeezenet" else medkeras.AlexNet)(classes=2)
    in_memory = lazy[:args.chunk]
    infer = inference_function(model)                    # what predict_in_chunks runs
    variants = {
        "network alone (patches in memory)":
            lambda: [infer(in_memory) for _ in range(args.patches // args.chunk)],
        "network alone, Keras predict (no XLA)":
            lambda: [model.predict(in_memory, batch_size=64, verbose=0)
                     for _ in range(args.patches // args.chunk)],
        "serial: cut, then score": lambda: predict_in_chunks(model, lazy, chunk=args.chunk,
                                                             prefetch=0),
        "pipelined: cut the next while scoring": lambda: predict_in_chunks(
            model, lazy, chunk=args.chunk, prefetch=1),
    }
    for run in variants.values():                                       # warm up
        run()
    rates = {name: [args.patches / s for s in seconds]
             for name, seconds in interleaved_seconds(variants, args.rounds).items()}
    print(f"{args.model}, {args.patches} patches, chunks of {args.chunk}, {os.cpu_count()} CPUs, "
          f"median of {args.rounds} interleaved rounds")
    base = np.median(rates["network alone (patches in memory)"])
    for name, values in rates.items():
        print(f"{name:40s} {np.median(values):8.1f} patches/s  {np.median(values) / base:5.2f}")
    serial, piped = (np.median(rates[k]) for k in list(variants)[2:])
    print(f"pipelined / serial: {piped / serial:.2f}")


if __name__ == "__main__":
    main()
