"""PE candidates and test patches (apps.pe.candidates, apps.pe.patches) for one CTPA volume:
seconds by stage, as ratios against baselines measured in the same run.

Volume: the real vessel and lung anatomy of CAD-PE case ``--case`` (default 001, 512×512×288
at 0.73×0.73×1.0 mm) from ``../shared/data/cadpe-vessels`` painted with simple HU values:
lung −850; everything outside the lungs ``--outside-hu`` (default 40, soft tissue as in
apps.pe.synthetic; there is no body mask); label 1, the arteries (larger, more anterior and
higher at the hilum than label 2), 300; label 2, the veins (less enhanced in the arterial
phase), 150; ``--emboli`` clots of 50 HU, balls of 50–140% of the radius of a 2–6 mm artery
clipped to the artery (the larger ones occlusive); then a 0.5-voxel Gaussian blur (partial
volume), Gaussian noise of 20 HU, int16.  Without the data (or with ``--synthetic``) a
512×512×300 volume of random bright tubes in lung takes its place.

Stages timed: tobogganing candidates (:func:`detect_candidates`, lung mask given), and all
test patches of every candidate (vessel axis + 3 sizes × 3 translations × 6 rotations =
54 two-channel 227×227 patches per candidate, :func:`candidate_patches`).  Baselines: one
``scipy.ndimage.gaussian_filter`` (σ = 1 voxel) of the whole volume in float32, for the
candidates; for the patches, the same sampling done naively, one ``map_coordinates`` call
per plane (108 per candidate) on the whole volume, timed over ``--naive`` candidates.

    python bench/bench_pe_candidates.py [--case 001] [--emboli 16] [--outside-hu 40]
                                        [--naive 3] [--synthetic]
"""

import argparse
import os
import pathlib
import platform
import time

import numpy as np
from scipy import ndimage

from apps.pe import candidates as C
from apps.pe import patches as P

CADPE = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "cadpe-vessels"


def _ball_inside(mask, centre, radius_vox):
    """Whether the ellipsoid of ``radius_vox`` (per axis) around ``centre`` is all in mask."""
    lo = [max(0, int(c - r)) for c, r in zip(centre, radius_vox)]
    hi = [min(n, int(c + r) + 1) for c, n, r in zip(centre, mask.shape, radius_vox)]
    box = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    grid = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radius_vox)) <= 1
    return bool(box[inside].all()) and inside.sum() > 0


