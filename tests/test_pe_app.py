"""The PE application end to end on synthetic tube volumes: dataset, FROC levels, CLI."""

import json
import pathlib

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import apps.pe.dataset  # noqa: F401  (registers the ctpa_candidates builder)
from apps.pe.__main__ import main
from apps.pe.experiment import (VolumeCandidates, candidate_table, evaluate_pe, upsample_patches,
                                volume_froc)
from apps.pe.settings import PESettings
from apps.pe.synthetic import generate_tubes
from medkeras import datasets
from medkeras.datasets import DatasetFolderError
from medkeras.experiment.results import SweepResults


def _volume(name, labels, embolus, scores, emboli, group=None):
    n = len(labels)
    return VolumeCandidates(name, group or name, np.zeros((n, 54, 64, 64, 2), np.uint8),
                            np.array(labels), np.array(embolus), np.array(scores, float),
                            np.zeros((n, 3)), emboli)


@pytest.mark.filterwarnings("ignore:.*bootstrap resamples")
def test_froc_embolus_and_candidate_levels_match_a_hand_count():
    # v0: embolus 1 hit by two candidates (.9, .4), a false positive (.6), embolus 2 missed;
    # v1: no embolus, one false positive (.8).
    volumes = [_volume("v0", [1, 0, 1], [1, 0, 1], [0.9, 0.6, 0.4], emboli=2),
               _volume("v1", [0], [0], [0.8], emboli=0)]
    table = candidate_table(volumes)
    scores = table.score.to_numpy()
    embolus = volume_froc(table, scores, volumes, "embolus", n_bootstrap=10)
    # thresholds .9 (TP: 1 of 2 emboli), .8 (FP), .6 (FP), .4 (same embolus: nothing new)
    assert embolus.curve.sensitivity[:4].tolist() == [0.0, 0.5, 0.5, 0.5]
    assert embolus.curve.fps_per_case[:4].tolist() == [0.0, 0.0, 0.5, 1.0]
    candidate = volume_froc(table, scores, volumes, "candidate", n_bootstrap=10)
    # candidate level: two positive candidates; .4 is a new one at 1 FP per volume
    assert candidate.curve.sensitivity.max() == 1.0
    assert embolus.curve.sensitivity.max() == 0.5


def _fake_sweep(directory, cells):
    """A sweep directory holding finished cells ``{scheme: scores by candidate}``."""
    (directory / "config.json").write_text(json.dumps({
        "task": "pe", "sweep": {"backbone": "squeezenet", "scratch_inits": [None]}}))
    for scheme, scores in cells.items():
        cell = directory / "cells" / scheme.replace(":", "-").replace(" ", "-")
        cell.mkdir(parents=True)
        np.savez(cell / "test_scores.npz", units=np.arange(len(scores)), scores=scores)
        (cell / "cell.json").write_text(json.dumps({"scheme": scheme, "fraction": 1.0,
                                                    "seed": 0}))
    return SweepResults(directory)


@pytest.mark.filterwarnings("ignore:.*bootstrap resamples")
def test_evaluate_pe_tables_figures_and_pairwise_comparisons(tmp_path):
    volumes = [_volume("v0", [1, 0, 1, 0], [1, 0, 2, 0], [0.9, 0.6, 0.4, 0.3], emboli=2),
               _volume("v1", [0, 1], [0, 1], [0.8, 0.5], emboli=1),
               _volume("v2", [0, 0], [0, 0], [0.7, 0.2], emboli=0)]
    good = np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.1, 0.2])
    results = _fake_sweep(tmp_path, {"scratch": good, "FT:only conv10": good[::-1].copy()})
    evaluation = evaluate_pe(results, volumes, out=tmp_path / "pe", n_bootstrap=50)
    froc, compared = (t.frame for t in evaluation.tables)
    assert [t.csv for t in evaluation.tables] == ["froc.csv", "froc_comparisons.csv"]
    models = ["baseline (tobogganing score)", "scratch | 1 | 0", "FT:only conv10 | 1 | 0"]
    assert froc.level.tolist() == ["embolus"] * 3 + ["candidate"] * 3
    assert froc.model.tolist() == models * 2
    assert list(froc.columns) == ["level", "model"] + [
        name for fps in (1, 2, 3) for name in (f"sensitivity at {fps} FP per volume",
                                               f"sensitivity at {fps} FP per volume, 95% CI")]
    # the scratch model ranks every positive candidate above every negative one
    assert froc.loc[1, "sensitivity at 1 FP per volume"] == 1.0
    # one row per pair of models and FP rate, p-values in [0, 1]
    pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]
    assert list(zip(compared["model A"], compared["model B"])) == [p for p in pairs
                                                                   for _ in range(3)]
    assert compared["FP per volume"].tolist() == [1.0, 2.0, 3.0] * len(pairs)
    assert compared["p-value"].between(0, 1).all()
    assert list(compared.columns) == ["model A", "model B", "FP per volume", "sensitivity of A",
                                      "sensitivity of B", "difference (A − B)",
                                      "difference, 95% CI", "p-value"]
    np.testing.assert_allclose(compared["difference (A − B)"],
                               compared["sensitivity of A"] - compared["sensitivity of B"])
    assert "<b>scratch | 1 | 0</b>" in evaluation.answer
    assert "tobogganing score" in evaluation.answer
    assert "18 untranslated" in evaluation.introduction
    for _, path in evaluation.figures:
        assert pathlib.Path(path).read_bytes()[:4] == b"\x89PNG"


