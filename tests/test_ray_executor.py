"""Sweeps as Ray tasks (``sweep --executor ray``): the same numbers as the serial sweep, a
killed worker loses nothing, a cell that fails twice is reported while the others finish,
a missing Ray is one clear error; and a cell given two devices trains mirrored over them.

The Ray tests run a small sweep (4 cells, 2 epochs, synthetic patches) on a local Ray of
2 CPUs: two cells at once, each with one TensorFlow thread.  TensorFlow's CPU numbers depend
on its thread count, so the serial reference runs in a fresh process with one thread too
(:func:`medkeras.experiment.distributed.worker_environment`).  On an otherwise idle 2-core
machine the module takes about 70 s: the serial reference 23 s, the Ray sweep and its
re-run 17 s, the killed worker 14 s, the two devices 13 s.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from medkeras.experiment.distributed import worker_environment
from tests.test_application_contract import ToyApplication
from tests.sweep_outputs import assert_identical, cell_results
from tests.test_experiment_sweep import pretrained_file, tiny_task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMES = ("FT:only conv10", "FT:fire8-conv10")
SEEDS = (0, 1)


def small_config(weights):
    from medkeras.experiment.runner import TrainConfig
    from medkeras.experiment.sweep import SweepConfig

    return SweepConfig(backbone="squeezenet", weights=str(weights), schemes=SCHEMES,
                       seeds=SEEDS, train=TrainConfig(epochs=2, batch_size=8,
                                                      tensorboard=False))


SERIAL = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.test_experiment_sweep import tiny_task
    from tests.test_ray_executor import small_config
    from medkeras.experiment.sweep import run_sweep
    run_sweep(tiny_task(), small_config({weights!r}), {out!r}, log=None)
""")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return pretrained_file(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def serial(tmp_path_factory, weights):
    """The serial sweep's numbers, in a fresh process with the threads of a Ray cell."""
    out = tmp_path_factory.mktemp("serial") / "sweep"
    env = {**os.environ, **worker_environment(1)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SERIAL.format(root=ROOT, weights=weights,
                                                               out=str(out))],
                          env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    print(f"serial sweep: {time.perf_counter() - started:.1f} s")
    found = cell_results(out)
    assert len(found) > 4 * 6      # 4 cells: scores, labels, groups, … and trained weights
    return found


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs: two cells at once."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def ray_sweep(out, weights, **options):
    from medkeras.experiment.distributed import RayExecutor
    from medkeras.experiment.sweep import run_sweep

    started = time.perf_counter()
    table = run_sweep(tiny_task(), small_config(weights), str(out), log=None,
                      executor=RayExecutor(cpus_per_cell=1, **options))
    print(f"Ray sweep: {time.perf_counter() - started:.1f} s")
    return table


def test_a_ray_sweep_equals_the_serial_sweep_and_resumes(local_ray, serial, weights,
                                                        tmp_path):
    out = tmp_path / "sweep"
    table = ray_sweep(out, weights)
    assert [(r.scheme, r.seed) for r in table.itertuples()] == \
        [(scheme, seed) for seed in SEEDS for scheme in SCHEMES]       # the serial order
    assert set(table["status"]) <= {"converged", "not converged"}
    assert_identical(serial, cell_results(out))
    assert "4/4 cells done, 0 running, 0 failed" in (out / "sweep.log").read_text()
    # Resumed: a re-run submits only the cell whose record is gone; the table is the same.
    (out / "cells" / "ft-only-conv10__f1__s1" / "cell.json").unlink()
    again = ray_sweep(out, weights)
    assert again.drop(columns="seconds").equals(table.drop(columns="seconds"))
    assert_identical(serial, cell_results(out))


def busy_cell_workers():
    """Process ids of Ray workers running a cell (Ray titles them ``ray::cell_task``)."""
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and \
                    (entry / "cmdline").read_bytes().startswith(b"ray::cell_task"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers in /proc")
def test_a_worker_killed_during_a_cell_loses_nothing(local_ray, serial, weights, tmp_path):
    out = tmp_path / "sweep"
    killed = []

    def kill_one_worker_mid_cell():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if any(out.glob("cells/*/run/checkpoint/state.json")):    # a cell's first epoch
                for pid in busy_cell_workers():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker_mid_cell, daemon=True)
    killer.start()
    table = ray_sweep(out, weights)
    killer.join()
    assert killed, "no worker was killed"
    assert "failed" not in set(table["status"])
    assert len(list(out.glob("cells/*/cell.json"))) == 4
    assert_identical(serial, cell_results(out))


def toy(*argv):
    from medkeras.experiment.cli import application_main

    return application_main(ToyApplication(), [str(a) for a in argv])


def test_a_cell_that_fails_twice_is_reported_and_the_others_finish(local_ray, weights,
                                                                   tmp_path, capsys):
    out = tmp_path / "sweep"
    broken = out / "cells" / "ft-only-conv10__f1__s1" / "run" / "checkpoint"
    broken.mkdir(parents=True)
    (broken / "state.json").write_text("{not json")            # fails on every try
    assert toy("sweep", "--out", out, "--schemes", "FT:only conv10", "--seeds", "0,1",
               "--epochs", "1", "--batch", "8", "--weights", weights, "--bootstrap", "50",
               "--executor", "ray") == 1
    err = capsys.readouterr().err
    assert "error: 1 cell(s) failed (FT:only conv10 | 1 | 1: JSONDecodeError" in err
    assert (out / "cells" / "ft-only-conv10__f1__s0" / "cell.json").is_file()
    assert (out / "toy" / "report.html").is_file()               # the others evaluated
    import pandas as pd

    table = pd.read_csv(out / "results.csv")
    assert table["status"].tolist()[1] == "failed"
    assert "JSONDecodeError" in table["error"].tolist()[1]
    assert "2/2 cells done, 0 running, 1 failed" in (out / "sweep.log").read_text()


def test_without_ray_the_ray_executor_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)                # `import ray` fails
    assert toy("sweep", "--out", tmp_path / "s", "--executor", "ray") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "pip install medkeras[ray]" in err
    assert len(err.strip().splitlines()) == 1
    assert toy("sweep", "--out", tmp_path / "s", "--gpus-per-cell", "2") == 2
    assert "--gpus-per-cell apply to --executor ray" in capsys.readouterr().err


