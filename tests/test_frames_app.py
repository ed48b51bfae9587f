"""The frame-quality application: crops, frame-level averaging, ROC, video scoring, CLI."""

import json
import pathlib

import keras
import numpy as np
import pandas as pd
import pytest

import medkeras
from apps.frames.__main__ import main
from apps.frames.experiment import (Frame, HeldOutFrames, crop_offsets, evaluate_frames,
                                    frame_crops, make_task, resize_frame)
from apps.frames.settings import CROP, FrameSettings
from medkeras.experiment.results import SweepResults


def _frames(n, *, group_size=2, seed=0, prefix="f"):
    rng = np.random.default_rng(seed)
    return [Frame(f"{prefix}{i:02d}", f"{prefix}video{i // group_size}",
                  rng.integers(0, 256, (350, 500, 3), dtype=np.uint8), i % 2,
                  "" if i % 2 else "motion_blur") for i in range(n)]


def test_crops_lie_inside_the_frame_and_are_the_frames_pixels():
    settings = FrameSettings()
    offsets = crop_offsets(5000, settings, seed=3)
    assert offsets.min() == 0 and offsets.dtype.kind == "i"
    assert offsets[:, 0].max() == 350 - CROP and offsets[:, 1].max() == 500 - CROP
    image = np.random.default_rng(0).integers(0, 256, (350, 500, 3), dtype=np.uint8)
    some = offsets[:3]
    crops = frame_crops(image, some)
    assert crops.shape == (3, CROP, CROP, 3)
    y, x = some[1]
    expected = medkeras.preprocess_input(image[y:y + CROP, x:x + CROP][None].astype(np.float32))
    np.testing.assert_allclose(crops[1], np.asarray(expected)[0])
    assert resize_frame(np.zeros((700, 1000, 3), np.uint8), settings).shape == (350, 500, 3)
    with pytest.raises(ValueError, match="width must be an integer >= 227"):
        FrameSettings(width=200)


def test_make_task_balances_crops_keeps_videos_apart_and_units_are_frames():
    train, test = _frames(8), _frames(3, prefix="t")
    settings = FrameSettings(train_crops=10, test_crops=4, train_patches=30)
    task = make_task(train, test, settings)
    assert np.bincount(task.y).tolist() == [15, 15]
    assert task.x.shape == (30, CROP, CROP, 3)
    assert len(task.x_test) == 12 and task.test_units.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert task.y_test.tolist() == [0] * 4 + [1] * 4 + [0] * 4
    assert set(task.test_groups) == {"tvideo0", "tvideo1"}
    # every training crop carries its frame's label: informative frames are odd-numbered
    first = task.x_test[5]
    offsets = crop_offsets(4, settings, [settings.seed, 1, 1])
    np.testing.assert_allclose(first, frame_crops(test[1].image, offsets)[1])
    with pytest.raises(ValueError, match="both sides"):
        make_task(train, train, settings)


def test_evaluate_sweep_averages_crops_per_frame_and_matches_sklearn(tmp_path):
    from sklearn.metrics import roc_auc_score

    from medkeras.experiment.sweep import unit_scores

    test = _frames(12, prefix="t")
    labels = np.array([f.label for f in test])
    rng = np.random.default_rng(1)
    units = np.repeat(np.arange(12), 3)
    probabilities = rng.uniform(size=(36, 1))
    probabilities = np.hstack([1 - probabilities, probabilities])
    units_out, frame_scores = unit_scores(probabilities, units, (1,))
    np.testing.assert_allclose(frame_scores, probabilities[:, 1].reshape(12, 3).mean(axis=1))
    (tmp_path / "config.json").write_text(json.dumps({
        "task": "frames", "sweep": {"backbone": "squeezenet", "scratch_inits": [None]}}))
    cell = tmp_path / "cells" / "scratch"
    cell.mkdir(parents=True)
    np.savez(cell / "test_scores.npz", units=units_out, scores=frame_scores)
    (cell / "cell.json").write_text(json.dumps({"scheme": "scratch", "fraction": 1.0,
                                                "seed": 0}))
    baseline = labels + rng.normal(scale=0.8, size=12)
    evaluation = evaluate_frames(SweepResults(tmp_path), HeldOutFrames(test, baseline),
                                 out=tmp_path / "frames", n_bootstrap=50)
    table, by_kind = (t.frame for t in evaluation.tables)
    assert table.model.tolist() == ["baseline (handcrafted features)", "scratch | 1 | 0"]
    np.testing.assert_allclose(table.AUC, [roc_auc_score(labels, baseline),
                                           roc_auc_score(labels, frame_scores)])
    assert list(by_kind.columns) == ["model", "motion_blur"]
    assert "scratch | 1 | 0" in evaluation.answer
    assert pathlib.Path(evaluation.figures[0][1]).read_bytes()[:4] == b"\x89PNG"


