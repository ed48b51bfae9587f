"""medkeras.datasets (GroupedBuilder, builder, fraction_split) and the polyp and frame builders.

Each builder is prepared on a tiny folder written here (32×48 images); the slow test prepares
Kvasir-SEG from ../shared when it is there.
"""

import json
import logging
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import apps.frames.dataset  # noqa: F401  (registers medkeras_colonoscopy_frames with tfds)
import apps.polyp.dataset  # noqa: F401  (registers medkeras_kvasir_seg, medkeras_cvc_clinicdb)
from apps.polyp.dataset import polyp_components
from medkeras import datasets
from medkeras.datasets import (DatasetFolderError, GroupedBuilder, Record, fraction_split,
                               split_groups)

H, W = 32, 48
SQUARES = [(slice(2, 10), slice(3, 13)), (slice(20, 30), slice(30, 46))]
# (ymin, xmin, ymax, xmax), normalised, max edges exclusive
SQUARE_BOXES = [(2 / H, 3 / W, 10 / H, 13 / W), (20 / H, 30 / W, 30 / H, 46 / W)]


def _rgb(seed, height=H, width=W):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _mask(squares=SQUARES, height=H, width=W):
    mask = np.zeros((height, width), np.uint8)
    for rows, cols in squares:
        mask[rows, cols] = 255
    return mask


def _save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def kvasir_folder(root, frames=10, groups_per=2):
    """Kvasir layout: f0 has an empty mask, the others two squares; groups of ``groups_per``."""
    boxes = {}
    for i in range(frames):
        squares = [] if i == 0 else SQUARES
        _save(root / "images" / f"f{i}.jpg", _rgb(i), quality=95)
        _save(root / "masks" / f"f{i}.jpg", _mask(squares), quality=95)
        boxes[f"f{i}"] = {"height": H, "width": W, "bbox": [
            {"label": "polyp", "xmin": c.start, "ymin": r.start, "xmax": c.stop, "ymax": r.stop}
            for r, c in squares]}
    (root / "bboxes.json").write_text(json.dumps(boxes))
    if groups_per:
        (root / "groups.csv").write_text("name,group\n" + "".join(
            f"f{i}.jpg,video{i // groups_per}\n" for i in range(frames)))
    return root


def _examples(builder, split, **kwargs):
    return list(tfds.as_numpy(builder.as_dataset(split=split, **kwargs)))


def _text(values):
    return [v.decode() for v in values]


@pytest.fixture(scope="module")
def kvasir(tmp_path_factory):
    folder = kvasir_folder(tmp_path_factory.mktemp("kvasir"))
    data_dir = tmp_path_factory.mktemp("kvasir_data")
    return datasets.builder("kvasir_seg", manual_dir=folder, data_dir=data_dir), folder


# -- the shared machinery ------------------------------------------------------------------


def test_split_groups_is_seeded_and_group_exact():
    groups = [f"p{i}" for i in range(20) for _ in range(3)]
    test, train = split_groups(groups, 0.2, seed=0)
    assert len(test) == 4 and len(train) == 16 and not set(test) & set(train)
    assert sorted(test + train) == sorted(set(groups))
    assert split_groups(list(reversed(groups)), 0.2, seed=0) == (test, train)  # order-free
    assert split_groups(groups, 0.2, seed=1) != (test, train)
    assert split_groups(["a", "b"], 0.2, seed=0)[0] != []  # at least one test group
    assert split_groups(["a"], 0.2, seed=0) == ([], ["a"])
    assert split_groups(["a", "b", "c"], 0.0, seed=0)[0] == []


def test_polyp_components_drop_specks_below_the_documented_fraction():
    mask = np.zeros((200, 200), bool)
    mask[10:20, 10:20] = True
    mask[100, 100] = True  # 1 px = 0.0025% of the frame: JPEG speckle
    mask[150:152, 150:152] = True  # 4 px = 0.01%: kept
    mask[20, 20] = True  # touches the first square diagonally: 8-connectivity joins it
    polyps = polyp_components(mask)
    assert [p["area"] for p in polyps] == [101, 4]
    assert polyps[0]["bbox"] == (10 / 200, 10 / 200, 21 / 200, 21 / 200)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="kvasir_seg.*synthetic_carotid|colonoscopy_frames"):
        datasets.builder("kvasir")


