"""The command line: demo sweep end to end, report, conversion, errors without tracebacks."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd

import medkeras
from medkeras.__main__ import main
from medkeras.demo import DemoConfig, blob_patches, run_demo
from tests import caffe_nets


def test_demo_end_to_end_offline(tmp_path, monkeypatch):
    """Offline: scratch trains and is reported; fine-tuning rows say why they are missing."""
    import functools

    from medkeras.experiment import sweep

    # The shortest learning-rate range test (10 steps, not the default 100): quick.
    monkeypatch.setattr(sweep, "SweepConfig",
                        functools.partial(sweep.SweepConfig, range_test_steps=10))
    out = tmp_path / "demo"
    table = run_demo(DemoConfig(out=str(out), patches=24, epochs=1, batch=8), log=None)
    assert list(table["scheme"]) == ["scratch", "FT:only conv10", "FT:fire9-conv10",
                                     "FT:conv1-conv10"]
    saved = pd.read_csv(out / "results.csv")
    assert 0.0 <= saved.loc[0, "test_auc"] <= 1.0
    assert saved["note"].iloc[1:].str.startswith("skipped").all()
    sweep_record = json.loads((out / "config.json").read_text())["sweep"]
    assert sweep_record["backbone"] == "squeezenet" and sweep_record["range_test_steps"] == 10
    assert (out / "cells" / "scratch__f1__s0" / "range_test.json").is_file()   # scratch's rate
    report = (out / "report.html").read_text()
    assert "scratch" in report and "figures/roc.png" in report
    assert "Not run:</b> FT:only conv10, FT:fire9-conv10, FT:conv1-conv10" in report
    assert "MEDKERAS_SQUEEZENET_CAFFEMODEL" in report  # how to provide the weights
    assert (out / "figures" / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The report is rebuilt from disk alone.
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.html").exists()


def test_demo_fine_tunes_with_local_imagenet_weights(shared, tmp_path, monkeypatch):
    weights = shared / "weights" / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
    monkeypatch.setenv("MEDKERAS_SQUEEZENET_CAFFEMODEL", str(weights))
    table = run_demo(DemoConfig(out=str(tmp_path), patches=24, epochs=1, batch=8,
                                schemes=("FT:only conv10",)), log=None)
    assert np.isfinite(table.loc[0, "test_auc"]) and table.loc[0, "cached"]


def test_blob_patches_have_no_brightness_shortcut():
    images, labels = blob_patches(40, np.random.default_rng(0))
    assert sorted(np.bincount(labels)) == [20, 20]
    means = images.mean(axis=(1, 2, 3))
    # Mean brightness differs by far less than the texture's spread between patches.
    assert abs(means[labels == 1].mean() - means[labels == 0].mean()) < means.std()


def test_convert_command(tmp_path, capsys):
    caffemodel = caffe_nets.write_random(
        tmp_path / "s.caffemodel",
        caffe_nets.random_squeezenet_layers(np.random.default_rng(0), classes=3), "V1")
    output = tmp_path / "s.weights.h5"
    assert main(["convert", str(caffemodel), str(output), "--model", "squeezenet"]) == 0
    assert "3 classes" in capsys.readouterr().out
    model = medkeras.SqueezeNet(classes=3, weights=str(output))
    reference = medkeras.SqueezeNet(classes=3, weights=str(caffemodel))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert main(["convert", str(caffemodel), str(output), "--model", "squeezenet"]) != 0


def test_user_mistakes_give_messages_not_tracebacks(tmp_path):
    broken = tmp_path / "broken.caffemodel"
    broken.write_bytes(b"\x0a\xff\xff\xff")
    result = subprocess.run([sys.executable, "-m", "medkeras", "convert", str(broken),
                             str(tmp_path / "x.weights.h5")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "error:" in result.stderr and "broken.caffemodel" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "medkeras", "report", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "not a sweep directory" in result.stderr
