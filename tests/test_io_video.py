"""Frames in from images, folders and videos (medkeras.io.video)."""

import cv2
import numpy as np
import pytest
from PIL import Image

from medkeras.io.video import iter_frames, video_info


def _video(path, n=7, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(n):
        frame = np.full((size[1], size[0], 3), 30 * i, np.uint8)   # brightness encodes i
        writer.write(frame)
    writer.release()
    return path


def test_video_frames_every_and_start_keep_their_indices(tmp_path):
    video = _video(tmp_path / "clip.avi")
    assert video_info(video) == (7, 10.0)
    all_frames = list(iter_frames(video))
    assert [name for _, name, _ in all_frames] == [f"frame{i:06d}" for i in range(7)]
    brightness = [image.mean() for _, _, image in all_frames]
    assert np.allclose(brightness, 30 * np.arange(7), atol=3)     # in order, RGB uint8
    assert [n for _, n, _ in iter_frames(video, every=3)] == ["frame000000", "frame000003",
                                                              "frame000006"]
    resumed = list(iter_frames(video, start=4))
    assert [n for _, n, _ in resumed] == ["frame000004", "frame000005", "frame000006"]
    assert abs(resumed[0][2].mean() - 120) < 3


def test_folders_images_and_clear_errors(tmp_path):
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(tmp_path / "a.png")   # grey → RGB
    assert [(n, im.shape) for _, n, im in iter_frames(tmp_path)] == [("a", (5, 7, 3)),
                                                                      ("b", (5, 7, 3))]
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg: unreadable image"):
        list(iter_frames(tmp_path))
    with pytest.raises(ValueError, match="notes.txt: no such file"):
        list(iter_frames(tmp_path / "notes.txt"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt: not an image"):
        list(iter_frames(tmp_path / "notes.txt"))
    with pytest.raises(ValueError, match="no images"):
        (tmp_path / "empty").mkdir()
        list(iter_frames(tmp_path / "empty"))
