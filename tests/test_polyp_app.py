"""The polyp application end to end on synthetic frames: candidates, patches, FROC, CLI."""

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from apps.polyp.__main__ import main
from apps.polyp.experiment import (BASELINE, Frame, PolypSplit, candidate_table,
                                   evaluate_polyp, make_task)
from apps.polyp.settings import PolypSettings
from apps.polyp.synthetic import synthetic_frame
from medkeras.evaluation import froc_analysis, froc_curve
from medkeras.experiment.results import SweepResults


def _frame(seed, group):
    from apps.polyp.candidates import polyp_labels
    synthetic = synthetic_frame(seed=seed, polyps=1)
    labels, count = polyp_labels(synthetic.mask)
    return Frame(f"f{seed}", group, synthetic.image, labels, count)


def test_candidate_table_labels_candidates_by_the_polyp_under_their_centre():
    frames = [_frame(seed, "v0") for seed in (1, 2)]
    table = candidate_table(frames, PolypSettings(max_candidates=8), progress=False)
    assert list(table.candidate) == list(range(len(table)))
    for frame in frames:
        rows = table[table.frame == frame.name]
        assert 0 < len(rows) <= 8
        assert (rows.polyp.to_numpy() >= 0).all()
        # label 1 ⇔ the candidate's polyp id is a label of this frame
        assert ((rows.label == 1) == (rows.polyp > 0)).all()
    assert table.label.any()                                   # the planted polyps are hit


def test_make_task_balances_training_and_keeps_all_test_augmentations():
    train = [_frame(seed, f"v{seed // 2}") for seed in range(4)]
    test = [_frame(10, "v9")]
    settings = PolypSettings(max_candidates=6, train_patches=40)
    train_table = candidate_table(train, settings, progress=False)
    test_table = candidate_table(test, settings, progress=False)
    task = make_task(train, train_table, test, test_table, settings)
    assert task.x.shape[1:] == (227, 227, 3)
    assert np.bincount(task.y).tolist() == [20, 20]
    assert len(task.x_test) == 24 * len(test_table)             # 3 scales × 8 orientations
    assert sorted(set(task.test_units)) == test_table.candidate.tolist()
    with pytest.raises(ValueError, match="both sides"):
        make_task(train, train_table, train, train_table, settings)
    with pytest.raises(ValueError, match="max_candidates must be an integer >= 1"):
        PolypSettings(max_candidates=0)


def test_settings_are_validated_and_normalised():
    settings = PolypSettings(scales=[1, 1.5], translation=0, max_candidates=np.int64(5))
    assert settings.scales == (1.0, 1.5) and isinstance(settings.translation, float)
    assert type(settings.max_candidates) is int
    assert PolypSettings(**settings.to_json()) == settings
    for bad, message in [({"scales": ()}, "scales"), ({"scales": (1.0, 0.0)}, "scales"),
                         ({"translation": 1.0}, "translation"),
                         ({"frame_width": 2.5}, "frame_width"), ({"seed": -1}, "seed"),
                         ({"test_translations": "yes"}, "test_translations")]:
        with pytest.raises(ValueError, match=message):
            PolypSettings(**bad)


def test_froc_of_candidates_matches_a_hand_count():
    # Two frames: f0 has 1 polyp hit twice (scores .9, .3) and a false positive (.5);
    # f1 has no polyp and one false positive (.7).
    curve = froc_curve(["f0", "f0", "f0", "f1"], [0.9, 0.3, 0.5, 0.7], [0, 0, -1, -1],
                       {"f0": 1, "f1": 0})
    # thresholds: inf, .9 (TP), .7 (FP), .5 (FP), .3 (already hit → nothing new)
    assert curve.sensitivity[:4].tolist() == [0.0, 1.0, 1.0, 1.0]
    assert curve.fps_per_case[:4].tolist() == [0.0, 0.0, 0.5, 1.0]


def _fake_sweep(directory, cells):
    """A sweep directory with finished cells ``{scheme: (units, scores)}``."""
    (directory / "config.json").write_text(json.dumps({
        "task": "polyp", "sweep": {"backbone": "squeezenet", "scratch_inits": [None]}}))
    for k, (scheme, (units, scores)) in enumerate(cells.items()):
        cell = directory / "cells" / f"cell{k}"
        cell.mkdir(parents=True)
        np.savez(cell / "test_scores.npz", units=units, scores=scores)
        (cell / "cell.json").write_text(json.dumps({"scheme": scheme, "fraction": 1.0,
                                                    "seed": 0}))


