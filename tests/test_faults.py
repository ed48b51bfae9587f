"""Fault injection: faulty files written here, every command that reads user input asked to
read them, as a user would.

Each refused case asserts exit status 2, a one-line ``error:`` naming the file and the
problem, and no traceback; each valid-but-unusual case (a 16-bit image, a colour scan)
asserts the correct result.  Kinds (the ``KIND`` prefix of every case id): ``out`` output
paths, ``image`` image files, ``video`` videos, ``volume`` CT volumes, ``annotation`` side
files and masks, ``link`` symbolic links, ``model`` exported models, ``weights`` starting
weights.  Small files and tiny models: the whole module runs in about a minute.
"""

import json
import os
import pathlib
import re
import shutil
import struct
import zlib

import cv2
import keras
import numpy as np
import pytest
from PIL import Image

from apps.cimt.__main__ import main as cimt
from apps.cimt.settings import CIMTSettings
from apps.cimt.synthetic import synthetic_case
from apps.classify.__main__ import main as classify
from apps.classify.settings import ClassifySettings
from apps.frames.__main__ import main as frames
from apps.frames.settings import FrameSettings
from apps.pe.__main__ import main as pe
from apps.pe.settings import PESettings
from apps.polyp.__main__ import main as polyp
from apps.polyp.settings import PolypSettings
from medkeras.__main__ import main as core

SETTINGS = {"polyp": PolypSettings(), "frames": FrameSettings(), "pe": PESettings(),
            "cimt": CIMTSettings(), "classify": ClassifySettings(size=227)}


