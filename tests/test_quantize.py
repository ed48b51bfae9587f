"""int8 export: a TFLite file calibrated on training patches, used by the inference commands."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import medkeras
from apps.polyp.__main__ import main as polyp
from apps.polyp.settings import PolypSettings
from apps.polyp.synthetic import synthetic_frame
from medkeras.experiment.sweep import PatchTask, quantize_cell
from medkeras.quantize import QuantizedModel, quantize_int8


def small_model(seed=2):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((227, 227, 3)), keras.layers.AveragePooling2D(8),
        keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.Conv2D(8, 3, strides=2),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")])


def patches(n, seed=0):
    """Preprocessed crops of synthetic colonoscopy frames, labels by brightness."""
    rng = np.random.default_rng(seed)
    frame = synthetic_frame(seed=seed).image.astype(np.float32)
    tops, lefts = rng.integers(0, 288 - 100, n), rng.integers(0, 352 - 100, n)
    crops = np.stack([np.asarray(Image.fromarray(frame[t:t + 100, l:l + 100].astype(np.uint8))
                                 .resize((227, 227))) for t, l in zip(tops, lefts)])
    labels = (crops.mean(axis=(1, 2, 3)) > np.median(crops.mean(axis=(1, 2, 3)))).astype(int)
    return medkeras.preprocess_input(crops.astype(np.float32)), labels


def test_int8_file_is_integer_and_close_to_float(tmp_path):
    model = small_model()
    x, _ = patches(48)
    path = quantize_int8(model, x[:32], tmp_path / "m.tflite")
    int8 = QuantizedModel(model, path)
    kinds = {d["dtype"] for d in int8.interpreter.get_tensor_details()}
    assert np.int8 in kinds                                   # weights/activations in int8
    expected, got = model.predict(x, verbose=0), int8.predict(x, batch_size=16)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=0.05)       # int8 output: steps of 1/256
    assert np.abs(got - expected).mean() < 0.01
    assert int8.output_shape == model.output_shape                # the rest is the model's
    with pytest.raises(ValueError, match="calibration must be"):
        quantize_int8(model, x[:0], tmp_path / "empty.tflite")


def test_quantize_cell_reports_the_change_on_test_patches(tmp_path):
    x, y = patches(64)
    task = PatchTask("t", x=x[:40], y=y[:40], groups=np.arange(40) % 5, x_test=x[40:],
                     y_test=y[40:])
    report = quantize_cell(small_model(), task, tmp_path / "q.tflite", calibration=20)
    assert report["calibration_patches"] == 20 and report["checked_test_patches"] == 24
    assert abs(report["int8_auc"] - report["float32_auc"]) <= 0.05
    assert report["max_probability_difference"] <= 0.25     # 20 calibration patches only
    assert report["int8_patches_per_s"] > 0 and (tmp_path / "q.tflite").is_file()


def test_detect_uses_an_int8_export_and_scores_like_the_float_one(tmp_path, capsys):
    model = small_model()
    # calibrated on patches like those detect will cut: crops of frames like its input
    x = np.concatenate([patches(16, seed=seed)[0] for seed in range(5)])
    folders = {}
    for kind in ("float", "int8"):
        folder = tmp_path / kind
        folder.mkdir()
        model.save(folder / "model.keras")
        info = {"application": "polyp", "settings": PolypSettings().to_json(),
                "classes": ["background", "polyp"]}
        if kind == "int8":
            quantize_int8(model, x, folder / "model_int8.tflite")
            info["quantized"] = {"format": "int8", "file": "model_int8.tflite"}
        (folder / "info.json").write_text(json.dumps(info))
        folders[kind] = folder
    frame = tmp_path / "frame.png"
    Image.fromarray(synthetic_frame(seed=4).image).save(frame)
    for kind, folder in folders.items():
        assert polyp(["detect", str(frame), "--model", str(folder),
                      "--out", str(tmp_path / f"out-{kind}")]) == 0
    float_table = pd.read_csv(tmp_path / "out-float" / "detections.csv")
    int8_table = pd.read_csv(tmp_path / "out-int8" / "detections.csv")
    assert len(float_table) > 0
    pd.testing.assert_frame_equal(float_table.drop(columns=["probability", "detected"]),
                                  int8_table.drop(columns=["probability", "detected"]))
    np.testing.assert_allclose(int8_table.probability, float_table.probability, atol=0.05)
    (folders["int8"] / "model_int8.tflite").unlink()
    assert polyp(["detect", str(frame), "--model", str(folders["int8"]),
                  "--out", str(tmp_path / "again")]) == 2
    assert "names a quantized model that is not in" in capsys.readouterr().err
