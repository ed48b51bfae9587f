"""Polyp candidate generator (apps.polyp.candidates): seconds per frame, by stage and by
working size, in one run.

Frames: the first ``--frames`` Kvasir-SEG images of ``../shared/data/kvasir-seg`` (decoded
once, before timing), else synthetic 530×620 frames (``--synthetic`` forces them).  For
each working size the stages of :func:`apps.polyp.candidates.detect_candidates` are timed
one after the other (resize, field of view and glare, edges, voting, peaks + boxes); the
stages' result is checked against :func:`detect_candidates`' own.  The figures are medians
over the frames, as fractions of the whole.

    python bench/bench_polyp_candidates.py [--frames 40] [--sizes 384 512 640] [--synthetic]
"""

import argparse
import os
import pathlib
import platform
import time

import numpy as np

from apps.polyp import candidates as C

KVASIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "kvasir-seg"


def kvasir_frames(count):
    from PIL import Image

    paths = sorted((KVASIR / "images").glob("*.jpg"))[:count]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def synthetic_frames(count, shape=(530, 620)):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    frames = []
    for _ in range(count):
        grey = 120 + rng.normal(scale=6, size=shape)
        for _ in range(3):
            row, col = rng.uniform(100, 430), rng.uniform(100, 520)
            radius = rng.uniform(15, 60)
            rho = np.hypot(yy - row, xx - col) / radius
            grey += 40 * np.sqrt(np.clip(1 - rho ** 2, 0, 1))
        frame = np.stack([grey * 1.2, grey * 0.6, grey * 0.5], axis=2)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def staged(image, work_size):
    """detect_candidates' steps with their durations (defaults of detect_candidates)."""
    marks = [time.perf_counter()]
    h, w = image.shape[:2]
    factor = work_size / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    work = image if size == (w, h) else C._resize(image, size)
    marks.append(time.perf_counter())
    fov = C.field_of_view(work)
    valid = fov & ~C.glare_mask(work)
    marks.append(time.perf_counter())
    edges = C.colour_edges(work, valid, sigma=2.0, low=2.0, high=4.0, min_length=10)
    marks.append(time.perf_counter())
    maps = C.vote_maps(edges, work.shape[:2], C.DEFAULT_SCALES, band=1.35)
    marks.append(time.perf_counter())
    peaks = C._suppress(C._peaks(maps, C.DEFAULT_SCALES, fov, 0.05), 1.0, 30)
    boxes = C._boxes(peaks, edges, C.DEFAULT_SCALES, 1.35, work.shape[:2])
    marks.append(time.perf_counter())
    return np.diff(marks), peaks, boxes, len(edges.rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 512, 640])
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    real = KVASIR.is_dir() and not args.synthetic
    frames = kvasir_frames(args.frames) if real else synthetic_frames(args.frames)
    shapes = np.array([f.shape[:2] for f in frames])
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; {len(frames)} "
          f"{'Kvasir-SEG' if real else 'synthetic'} frames, median size "
          f"{int(np.median(shapes[:, 1]))}×{int(np.median(shapes[:, 0]))}")
    names = ["resize", "fov+glare", "edges", "voting", "peaks+boxes"]
    for work_size in args.sizes:
        rows, edge_counts = [], []
        for image in frames:
            times, _, _, n_edges = staged(image, work_size)
            rows.append(times)
            edge_counts.append(n_edges)
        check = C.detect_candidates(frames[0], work_size=work_size)
        _, peaks, _, _ = staged(frames[0], work_size)
        same = np.allclose(check.scores, peaks[:, 2])
        times = np.array(rows)
        total = np.median(times.sum(axis=1))
        parts = ", ".join(f"{n} {np.median(t) / total:.2f}" for n, t in zip(names, times.T))
        print(f"work size {work_size}: {total:.3f} s/frame (median; {1 / total:.1f} "
              f"frames/s), {int(np.median(edge_counts))} edge pixels; fractions: {parts}; "
              f"same as detect_candidates: {same}")


if __name__ == "__main__":
    main()