def refused(main, argv, capsys, *expected):
    """Run a command that must refuse: exit 2, one error line with every ``expected`` text,
    no traceback.  Returns the message."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code == 2, err
    shown = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", err)   # as a terminal shows it: progress
    #                                                 bars' cursor moves and blanking removed
    message = [line for line in shown.splitlines() if line.strip().startswith("error: ")]
    assert message, err
    for text in expected:
        assert str(text) in err, f"{text!r} not in {err!r}"
    return err


def ok(main, argv, capsys):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err
    return err


# --------------------------------------------------------------------------- files


def png_header_bomb(path, width=100_000, height=100_000):
    """A valid small PNG whose header claims ``width`` × ``height`` pixels."""
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = bytearray(data[12:29])                      # 'IHDR' + 13 bytes of data
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def scene(seed=0, shape=(96, 128)):
    """A smooth colour picture with a bright round blob (something to detect)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:shape[0], :shape[1]]
    blob = np.exp(-((y - shape[0] * 0.4) ** 2 + (x - shape[1] * 0.6) ** 2) / (2 * 12 ** 2))
    base = 60 + 40 * np.sin(x / 17.0)[..., None] + 120 * blob[..., None] * [1.0, 0.6, 0.5]
    return np.clip(base + rng.normal(0, 4, (*shape, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Faulty and valid image files, shared by every command's cases."""
    root = tmp_path_factory.mktemp("files")
    from apps.polyp.synthetic import synthetic_frame

    picture = synthetic_frame(seed=4).image        # a colonoscopy-like frame with polyps
    Image.fromarray(picture).save(root / "good.png")
    grey = np.asarray(Image.fromarray(picture).convert("L"))
    Image.fromarray(grey).save(root / "grey8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(root / "grey16.png")
    Image.fromarray(picture).save(root / "colour8.png")
    (root / "zero.png").write_bytes(b"")
    (root / "truncated.png").write_bytes((root / "good.png").read_bytes()[:400])
    png_header_bomb(root / "bomb.png")
    (root / "text.png").write_text("this is not a picture\n")
    Image.fromarray(grey.astype(np.float32) / 255).save(root / "float.tif")
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """An exported-model folder per application: a tiny 2-class network with the
    227-pixel input contract, and each application's default settings."""
    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(5)
    import medkeras

    tiny = keras.Sequential([keras.Input((227, 227, 3)), keras.layers.AveragePooling2D(16),
                             keras.layers.Conv2D(4, 3, activation="tanh"),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(2, activation="softmax")])
    tiny.save(root / "tiny.keras")
    squeeze = medkeras.SqueezeNet(classes=2)          # has .preprocess: classify needs it
    squeeze.save(root / "squeezenet.keras")
    folders = {}
    for app, settings in SETTINGS.items():
        folder = root / app
        folder.mkdir()
        shutil.copy(root / ("squeezenet.keras" if app == "classify" else "tiny.keras"),
                    folder / "model.keras")
        info = {"application": app, "settings": settings.to_json(),
                "classes": ["negative", "positive"],
                "cell": {"scheme": "scratch", "fraction": 1.0, "seed": 0}}
        (folder / "info.json").write_text(json.dumps(info))
        folders[app] = folder
    return folders


def variant(models, app, tmp_path, *, info=None, model_bytes=None, model_config=None):
    """A copy of ``app``'s exported folder with its info.json or model.keras changed."""
    folder = tmp_path / f"{app}-model"
    shutil.copytree(models[app], folder)
    if info is not None:
        (folder / "info.json").write_text(info if isinstance(info, str) else json.dumps(info))
    if model_bytes is not None:
        (folder / "model.keras").write_bytes(model_bytes)
    if model_config is not None:                        # a hand-crafted model.keras
        import zipfile

        with zipfile.ZipFile(folder / "model.keras", "w") as archive:
            archive.writestr("config.json", json.dumps(model_config))
            archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
    return folder


def info_of(models, app):
    return json.loads((models[app] / "info.json").read_text())


# --------------------------------------------------------------------------- out


def _read_only_folder(tmp_path):
    """A folder nobody may write in: chmod for a user; for root (who ignores permissions)
    a folder of /proc, which no one can create files in."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    if not os.path.isdir("/proc/1") or os.access("/proc/1", os.W_OK):
        pytest.skip("no read-only folder available to root here")
    return "/proc/1"


OUT_CASES = {
    "polyp-detect": (polyp, lambda f, m: ["detect", f / "zero.png", "--model", m["polyp"]]),
    "frames-score": (frames, lambda f, m: ["score", f / "zero.avi", "--model", m["frames"]]),
    "pe-detect": (pe, lambda f, m: ["detect", f / "missing.nii.gz", "--model", m["pe"]]),
    "cimt-measure": (cimt, lambda f, m: ["measure", f / "zero.png", "--model", "baseline",
                                         "--mm-per-pixel", "0.06"]),
    "cimt-sweep": (cimt, lambda f, m: ["sweep", "--data", f / "no-such-folder"]),
    "polyp-demo": (polyp, lambda f, m: ["demo"]),
    "core-demo": (core, lambda f, m: ["demo"]),
    "classify-export": (classify, lambda f, m: ["export", f / "no-sweep", "--scheme", "scratch"]),
}


@pytest.mark.parametrize("command", sorted(OUT_CASES))
def test_out_is_a_file(command, files, models, tmp_path, capsys):
    """Checked before anything else: the faulty input given too is not what is reported."""
    main, argv = OUT_CASES[command]
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    refused(main, argv(files, models) + ["--out", out], capsys, out, "is a file")
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("command", ["polyp-detect", "cimt-measure", "pe-detect"])
def test_out_below_a_file(command, files, models, tmp_path, capsys):
    main, argv = OUT_CASES[command]
    (tmp_path / "plain").write_text("")
    refused(main, argv(files, models) + ["--out", tmp_path / "plain" / "out"], capsys,
            tmp_path / "plain", "is a file")


@pytest.mark.parametrize("command", ["polyp-detect", "pe-detect", "cimt-sweep"])
def test_out_in_a_read_only_folder(command, files, models, tmp_path, capsys):
    main, argv = OUT_CASES[command]
    folder = _read_only_folder(tmp_path)
    refused(main, argv(files, models) + ["--out", f"{folder}/out"], capsys,
            "cannot write in", folder)


def test_predict_out_is_a_folder(files, models, tmp_path, capsys):
    refused(classify, ["predict", files / "good.png", "--model", models["classify"],
                       "--out", tmp_path], capsys, tmp_path, "is a folder")


# --------------------------------------------------------------------------- image

BAD_IMAGES = {"zero.png": "unreadable image", "truncated.png": "unreadable image",
              "bomb.png": "pixels", "text.png": "unreadable image",
              "float.tif": "floating-point pixels", "missing.png": "no such"}


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_cimt_measure_refuses_bad_images(name, files, tmp_path, capsys):
    refused(cimt, ["measure", files / name, "--model", "baseline", "--roi", "10,10,60,100",
                   "--mm-per-pixel", "0.06", "--out", tmp_path / "m"], capsys,
            name, BAD_IMAGES[name])
    assert not (tmp_path / "m" / "measurement.json").exists()


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_polyp_detect_refuses_bad_images(name, files, models, tmp_path, capsys):
    refused(polyp, ["detect", files / name, "--model", models["polyp"],
                    "--out", tmp_path / "d"], capsys, name, BAD_IMAGES[name])
    assert not (tmp_path / "d" / "detections.csv").exists()


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_classify_predict_refuses_bad_images(name, files, models, tmp_path, capsys):
    refused(classify, ["predict", files / name, "--model", models["classify"],
                       "--out", tmp_path / "p.csv"], capsys, name,
            "no such" if name == "missing.png" else BAD_IMAGES[name])
    assert not (tmp_path / "p.csv").exists()


def _carotid_scan(tmp_path):
    case = synthetic_case(seed=3)
    Image.fromarray(case.image).save(tmp_path / "scan8.png")
    Image.fromarray(case.image.astype(np.uint16) * 257).save(tmp_path / "scan16.png")
    Image.fromarray(np.repeat(case.image[..., None], 3, axis=2)).save(tmp_path / "scanrgb.png")
    li, ma = case.rows()
    columns = case.columns()
    roi = (int(li.min()) - 12, int(columns[0]), int(ma.max()) + 13, int(columns[-1]) + 1)
    return case, ",".join(map(str, roi))


def _measure(tmp_path, image, roi, capsys):
    out = tmp_path / f"out-{image}"
    ok(cimt, ["measure", tmp_path / image, "--model", "baseline", "--roi", roi,
              "--mm-per-pixel", "0.06", "--out", out], capsys)
    return json.loads((out / "measurement.json").read_text())["thickness_mm"]


def test_cimt_measure_scales_16_bit_and_takes_grey_rgb(tmp_path, capsys):
    """A 16-bit scan (levels × 257) and an RGB copy of a grey scan measure exactly as the
    8-bit file does (16-bit was read as 8 bits and saturated: 0.374 mm against 0.996)."""
    _, roi = _carotid_scan(tmp_path)
    eight = _measure(tmp_path, "scan8.png", roi, capsys)
    assert eight > 0
    assert _measure(tmp_path, "scan16.png", roi, capsys) == eight
    assert _measure(tmp_path, "scanrgb.png", roi, capsys) == eight
    grey = np.asarray(Image.open(tmp_path / "scan8.png"))
    tinted = np.stack([grey, grey, grey // 2], axis=2)         # a colour picture of the scan
    Image.fromarray(tinted).save(tmp_path / "tinted.png")
    out = tmp_path / "out-tinted"
    err = ok(cimt, ["measure", tmp_path / "tinted.png", "--model", "baseline", "--roi", roi,
                    "--mm-per-pixel", "0.06", "--out", out], capsys)
    assert "tinted.png is in colour; measured on its luma" in err
    assert "luma" in json.loads((out / "measurement.json").read_text())["warnings"][0]


def test_polyp_detect_scales_16_bit(files, models, tmp_path, capsys):
    for name in ("grey8.png", "grey16.png"):
        ok(polyp, ["detect", files / name, "--model", models["polyp"],
                   "--out", tmp_path / name], capsys)
    eight = (tmp_path / "grey8.png" / "detections.csv").read_text()
    sixteen = (tmp_path / "grey16.png" / "detections.csv").read_text()
    assert eight.count("\n") > 1                                   # candidates were found
    assert sixteen.replace("grey16", "grey8") == eight


def test_classify_predict_scales_16_bit(files, models, tmp_path, capsys):
    import pandas as pd

    for name in ("grey8.png", "grey16.png"):
        ok(classify, ["predict", files / name, "--model", models["classify"],
                      "--out", tmp_path / f"{name}.csv"], capsys)
    eight = pd.read_csv(tmp_path / "grey8.png.csv")
    sixteen = pd.read_csv(tmp_path / "grey16.png.csv")
    np.testing.assert_array_equal(eight.filter(like="p(").values,
                                  sixteen.filter(like="p(").values)


# --------------------------------------------------------------------------- video


def write_video(path, frames=40, seed=0):
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 72))
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    whole = write_video(root / "whole.avi", frames=40)
    data = whole.read_bytes()
    (root / "truncated.avi").write_bytes(data[:len(data) // 3])
    (root / "zero.avi").write_bytes(b"")
    (root / "text.mp4").write_text("not a video")
    return root


@pytest.mark.parametrize("name, problem", [
    ("truncated.avi", "frames its container states"), ("zero.avi", "OpenCV cannot open"),
    ("text.mp4", "OpenCV cannot open"), ("missing.avi", "not a video")])
def test_frames_score_refuses_bad_videos(name, problem, videos, models, tmp_path, capsys):
    refused(frames, ["score", videos / name, "--model", models["frames"],
                     "--out", tmp_path / "s"], capsys, name, problem)
    assert not (tmp_path / "s" / "summary.json").exists()


@pytest.mark.parametrize("name, problem", [
    ("truncated.avi", "frames its container states"), ("text.mp4", "OpenCV cannot open")])
def test_polyp_detect_refuses_bad_videos(name, problem, videos, models, tmp_path, capsys):
    """Refused before any frame is scored: nothing is written."""
    refused(polyp, ["detect", videos / name, "--model", models["polyp"],
                    "--out", tmp_path / "d"], capsys, name, problem)
    assert not [p for p in (tmp_path / "d").rglob("*") if p.is_file()]


def test_frames_score_knows_another_video_at_the_same_path(models, tmp_path, capsys):
    """Resuming is by content: another video written to the same path is not resumed."""
    video, out = tmp_path / "clip.avi", tmp_path / "scores"
    write_video(video, frames=6, seed=1)
    ok(frames, ["score", video, "--model", models["frames"], "--out", out], capsys)
    first = (out / "informativeness.csv").read_text()
    ok(frames, ["score", video, "--model", models["frames"], "--out", out], capsys)
    assert (out / "informativeness.csv").read_text() == first          # same video: resumed
    write_video(video, frames=6, seed=2)
    refused(frames, ["score", video, "--model", models["frames"], "--out", out], capsys,
            "another video")


# --------------------------------------------------------------------------- volume


def write_nifti(path, array, zooms=(0.8, 0.8, 1.0), affine=None):
    import nibabel as nib

    if affine is None:
        affine = np.diag([*zooms, 1.0])
    image = nib.Nifti1Image(array, affine)
    image.header.set_zooms(zooms[:array.ndim] if array.ndim < 3 else
                           tuple(zooms) + (1.0,) * (array.ndim - 3))
    nib.save(image, str(path))
    return path


def patched_pixdim(path, value, axis=2):
    """Write ``value`` into the header's pixdim[axis] (bytes 76 + 4·axis of a NIfTI-1 file),
    with qform and sform codes 0, as a broken writer would (nibabel would fix it)."""
    data = bytearray(path.read_bytes())
    data[76 + 4 * axis:80 + 4 * axis] = struct.pack("<f", value)
    data[252:256] = struct.pack("<hh", 0, 0)                     # qform_code, sform_code
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    import nibabel as nib

    root = tmp_path_factory.mktemp("volumes")
    ct = np.full((24, 24, 16), -800, np.int16)
    write_nifti(root / "good.nii.gz", ct)
    with_nan = ct.astype(np.float32)
    with_nan[4:8, 4:8, 4:8] = np.nan
    write_nifti(root / "nan.nii.gz", with_nan)
    with_inf = ct.astype(np.float32)
    with_inf[0, 0, 0] = np.inf
    write_nifti(root / "inf.nii.gz", with_inf)
    patched_pixdim(write_nifti(root / "zero-spacing.nii", ct), 0.0)
    patched_pixdim(write_nifti(root / "nan-spacing.nii", ct), float("nan"))
    disagree = nib.Nifti1Image(ct, np.diag([0.8, 0.8, 1.0, 1.0]))
    disagree.header.set_zooms((0.5, 0.8, 1.0))           # pixdim says 0.5, the affine 0.8
    nib.save(disagree, str(root / "disagree.nii.gz"), )
    data = (root / "good.nii.gz").read_bytes()
    (root / "truncated.nii.gz").write_bytes(data[:len(data) // 2])
    (root / "not-gzip.nii.gz").write_bytes(b"plain text, not gzip" * 20)
    write_nifti(root / "flat.nii.gz", ct[..., 0])
    write_nifti(root / "series.nii.gz", np.stack([ct, ct], axis=-1))
    (root / "empty-dicom").mkdir()
    write_nifti(root / "lungs-other-shape.nii.gz", np.ones((20, 24, 16), np.uint8))
    return root


@pytest.mark.parametrize("name, problem", [
    ("nan.nii.gz", "NaN or infinite"), ("inf.nii.gz", "NaN or infinite"),
    ("zero-spacing.nii", "positive and finite"), ("nan-spacing.nii", "positive and finite"),
    ("disagree.nii.gz", "disagrees with the affine"),
    ("truncated.nii.gz", "unreadable NIfTI"), ("not-gzip.nii.gz", "unreadable NIfTI"),
    ("flat.nii.gz", "3-D"), ("series.nii.gz", "3-D"), ("missing.nii.gz", "does not exist"),
    ("empty-dicom", "DICOM")])
def test_pe_detect_refuses_bad_volumes(name, problem, volumes, models, tmp_path, capsys):
    refused(pe, ["detect", volumes / name, "--model", models["pe"], "--out", tmp_path / "d"],
            capsys, name, problem)
    assert not (tmp_path / "d" / "detections.csv").exists()


def test_pe_detect_refuses_lungs_on_another_grid(volumes, models, tmp_path, capsys):
    refused(pe, ["detect", volumes / "good.nii.gz", "--model", models["pe"],
                 "--lungs", volumes / "lungs-other-shape.nii.gz", "--out", tmp_path / "d"],
            capsys, "lungs-other-shape.nii.gz", "differs from the CT")


# --------------------------------------------------------------------------- annotation


def carotid_folder(tmp_path, *, cases=6):
    """A small carotid folder in the database's layout (1-based points)."""
    folder = tmp_path / "carotid"
    folder.mkdir()
    for k in range(cases):
        case = synthetic_case(seed=k)
        Image.fromarray(case.image).save(folder / f"C{k}.png")
        record = {"mm_per_pixel": case.mm_per_pixel,
                  "lumen_intima": (case.lumen_intima + 1).tolist(),
                  "media_adventitia": (case.media_adventitia + 1).tolist()}
        (folder / f"C{k}.json").write_text(json.dumps(record))
    return folder


def _swap(path):
    record = json.loads(path.read_text())
    record["lumen_intima"], record["media_adventitia"] = (record["media_adventitia"],
                                                          record["lumen_intima"])
    path.write_text(json.dumps(record))


def test_cimt_sweep_refuses_swapped_interfaces(tmp_path, capsys):
    folder = carotid_folder(tmp_path)
    _swap(folder / "C2.json")
    refused(cimt, ["sweep", "--data", folder, "--out", tmp_path / "s"], capsys,
            "C2", "swapped")


def test_cimt_measure_refuses_swapped_annotations(tmp_path, capsys):
    folder = carotid_folder(tmp_path, cases=1)
    _swap(folder / "C0.json")
    refused(cimt, ["measure", folder / "C0.png", "--model", "baseline", "--annotations",
                   folder / "C0.json", "--out", tmp_path / "m"], capsys, "C0", "swapped")


@pytest.mark.parametrize("content, problem", [
    ("{not json", "broken JSON"), ('{"mm_per_pixel": 0.06}', "missing keys"),
    ('{"mm_per_pixel": -1, "lumen_intima": [[1, 2], [5, 2]], '
     '"media_adventitia": [[1, 9], [5, 9]]}', "mm_per_pixel")])
def test_cimt_measure_refuses_bad_annotation_files(content, problem, tmp_path, capsys):
    folder = carotid_folder(tmp_path, cases=1)
    (tmp_path / "bad.json").write_text(content)
    refused(cimt, ["measure", folder / "C0.png", "--model", "baseline", "--annotations",
                   tmp_path / "bad.json", "--out", tmp_path / "m"], capsys, "bad.json", problem)


@pytest.mark.parametrize("table, problem", [
    ("name,group\nC0,p1\nC9,p1\n", "'C9' is not a case"),
    ("name,group\nC0,p1\nC0,p2\n", "listed twice"),
    ("name,patient\nC0,p1\n", "the header must name the columns name,group")])
def test_cimt_sweep_refuses_bad_groups_tables(table, problem, tmp_path, capsys):
    folder = carotid_folder(tmp_path)
    (folder / "groups.csv").write_text(table)
    refused(cimt, ["sweep", "--data", folder, "--out", tmp_path / "s"], capsys,
            "groups.csv", problem)


@pytest.mark.parametrize("table, problem", [
    ("name,patient\ntubes000,p0\ntubes001,p0\ntubes0002,p1\n", "'tubes0002' is not a case"),
    ("name,patient\ntubes000,p0\ntubes001,p0\ntubes001,p1\ntubes002,p1\n", "listed twice")])
def test_pe_sweep_refuses_bad_groups_tables(table, problem, tmp_path, capsys):
    from apps.pe.synthetic import generate_tubes

    data = tmp_path / "ctpa"
    generate_tubes(data, 3, shape=(24, 40, 40))
    (data / "groups.csv").write_text(table)
    refused(pe, ["sweep", "--data", data, "--out", tmp_path / "s"], capsys, "groups.csv",
            problem)


def kvasir_folder(tmp_path, *, frames=6):
    folder = tmp_path / "kvasir"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    boxes = {}
    for k in range(frames):
        Image.fromarray(scene(k)).save(folder / "images" / f"f{k}.jpg")
        mask = np.zeros((96, 128), np.uint8)
        mask[30:50, 60:90] = 255
        Image.fromarray(mask).save(folder / "masks" / f"f{k}.png")
        boxes[f"f{k}"] = {"height": 96, "width": 128, "bbox": [
            {"label": "polyp", "xmin": 60, "ymin": 30, "xmax": 90, "ymax": 50}]}
    (folder / "bboxes.json").write_text(json.dumps(boxes))
    return folder


def test_polyp_sweep_refuses_an_empty_mask_with_a_box(tmp_path, capsys):
    folder = kvasir_folder(tmp_path)
    Image.fromarray(np.zeros((96, 128), np.uint8)).save(folder / "masks" / "f3.png")
    refused(polyp, ["sweep", "--data", folder, "--out", tmp_path / "s"], capsys,
            "f3.png", "no polyp pixel inside the box", "the mask is empty")


@pytest.mark.parametrize("fault, problem", [
    ("mask-size", "mask of 64×48 pixels"), ("broken-json", "cannot read it as JSON"),
    ("box-outside", "is not inside"), ("truncated-image", "unreadable image")])
def test_polyp_sweep_refuses_bad_kvasir_folders(fault, problem, tmp_path, capsys):
    folder = kvasir_folder(tmp_path)
    if fault == "mask-size":
        Image.fromarray(np.zeros((48, 64), np.uint8)).save(folder / "masks" / "f1.png")
    elif fault == "broken-json":
        (folder / "bboxes.json").write_text("{")
    elif fault == "box-outside":
        boxes = json.loads((folder / "bboxes.json").read_text())
        boxes["f2"]["bbox"][0]["xmax"] = 500
        (folder / "bboxes.json").write_text(json.dumps(boxes))
    else:
        image = folder / "images" / "f4.jpg"
        image.write_bytes(image.read_bytes()[:200])
    refused(polyp, ["sweep", "--data", folder, "--out", tmp_path / "s"], capsys, problem)


def class_folder(tmp_path, *, per_class=3):
    folder = tmp_path / "labelled"
    for c, name in enumerate(("benign", "malignant")):
        (folder / name).mkdir(parents=True)
        for k in range(per_class):
            Image.fromarray(scene(10 * c + k, shape=(40, 40))).save(folder / name / f"{k}.png")
    return folder


@pytest.mark.parametrize("fault, problem", [
    ("outside", "lies outside"), ("missing", "no file"), ("column", "the header must name"),
    ("empty-label", "empty label"), ("one-class", "at least two are needed")])
def test_classify_sweep_refuses_bad_labels_tables(fault, problem, tmp_path, capsys):
    folder = class_folder(tmp_path)
    rows = ["path,label"] + [f"{c}/{k}.png,{c}" for c in ("benign", "malignant")
                             for k in range(3)]
    if fault == "outside":
        Image.fromarray(scene()).save(tmp_path / "elsewhere.png")
        rows.append("../elsewhere.png,benign")
    elif fault == "missing":
        rows.append("benign/9.png,benign")
    elif fault == "column":
        rows[0] = "path,diagnosis"
    elif fault == "empty-label":
        rows.append("benign/0.png,")
    else:
        rows = [row for row in rows if "malignant" not in row]
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    refused(classify, ["sweep", "--data", folder, "--out", tmp_path / "s"], capsys,
            folder if fault == "one-class" else "labels.csv", problem)


@pytest.mark.parametrize("name", ["zero.png", "truncated.png", "bomb.png", "float.tif"])
def test_classify_sweep_refuses_bad_images(name, files, tmp_path, capsys):
    folder = class_folder(tmp_path)
    shutil.copy(files / name, folder / "benign" / name)
    refused(classify, ["sweep", "--data", folder, "--out", tmp_path / "s",
                       "--epochs", "1"], capsys, name, BAD_IMAGES[name])


# --------------------------------------------------------------------------- link


def test_classify_sweep_refuses_links_out_of_the_data(files, tmp_path, capsys):
    folder = class_folder(tmp_path)
    (folder / "benign" / "linked.png").symlink_to(files / "good.png")
    refused(classify, ["sweep", "--data", folder, "--out", tmp_path / "s"], capsys,
            "linked.png", "symbolic link", "outside")


def test_classify_predict_refuses_links_out_of_the_folder(files, models, tmp_path, capsys):
    folder = tmp_path / "to-predict"
    folder.mkdir()
    shutil.copy(files / "good.png", folder / "a.png")
    (folder / "b.png").symlink_to(files / "grey8.png")
    refused(classify, ["predict", folder, "--model", models["classify"],
                       "--out", tmp_path / "p.csv"], capsys, "b.png", "symbolic link")


def test_polyp_detect_refuses_links_out_of_the_folder(files, models, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.png").symlink_to(files / "good.png")
    refused(polyp, ["detect", folder, "--model", models["polyp"], "--out", tmp_path / "d"],
            capsys, "a.png", "symbolic link")


def test_polyp_sweep_refuses_links_out_of_the_data(files, tmp_path, capsys):
    folder = kvasir_folder(tmp_path)
    (folder / "images" / "f0.jpg").unlink()
    Image.fromarray(scene(0)).save(tmp_path / "outside.jpg")
    (folder / "images" / "f0.jpg").symlink_to(tmp_path / "outside.jpg")
    refused(polyp, ["sweep", "--data", folder, "--out", tmp_path / "s"], capsys,
            "f0.jpg", "symbolic link")


def test_links_inside_the_data_are_accepted(files, models, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(files / "good.png", folder / "a.png")
    (folder / "b.png").symlink_to(folder / "a.png")
    ok(polyp, ["detect", folder, "--model", models["polyp"], "--out", tmp_path / "d"], capsys)
    assert (tmp_path / "d" / "pictures" / "b.png").exists()


# --------------------------------------------------------------------------- model

INFERENCE = {
    "polyp": (polyp, lambda f: ["detect", f / "good.png"]),
    "frames": (frames, lambda f: ["score", f / "clip.avi"]),
    "pe": (pe, lambda f: ["detect", f / "good.nii.gz"]),
    "cimt": (cimt, lambda f: ["measure", f / "grey8.png", "--roi", "10,10,60,100",
                              "--mm-per-pixel", "0.06"]),
    "classify": (classify, lambda f: ["predict", f / "good.png"]),
}


@pytest.fixture(scope="module")
def inputs(files, volumes, tmp_path_factory):
    """One valid input per inference command."""
    root = tmp_path_factory.mktemp("inputs")
    for name in ("good.png", "grey8.png"):
        shutil.copy(files / name, root / name)
    shutil.copy(volumes / "good.nii.gz", root / "good.nii.gz")
    write_video(root / "clip.avi", frames=3)
    return root


def _out(app, tmp_path):
    return tmp_path / ("out.csv" if app == "classify" else "out")


@pytest.mark.parametrize("app", sorted(INFERENCE))
def test_models_whose_settings_have_an_unknown_key(app, inputs, models, tmp_path, capsys):
    info = info_of(models, app)
    info["settings"]["stride_of_doom"] = 3
    folder = variant(models, app, tmp_path, info=info)
    main, argv = INFERENCE[app]
    refused(main, argv(inputs) + ["--model", folder, "--out", _out(app, tmp_path)], capsys,
            "info.json", "stride_of_doom")


@pytest.mark.parametrize("fault, problem", [
    ("broken-info", "cannot read it as JSON"), ("other-application", "not an exported polyp"),
    ("no-model", "not an exported polyp"), ("garbage-model", "cannot load this model"),
    ("lambda-layer", "cannot load this model"), ("unknown-class", "cannot load this model"),
    ("info-list", "expected a JSON object"), ("no-folder", "not an exported polyp")])
def test_polyp_detect_refuses_bad_model_folders(fault, problem, inputs, models, tmp_path,
                                                capsys):
    lambda_config = {"module": "keras", "class_name": "Sequential", "config": {
        "name": "s", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"batch_shape": [None, 227, 227, 3], "name": "i"}},
            {"module": "keras.layers", "class_name": "Lambda",
             "config": {"name": "l", "function": {
                 "class_name": "__lambda__", "config": {
                     "code": "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARQAUwApAk7pAgAAAKkA"
                             "KQHaAXhyAQAAAHIBAAAA+gg8c3RkaW4+2gg8bGFtYmRhPgEAAABzAgAAAAgA",
                     "defaults": None, "closure": None}}}}]}}
    unknown = {"module": "evil", "class_name": "Backdoor", "config": {}}
    folder = {
        "broken-info": lambda: variant(models, "polyp", tmp_path, info="{"),
        "other-application": lambda: models["frames"],
        "no-model": lambda: tmp_path / "empty",
        "garbage-model": lambda: variant(models, "polyp", tmp_path, model_bytes=b"PK garbage"),
        "lambda-layer": lambda: variant(models, "polyp", tmp_path, model_config=lambda_config),
        "unknown-class": lambda: variant(models, "polyp", tmp_path, model_config=unknown),
        "info-list": lambda: variant(models, "polyp", tmp_path, info="[1, 2]"),
        "no-folder": lambda: tmp_path / "nothing-here",
    }[fault]()
    if fault == "no-model":
        folder.mkdir()
        shutil.copy(models["polyp"] / "info.json", folder / "info.json")
    refused(polyp, ["detect", inputs / "good.png", "--model", folder,
                    "--out", tmp_path / "d"], capsys, problem)


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize("fault, problem", [
    ("text.caffemodel", "text.caffemodel"), ("truncated.caffemodel", "truncated.caffemodel"),
    ("garbage.weights.h5", "garbage.weights.h5"), ("missing.weights.h5", "missing.weights.h5"),
    ("weights.txt", "expected None, 'imagenet'")])
def test_bad_starting_weights(fault, problem, files, tmp_path, capsys):
    """--weights for fine-tuning: every kind of bad file stops the sweep, named."""
    weights = tmp_path / fault
    if fault == "text.caffemodel" or fault == "weights.txt":
        weights.write_text("name: 'not a caffemodel'\n")
    elif fault == "truncated.caffemodel":
        weights.write_bytes(b"\x0a\x0bSqueezeNet\x12\xff\xff\xff\x0f")
    elif fault == "garbage.weights.h5":
        weights.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    folder = class_folder(tmp_path)
    refused(classify, ["sweep", "--data", folder, "--out", tmp_path / "s", "--backbone",
                       "squeezenet", "--size", "227", "--schemes", "FT:only conv10", "--weights", weights,
                       "--epochs", "1", "--learning-rate", "0.001"], capsys, problem)


def test_bad_imagenet_caffemodel_from_the_environment(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "squeezenet_v1.1.caffemodel"
    bad.write_bytes(b"\x00" * 100)
    monkeypatch.setenv("MEDKERAS_SQUEEZENET_CAFFEMODEL", str(bad))
    folder = class_folder(tmp_path)
    refused(classify, ["sweep", "--data", folder, "--out", tmp_path / "s", "--backbone",
                       "squeezenet", "--size", "227", "--schemes", "FT:only conv10",
                       "--epochs", "1",
                       "--learning-rate", "0.001"], capsys, bad.name)


@pytest.fixture(scope="module")
def dicom(tmp_path_factory):
    from medkeras.io.volumes import Volume, write_dicom_series

    root = tmp_path_factory.mktemp("dicom")
    for fault in ("truncated-slice", "missing-slice"):
        write_dicom_series(Volume(np.full((6, 24, 24), -800, np.int16), (1.0, 0.8, 0.8)),
                           root / fault)
    third = sorted((root / "truncated-slice").iterdir())[2]
    third.write_bytes(third.read_bytes()[:-100])
    sorted((root / "missing-slice").iterdir())[2].unlink()
    return root


@pytest.mark.parametrize("fault, problem", [
    ("truncated-slice", "cannot decode the pixel data"), ("missing-slice", "missing slices")])
def test_pe_detect_refuses_bad_dicom_series(fault, problem, dicom, models, tmp_path, capsys):
    refused(pe, ["detect", dicom / fault, "--model", models["pe"], "--out", tmp_path / "d"],
            capsys, fault, problem)


# --------------------------------------------------------------------------- interrupted


def test_an_interrupted_preparation_is_removed_by_the_next(tmp_path):
    """tfds prepares into incomplete.<random>_<version>/ and renames it when done; a killed
    run leaves that folder, which the next preparation removes."""
    import apps.cimt.dataset  # noqa: F401  (registers the builder)
    from medkeras.datasets import builder, default_data_dir

    folder = carotid_folder(tmp_path, cases=5)
    leftover = (pathlib.Path(default_data_dir()) / "medkeras_carotid_imt"
                / "incomplete.K1LLED_1.0.0")
    leftover.mkdir(parents=True)
    (leftover / "medkeras_carotid_imt-train.tfrecord-00000-of-00001").write_bytes(b"x" * 1000)
    prepared = builder("carotid_imt", manual_dir=folder)
    assert not leftover.exists()
    assert prepared.info.splits["train"].num_examples + \
        prepared.info.splits["test"].num_examples == 5


def test_an_interrupted_measurement_keeps_the_previous_one(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the results are written: the previous, complete results stay, and the
    command says how to resume."""
    import apps.cimt.measurement

    _, roi = _carotid_scan(tmp_path)
    before = _measure(tmp_path, "scan8.png", roi, capsys)
    out = tmp_path / "out-scan8.png"
    written = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(apps.cimt.measurement, "plot_overlay", interrupted)
    assert cimt(["measure", str(tmp_path / "scan16.png"), "--model", "baseline", "--roi", roi,
                 "--mm-per-pixel", "0.05", "--out", str(out)]) == 130
    assert "re-run" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == written
    assert json.loads((out / "measurement.json").read_text())["thickness_mm"] == before


# --------------------------------------------------------------------------- sweep directory


@pytest.mark.parametrize("fault, problem", [
    ("broken", "cannot read it as JSON"), ("unknown-setting", "stride_of_doom"),
    ("not-an-object", "expected an object"), ("absent", "no cimt.json here")])
def test_evaluate_refuses_a_broken_sweep_directory(fault, problem, tmp_path, capsys):
    record = tmp_path / "cimt.json"
    if fault == "broken":
        record.write_text('{"data": ')
    elif fault == "unknown-setting":
        record.write_text(json.dumps({"data": {"synthetic": "small"}, "settings": {
            **CIMTSettings().to_json(), "stride_of_doom": 1}}))
    elif fault == "not-an-object":
        record.write_text("[]")
    refused(cimt, ["evaluate", tmp_path], capsys, tmp_path, problem)
