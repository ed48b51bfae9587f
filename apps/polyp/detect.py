"""Detect polyps with an exported model: an image, a folder of images, or a video.

Each frame is resized to the model's working width, the handcrafted detector proposes
candidates, the CNN scores each candidate as the mean over its augmented patches (as in
training and evaluation), and the boxes are mapped back to the frame's pixels.  Written to
``OUT``: ``detections.csv`` (one row per candidate: ``source``, ``frame``, box ``y0, x0,
y1, x1`` in original pixels, ``probability``, ``detected`` = probability ≥ threshold),
``detections.json`` (the detected ones per frame, and the settings), and
``pictures/<frame>.png`` with the detected boxes drawn (for a video, only frames with a
detection).  A video is read frame by frame (memory independent of its length).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pandas as pd

from medkeras.inference import inference_function


def score_candidates(model, image, candidates, settings):
    """Mean polyp probability of each candidate over its augmented patches."""
    import medkeras
    from medkeras.data import crop_patches

    from .experiment import augmented_boxes

    table = pd.DataFrame(candidates.boxes, columns=["y0", "x0", "y1", "x1"])
    boxes, source, orientation = augmented_boxes(table, settings,
                                                 translations=settings.test_translations)
    zeros = np.zeros(len(boxes), np.int32)
    sums = np.zeros(len(table))
    for start in range(0, len(boxes), 256):
        part = slice(start, start + 256)
        patches = crop_patches(image[None].astype(np.float32), boxes[part], zeros[part],
                               orientation[part])
        probabilities = inference_function(model)(medkeras.preprocess_input(patches))
        np.add.at(sums, source[part], probabilities[:, 1])
    return sums / np.bincount(source, minlength=len(table))


def detect(input_path, *, model_dir, out, threshold=0.5, every=1, progress=True):
    """Run the detector and the model over ``input_path``; returns the number of frames."""
    from tqdm.auto import tqdm

    from medkeras.atomic import write_csv_atomic, write_json_atomic
    from medkeras.data.prefetch import prefetched
    from medkeras.export import load_exported
    from medkeras.io.video import is_video, iter_frames

    from .candidates import detect_candidates
    from .experiment import resize_to_width
    from .settings import PolypSettings

    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    model, info = load_exported(model_dir, application="polyp", settings=PolypSettings)
    settings = info["settings"]
    pictures = pathlib.Path(out) / "pictures"
    pictures.mkdir(parents=True, exist_ok=True)
    def prepared():           # decoding and candidates of the next frame overlap scoring
        for source, name, image in iter_frames(input_path, every=every):
            small = resize_to_width(image, settings.frame_width)
            yield source, name, image, small, detect_candidates(
                small, max_candidates=settings.max_candidates)

    rows, detected, count = [], {}, 0
    for source, name, image, small, found in tqdm(prefetched(prepared()), desc="detect",
                                                  unit="frame", disable=not progress):
        count += 1
        scale = image.shape[1] / small.shape[1]
        probabilities = (score_candidates(model, small, found, settings)
                         if len(found.scores) else np.zeros(0))
        boxes = found.boxes * scale
        for box, p in zip(boxes, probabilities):
            rows.append((source, name, *np.round(box, 1), float(p), bool(p >= threshold)))
        hits = [{"box": np.round(b, 1).tolist(), "probability": float(p)}
                for b, p in zip(boxes, probabilities) if p >= threshold]
        detected[name] = hits
        if hits or not is_video(source):
            _draw(image, hits, pictures / f"{name}.png")
    table = pd.DataFrame(rows, columns=["source", "frame", "y0", "x0", "y1", "x1",
                                        "probability", "detected"])
    write_csv_atomic(pathlib.Path(out) / "detections.csv", table)
    write_json_atomic(pathlib.Path(out) / "detections.json", {
        "input": str(input_path), "model": str(model_dir), "threshold": threshold,
        "settings": settings.to_json(), "frames": detected})
    return count


def _draw(image, hits, path):
    from PIL import Image, ImageDraw

    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    width = max(2, image.shape[1] // 300)
    for hit in hits:
        y0, x0, y1, x1 = hit["box"]
        draw.rectangle((x0, y0, x1, y1), outline=(40, 255, 40), width=width)
        draw.text((x0 + 3, y0 + 3), f"{hit['probability']:.2f}", fill=(40, 255, 40))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    picture.save(path)
