"""Frames in: an image, a folder of images or a video file, read one frame at a time.

Shared by the applications that run on colonoscopy (``apps.polyp`` detect, ``apps.frames``
score).  Images go through :func:`medkeras.io.images.read_image` (16-bit scaled, truncation
and oversized headers refused).  Videos are decoded with OpenCV frame by frame, so memory
does not grow with the video's length; when a video has been read to its end, the frames
decoded are compared with the count its container states, and a shortfall (a truncated
or damaged file) is an error rather than a silently shorter result; a first pass that
grabs every frame without keeping it finds most such files before any work is done.  A video is identified
by its content (:func:`medkeras.io.files.file_identity`), not by its path.

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

#: Frames a video may fall short of its container's count (some containers estimate it).
FRAME_COUNT_SLACK = 1

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
    from medkeras.io.files import is_ignored, refuse_links_out_of
    from medkeras.io.images import read_image

    if every < 1 or start < 0:
        raise ValueError(f"every must be >= 1 and start >= 0, got {every} and {start}")
    path = pathlib.Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not is_ignored(p))
        if not files:
            raise ValueError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        refuse_links_out_of(path, files)
    elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        files = [path]
    elif path.is_file() and is_video(path):
        yield from _video_frames(path, every, start)
        return
    elif not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    else:
        raise ValueError(f"{path}: not an image ({', '.join(IMAGE_SUFFIXES)}), a folder of "
                         f"images or a video ({', '.join(VIDEO_SUFFIXES)})")
    for file in files:
        yield str(file), file.stem, read_image(file, channels=3, dtype=np.uint8)


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


def _count_grabbable(path):
    """``(frames grabbed, frame count the container states)``: one pass without keeping
    any frame, so that a truncated video is refused before any work is done on it."""
    import cv2

    capture = _open_video(path)
    try:
        stated = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        grabbed = 0
        while capture.grab():
            grabbed += 1
    finally:
        capture.release()
    return grabbed, stated


def _refuse_short(path, decoded, stated):
    if decoded == 0:
        raise ValueError(f"{path}: no frame could be read")
    if stated and decoded < stated - FRAME_COUNT_SLACK:
        raise ValueError(f"{path}: decoded {decoded} of the {stated} frames its container "
                         "states: the file is truncated or damaged (re-encode or re-copy "
                         "it, e.g. ffmpeg -i in.mp4 -c:v libx264 out.mp4)")


def _video_frames(path, every, start):
    """Checked twice: a grabbing pass before the first frame (fast: nothing is kept) and
    the decoded count at the end (a frame may grab but fail to decode)."""
    import cv2

    _refuse_short(path, *_count_grabbable(path))
    capture = _open_video(path)
    stated = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
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
    _refuse_short(path, index, stated)
