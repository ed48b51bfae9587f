"""What a sweep directory holds, for tests that compare two sweeps bit for bit."""

import numpy as np


def cell_results(out):
    """Every cell's test scores and best trainable weights, by ``cell/file/array``."""
    found = {}
    for cell in sorted((out / "cells").iterdir()):
        for name in ("test_scores.npz", "run/best.npz"):
            with np.load(cell / name) as saved:
                for key in saved.files:
                    found[f"{cell.name}/{name}/{key}"] = saved[key]
    return found


def assert_identical(a, b):
    """Two :func:`cell_results` hold the same arrays, equal to the last bit."""
    assert a.keys() == b.keys()
    different = [key for key in a if not np.array_equal(a[key], b[key])]
    assert not different, f"differ: {different[:5]}"
