"""Reading your own labelled images: three layouts, 8/16-bit, grey/colour, strict errors."""

import numpy as np
import pytest
from PIL import Image

from medkeras.data.labelled import breakhis_name, read_labelled
from medkeras.io.images import read_image
from medkeras.io.files import DatasetFolderError


def write(path, array, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, **kw).save(path)
    return path


def rgb(value, size=8):
    return np.full((size, size, 3), value, np.uint8)


def test_class_folders_with_groups_nested_and_16_bit(tmp_path):
    write(tmp_path / "benign" / "a.png", rgb(10))
    write(tmp_path / "benign" / "patient7" / "b.jpg", rgb(20))
    write(tmp_path / "benign" / "patient7" / "c.png", rgb(30))
    write(tmp_path / "malignant" / "d.tif", np.full((8, 8), 40000, np.uint16))
    write(tmp_path / "normal" / "e.bmp", rgb(50))
    (tmp_path / "normal" / ".DS_Store").write_text("")
    data = read_labelled(tmp_path)
    assert data.classes == ("benign", "malignant", "normal")
    assert data.counts() == {"benign": 3, "malignant": 1, "normal": 1}
    groups = dict(zip((p.name for p in data.paths), data.groups))
    assert groups["b.jpg"] == groups["c.png"] == "benign/patient7"
    assert groups["a.png"] == "benign/a.png"          # alone in its class folder: its own
    grey16 = read_image(data.paths[[p.name for p in data.paths].index("d.tif")])
    assert grey16.shape == (8, 8, 3)
    np.testing.assert_allclose(grey16, 40000 / 65535 * 255, rtol=1e-5)   # scaled, not clipped


def test_labels_csv_and_its_errors(tmp_path):
    write(tmp_path / "img" / "1.png", rgb(1))
    write(tmp_path / "img" / "2.png", rgb(2))
    (tmp_path / "labels.csv").write_text("path,label,group\nimg/1.png,yes,p1\nimg/2.png,no,p1\n")
    data = read_labelled(tmp_path)
    assert data.classes == ("no", "yes") and list(data.groups) == ["p1", "p1"]
    (tmp_path / "labels.csv").write_text("path,label\nimg/1.png,yes\nimg/3.png,no\n"
                                         "img/1.png,no\n../x.png,no\n")
    with pytest.raises(DatasetFolderError) as error:
        read_labelled(tmp_path)
    message = str(error.value)
    assert "line 3: no file img/3.png" in message
    assert "line 4: img/1.png is listed twice (line 2 too)" in message
    assert "line 5: ../x.png lies outside" in message


def test_class_folder_problems_are_listed_together(tmp_path):
    write(tmp_path / "a" / "1.png", rgb(1))
    (tmp_path / "a" / "notes.txt").write_text("x")
    (tmp_path / "b").mkdir()
    (tmp_path / "stray.png").write_bytes(b"")
    with pytest.raises(DatasetFolderError) as error:
        read_labelled(tmp_path, layout="folders")
    message = str(error.value)
    assert "notes.txt: not an image" in message and "b: no images" in message
    assert "stray.png: a file beside the class folders" in message
    write(tmp_path / "only" / "x" / "1.png", rgb(1))
    with pytest.raises(DatasetFolderError, match="at least two"):
        read_labelled(tmp_path / "only" / "x" / "..", layout="folders")


def test_breakhis_patients_and_magnification(tmp_path):
    assert breakhis_name("SOB_M_DC-14-2523-400-001.png") == {
        "kind": "M", "type": "DC", "patient": "14-2523", "magnification": "400",
        "index": "001"}
    assert breakhis_name("tumour.png") is None
    root = tmp_path / "BreaKHis_v1"
    for name in ("SOB_M_DC-14-2523-400-001.png", "SOB_M_DC-14-2523-100-001.png",
                 "SOB_B_A-14-22549AB-400-005.png", "SOB_B_A-14-22549AB-400-006.png"):
        write(root / "x" / name, rgb(5))
    (root / "README.txt").write_text("BreakHis")
    data = read_labelled(root, magnification=400)
    assert data.classes == ("benign", "malignant") and len(data) == 3
    assert sorted(set(data.groups)) == ["14-22549AB", "14-2523"]
    assert [reason for _, reason in data.left_out] == ["magnification 100, not 400"]


def test_bad_images_are_named(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(DatasetFolderError, match="bad.png: unreadable image"):
        read_image(bad)
    truncated = write(tmp_path / "t.png", np.random.default_rng(0).integers(
        0, 255, (64, 64, 3), dtype=np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DatasetFolderError, match="t.png: unreadable image"):
        read_image(truncated)
    # A header claiming 100000 × 100000 pixels: refused before decoding.
    import struct
    import zlib
    data = write(tmp_path / "bomb.png", rgb(1)).read_bytes()
    header = b"IHDR" + struct.pack(">II", 100000, 100000) + data[24:29]
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(data[:12] + header + struct.pack(">I", zlib.crc32(header)) + data[33:])
    with pytest.raises(DatasetFolderError, match="bomb.png: .*100000"):
        read_image(bomb)
    grey = read_image(write(tmp_path / "g.png", rgb(90)), channels=1)
    assert grey.shape == (8, 8, 1) and np.allclose(grey, 90, atol=0.01)
    with pytest.raises(ValueError, match="Received: layout='zip'"):
        read_labelled(tmp_path, layout="zip")
