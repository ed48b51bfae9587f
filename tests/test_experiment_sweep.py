"""Sweeps: end to end with a report, killed and resumed without loss, automatic depth."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import medkeras
from medkeras.experiment import autodepth
from medkeras.experiment.report import write_report
from medkeras.experiment.runner import TrainConfig, load_best_weights
from medkeras.experiment.sweep import PatchTask, SweepConfig, run_sweep
from tests import caffe_nets


def tiny_task(count=24, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(count) % 2
    x = rng.normal(0, 20, (count, 227, 227, 3)).astype(np.float32) + 10 * y[:, None, None, None]
    y_test = np.arange(12) // 2 % 2
    x_test = rng.normal(0, 20, (12, 227, 227, 3)).astype(np.float32) + 10 * y_test[:, None, None, None]
    # Test patches come in pairs from one candidate ("unit"); units in patients of two.
    return PatchTask("tiny", x, y, np.arange(count) // 2, x_test, y_test,
                     test_units=np.arange(12) // 2, test_groups=np.arange(12) // 4)


def pretrained_file(tmp_path):
    """A random-weight SqueezeNet .caffemodel standing in for ImageNet weights."""
    return str(caffe_nets.write_random(tmp_path / "pretrained.caffemodel",
                                       caffe_nets.random_squeezenet_layers(np.random.default_rng(0)),
                                       "V2"))


def sweep_config(tmp_path, **kw):
    return SweepConfig(backbone="squeezenet", weights=pretrained_file(tmp_path),
                       train=TrainConfig(epochs=1, batch_size=8, tensorboard=False), **kw)


def test_sweep_end_to_end_with_report(tmp_path):
    config = sweep_config(tmp_path, schemes=("scratch", "FT:only conv10", "FT:fire8-conv10"))
    out = tmp_path / "sweep"
    table = run_sweep(tiny_task(), config, str(out), log=None)
    assert list(table["scheme"]) == ["scratch", "FT:only conv10", "FT:fire8-conv10"]
    assert table["test_auc"].between(0, 1).all() and table["val_auc"].between(0, 1).all()
    assert list(table["cached"]) == [False, True, True]
    assert (table["n_test_units"] == 6).all()  # patch scores averaged per candidate
    report = write_report(str(out), n_bootstrap=200)
    text = open(report).read()
    for figure in ("roc.png", "convergence.png"):
        assert f"figures/{figure}" in text
        assert (out / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["scheme"]) == ["scratch", "FT:only conv10", "FT:fire8-conv10"]
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert len(comparisons) == 3 * 3  # three pairs at three FPRs
    assert "Best scheme" in text
    assert json.loads((out / "environment.json").read_text())["keras"]


def test_sweep_refuses_a_directory_of_another_sweep(tmp_path):
    run_sweep(tiny_task(), sweep_config(tmp_path, schemes=("scratch",)), str(tmp_path / "s"),
              log=None)
    other_recipe = sweep_config(tmp_path, schemes=("scratch",))
    other_recipe.train = TrainConfig(epochs=1, batch_size=4, tensorboard=False)
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(tiny_task(), other_recipe, str(tmp_path / "s"), log=None)
    # Another seed is another cell of the same sweep: added, not refused.
    table = run_sweep(tiny_task(), sweep_config(tmp_path, schemes=("scratch",), seeds=(1,)),
                      str(tmp_path / "s"), log=None)
    assert table["seed"].tolist() == [1]
    assert len(list((tmp_path / "s" / "cells").iterdir())) == 2


SWEEP_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.test_experiment_sweep import tiny_task, sweep_config
    import pathlib
    from medkeras.experiment.sweep import run_sweep
    run_sweep(tiny_task(), sweep_config(pathlib.Path({tmp!r}), schemes=("scratch", "FT:only conv10"),
              fractions=(1.0, 0.5)), {out!r}, log=None)
""")