def test_evaluate_polyp_froc_of_every_cell_and_pairwise_comparisons(tmp_path):
    rng = np.random.default_rng(0)
    frames = [Frame(f"f{i:02d}", f"v{i // 3}", np.zeros((4, 4, 3), np.uint8),
                    np.zeros((4, 4), np.int64), i % 3) for i in range(18)]
    rows = []
    for frame in frames:
        polyps = [p for p in range(1, frame.polyps + 1) if rng.random() < 0.9]
        for polyp in polyps + [0] * int(rng.integers(1, 4)):
            rows.append((frame.name, frame.group, polyp))
    table = pd.DataFrame(rows, columns=["frame", "group", "polyp"])
    table.insert(2, "candidate", np.arange(len(table)))
    table["label"] = (table.polyp > 0).astype(np.int64)
    table["score"] = table.label + rng.normal(scale=1.0, size=len(table))
    good = table.label + rng.normal(scale=0.3, size=len(table))
    weak = table.label + rng.normal(scale=2.0, size=len(table))
    order = rng.permutation(len(table))                          # saved in any order
    _fake_sweep(tmp_path, {"scratch": (order, good.to_numpy()[order]),
                           "FT:only conv10": (order, weak.to_numpy()[order])})
    evaluation = evaluate_polyp(SweepResults(tmp_path), PolypSplit(frames, table),
                                out=tmp_path / "polyp", n_bootstrap=50)
    froc, comparisons = (t.frame for t in evaluation.tables)
    assert [t.csv for t in evaluation.tables] == ["froc.csv", "froc_comparisons.csv"]
    labels = [BASELINE, "scratch | 1 | 0", "FT:only conv10 | 1 | 0"]
    assert froc.model.tolist() == labels
    lesions = {f.name: f.polyps for f in frames}
    groups = {f.name: f.group for f in frames}
    for label, scores in zip(labels, (table.score, good, weak)):
        expected = froc_analysis(table.frame.to_numpy(), scores.to_numpy(),
                                 table.polyp.to_numpy() - 1, lesions, fps=(0.1, 0.5, 1.0),
                                 groups=groups, n_bootstrap=50)
        row = froc[froc.model == label].iloc[0]
        for fps in (0.1, 0.5, 1.0):
            sens, low, high = expected.sensitivity_at[fps]
            assert row[f"sensitivity at {fps:g} FP per frame"] == pytest.approx(sens)
            assert row[f"sensitivity at {fps:g} FP per frame, 95% CI"] == \
                f"[{low:.3f}, {high:.3f}]"
    # one row per pair of models and FP rate, p-values in [0, 1]
    assert len(comparisons) == 3 * 3
    pairs = set(zip(comparisons["model A"], comparisons["model B"]))
    assert pairs == {(labels[0], labels[1]), (labels[0], labels[2]), (labels[1], labels[2])}
    assert sorted(set(comparisons["false positives per frame"])) == [0.1, 0.5, 1.0]
    assert comparisons["p-value"].between(0, 1).all()
    np.testing.assert_allclose(comparisons["difference (A − B)"],
                               comparisons["sensitivity of A"]
                               - comparisons["sensitivity of B"])
    assert "scratch | 1 | 0" in evaluation.answer and "baseline" in evaluation.answer
    assert pathlib.Path(evaluation.figures[0][1]).read_bytes()[:4] == b"\x89PNG"
    # a sweep run on other candidates is refused
    other = tmp_path / "other"
    other.mkdir()
    _fake_sweep(other, {"scratch": (order[:-1], good.to_numpy()[order[:-1]])})
    with pytest.raises(ValueError, match="other data"):
        evaluate_polyp(SweepResults(other), PolypSplit(frames, table), out=other / "polyp",
                       n_bootstrap=10)


def test_cli_demo_evaluate_export_and_detect_on_images_and_a_video(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--schemes", "scratch", "--epochs", "1",
                 "--batch", "8", "--train-patches", "48", "--max-candidates", "2",
                 "--scratch-learning-rate", "0.003", "--bootstrap", "50"]) == 0
    froc = pd.read_csv(out / "polyp" / "froc.csv")
    assert list(froc.model) == ["baseline (candidate score)", "scratch | 1 | 0"]
    assert froc["sensitivity at 1 FP per frame"].between(0, 1).all()
    comparisons = pd.read_csv(out / "polyp" / "froc_comparisons.csv")
    assert len(comparisons) == 3                                 # one pair × 3 FP rates
    assert comparisons["p-value"].between(0, 1).all()
    assert (out / "polyp" / "figures" / "froc.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "polyp" / "report.html").is_file()
    assert (out / "candidates_test.csv").is_file()
    assert main(["evaluate", str(out), "--bootstrap", "50"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "polyp" / "froc.csv"), froc)

    exported = tmp_path / "model"
    assert main(["export", str(out), "--scheme", "scratch", "--out", str(exported)]) == 0

    from PIL import Image
    images = tmp_path / "images"
    images.mkdir()
    for seed in (3, 4):
        Image.fromarray(synthetic_frame(seed=seed, shape=(240, 320)).image).save(
            images / f"frame{seed}.png")
    found = tmp_path / "found"
    assert main(["detect", str(images), "--model", str(exported), "--out", str(found),
                 "--threshold", "0"]) == 0
    table = pd.read_csv(found / "detections.csv")
    assert set(table.frame) == {"frame3", "frame4"} and table.probability.between(0, 1).all()
    record = json.loads((found / "detections.json").read_text())
    assert len(record["frames"]["frame3"]) == (table.frame == "frame3").sum()   # threshold 0
    assert (found / "pictures" / "frame3.png").is_file()

    import cv2
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 240))
    for seed in range(4):
        writer.write(synthetic_frame(seed=seed, shape=(240, 320)).image[..., ::-1].copy())
    writer.release()
    clip = tmp_path / "clip"
    assert main(["detect", str(video), "--model", str(exported), "--out", str(clip),
                 "--every", "2"]) == 0
    assert sorted(set(pd.read_csv(clip / "detections.csv").frame)) == ["frame000000",
                                                                       "frame000002"]
    capsys.readouterr()
    (tmp_path / "nothing.xyz").write_text("not a picture")
    assert main(["detect", str(tmp_path / "nothing.xyz"), "--model", str(exported),
                 "--out", str(tmp_path / "x")]) == 2
    assert "nothing.xyz: not an image" in capsys.readouterr().err