def test_a_builder_needing_a_folder_says_how_to_give_it():
    with pytest.raises(DatasetFolderError, match=r"(?s)manual_dir=.*Kvasir-SEG"):
        datasets.builder("kvasir_seg")
    with pytest.raises(DatasetFolderError, match="nowhere.*is missing"):
        datasets.builder("kvasir_seg", manual_dir="/nowhere")


class ToyCounts(GroupedBuilder, skip_registration=True):
    """Generated examples: one per (group, index) of GROUPS."""

    NEEDS_FOLDER = False
    GROUPS = {"a": 2}

    def _features(self):
        return {"value": np.int64}

    def _scan(self, folder):
        assert folder is None
        return [Record(f"{g}{i}", g, i) for g, n in self.GROUPS.items() for i in range(n)]

    def _example(self, payload):
        return {"value": payload}


def test_one_group_goes_to_train_and_keys_must_be_unique(tmp_path):
    toy = ToyCounts(data_dir=tmp_path / "one")
    toy.download_and_prepare()
    assert toy.name == "medkeras_toy_counts" and list(toy.info.splits) == ["train"]
    assert fraction_split(toy, 0.5) == "train[:2]"
    with pytest.raises(ValueError, match="no group record for split 'test'"):
        fraction_split(toy, 0.5, split="test")

    class Twice(ToyCounts, skip_registration=True):
        def _scan(self, folder):
            return super()._scan(folder) * 2

    with pytest.raises(DatasetFolderError, match="two examples with the key 'a0'"):
        Twice(data_dir=tmp_path / "twice").download_and_prepare()
    assert not (tmp_path / "twice" / Twice.name / "1.0.0").exists()


# -- kvasir_seg ----------------------------------------------------------------------------


def test_kvasir_counts_features_and_polyps(kvasir):
    builder, folder = kvasir
    assert builder.name == "medkeras_kvasir_seg"
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 8,
                                                                            "test": 2}
    examples = {e["name"].decode(): e for e in _examples(builder, "train+test")}
    assert sorted(examples) == [f"f{i}" for i in range(10)]
    frame = examples["f3"]
    assert frame["image"].shape == (H, W, 3) and frame["image"].dtype == np.uint8
    assert frame["mask"].shape == (H, W, 1) and np.array_equal(frame["mask"][:, :, 0],
                                                               _mask() // 255)
    np.testing.assert_allclose(frame["polyps"]["bbox"], SQUARE_BOXES, atol=1e-6)
    assert frame["polyps"]["area"].tolist() == [80, 160]
    np.testing.assert_allclose(frame["boxes"], SQUARE_BOXES, atol=1e-6)
    assert frame["group"] == b"video1" and frame["key"] == b"f3"
    empty = examples["f0"]
    assert empty["polyps"]["bbox"].shape == (0, 4) and empty["boxes"].shape == (0, 4)
    # the JPEG is stored as the file's own bytes, not re-encoded
    raw = {e["name"].decode(): e["image"] for e in _examples(
        builder, "train+test", decoders={"image": tfds.decode.SkipDecoding()})}
    assert raw["f3"] == (folder / "images" / "f3.jpg").read_bytes()
    image, mask = next(iter(builder.as_dataset(split="train", as_supervised=True)))
    assert image.shape == (H, W, 3) and mask.shape == (H, W, 1)


def test_kvasir_splits_are_group_disjoint_in_the_recorded_seeded_order(kvasir):
    builder, _ = kvasir
    train = _text(e["group"] for e in _examples(builder, "train"))
    test = _text(e["group"] for e in _examples(builder, "test"))
    assert not set(train) & set(test) and len(set(train) | set(test)) == 5
    expected_test, expected_train = split_groups([f"video{i}" for i in range(5)], 0.2, 0)
    splits = builder.info.metadata["splits"]
    assert splits["test"]["groups"] == expected_test == sorted(set(test))
    assert splits["train"]["groups"] == expected_train
    assert train == [g for g in expected_train for _ in range(2)]  # written in group order
    assert splits["train"]["group_ends"] == [2, 4, 6, 8]


def test_fraction_split_is_nested_and_group_exact(kvasir):
    builder, _ = kvasir
    order = builder.info.metadata["splits"]["train"]["groups"]
    previous = []
    for fraction, groups in [(0.1, 1), (0.25, 1), (0.5, 2), (0.75, 3), (1.0, 4)]:
        split = fraction_split(builder, fraction)
        assert split == f"train[:{2 * groups}]"
        seen = _text(e["group"] for e in _examples(builder, split))
        assert seen == [g for g in order[:groups] for _ in range(2)]
        assert seen[:len(previous)] == previous
        previous = seen
    assert fraction_split(builder, 1.0, split="test") == "test[:2]"
    with pytest.raises(ValueError, match="fraction"):
        fraction_split(builder, 0)


def test_tfds_load_by_registered_name_reuses_the_prepared_copy(kvasir):
    builder, _ = kvasir
    test = tfds.load("medkeras_kvasir_seg", split="test", data_dir=builder.data_dir_root,
                     download=False)
    assert len(list(test)) == 2


def test_tfds_load_prepares_from_the_manual_dir_and_reports_folder_errors_intact(tmp_path):
    folder = kvasir_folder(tmp_path / "kvasir", frames=3, groups_per=0)
    config = tfds.download.DownloadConfig(manual_dir=str(folder))
    train = tfds.load("medkeras_kvasir_seg", split="train", data_dir=tmp_path / "data",
                      download_and_prepare_kwargs={"download_config": config})
    assert len(list(train)) == 2
    (folder / "masks" / "f1.jpg").unlink()
    with pytest.raises(DatasetFolderError, match=r"images/f1\.jpg: image without a mask"):
        tfds.load("medkeras_kvasir_seg", split="train", data_dir=tmp_path / "data2",
                  download_and_prepare_kwargs={"download_config": config})
    with pytest.raises(DatasetFolderError, match="no source folder.*does not exist"):
        tfds.load("medkeras_kvasir_seg", split="train", data_dir=tmp_path / "data3",
                  download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(
                      manual_dir=str(tmp_path / "absent"))})