def test_settings_are_validated_and_normalised():
    settings = PESettings(max_candidates=np.int64(20), test_translations=np.bool_(True))
    assert type(settings.max_candidates) is int and settings.test_translations is True
    assert settings.to_json()["max_candidates"] == 20
    for bad, match in [({"representation": "axial"}, "representation"),
                       ({"max_candidates": 301}, "max_candidates <= 300"),
                       ({"max_candidates": 0}, "max_candidates"),
                       ({"patch_pixels": 32}, "patch_pixels must be 64"),
                       ({"train_patches": 1}, "train_patches"),
                       ({"test_translations": "yes"}, "test_translations"),
                       ({"seed": -1}, "seed")]:
        with pytest.raises(ValueError, match=match):
            PESettings(**bad)


def test_upsample_repeats_the_longitudinal_plane_as_the_third_channel():
    import medkeras
    pair = np.zeros((1, 8, 8, 2), np.uint8)
    pair[..., 0], pair[..., 1] = 10, 200
    out = upsample_patches(pair, size=16)
    expected = medkeras.preprocess_input(np.full((1, 16, 16, 3), (10, 200, 200), np.float32))
    np.testing.assert_allclose(out, np.asarray(expected), atol=1e-4)


def test_builder_refuses_a_ct_without_its_mask_and_a_mask_on_another_grid(tmp_path):
    generate_tubes(tmp_path, 2)
    (tmp_path / "tubes001_emboli.nii.gz").unlink()
    with pytest.raises(DatasetFolderError, match="tubes001_ct.nii.gz: no embolus mask"):
        datasets.builder("ctpa_candidates", manual_dir=tmp_path).download_and_prepare()
    mask = nib.load(tmp_path / "tubes000_emboli.nii.gz")
    nib.save(nib.Nifti1Image(np.asarray(mask.dataobj)[:-1], mask.affine),
             tmp_path / "tubes001_emboli.nii.gz")
    with pytest.raises(DatasetFolderError, match="case tubes001: .*shape"):
        datasets.builder("ctpa_candidates", manual_dir=tmp_path).download_and_prepare()


