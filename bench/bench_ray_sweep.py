"""A small sweep serial vs as Ray tasks, wall time, one run.

The sweep of ``tests/test_ray_executor.py`` (SqueezeNet, 2 schemes × 2 seeds = 4 cells, 24
synthetic training patches, 2 epochs).  Each variant runs in a fresh process from Python's
start to the last cell written, so TensorFlow's import and Ray's start are counted:

* serial, TensorFlow's default threads (all cores): the baseline;
* serial, one thread (what a Ray cell of one CPU gets; the numbers Ray must equal);
* Ray with a local cluster of ``--cpus`` CPUs, one CPU per cell.

    python bench/bench_ray_sweep.py [--cpus 2]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.test_experiment_sweep import pretrained_file, tiny_task
    from tests.test_ray_executor import small_config
    from medkeras.experiment.sweep import run_sweep
    import pathlib
    executor = None
    if {ray!r}:
        import ray
        from medkeras.experiment.distributed import RayExecutor
        ray.init(num_cpus={cpus}, include_dashboard=False, log_to_driver=False)
        executor = RayExecutor(cpus_per_cell=1)
    weights = pretrained_file(pathlib.Path({out!r}))
    run_sweep(tiny_task(), small_config(weights), {out!r} + "/sweep", log=None,
              executor=executor)
""")


def run(name, *, ray, cpus, env):
    with tempfile.TemporaryDirectory() as out:
        script = SCRIPT.format(root=ROOT, ray=ray, cpus=cpus, out=out)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env},
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    one_thread = {**quiet, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    times = {
        "serial, default threads": run("serial", ray=False, cpus=0, env=quiet),
        "serial, 1 thread": run("serial, 1 thread", ray=False, cpus=0, env=one_thread),
        f"Ray, {args.cpus} workers of 1 CPU": run("Ray", ray=True, cpus=args.cpus, env=quiet),
    }
    base = times["serial, default threads"]
    print(f"4-cell sweep, {os.cpu_count()} CPUs, each variant in a fresh process")
    for name, seconds in times.items():
        print(f"{name:32s} {seconds:7.1f} s  {seconds / base:5.2f}× the serial sweep's time")


if __name__ == "__main__":
    main()