def test_killed_sweep_resumes_only_what_is_missing(tmp_path):
    out = tmp_path / "sweep"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = SWEEP_SCRIPT.format(root=root, tmp=str(tmp_path), out=str(out))
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if len(list(out.glob("cells/*/cell.json"))) >= 1:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the sweep ended before it could be killed"
    time.sleep(1.0)  # let the next cell get under way
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("cells/*/cell.json")}
    assert 1 <= len(finished) < 4
    for path in out.rglob("*.json"):
        json.loads(path.read_text())  # nothing half-written
    assert not list(out.rglob("*.partial*")) or all(p.name.startswith("checkpoint")
                                                     for p in out.rglob("*.partial*"))
    table = run_sweep(tiny_task(), sweep_config(tmp_path, schemes=("scratch", "FT:only conv10"),
                                                fractions=(1.0, 0.5)), str(out), log=None)
    assert len(table) == 4 and table["test_auc"].notna().all()
    for name, mtime in finished.items():  # finished cells were not run again
        assert (out / "cells" / name / "cell.json").stat().st_mtime_ns == mtime


def test_auto_depth_stops_when_the_gain_is_inside_the_interval(tmp_path, monkeypatch):
    aucs = {"FT:only conv10": (0.70, [0.60, 0.80]), "FT:fire9-conv10": (0.85, [0.78, 0.92]),
            "FT:fire8-conv10": (0.90, [0.84, 0.96]), "FT:fire7-conv10": (0.99, [0.98, 1.0])}
    tried = []

    def fake_cell(task, config, scheme, fraction, seed, cell_dir, **kw):
        tried.append(scheme)
        auc, ci = aucs[scheme]
        return {"scheme": scheme, "val_auc": auc, "val_auc_ci": ci, "test_auc": auc}

    monkeypatch.setattr(autodepth, "run_cell", fake_cell)
    result = autodepth.choose_depth(tiny_task(), sweep_config(tmp_path), str(tmp_path / "a"),
                                    log=None)
    # 0.85 > 0.80 (upper bound for conv10): deeper; 0.90 < 0.92: stop at fire9.
    assert result["chosen"] == "FT:fire9-conv10"
    assert tried == ["FT:only conv10", "FT:fire9-conv10", "FT:fire8-conv10"]
    assert "FT:fire8-conv10" in result["reason"]
    assert json.loads((tmp_path / "a" / "auto_depth.json").read_text())["chosen"] == result["chosen"]
    assert (tmp_path / "a" / "figures" / "auto_depth.png").stat().st_size > 1000


def test_scratch_initialisations_are_separate_cells(tmp_path):
    """The paper's Fig. 10: scratch with Gaussian, Xavier and MSRA initialisation."""
    config = sweep_config(tmp_path, schemes=("scratch",), scratch_inits=("gaussian", "he"))
    table = run_sweep(tiny_task(), config, str(tmp_path / "s"), log=None)
    assert list(table["scheme"]) == ["scratch (gaussian)", "scratch (msra)"]
    kernels = []
    for label in ("scratch-gaussian", "scratch-msra"):
        model = medkeras.SqueezeNet(classes=2)
        load_best_weights(model, str(tmp_path / "s" / "cells" / f"{label}__f1__s0" / "run"))
        kernels.append(model.get_layer("conv1").get_weights()[0])
    # Gaussian std 0.01 vs MSRA std sqrt(2/27) ≈ 0.27: different starting points.
    assert kernels[0].std() < 0.05 < kernels[1].std()
    report = open(write_report(str(tmp_path / "s"), n_bootstrap=100)).read()
    assert "scratch (gaussian)" in report and "scratch (msra)" in report
    with pytest.raises(ValueError, match="init"):
        SweepConfig(scratch_inits=("uniformish",))


def test_cells_of_a_seed_share_validation_and_nest_their_training_groups():
    from medkeras.experiment.sweep import split_cell

    groups = np.repeat(np.arange(20), 3)
    splits = {f: split_cell(groups, f, 4) for f in (1.0, 0.5, 0.25, 0.01)}
    validation = set(groups[splits[1.0][1]])
    assert len(validation) == 4                                    # 20% of the patients
    previous = None
    for fraction, (train, val) in splits.items():
        assert set(groups[val]) == validation                      # same for every fraction
        assert not set(groups[train]) & validation                 # never on both sides
        assert len(set(groups[train])) == max(round(16 * fraction), 1)
        if previous is not None:
            assert set(groups[train]) <= previous                  # nested
        previous = set(groups[train])
    assert len(set(groups[splits[0.01][0]])) == 1                  # a single patient trains
    assert set(groups[split_cell(groups, 1.0, 5)[1]]) != validation  # seeds differ