def painted_volume(case, n_emboli, seed=0, outside_hu=40.0):
    """(ct int16, spacing, lung mask, embolus labels) on CAD-PE anatomy."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    image = nib.load(str(CADPE / f"{case}.nii.gz"))
    vessels = np.asanyarray(image.dataobj).transpose(2, 1, 0)
    lungs = np.asanyarray(nib.load(str(CADPE / f"{case}_lungmask.nii.gz")).dataobj
                          ).transpose(2, 1, 0) > 0
    spacing = tuple(float(z) for z in image.header.get_zooms()[::-1])
    ct = np.where(lungs, np.float32(-850), np.float32(outside_hu))
    ct[vessels == 2] = 150
    arteries = vessels == 1
    ct[arteries] = 300
    emboli = np.zeros(ct.shape, np.int16)
    z, y, x = np.nonzero(arteries)
    tries = 0
    while emboli.max() < n_emboli and tries < 20000:
        tries += 1
        i = rng.integers(len(z))
        centre = (z[i], y[i], x[i])
        radius_mm = rng.uniform(2.0, 6.0)
        if not _ball_inside(arteries, centre, [radius_mm / s for s in spacing]):
            continue
        blob = radius_mm * rng.uniform(0.5, 1.4)  # > 1: occlusive (clipped to the lumen)
        if emboli[centre] or not _ball_inside(emboli == 0, centre,
                                               [2 * radius_mm / s for s in spacing]):
            continue
        r = [blob / s for s in spacing]
        lo = [max(0, int(c - q) - 1) for c, q in zip(centre, r)]
        grid = np.ogrid[lo[0]:lo[0] + int(2 * r[0]) + 3, lo[1]:lo[1] + int(2 * r[1]) + 3,
                        lo[2]:lo[2] + int(2 * r[2]) + 3]
        inside = sum(((g - c) / q) ** 2 for g, c, q in zip(grid, centre, r)) <= 1
        view = emboli[lo[0]:lo[0] + inside.shape[0], lo[1]:lo[1] + inside.shape[1],
                      lo[2]:lo[2] + inside.shape[2]]
        inside = inside[:view.shape[0], :view.shape[1], :view.shape[2]]
        inside &= arteries[lo[0]:lo[0] + inside.shape[0], lo[1]:lo[1] + inside.shape[1],
                           lo[2]:lo[2] + inside.shape[2]]
        view[inside] = emboli.max() + 1
    ct[emboli > 0] = 50
    ct = ndimage.gaussian_filter(ct, 0.5, output=np.float32)
    ct += rng.normal(0, 20, ct.shape).astype(np.float32)
    return np.rint(ct).astype(np.int16), spacing, lungs, emboli


def synthetic_volume(n_emboli, shape=(300, 512, 512), seed=0):
    """Random bright tubes (300 HU) in lung (−850) with dark clots (50 HU) inside."""
    rng = np.random.default_rng(seed)
    spacing = np.array([1.0, 0.7, 0.7])
    ct = np.full(shape, -850, np.float32)
    emboli = np.zeros(shape, np.int16)
    extent = np.asarray(shape) * spacing
    for k in range(n_emboli):
        start = rng.uniform(0.15 * extent, 0.85 * extent)
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        radius = rng.uniform(2.5, 5.0)
        lo = np.maximum(0, ((start - 30) / spacing).astype(int))
        hi = np.minimum(shape, ((start + 30) / spacing).astype(int))
        grid = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        d = [g * s - c for g, s, c in zip(grid, spacing, start)]
        along = d[0] * axis[0] + d[1] * axis[1] + d[2] * axis[2]
        distance2 = d[0] ** 2 + d[1] ** 2 + d[2] ** 2
        view = ct[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        view[distance2 - along ** 2 <= radius ** 2] = 300
        clot = emboli[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        clot[distance2 <= (0.6 * radius) ** 2] = k + 1
    ct[emboli > 0] = 50
    ct = ndimage.gaussian_filter(ct, 0.5, output=np.float32)
    ct += rng.normal(0, 20, shape).astype(np.float32)
    return np.rint(ct).astype(np.int16), tuple(float(s) for s in spacing), None, emboli


def naive_patches(ct, spacing, centre_mm, axis):
    """The same 54 patches, one map_coordinates call per plane on the whole volume."""
    planes = P._vessel_planes(np.asarray(centre_mm, float), axis, (10.0, 15.0, 20.0),
                              (-0.2, 0.0, 0.2), 6, 180.0)
    out = []
    grid = (np.arange(227) + 0.5) / 227 - 0.5
    for origin, rows, cols in planes:
        for c in range(origin.shape[0]):
            pts = (origin[c][:, None, None] + grid[None, :, None] * rows[c][:, None, None]
                   + grid[None, None, :] * cols[c][:, None, None])
            pts /= np.asarray(spacing)[:, None, None]
            out.append(ndimage.map_coordinates(ct, pts, order=1, cval=-1000.0,
                                               output=np.float32))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="001")
    parser.add_argument("--emboli", type=int, default=16)
    parser.add_argument("--outside-hu", type=float, default=40.0,
                        help="HU painted outside the lungs (40 soft tissue, -80 fat)")
    parser.add_argument("--naive", type=int, default=3,
                        help="candidates to time the per-plane baseline on")
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    real = (CADPE / f"{args.case}.nii.gz").is_file() and not args.synthetic
    started = time.perf_counter()
    if real:
        ct, spacing, lungs, emboli = painted_volume(args.case, args.emboli,
                                                    outside_hu=args.outside_hu)
    else:
        ct, spacing, lungs, emboli = synthetic_volume(args.emboli)
    made = time.perf_counter() - started
    n_emboli = int(emboli.max())
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; volume {'CAD-PE ' + args.case if real else 'synthetic'} "
          f"{ct.shape[2]}×{ct.shape[1]}×{ct.shape[0]} at {spacing[2]:.2f}×{spacing[1]:.2f}×"
          f"{spacing[0]:.2f} mm, {n_emboli} emboli (built in {made:.0f} s)")

    started = time.perf_counter()
    ndimage.gaussian_filter(ct, 1.0, output=np.float32)
    t_smooth = time.perf_counter() - started

    started = time.perf_counter()
    found = C.detect_candidates(ct, spacing, lung_mask=lungs)
    t_candidates = time.perf_counter() - started
    limits = (25, 50, 100)
    result = C.evaluate_candidates([(found, emboli)], limits=limits)
    n = len(found.scores)

    started = time.perf_counter()
    n_patches = 0
    for patches, index in P.candidate_patches(ct, spacing, found, three_channels=False):
        n_patches += len(index)
    t_patches = time.perf_counter() - started

    k = min(args.naive, n)
    started = time.perf_counter()
    for i in range(k):
        axis = P.vessel_axis(ct, spacing, found.centres_mm[i])
        naive_patches(ct, spacing, found.centres_mm[i], axis)
    t_naive = (time.perf_counter() - started) / max(k, 1)

    print(f"candidates: {n} ({result['true_candidates']} on an embolus), sensitivity "
          f"{result['sensitivity']:.2f} ({result['emboli_hit']}/{n_emboli}); best "
          + "/".join(map(str, limits)) + ": "
          + ", ".join(f"{result[k]['sensitivity']:.2f}" for k in limits))
    print(f"tobogganing candidates: {t_candidates:.1f} s = {t_candidates / t_smooth:.2f}× one "
          f"gaussian_filter of the volume ({t_smooth:.1f} s)")
    if n:
        per = t_patches / n
        print(f"test patches: {n_patches} ({n_patches // n} per candidate, 2 channels, "
              f"227×227) in {t_patches:.1f} s = {per:.2f} s per candidate; naive per-plane "
              f"map_coordinates on the whole volume {t_naive:.2f} s per candidate "
              f"({t_naive / per:.2f}× the batched time)")
        print(f"total: {t_candidates + t_patches:.1f} s for the volume "
              f"({t_candidates + min(n, 100) * per:.1f} s with its best 100 candidates)")


if __name__ == "__main__":
    main()