def test_cli_demo_evaluate_export_and_detect(tmp_path, capsys):
    out = tmp_path / "demo"
    # Small and quick: few patches and candidates, a given rate (no range test), 50 resamples.
    assert main(["demo", "--out", str(out), "--schemes", "scratch", "--epochs", "1",
                 "--batch", "16", "--train-patches", "96", "--max-candidates", "8",
                 "--scratch-learning-rate", "0.003", "--bootstrap", "50"]) == 0
    assert sorted(p.name for p in (out / "data").glob("*_ct.nii.gz")) == [
        f"tubes{i:03d}_ct.nii.gz" for i in range(10)]              # --synthetic small
    froc = pd.read_csv(out / "pe" / "froc.csv")
    assert froc.level.tolist() == ["embolus"] * 2 + ["candidate"] * 2
    assert froc.model.tolist()[:2] == ["baseline (tobogganing score)", "scratch | 1 | 0"]
    assert froc["sensitivity at 3 FP per volume"].between(0, 1).all()
    compared = pd.read_csv(out / "pe" / "froc_comparisons.csv")
    assert len(compared) == 3 and compared["p-value"].between(0, 1).all()
    assert (out / "pe" / "figures" / "froc_embolus.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "pe" / "report.html").is_file()
    assert main(["evaluate", str(out), "--bootstrap", "50"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "pe" / "froc.csv"), froc)

    exported = tmp_path / "model"
    assert main(["export", str(out), "--scheme", "scratch", "--out", str(exported)]) == 0
    found = tmp_path / "found"
    assert main(["detect", str(out / "data" / "tubes000_ct.nii.gz"), "--model", str(exported),
                 "--out", str(found), "--threshold", "0"]) == 0
    table = pd.read_csv(found / "detections.csv")
    assert len(table) > 0 and table.probability.between(0, 1).all()
    affine = nib.load(out / "data" / "tubes000_ct.nii.gz").affine
    voxel = np.c_[table[["x", "y", "z"]].to_numpy(), np.ones(len(table))]
    np.testing.assert_allclose((voxel @ affine.T)[:, :3], table[["R", "A", "S"]], atol=0.01)
    record = json.loads((found / "detections.json").read_text())
    assert len(record["detections"]) == len(table)                     # threshold 0
    assert (found / "pictures" / "detection0.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "none.nii.gz"), "--model", str(exported),
                 "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_builder_one_example_per_volume_split_by_patient(tmp_path):
    import tensorflow_datasets as tfds

    generate_tubes(tmp_path, 5)
    (tmp_path / "groups.csv").write_text("name,patient\ntubes000,p0\ntubes001,p0\n"
                                         "tubes002,p1\ntubes003,p2\ntubes004,p3\n")
    builder = datasets.builder("ctpa_candidates", manual_dir=tmp_path)
    builder.download_and_prepare()
    examples = {split: list(tfds.as_numpy(builder.as_dataset(split=split)))
                for split in ("train", "test")}
    names = {s: {e["name"].decode() for e in ex} for s, ex in examples.items()}
    groups = {s: {e["group"].decode() for e in ex} for s, ex in examples.items()}
    assert names["train"] | names["test"] == {f"tubes00{i}" for i in range(5)}
    assert not groups["train"] & groups["test"] and len(groups["test"]) == 1
    assert ("tubes000" in names["test"]) == ("tubes001" in names["test"])   # one patient
    for example in examples["train"] + examples["test"]:
        n = len(example["labels"])
        assert example["patches"].shape == (n, 54, 64, 64, 2)
        assert example["patches"].dtype == np.uint8 and example["patches"].std() > 0
        np.testing.assert_array_equal(example["labels"], example["embolus"] > 0)
        assert set(example["embolus"]) <= set(range(example["emboli"] + 1))
        assert np.all(np.diff(example["scores"]) <= 0)                  # best first


@pytest.mark.slow
@pytest.mark.shared
def test_builder_on_ctpa_generated_from_real_anatomy(shared, tmp_path):
    import tensorflow_datasets as tfds

    from apps.pe.synthetic import generate_folder

    generate_folder(shared / "data" / "cadpe-vessels", shared / "data" / "fumpe-emboli",
                    tmp_path, cases=["e0485", "001"], crop=True, progress=False)
    builder = datasets.builder("ctpa_candidates", manual_dir=tmp_path)
    builder.download_and_prepare()
    examples = [e for split in ("train", "test")
                for e in tfds.as_numpy(builder.as_dataset(split=split))]
    assert sorted(e["name"].decode() for e in examples) == ["001", "e0485"]
    for example in examples:
        record = json.loads((tmp_path / f"{example['name'].decode()}.json").read_text())
        assert example["emboli"] == record["n_emboli"] > 0
        assert 0 < len(example["labels"]) <= 300                # the config keeps the best 300
        assert example["labels"].sum() > 0                 # some embolus is hit


def test_command_line_is_light_and_modules_import_one_way():
    import ast
    import subprocess
    import sys

    import apps.pe

    code = ("import sys, apps.pe.__main__; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'pandas', 'tensorflow_datasets') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=pathlib.Path(apps.pe.__file__).parents[2])
    assert loaded.stdout.strip() == "[]"
    root = pathlib.Path(apps.pe.__file__).parent
    imports = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                for target in ([node.module] if node.module else [a.name for a in node.names]):
                    imports.add((path.stem, target.split(".")[0]))
    assert ("dataset", "cases") in imports and ("experiment", "cases") in imports
    assert not [(a, b) for a, b in imports if (b, a) in imports]