def _brightness_model(folder):
    """An 'exported frames model' whose informativeness is the crop's mean brightness."""
    inputs = keras.Input((CROP, CROP, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    logit = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(0.05 / 3),
                               bias_initializer=keras.initializers.Constant(0.0))(mean)
    both = keras.layers.Concatenate()([-logit, logit])
    model = keras.Model(inputs, keras.layers.Softmax()(both))
    folder.mkdir()
    model.save(folder / "model.keras")
    settings = FrameSettings(test_crops=3).to_json()
    (folder / "info.json").write_text(json.dumps({"application": "frames",
                                                  "settings": settings}))


def _video(path, brightness, size=(320, 240)):
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for value in brightness:
        writer.write(np.full((size[1], size[0], 3), value, np.uint8))
    writer.release()


def test_score_streams_a_video_resumes_and_plots(tmp_path, capsys):
    model = tmp_path / "model"
    _brightness_model(model)
    video = tmp_path / "clip.avi"
    # preprocess_input subtracts the ImageNet mean (~115): bright frames → informative
    brightness = [230, 20, 230, 20, 230, 230, 20]
    _video(video, brightness)
    out = tmp_path / "scored"
    assert main(["score", str(video), "--model", str(model), "--out", str(out)]) == 0
    table = pd.read_csv(out / "informativeness.csv")
    assert table.frame.tolist() == list(range(7))
    assert table.informative.tolist() == [b > 128 for b in brightness]
    np.testing.assert_allclose(table.time_s, np.arange(7) / 10)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quality_score"] == pytest.approx(4 / 7)
    assert (out / "informativeness.png").read_bytes()[:4] == b"\x89PNG"

    # an interrupted run: keep the first 3 rows; the re-run scores only the rest
    table.iloc[:3].to_csv(out / "informativeness.csv", index=False)
    assert main(["score", str(video), "--model", str(model), "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "informativeness.csv"), table)

    capsys.readouterr()
    assert main(["score", str(video), "--model", str(model), "--out", str(out),
                 "--every", "2"]) == 2
    assert "another video, model or options" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "clip.txt"), "--model", str(model),
                 "--out", str(tmp_path / "x")]) == 2
    assert "not a video file" in capsys.readouterr().err


def test_cli_demo_evaluate_export_and_score(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--schemes", "scratch", "--epochs", "1",
                 "--batch", "8", "--train-patches", "48", "--train-crops", "4",
                 "--test-crops", "2", "--scratch-learning-rate", "0.003", "--bootstrap", "50"]) == 0
    roc = pd.read_csv(out / "frames" / "roc.csv")
    assert roc.model.tolist() == ["baseline (handcrafted features)", "scratch | 1 | 0"]
    assert roc.AUC.between(0, 1).all()
    assert (out / "frames" / "report.html").is_file()
    assert main(["evaluate", str(out), "--bootstrap", "50"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "frames" / "roc.csv"), roc)
    exported = tmp_path / "model"
    assert main(["export", str(out), "--scheme", "scratch", "--out", str(exported)]) == 0
    video = tmp_path / "clip.avi"
    _video(video, [120, 60, 200])
    assert main(["score", str(video), "--model", str(exported), "--out",
                 str(tmp_path / "scored")]) == 0
    scores = pd.read_csv(tmp_path / "scored" / "informativeness.csv")
    assert len(scores) == 3 and scores.informativeness.between(0, 1).all()
    # int8: calibrated on the sweep's training crops, checked on its test crops, used by score
    int8 = tmp_path / "model-int8"
    assert main(["export", str(out), "--scheme", "scratch", "--out", str(int8),
                 "--quantize", "int8", "--calibration", "32"]) == 0
    check = json.loads((int8 / "info.json").read_text())["quantized"]
    assert check["calibration_patches"] == 32 and (int8 / check["file"]).is_file()
    assert 0 <= check["int8_auc"] <= 1 and check["max_probability_difference"] < 0.05
    printed = capsys.readouterr()
    assert f"AUC {check['int8_auc']:.4f} (float32 {check['float32_auc']:.4f})" in printed.out
    # this 2-epoch model's scores differ by less than int8's error: the export says so
    if abs(check["int8_auc"] - check["float32_auc"]) > 0.01:
        assert "int8 changes the test AUC" in printed.err
    assert main(["score", str(video), "--model", str(int8), "--out",
                 str(tmp_path / "scored8")]) == 0
    scores8 = pd.read_csv(tmp_path / "scored8" / "informativeness.csv")
    np.testing.assert_allclose(scores8.informativeness, scores.informativeness, atol=0.05)
