"""The fifth application: your own labelled images, end to end (apps.classify)."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from apps.classify.__main__ import main
from apps.classify.data import held_out_groups, load_images
from apps.classify.settings import ClassifySettings
from medkeras.io.files import DatasetFolderError

CLASSES = ("discs", "plain", "stripes")


def _image(kind, rng, shape=(40, 48)):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    noise = rng.normal(0, 12, shape)
    if kind == "discs":
        cy, cx = rng.integers(12, 28, 2)
        base = np.where((yy - cy) ** 2 + (xx - cx) ** 2 < 80, 220, 60)
    elif kind == "stripes":
        base = 140 + 80 * np.sign(np.sin(xx / rng.uniform(1.5, 2.5)))
    else:
        base = np.full(shape, 130)
    return np.clip(base + noise, 0, 255)


def write_folder(root, *, groups=4, per_group=4, seed=0):
    """Three classes, ``<class>/<group>/<image>``, colour PNG and JPEG, and one 16-bit grey
    PNG; returns the paths written."""
    rng = np.random.default_rng(seed)
    written = []
    for kind in CLASSES:
        for g in range(groups):
            folder = root / kind / f"patient{g}"
            folder.mkdir(parents=True)
            for i in range(per_group):
                grey = _image(kind, rng)
                if kind == "discs" and g == 0 and i == 0:
                    path = folder / "sixteen.png"
                    Image.fromarray((grey * 257).astype(np.uint16)).save(path)
                else:
                    path = folder / f"{i}.{'jpg' if i % 2 else 'png'}"
                    colour = np.stack([grey, grey * 0.9, grey * 0.8], axis=-1)
                    Image.fromarray(colour.astype(np.uint8)).save(path, quality=95)
                written.append(path)
    return written


def test_split_holds_out_whole_groups_of_every_class(tmp_path):
    written = write_folder(tmp_path)
    settings = ClassifySettings(size=32, test_fraction=0.25)
    data = {"folder": str(tmp_path), "format": "auto"}
    train, test = (load_images(data, settings, split, progress=False)
                   for split in ("train", "test"))
    assert len(train.labels) + len(test.labels) == len(written)      # nothing dropped
    assert not set(train.groups) & set(test.groups)
    assert set(test.labels) == set(train.labels) == {0, 1, 2}
    assert train.images.shape[1:] == (32, 32, 3) and train.classes == CLASSES
    sixteen = [n for n in train.names + test.names if n.endswith("sixteen.png")]
    assert sixteen == ["discs/patient0/sixteen.png"]


def test_breakhis_patients_are_never_split(tmp_path):
    rng = np.random.default_rng(0)
    for kind, patients in (("B", ["14-22549AB", "14-21998CD", "14-9133", "14-29960CD"]),
                           ("M", ["14-2523", "14-10926", "14-13412", "14-15696", "15-190EF"])):
        for patient in patients:
            for magnification in ("100", "400"):
                for i in range(3):
                    name = f"SOB_{kind}_XX-{patient}-{magnification}-{i:03d}.png"
                    path = tmp_path / kind / patient / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(rng.integers(0, 255, (12, 16, 3), np.uint8)).save(path)
    for seed in range(5):
        settings = ClassifySettings(size=32, magnification="400X", seed=seed)
        data = {"folder": str(tmp_path), "format": "breakhis"}
        train = load_images(data, settings, "train", progress=False)
        test = load_images(data, settings, "test", progress=False)
        assert not set(train.groups) & set(test.groups)
        assert len(train.labels) + len(test.labels) == 9 * 3        # 400× only
        assert {reason for _, reason in test.left_out} == {"magnification 100, not 400"}
        assert set(test.labels) == {0, 1}


def test_a_class_in_too_few_groups_is_named():
    labels = np.array([0] * 6 + [1] * 4)
    groups = np.array(["a", "b", "c", "d", "e", "f", "g", "g", "h", "h"])
    with pytest.raises(DatasetFolderError, match="'rare' is mostly in 2 patients"):
        held_out_groups(labels, groups, ("common", "rare"), 0.2, 0, what="patients")


def test_sweep_report_export_and_predict_reproduce_the_test_probabilities(tmp_path, capsys):
    data, out, exported = tmp_path / "data", tmp_path / "sweep", tmp_path / "model"
    write_folder(data)
    weights = tmp_path / "start.weights.h5"      # a local starting point for fine-tuning
    from medkeras.models.applications import MobileNetV2
    MobileNetV2(classes=3, weights=None, input_size=32, seed=7).save_weights(str(weights))
    common = ["--data", str(data), "--out", str(out), "--size", "32", "--epochs", "3",
              "--batch", "8", "--bootstrap", "50", "--weights", str(weights)]
    assert main(["sweep", *common, "--schemes", "scratch,FT:only head",
                 "--scratch-learning-rate", "0.01"]) == 0
    report = (out / "classify" / "report.html").read_text()
    assert "macro AUC" in report and "Confusion matrix" in report
    results = pd.read_csv(out / "classify" / "test_results.csv")
    assert list(results.model) == ["scratch | 1 | 0", "FT:only head | 1 | 0"]
    assert {"AUC discs", "AUC plain", "AUC stripes"} <= set(results.columns)
    confusion = pd.read_csv(out / "classify" / "confusion_matrix.csv", index_col=0)
    n_test = int(confusion.to_numpy().sum())
    assert n_test == 12                                   # 1 of 4 patients of each class
    config = json.loads((out / "config.json").read_text())
    assert config["positive_classes"] is None and config["classes"] == 3

    assert main(["export", str(out), "--scheme", "scratch", "--out", str(exported)]) == 0
    assert json.loads((exported / "info.json").read_text())["classes"] == list(CLASSES)
    csv = tmp_path / "probabilities.csv"
    assert main(["predict", str(data), "--model", str(exported), "--out", str(csv)]) == 0
    predicted = pd.read_csv(csv)
    assert len(predicted) == 48
    test = load_images({"folder": str(data), "format": "auto"}, ClassifySettings(size=32),
                       "test", progress=False)
    from medkeras.experiment.results import SweepResults
    scores = SweepResults(out).cell("scratch", 1.0, 0).test()["scores"]
    assert scores.shape == (12, 3)
    assert np.ptp(scores, axis=0).min() > 1e-4      # images differ: the order is checked
    by_path = {os.path.relpath(p, data): row for p, row in
               zip(predicted.path, predicted[[f"p({c})" for c in CLASSES]].to_numpy())}
    np.testing.assert_allclose(np.array([by_path[name] for name in test.names]), scores,
                               atol=1e-5)


def test_user_mistakes_are_one_line_errors(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "only" / "p1").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(data / "only" / "p1" / "a.png")
    assert main(["sweep", "--data", str(data), "--out", str(tmp_path / "o")]) != 0
    assert "at least two are needed" in capsys.readouterr().err
    assert main(["sweep", "--data", str(data), "--out", str(data / "runs")]) != 0
    assert "inside --data" in capsys.readouterr().err and not (data / "runs").exists()
    assert main(["sweep", "--data", str(data), "--out", str(tmp_path / "o"),
                 "--test-fraction", "1.5"]) != 0
    assert "test_fraction must be between 0 and 1" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing"), "--model", str(tmp_path),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert "not an exported classify model" in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["generate", "--out", str(blocker / "he")]) == 2     # an OSError: one line
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "a_file" in err and "Traceback" not in err


def test_study_summary_means_and_intervals_over_seeds():
    from scipy import stats

    from medkeras.experiment.study import study_summary

    def row(backbone, scheme, blocks, seed, auc, status="converged", fraction=1.0):
        return {"backbone": backbone, "scheme": scheme, "blocks tuned": blocks,
                "fraction": fraction, "seed": seed, "AUC": auc, "accuracy": auc - 0.1,
                "minutes": 2.0 * blocks, "status": status, "_test": None}
    rows = [row("vgg16", "FT:block5-head", 2, 0, 0.80), row("vgg16", "FT:block5-head", 2, 1, 0.84),
            row("vgg16", "FT:block5-head", 2, 2, 0.85, status="not converged"),
            row("vgg16", "FT:only head", 1, 0, 0.70), row("vgg16", "FT:only head", 1, 1, 0.74),
            row("vgg16", "FT:only head", 1, 0, 0.10, fraction=0.5),     # not the full data
            row("resnet50", "FT:only head", 1, 0, 0.9), row("resnet50", "FT:only head", 1, 1, 0.9)]
    summary = study_summary(rows)
    assert summary[["backbone", "scheme"]].values.tolist() == [
        ["resnet50", "FT:only head"], ["vgg16", "FT:only head"], ["vgg16", "FT:block5-head"]]
    deep = summary.iloc[2]
    assert deep.AUC == pytest.approx(0.83) and deep.runs == 3
    assert deep.status == "not converged" and deep["minutes per run"] == 4.0
    low, high = stats.t.interval(0.95, 2, loc=0.83, scale=stats.sem([0.80, 0.84, 0.85]))
    assert deep["AUC 95% CI"] == f"[{low:.3f}, {high:.3f}] over seeds"
    assert summary.iloc[1].AUC == pytest.approx(0.72)      # the 0.5 fraction left out
    assert summary.iloc[0]["AUC 95% CI"] == "[0.900, 0.900] over seeds"


@pytest.mark.slow
def test_study_compares_backbones_by_depth_on_one_page(tmp_path):
    """Kandel & Castelli's design: two backbones, two depths each, two seeds."""
    from scipy import stats

    from apps.classify.app import ClassifyApplication
    from medkeras.experiment.app import run_experiment
    from medkeras.experiment.runner import TrainConfig
    from medkeras.experiment.study import write_study
    from medkeras.experiment.sweep import SweepConfig
    from medkeras.models.applications import EfficientNetB0, MobileNetV2

    app = ClassifyApplication()
    settings = app.make_settings(size=32)
    schemes = {"mobilenet_v2": ("FT:only head", "FT:top-head"),
               "efficientnet_b0": ("FT:only head", "FT:top-head")}
    for backbone, model in (("mobilenet_v2", MobileNetV2), ("efficientnet_b0", EfficientNetB0)):
        weights = tmp_path / f"{backbone}.weights.h5"
        model(classes=2, weights=None, input_size=32, seed=3).save_weights(str(weights))
        config = SweepConfig(backbone=backbone, schemes=schemes[backbone], seeds=(0, 1),
                             weights=str(weights),
                             train=TrainConfig(epochs=2, batch_size=16, tensorboard=False))
        run_experiment(app, {"synthetic": "small"}, settings, config,
                       str(tmp_path / backbone), evaluate=False, n_bootstrap=50, log=None)
    page = open(write_study(str(tmp_path), ["mobilenet_v2", "efficientnet_b0"])).read()
    assert "Best depth per backbone" in page and "auc_by_depth.png" in page
    summary = pd.read_csv(tmp_path / "study.csv")
    runs = pd.read_csv(tmp_path / "study_runs.csv")
    assert len(runs) == 8 and len(summary) == 4
    assert summary.set_index(["backbone", "scheme"])["blocks tuned"].to_dict() == {
        ("efficientnet_b0", "FT:only head"): 1, ("efficientnet_b0", "FT:top-head"): 2,
        ("mobilenet_v2", "FT:only head"): 1, ("mobilenet_v2", "FT:top-head"): 2}
    cells = runs[(runs.backbone == "mobilenet_v2") & (runs.scheme == "FT:top-head")]
    row = summary[(summary.backbone == "mobilenet_v2") & (summary.scheme == "FT:top-head")]
    assert row.AUC.item() == pytest.approx(cells.AUC.mean())
    half = stats.t.ppf(0.975, 1) * cells.AUC.std(ddof=1) / np.sqrt(2)
    assert row["AUC 95% CI"].item() == \
        f"[{cells.AUC.mean() - half:.3f}, {cells.AUC.mean() + half:.3f}] over seeds"
    from medkeras.experiment.results import SweepResults
    cell = SweepResults(tmp_path / "mobilenet_v2").cell("FT:top-head", 1.0, 1)
    test = cell.test()
    accuracy = ((test["scores"] >= 0.5) == test["labels"].astype(bool)).mean()
    assert cells[cells.seed == 1].accuracy.item() == pytest.approx(accuracy)


def test_study_refuses_unknown_backbones(tmp_path, capsys):
    assert main(["study", "--synthetic", "small", "--out", str(tmp_path),
                 "--backbones", "mobilenet_v2,resnet5"]) != 0
    assert "Received: mobilenet_v2,resnet5" in capsys.readouterr().err


def test_patch_camelyon_offline_fails_fast_naming_what_to_do(tmp_path, monkeypatch):
    import time

    from apps.classify import data as classify_data

    monkeypatch.setattr(classify_data, "PCAM_HOST", ("127.0.0.1", 9))   # nothing listens
    start = time.perf_counter()
    with pytest.raises(OSError, match="patch_camelyon is not prepared in .* cannot be "
                                      "reached.*download_and_prepare"):
        load_images({"folder": str(tmp_path), "format": "patch_camelyon"},
                    ClassifySettings(size=32, max_images=100), "train", progress=False)
    assert time.perf_counter() - start < 10
