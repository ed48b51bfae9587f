"""An exported classify model on a folder or an image → class probabilities (CSV).

Images are read and resized exactly as in training (:func:`apps.classify.data.resize_image`
at the recorded size and channels), prepared by the model's own ``preprocess``; the CSV has
one row per image: its path, the probability of every class and the most probable class.
Any unreadable image stops the run with its name (nothing is silently skipped).
"""

from __future__ import annotations

import os

import numpy as np

from medkeras.inference import inference_function

__all__ = ["image_paths", "predict_images"]


def image_paths(source):
    """The image files of ``source``: the file itself, or every image under the folder
    (any depth, sorted); a ``FileNotFoundError``/``ValueError`` names what is wrong."""
    import pathlib

    from medkeras.io.files import IMAGE_EXTENSIONS, is_ignored, refuse_links_out_of

    path = pathlib.Path(source)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise ValueError(f"{path}: not an image (expected one of "
                             f"{', '.join(IMAGE_EXTENSIONS)})")
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    found = sorted(p for p in path.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not is_ignored(p))
    if not found:
        raise ValueError(f"{path}: no images in this folder (expected "
                         f"{', '.join(IMAGE_EXTENSIONS)})")
    refuse_links_out_of(path, found)
    return found


def predict_images(source, *, model_dir, out, batch_size=32, progress=True):
    """Class probabilities of the images of ``source`` by the exported model ``model_dir``,
    written to the CSV ``out`` (atomically); returns the table."""
    import pandas as pd
    from tqdm.auto import tqdm

    from medkeras.atomic import write_csv_atomic
    from medkeras.io.images import read_image
    from medkeras.export import load_exported

    from .data import resize_image
    from .settings import ClassifySettings

    if os.path.isdir(out):
        raise ValueError(f"--out {out} is a folder; give the CSV file to write")
    model, info = load_exported(model_dir, application="classify", settings=ClassifySettings)
    settings, classes = info["settings"], info.get("classes")
    if not (isinstance(classes, list) and len(classes) == model.output_shape[-1]
            and all(isinstance(c, str) for c in classes)):
        raise ValueError(f"{model_dir}/info.json: classes must list the "
                         f"{model.output_shape[-1]} class names of the model; got {classes!r}")
    paths = image_paths(source)
    rows = []
    bar = tqdm(total=len(paths), desc="predict", unit="image", disable=not progress)
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        images = np.stack([resize_image(read_image(p, channels=settings.channels),
                                        settings.size) for p in chunk])
        probabilities = inference_function(model)(model.preprocess(images))
        for path, p in zip(chunk, probabilities):
            rows.append({"path": str(path), **{f"p({name})": float(v)
                                               for name, v in zip(classes, p)},
                         "predicted": classes[int(p.argmax())]})
        bar.update(len(chunk))
    bar.close()
    table = pd.DataFrame(rows)
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    write_csv_atomic(out, table)
    return table
