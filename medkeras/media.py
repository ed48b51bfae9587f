"""Frames in: an image, a folder of images or a video file, read one frame at a time.

Shared by the applications that run on colonoscopy (``apps.polyp`` detect, ``apps.frames``
score).  Videos are decoded with OpenCV frame by frame, so memory does not grow with the
video's length.

>>> import numpy as np, tempfile, pathlib
>>> from PIL import Image
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(folder / "a.png")
>>> [(name, image.shape) for _, name, image in iter_frames(folder)]
[('a', (4, 6, 3))]
"""

from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "is_video", "iter_frames", "video_info"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".wmv")


def is_video(path):
    return str(path).lower().endswith(VIDEO_SUFFIXES)


def iter_frames(path, *, every=1, start=0):
    """``(source, frame name, RGB uint8 image)`` of an image, a folder of images or a video.

    A video's frames are named ``frame000123`` (their index); ``every`` keeps every n-th
    frame of a video and ``start`` skips the frames before that index (to resume).
    Raises ``ValueError`` for anything that is not one of those, and for unreadable files.
    """
    from PIL import Image

    if every < 1 or start < 0:
        raise ValueError(f"every must be >= 1 and start >= 0, got {every} and {start}")
    path = pathlib.Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        files = [path]
    elif path.is_file() and is_video(path):
        yield from _video_frames(path, every, start)
        return
    else:
        raise ValueError(f"{path}: not an image, a folder of images or a video "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    for file in files:
        try:
            with Image.open(file) as image:
                yield str(file), file.stem, np.asarray(image.convert("RGB"))
        except OSError as err:
            raise ValueError(f"{file}: cannot read the image ({err})") from None


def _open_video(path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open this video")
    return capture


def video_info(path):
    """``(frame count, frames per second)`` as the container states them (0 if unknown)."""
    import cv2

    capture = _open_video(path)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    return max(count, 0), fps if np.isfinite(fps) and fps > 0 else 0.0


def _video_frames(path, every, start):
    capture = _open_video(path)
    index = 0
    try:
        while True:
            if index < start:        # grab without decoding: fast skipping on resume
                if not capture.grab():
                    break
                index += 1
                continue
            ok, bgr = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield str(path), f"frame{index:06d}", bgr[..., ::-1].copy()
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise ValueError(f"{path}: no frame could be read")
