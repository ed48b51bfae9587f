"""Exact seeds: a run's numbers follow from its seed alone, as a user meets them.

Two fresh processes with different histories, and a sweep SIGKILLed at three points and
resumed, must give bit-identical weights and test scores.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.sweep_outputs import assert_identical, cell_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SWEEP = textwrap.dedent("""
    import pathlib, sys
    sys.path.insert(0, {root!r})
    import keras, numpy as np
    # A different history in every process: the global generators are left elsewhere.
    keras.utils.set_random_seed({history})
    keras.layers.Dropout(0.5)
    np.random.default_rng({history}).normal(size={history})
    from tests.test_experiment_sweep import tiny_task, sweep_config
    from medkeras.experiment.runner import TrainConfig
    from medkeras.experiment.sweep import run_sweep
    config = sweep_config(pathlib.Path({tmp!r}), schemes=("scratch", "FT:only conv10"),
                          seeds=(3,))
    config.train = TrainConfig(epochs=2, batch_size=4, tensorboard=False)  # several batches
    run_sweep(tiny_task(count=16), config, {out!r}, log=None)
""")


def _start(tmp_path, out, history):
    script = SWEEP.format(root=ROOT, tmp=str(tmp_path), out=str(out), history=history)
    return subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _run(tmp_path, out, history):
    process = _start(tmp_path, out, history)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()[-3000:]


def _kill_when(process, ready, deadline_s=300):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and process.poll() is None:
        if ready():
            break
        time.sleep(0.05)
    assert process.poll() is None, "the sweep ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted sweep's numbers, from a fresh process."""
    tmp_path = tmp_path_factory.mktemp("reference")
    _run(tmp_path, tmp_path / "sweep", history=1)
    found = cell_results(tmp_path / "sweep")
    assert len(found) > 8  # two cells: test scores, labels, groups and trained weights
    return tmp_path, found


def test_two_fresh_processes_with_one_seed_give_identical_weights_and_scores(reference):
    tmp_path, expected = reference
    _run(tmp_path, tmp_path / "again", history=2)   # another process, another history
    assert_identical(expected, cell_results(tmp_path / "again"))


def _epochs_done(out, n):
    def ready():
        states = list(out.glob("cells/*/run/checkpoint/state.json"))
        try:
            return bool(states) and json.loads(states[0].read_text())["epoch"] + 1 >= n
        except (OSError, ValueError):     # being replaced right now
            return False
    return ready


def _cells_done(out, n):
    return lambda: len(list(out.glob("cells/*/cell.json"))) >= n


@pytest.mark.parametrize("where", [
    "after one epoch",
    pytest.param("after two epochs", marks=pytest.mark.slow),
    pytest.param("after the first cell", marks=pytest.mark.slow)])
def test_a_sweep_killed_and_resumed_equals_the_uninterrupted_one(reference, where):
    tmp_path, expected = reference
    ready = {"after one epoch": lambda out: _epochs_done(out, 1),
             "after two epochs": lambda out: _epochs_done(out, 2),
             "after the first cell": lambda out: _cells_done(out, 1)}[where]
    out = tmp_path / where.replace(" ", "-")
    _kill_when(_start(tmp_path, out, history=10), ready(out))
    assert len(list(out.glob("cells/*/cell.json"))) < 2
    _run(tmp_path, out, history=20)                  # resume in a fresh process
    assert_identical(expected, cell_results(out))
