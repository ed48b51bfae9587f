"""Sweeps: end to end with a report, killed and resumed without loss, automatic depth."""

import json

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
    kw.setdefault("range_test_steps", 10)       # scratch's rate: a (short) range test
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
    assert "the best scheme is" in text and "Every run" in text
    assert json.loads((out / "environment.json").read_text())["keras"]


@pytest.mark.slow
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


def test_a_run_stopped_by_the_cap_is_not_converged_and_extend_continues_it_exactly(tmp_path):
    from medkeras.experiment.results import SweepResults

    def config(epochs, patience=5):
        c = sweep_config(tmp_path, schemes=("scratch", "FT:only conv10"))
        c.train = TrainConfig(epochs=epochs, batch_size=4, patience=patience,
                              tensorboard=False)
        return c

    task = tiny_task(count=16)      # small batches and few patches: a quick range test
    short = tmp_path / "short"
    table = run_sweep(task, config(1), str(short), log=None)
    assert table["status"].tolist() == ["not converged"] * 2
    assert [c.status for c in SweepResults(short).cells] == ["not converged"] * 2
    record = json.loads((short / "cells" / "scratch__f1__s0" / "cell.json").read_text())
    chosen = json.loads((short / "cells" / "scratch__f1__s0" / "range_test.json").read_text())[
        "chosen"]
    assert record["learning_rate"] == (chosen or medkeras.SqueezeNet.scratch_learning_rate)
    assert "range test" in record["learning_rate_source"]
    report = open(write_report(str(short), n_bootstrap=50)).read()
    assert "not converged" in report and "Inconclusive" in report
    with pytest.raises(ValueError, match="larger cap"):
        run_sweep(task, config(1), str(short), log=None, extend=True)
    # Extended to 3 epochs, the runs equal runs that had a cap of 3 from the start.
    run_sweep(task, config(3), str(short), log=None, extend=True)
    straight = tmp_path / "straight"
    run_sweep(task, config(3), str(straight), log=None)
    for cell in ("scratch__f1__s0", "ft-only-conv10__f1__s0"):
        extended, direct = (json.loads((d / "cells" / cell / "cell.json").read_text())
                            for d in (short, straight))
        assert extended["epochs_run"] == direct["epochs_run"] == 3
        for name in ("test_scores.npz", "run/best.npz"):
            with np.load(short / "cells" / cell / name) as a, \
                    np.load(straight / "cells" / cell / name) as b:
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key])


def test_an_iteration_cap_gives_cells_with_less_data_more_epochs(tmp_path):
    from medkeras.experiment.results import SweepResults

    config = sweep_config(tmp_path, schemes=("FT:only conv10",), fractions=(1.0, 0.5))
    config.train = TrainConfig(epochs=50, max_iterations=6, batch_size=8, patience=50,
                               tensorboard=False)
    run_sweep(tiny_task(), config, str(tmp_path / "s"), log=None)
    caps = {}
    for cell in SweepResults(tmp_path / "s").cells:
        steps = -(-cell.record["n_train"] // 8)
        history = cell.history()
        # Whole epochs up to the first that reaches 6 iterations, never an epoch more.
        assert history[-1]["iterations"] >= 6 > history[-1]["iterations"] - steps
        assert cell.record["epochs_cap"] == cell.record["epochs_run"] == -(-6 // steps)
        assert cell.status == "not converged"
        caps[cell.fraction] = cell.record["epochs_cap"]
    assert caps[0.5] > caps[1.0]


DEPTH_AUCS = {"FT:only conv10": (0.70, [0.60, 0.80]), "FT:fire9-conv10": (0.85, [0.78, 0.92]),
              "FT:fire8-conv10": (0.90, [0.84, 0.96]), "FT:fire7-conv10": (0.99, [0.98, 1.0])}


def fake_depth_cells(monkeypatch):
    """Cells of automatic depth with the validation AUCs of ``DEPTH_AUCS``, not trained;
    returns the list of schemes tried."""
    tried = []

    def fake_cell(task, config, scheme, fraction, seed, cell_dir, **kw):
        tried.append(scheme)
        auc, ci = DEPTH_AUCS[scheme]
        return {"scheme": scheme, "val_auc": auc, "val_auc_ci": ci, "test_auc": auc}

    monkeypatch.setattr(autodepth, "run_cell", fake_cell)
    return tried


def test_auto_depth_stops_when_the_gain_is_inside_the_interval(tmp_path, monkeypatch):
    tried = fake_depth_cells(monkeypatch)
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
    config = sweep_config(tmp_path, schemes=("scratch",), scratch_inits=("gaussian", "he"),
                          scratch_learning_rate=0.001)   # the initialisations, not the rate
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


def test_where_each_cell_gets_its_learning_rate(tmp_path):
    from medkeras.experiment.sweep import cell_learning_rate

    task = tiny_task()
    model = medkeras.SqueezeNet(classes=2, seed=0)
    config = sweep_config(tmp_path)
    assert cell_learning_rate(config, model, "FT:only conv10", task.x, task.y, tmp_path / "a",
                              seed=0) == (1e-4, "the backbone's default")
    config.train = TrainConfig(learning_rate=0.003)
    config.scratch_learning_rate = 0.01
    assert cell_learning_rate(config, model, "FT:only conv10", task.x, task.y, tmp_path / "b",
                              seed=0) == (0.003, "set by the user")
    assert cell_learning_rate(config, model, "scratch", task.x, task.y, tmp_path / "c",
                              seed=0) == (0.01, "set by the user")
    config.train = TrainConfig(learning_rate="auto", batch_size=8)
    rate, source = cell_learning_rate(config, model, "FT:only conv10", task.x, task.y,
                                      tmp_path / "d", seed=0)
    chosen = json.loads((tmp_path / "d" / "range_test.json").read_text())["chosen"]
    if chosen is None:     # ten steps on 24 patches may leave the loss flat: the fallback
        assert (rate, source) == (1e-4, "the backbone's default: the learning-rate range "
                                        "test's loss never fell")
    else:
        assert source == "learning-rate range test" and rate == chosen and 0 < rate <= 1


def test_a_flat_range_test_falls_back_to_the_backbones_documented_rate(tmp_path):
    from medkeras.experiment.lrfinder import loss_fell
    from medkeras.experiment.sweep import cell_learning_rate

    task = tiny_task()
    model = medkeras.SqueezeNet(classes=2, seed=0)
    flat = [np.log(3)] * 60 + [np.log(3) - 0.002] * 40      # CIMT from scratch, measured
    assert not loss_fell(flat)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "range_test.json").write_text(json.dumps({"chosen": None,
                                                                "smoothed": flat}))
    rate, source = cell_learning_rate(sweep_config(tmp_path), model, "scratch", task.x,
                                      task.y, tmp_path / "c", seed=0)
    assert rate == medkeras.SqueezeNet.scratch_learning_rate
    assert "never fell" in source
