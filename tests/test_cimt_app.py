"""The CIMT application end to end: its datasets, the sweep task, evaluation, CLI."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from apps.cimt import synthetic_case
from apps.cimt.__main__ import main
from apps.cimt.app import CIMTApplication
from apps.cimt.dataset import load_cases
from apps.cimt.experiment import case_errors, make_task
from apps.cimt.measure import Interfaces
from apps.cimt.settings import CIMTSettings, parse_stride, stride_pair
from medkeras.datasets import DatasetFolderError
from tests.test_cimt import write_case


# --------------------------------------------------------------------------- datasets


def test_carotid_folder_becomes_a_split_dataset_with_groups(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("AAAFH", "AAAFI", "AAACK", "AAACX", "P1", "P2", "P3", "P4"):
        write_case(folder, name, imt=0.0 if name == "P1" else 0.7)
    (folder / "IMT-ImageDataSet.txt").write_text("copyright notice")      # the Cyprus copy
    (folder / "groups.csv").write_text("name,group\nP3,patient-x\nP4,patient-x\n")
    train = load_cases(folder=folder, split="train")
    test = load_cases(folder=folder, split="test")
    cases = {c.case_id: c for c in train + test}
    assert sorted(cases) == ["AAACK", "AAAFH", "AAAFI", "P1", "P2", "P3", "P4"]   # AAACX out
    assert cases["AAAFI"].group == "AAAFH" and cases["P4"].group == "patient-x"
    assert not {c.group for c in train} & {c.group for c in test}
    assert len({c.group for c in test}) == 1                          # round(0.2 × 5 groups)
    case = cases["P2"]
    assert case.image.dtype == np.uint8 and case.image.shape == (60, 80)
    np.testing.assert_allclose(case.lumen_intima[0], [10, 20])           # 1-based → 0-based
    assert case.mm_per_pixel == pytest.approx(0.06) and case.imt_mm == pytest.approx(0.7)
    assert cases["P1"].imt_mm is None
    half = load_cases(folder=folder, split="train", fraction=0.5)
    assert {c.group for c in half} < {c.group for c in train}


@pytest.mark.parametrize("problem, message", [
    ("orphan", "ORPHAN.json: annotation without its image"),
    ("broken", "BROKEN.json: broken JSON"),
    ("outside", "OUT.json"),
])
def test_broken_carotid_folders_fail_naming_the_file(tmp_path, problem, message):
    folder = tmp_path / "cases"
    folder.mkdir()
    write_case(folder, "GOOD")
    if problem == "orphan":
        (folder / "ORPHAN.json").write_text("{}")
    elif problem == "broken":
        write_case(folder, "BROKEN")
        (folder / "BROKEN.json").write_text("{not json")
    else:
        write_case(folder, "OUT", li=[[11, 21], [500, 23]])
    with pytest.raises(DatasetFolderError, match=message):
        load_cases(folder=folder, split="train")


# --------------------------------------------------------------------------- task, errors


def test_make_task_is_three_class_balanced_and_patient_disjoint():
    cases = [synthetic_case(seed=s) for s in range(3)]
    for case, group in zip(cases, ("a", "b", "c")):
        case.group = group
    settings = CIMTSettings(per_class=4, test_per_class=2)
    task = make_task(cases[:2], cases[2:], settings)
    assert task.classes == 3 and task.positive_classes == (1, 2)
    assert task.x.shape == (24, 227, 227, 3) and np.bincount(task.y).tolist() == [8, 8, 8]
    assert set(task.groups) == {"a", "b"} and set(task.test_groups) == {"c"}
    cases[2].group = "a"
    with pytest.raises(ValueError, match="both sides"):
        make_task(cases[:2], cases[2:], settings)


def test_case_errors_against_the_expert_tracing():
    case = synthetic_case(seed=1)
    columns = case.columns()[10:60]
    li, ma = case.rows(columns)
    perfect = case_errors(Interfaces(li, ma, columns), case)
    assert perfect["lumen_intima_px"] == 0 and perfect["media_adventitia_um"] == 0
    assert perfect["thickness_error_um"] == pytest.approx(0, abs=1e-9)
    shifted = case_errors(Interfaces(li + 2, ma - 1, columns), case)
    assert shifted["lumen_intima_px"] == pytest.approx(2)
    assert shifted["media_adventitia_um"] == pytest.approx(1000 * case.mm_per_pixel)
    assert shifted["thickness_error_um"] == pytest.approx(-3000 * case.mm_per_pixel)
    assert shifted["columns"] == 50


# --------------------------------------------------------------------------- command line


def test_cli_demo_evaluate_export_and_measure_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--schemes", "scratch", "--per-class", "3",
                 "--test-per-class", "2", "--epochs", "1", "--batch", "8",
                 "--stride", "6,24", "--scratch-learning-rate", "0.003",
                 "--bootstrap", "50"]) == 0
    record = json.loads((out / "cimt.json").read_text())
    assert record["data"] == {"synthetic": "small"}
    assert record["settings"]["stride"] == [6, 24] and record["settings"]["per_class"] == 3
    errors = pd.read_csv(out / "cimt" / "errors.csv")
    assert sorted(set(errors.model)) == ["baseline (gradient + DP)", "scratch | 1 | 0"]
    assert len(errors) == 2 * 2                                       # 2 models × 2 test cases
    baseline = errors[errors.model.str.startswith("baseline")]
    assert (baseline["lumen-intima error px"] < 1).all()   # the handcrafted method, synthetic
    summary = pd.read_csv(out / "cimt" / "summary.csv")
    assert summary.model.tolist() == ["baseline (gradient + DP)", "scratch | 1 | 0"]
    assert "lumen-intima error µm (mean ± sd)" in summary.columns
    report = (out / "cimt" / "report.html").read_text()
    for figure in ("lumen_intima_um.png", "media_adventitia_um.png", "thickness_error_um.png",
                   "bland_altman.png"):
        assert figure in report and (out / "cimt" / "figures" / figure).is_file()
    assert "Best model: <b>scratch | 1 | 0</b>" in report and "baseline (gradient + DP)" in report
    assert (out / "report.html").is_file()                           # the patch-level report

    # Re-running resumes: nothing is recomputed, the table is the same.
    before = (out / "cimt" / "errors.csv").read_text()
    cached = out / "cimt" / "cases" / "scratch__f1__s0"
    stamps = {p.name: p.stat().st_mtime_ns for p in cached.iterdir()}
    assert main(["evaluate", str(out), "--bootstrap", "50"]) == 0
    assert (out / "cimt" / "errors.csv").read_text() == before
    assert {p.name: p.stat().st_mtime_ns for p in cached.iterdir()} == stamps

    # evaluate --stride overrides the recorded stride: the CNN's cases are measured again.
    assert main(["evaluate", str(out), "--stride", "12,24", "--bootstrap", "50"]) == 0
    assert all(json.loads(p.read_text())["stride"] == [12, 24] for p in cached.iterdir())
    assert json.loads((out / "cimt.json").read_text())["settings"]["stride"] == [6, 24]
    assert "a stride of 12 rows × 24 columns" in (out / "cimt" / "report.html").read_text()
    assert pd.read_csv(out / "cimt" / "errors.csv").iloc[:2].equals(errors.iloc[:2])

    exported = tmp_path / "model"
    assert main(["export", str(out), "--scheme", "scratch", "--out", str(exported)]) == 0
    assert (exported / "model.keras").is_file() and (exported / "saved_model").is_dir()

    case_dir = tmp_path / "case"
    case_dir.mkdir()
    case = synthetic_case(seed=50)
    from PIL import Image
    Image.fromarray(case.image).save(case_dir / "scan.png")
    (case_dir / "scan.json").write_text(json.dumps({
        "mm_per_pixel": case.mm_per_pixel,
        "lumen_intima": (case.lumen_intima[::20] + 1).tolist(),
        "media_adventitia": (case.media_adventitia[::20] + 1).tolist()}))
    measured = tmp_path / "measured"
    assert main(["measure", str(case_dir / "scan.png"), "--model", str(exported),
                 "--annotations", str(case_dir / "scan.json"), "--stride", "12,24",
                 "--out", str(measured)]) == 0
    record = json.loads((measured / "measurement.json").read_text())
    assert len(record["lumen_intima"]) == len(record["columns"])
    # A one-epoch model may cross the interfaces: then the record says so.
    crossed = np.sum(np.array(record["media_adventitia"])[:, 1]
                     < np.array(record["lumen_intima"])[:, 1])
    assert (record["thickness_mm"] > 0 and not crossed) or \
        f"cross in {crossed} of" in record["warnings"][0]
    assert "errors" in record and (measured / "overlay.png").read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(measured / "interfaces.csv")
    assert list(table.columns) == ["x", "lumen_intima_y", "media_adventitia_y"]

    baseline_out = tmp_path / "baseline"
    roi = ",".join(str(v) for v in record["roi"])
    assert main(["measure", str(case_dir / "scan.png"), "--model", "baseline", "--roi", roi,
                 "--mm-per-pixel", str(case.mm_per_pixel), "--out", str(baseline_out)]) == 0
    truth = case.rows(np.array(json.loads((baseline_out / "measurement.json").read_text())
                               ["columns"]))
    found = pd.read_csv(baseline_out / "interfaces.csv")
    assert np.nanmean(np.abs(found.lumen_intima_y - truth[0])) < 1             # sub-pixel

    capsys.readouterr()
    assert main(["measure", str(case_dir / "scan.png"), "--model", "baseline",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--mm-per-pixel" in capsys.readouterr().err
    assert main(["measure", str(case_dir / "scan.png"), "--model", str(tmp_path),
                 "--mm-per-pixel", "0.06", "--roi", roi, "--out", str(tmp_path / "y")]) == 2
    assert "not an exported cimt model" in capsys.readouterr().err


def test_the_stride_is_n_or_rows_columns():
    assert stride_pair(3) == (3, 3) and stride_pair([2, 6]) == (2, 6)
    assert stride_pair(np.int64(2)) == (2, 2)
    assert parse_stride("4") == (4, 4) and parse_stride("2,6") == (2, 6)
    for bad in (0, (1, 2, 3), "ab", 1.5):
        with pytest.raises(ValueError, match="stride"):
            stride_pair(bad)
    assert CIMTSettings(stride=5).stride == (5, 5)
    for text in ("0", "1,2,3", "x"):
        with pytest.raises(Exception, match="N or ROWS,COLUMNS"):
            parse_stride(text)


def test_the_declaration_matches_the_old_command_line():
    app = CIMTApplication()
    assert app.classes == ("background", "lumen_intima", "media_adventitia")
    defaults = app.settings_defaults()
    assert {k: defaults[k] for k in ("per_class", "test_per_class", "fov_mm", "roi_margin_mm",
                                     "stride", "seed")} == {
        "per_class": 100, "test_per_class": 30, "fov_mm": 3.0, "roi_margin_mm": 1.0,
        "stride": (1, 1), "seed": 0}
    demo = app.make_settings(**{**defaults, **app.demo_settings})
    assert demo == CIMTSettings(per_class=20, stride=(2, 6))
    assert [o.field for o in app.options if o.on_evaluate] == ["stride"]


def test_help_is_fast_and_loads_no_tensorflow():
    code = ("import sys; from apps.cimt.__main__ import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "import apps.cimt\n"
            "assert not {'tensorflow', 'keras', 'pandas'} & set(sys.modules), sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "measure" in result.stdout


@pytest.mark.slow
def test_the_cyprus_development_cases_as_a_dataset(shared):
    folder = shared / "data" / "carotid-imt"
    train = load_cases(folder=folder, split="train")
    test = load_cases(folder=folder, split="test")
    ids = [c.case_id for c in train + test]
    assert len(ids) == len(set(ids)) == 51 and "AAACX" not in ids          # 52 − the copy
    groups = {c.case_id: c.group for c in train + test}
    assert groups["AAAFI"] == groups["AAAFH"] and groups["AAANB"] == groups["AAANA"]
    assert len({c.group for c in test}) == 10                           # round(0.2 × 49)
    assert not {c.group for c in train} & {c.group for c in test}