def test_builder_prepares_again_when_the_folder_changes(tmp_path, caplog):
    folder = kvasir_folder(tmp_path / "kvasir", frames=3, groups_per=0)
    first = datasets.builder("kvasir_seg", manual_dir=folder)  # MEDKERAS_HOME/datasets
    assert str(first.data_path).startswith(datasets.default_data_dir())
    assert first.info.splits.total_num_examples == 3
    with caplog.at_level(logging.WARNING, logger="medkeras.datasets"):
        same = datasets.builder("kvasir_seg", manual_dir=folder)
        recorded = datasets.builder("kvasir_seg")  # no folder given: the recorded one
    assert same.info.splits.total_num_examples == 3 and not caplog.records
    assert recorded.info.metadata["source"]["folder"] == str(folder.resolve())

    _save(folder / "images" / "f3.jpg", _rgb(3), quality=95)
    _save(folder / "masks" / "f3.jpg", _mask(), quality=95)
    boxes = json.loads((folder / "bboxes.json").read_text())
    boxes["f3"] = boxes["f2"]
    (folder / "bboxes.json").write_text(json.dumps(boxes))
    with caplog.at_level(logging.WARNING, logger="medkeras.datasets"):
        again = datasets.builder("kvasir_seg", manual_dir=folder)
    assert again.info.splits.total_num_examples == 4
    assert len(caplog.records) == 1 and "changed" in caplog.records[0].getMessage()
    assert "f3" in _text(e["name"] for e in _examples(again, "train+test"))

    moved = folder.rename(tmp_path / "moved")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medkeras.datasets"):
        datasets.builder("kvasir_seg", manual_dir=moved)
    assert "folder" in caplog.records[0].getMessage() and "moved" in caplog.text


def _remove(*names):
    def change(folder):
        for name in names:
            (folder / name).unlink()
    return change


def _write(name, content):
    def change(folder):
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return change


