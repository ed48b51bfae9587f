"""CIMT dense confidence of one ROI: batched (apps.cimt.measure.dense_confidence) vs a loop
that cuts and classifies one pixel's patch at a time, as a ratio, in one run.

A 3-class SqueezeNet (random weights: speed does not depend on them) on a synthetic B-mode
image; both methods compute the same values (checked).  The network alone on 256 patches
already in memory (the same XLA-compiled forward pass, :mod:`medkeras.inference`) is the
ceiling of both: every pixel needs its own 227×227 forward pass.  The loop runs on a small ROI
(``--loop-pixels``) and its per-pixel time is compared with the batched per-pixel time on
the full ROI of a far wall (``--rows`` × ``--columns``, stride 1, the paper's setting).

    python bench/bench_cimt_dense.py [--rows 45] [--columns 270] [--loop-pixels 60]
"""

import argparse
import os
import pathlib
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import medkeras

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # apps/ of this checkout
from apps.cimt import dense_confidence, extract_patches, synthetic_case  # noqa: E402
from medkeras.inference import inference_function  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=45)
    parser.add_argument("--columns", type=int, default=270)
    parser.add_argument("--loop-pixels", type=int, default=60)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()

    case = synthetic_case(seed=0, shape=(240, 400))
    model = medkeras.SqueezeNet(classes=3, seed=0)
    fov, mm = 3.0, case.mm_per_pixel
    y0, x0 = 100, 60
    roi = (y0, x0, y0 + args.rows, x0 + args.columns)
    dense_confidence(model, case.image, (y0, x0, y0 + 2, x0 + 2), fov_mm=fov, mm_per_pixel=mm)

    started = time.perf_counter()
    maps = dense_confidence(model, case.image, roi, fov_mm=fov, mm_per_pixel=mm,
                            batch_size=args.batch)
    dense_s = time.perf_counter() - started
    n_dense = maps.lumen_intima.size

    pixels = [(y0 + i // args.columns, x0 + i % args.columns) for i in range(args.loop_pixels)]
    started = time.perf_counter()
    loop = []
    for r, c in pixels:                                   # the straightforward way
        patch = extract_patches(case.image, np.array([[r, c]]), fov_mm=fov, mm_per_pixel=mm)
        loop.append(np.asarray(model(patch, training=False))[0, 1])
    loop_s = time.perf_counter() - started
    same = np.allclose(loop, maps.lumen_intima.ravel()[:len(loop)], atol=1e-5)

    grid = np.stack(np.meshgrid(np.arange(y0, y0 + 16), np.arange(x0, x0 + 16),
                                indexing="ij"), -1).reshape(-1, 2)
    in_memory = extract_patches(case.image, grid, fov_mm=fov, mm_per_pixel=mm)
    rates = {}
    for name, infer in (("inference_function", inference_function(model)),
                        ("Keras predict_on_batch", model.predict_on_batch)):
        infer(in_memory)
        started = time.perf_counter()
        for _ in range(3):
            infer(in_memory)
        rates[name] = 3 * len(in_memory) / (time.perf_counter() - started)
    network_rate = rates["inference_function"]

    per_dense, per_loop = dense_s / n_dense, loop_s / len(pixels)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; SqueezeNet 3 classes")
    print(f"batched: {n_dense} pixels ({args.rows}×{args.columns}) in {dense_s:.1f} s = "
          f"{1 / per_dense:.1f} pixels/s")
    print(f"per-pixel loop: {len(pixels)} pixels in {loop_s:.1f} s = {1 / per_loop:.1f} pixels/s")
    print(f"the network alone on {len(in_memory)} patches in memory: {network_rate:.1f} "
          f"patches/s (XLA, as dense_confidence; Keras predict_on_batch "
          f"{rates['Keras predict_on_batch']:.1f}); batched dense / network: "
          f"{1 / per_dense / network_rate:.2f}")
    print(f"values equal: {same}")
    print(f"ratio batched / loop speed: {per_loop / per_dense:.1f}×; the full ROI by the loop "
          f"would take {per_loop * n_dense:.0f} s")


if __name__ == "__main__":
    main()