MIRRORED = textwrap.dedent("""
    import json, pathlib, sys
    sys.path.insert(0, {root!r})
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from tests.test_experiment_sweep import tiny_task
    from tests.test_ray_executor import small_config
    from medkeras.experiment.runner import cell_devices, distribution_scope
    from medkeras.experiment.sweep import build_model, run_sweep
    with distribution_scope():
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
    config = small_config({weights!r})
    config.schemes, config.seeds = ("FT:fire8-conv10",), (0,)
    table = run_sweep(tiny_task(), config, {out!r}, log=None)
    cell = pathlib.Path({out!r}) / "cells" / "ft-fire8-conv10__f1__s0"
    start = build_model("squeezenet", classes=2, weights=config.weights, seed=0)
    with np.load(cell / "run" / "best.npz") as best:
        changed = [key for key in best.files if not np.array_equal(
            best[key], start.get_layer(key.split("/")[0]).get_weights()[int(key.split("/")[1])])]
    history = json.loads((cell / "run" / "result.json").read_text())["history"]
    print(json.dumps({{"devices": cell_devices(), "replicas": replicas, "changed": changed,
                      "losses": [h["loss"] for h in history],
                      "test_auc": float(table["test_auc"][0])}}))
""")


def test_a_cell_given_two_devices_trains_mirrored_over_them(weights, tmp_path):
    """Two logical CPU devices stand in for two GPUs (the same MirroredStrategy path)."""
    script = MIRRORED.format(root=ROOT, weights=weights, out=str(tmp_path / "sweep"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    found = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert found["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    assert found["replicas"] == 2
    assert len(found["losses"]) == 2 and all(np.isfinite(found["losses"]))
    trained = {key.split("/")[0] for key in found["changed"]}
    assert {"fire8_squeeze1x1", "conv10"} <= trained                 # the tuned layers moved
    assert 0 <= found["test_auc"] <= 1