def _truncate(name):
    def change(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:len(data) // 2])
    return change


def _small_mask(folder):
    _save(folder / "masks" / "f3.jpg", _mask(height=30), quality=95)


def _edit_boxes(edit):
    def change(folder):
        boxes = json.loads((folder / "bboxes.json").read_text())
        edit(boxes)
        (folder / "bboxes.json").write_text(json.dumps(boxes))
    return change


KVASIR_BREAKAGES = {
    "image without mask": (_remove("masks/f1.jpg"), r"images/f1\.jpg: image without a mask"),
    "mask without image": (_remove("images/f2.jpg"), r"masks/f2\.jpg: mask without an image"),
    "unreadable image": (_write("images/f0.jpg", b"not a jpeg"),
                         r"images/f0\.jpg: unreadable image"),
    "truncated image": (_truncate("images/f4.jpg"), r"images/f4\.jpg: unreadable image"),
    "mask of another size": (_small_mask, r"masks/f3\.jpg: mask of 48×30 pixels for an image "
                                          r"of 48×32"),
    "broken json": (_write("bboxes.json", "{\"f0\": "), r"bboxes\.json: cannot read it"),
    "json names an unknown frame": (_edit_boxes(lambda b: b.update(zz=b["f1"])),
                                    r"bboxes\.json, 'zz': no such frame"),
    "json misses a frame": (_edit_boxes(lambda b: b.pop("f4")),
                            r"bboxes\.json: no entry for 1 frame\(s\): f4"),
    "json size disagrees": (_edit_boxes(lambda b: b["f2"].update(height=64)),
                            r"bboxes\.json, 'f2': says 48×64 pixels"),
    "groups.csv unknown frame": (_write("groups.csv", "name,group\nf0,a\nf1,a\nf2,b\nf3,b\n"
                                                      "f4,c\nf9,c\n"),
                                 r"groups\.csv, line 7: 'f9' is not a frame"),
    "stray file": (_write("images/notes.txt", "x"), r"images/notes\.txt: not an image"),
}


@pytest.mark.parametrize("breakage", list(KVASIR_BREAKAGES))
def test_kvasir_broken_folder_names_the_file_and_prepares_nothing(tmp_path, breakage):
    change, message = KVASIR_BREAKAGES[breakage]
    folder = kvasir_folder(tmp_path / "kvasir", frames=5, groups_per=0)
    change(folder)
    with pytest.raises(DatasetFolderError, match=message):
        datasets.builder("kvasir_seg", manual_dir=folder, data_dir=tmp_path / "data")
    assert not list((tmp_path / "data").glob("medkeras_kvasir_seg/*"))


# -- cvc_clinicdb --------------------------------------------------------------------------


def cvc_folder(root, masks_named="p"):
    for i in range(1, 5):
        _save(root / "Original" / f"{i}.tif", _rgb(i))
        _save(root / "Ground Truth" / f"{masks_named}{i}.tif", _mask(SQUARES[:1]))
    return root


def test_cvc_clinicdb_pairs_p_named_tiff_masks_and_takes_groups_from_csv(tmp_path):
    folder = cvc_folder(tmp_path / "cvc")
    (folder / "groups.csv").write_text("name,group\n1,s1\n2,s1\n3,s2\n4.tif,s3\n")
    builder = datasets.builder("cvc_clinicdb", manual_dir=folder, data_dir=tmp_path / "data")
    assert builder.name == "medkeras_cvc_clinicdb"
    examples = {e["name"].decode(): e for e in _examples(builder, "train+test")}
    assert sorted(examples) == ["1", "2", "3", "4"]
    assert np.array_equal(examples["2"]["image"], _rgb(2))  # TIFF stored losslessly (PNG)
    np.testing.assert_allclose(examples["2"]["polyps"]["bbox"], SQUARE_BOXES[:1], atol=1e-6)
    assert examples["2"]["boxes"].shape == (0, 4)
    assert {n: e["group"].decode() for n, e in examples.items()} == {
        "1": "s1", "2": "s1", "3": "s2", "4": "s3"}
    test_groups = {e["group"] for e in _examples(builder, "test")}
    train_groups = {e["group"] for e in _examples(builder, "train")}
    assert len(test_groups) == 1 and not test_groups & train_groups


def test_cvc_clinicdb_same_named_masks(tmp_path):
    folder = cvc_folder(tmp_path / "cvc", masks_named="")
    builder = datasets.builder("cvc_clinicdb", manual_dir=folder, data_dir=tmp_path / "data")
    assert builder.info.splits.total_num_examples == 4


@pytest.mark.parametrize("change, message", [
    (_write("Ground Truth/p9.tif", b""), r"Ground Truth/p9\.tif: mask without an image"),
    (lambda f: _save(f / "Ground Truth" / "2.png", _mask()),
     r"Original/2\.tif: two masks match it: 2\.png and p2\.tif"),
    (lambda f: (f / "Ground Truth").rename(f / "Labels"), r"no Ground Truth or GroundTruth"),
])
def test_cvc_clinicdb_broken_folder(tmp_path, change, message):
    folder = cvc_folder(tmp_path / "cvc")
    change(folder)
    with pytest.raises(DatasetFolderError, match=message):
        datasets.builder("cvc_clinicdb", manual_dir=folder, data_dir=tmp_path / "data")


# -- colonoscopy_frames --------------------------------------------------------------------


def test_frames_from_label_folders(tmp_path):
    for i in range(3):
        _save(tmp_path / "frames" / "informative" / f"i{i}.png", _rgb(i))
        _save(tmp_path / "frames" / "non_informative" / f"n{i}.jpg", _rgb(10 + i))
    builder = datasets.builder("colonoscopy_frames", manual_dir=tmp_path / "frames",
                               data_dir=tmp_path / "data")
    assert builder.name == "medkeras_colonoscopy_frames"
    assert builder.info.features["label"].names == ["non_informative", "informative"]
    examples = {e["name"].decode(): e for e in _examples(builder, "train+test")}
    assert sorted(examples) == ["informative/i0.png", "informative/i1.png",
                                "informative/i2.png", "non_informative/n0.jpg",
                                "non_informative/n1.jpg", "non_informative/n2.jpg"]
    assert examples["informative/i1.png"]["label"] == 1
    assert examples["non_informative/n2.jpg"]["label"] == 0
    assert np.array_equal(examples["informative/i1.png"]["image"], _rgb(1))
    assert examples["informative/i1.png"]["group"] == b"i1"
    assert examples["informative/i1.png"]["kind"] == b""
    assert builder.info.splits["test"].num_examples == 1  # round(0.2 × 6 groups)


def _labelled_frames(root, rows=None):
    rows = rows or [(f"v{i // 3}/f{i}.png", "informative" if i % 2 else "0", f"video{i // 3}",
                     "" if i % 2 else "blur") for i in range(12)]
    for i, (path, *_) in enumerate(rows):
        _save(root / path, _rgb(i))
    return _write_labels(root, rows)


def _write_labels(root, rows):
    (root / "labels.csv").write_text("path,label,video,kind\n" + "".join(
        ",".join(row) + "\n" for row in rows))
    return root


def test_frames_from_labels_csv_grouped_by_video(tmp_path):
    folder = _labelled_frames(tmp_path / "frames")
    builder = datasets.builder("colonoscopy_frames", manual_dir=folder,
                               data_dir=tmp_path / "data")
    train, test = _examples(builder, "train"), _examples(builder, "test")
    assert len(train) + len(test) == 12 and len(test) == 3  # one video of four
    assert not {e["group"] for e in train} & {e["group"] for e in test}
    frame = next(e for e in train + test if e["name"] == b"v1/f4.png")
    assert frame["label"] == 0 and frame["kind"] == b"blur" and frame["group"] == b"video1"
    assert fraction_split(builder, 0.5) == "train[:6]"


@pytest.mark.parametrize("extra, message", [
    (("a.png", "blurry", "", ""), r"line 3: unknown label 'blurry' for a\.png"),
    (("missing.png", "1", "", ""), r"line 3: .*missing\.png is missing"),
    (("./a.png", "1", "", ""), r"line 3: a\.png listed twice"),
    (("../a.png", "1", "", ""), r"line 3: '\.\./a\.png' must be a path inside"),
    (("bad.png", "1", "", ""), r"bad\.png: unreadable image"),
])
def test_frames_broken_labels_csv(tmp_path, extra, message):
    folder = tmp_path / "frames"
    _save(folder / "a.png", _rgb(0))
    folder.joinpath("bad.png").write_bytes(b"garbage")
    _write_labels(folder, [("a.png", "informative", "", ""), extra])
    with pytest.raises(DatasetFolderError, match=message):
        datasets.builder("colonoscopy_frames", manual_dir=folder, data_dir=tmp_path / "data")


def test_frames_folder_without_labels(tmp_path):
    _save(tmp_path / "frames" / "images" / "a.png", _rgb(0))
    with pytest.raises(DatasetFolderError, match="neither labels.csv nor the folders"):
        datasets.builder("colonoscopy_frames", manual_dir=tmp_path / "frames",
                         data_dir=tmp_path / "data")


# -- real data -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.shared
def test_kvasir_seg_on_the_real_data(shared, tmp_path):
    folder = shared / "data" / "kvasir-seg"
    builder = datasets.builder("kvasir_seg", manual_dir=folder, data_dir=tmp_path)
    splits = {k: v.num_examples for k, v in builder.info.splits.items()}
    assert splits == {"train": 800, "test": 200}
    polyps, boxes = 0, 0
    for example in _examples(builder, "train+test",
                             decoders={"image": tfds.decode.SkipDecoding(),
                                       "mask": tfds.decode.SkipDecoding()}):
        polyps += len(example["polyps"]["area"])
        boxes += len(example["boxes"])
    assert polyps >= 1000 and boxes == 1071
    assert re.fullmatch(r"train\[:\d+\]", fraction_split(builder, 0.1))
