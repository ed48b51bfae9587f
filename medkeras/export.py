"""Export a trained medkeras model as a TensorFlow SavedModel that takes raw RGB patches."""

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from medkeras.preprocessing import preprocess_input


def export_saved_model(model, path, *, metadata=None):
    """Write ``model`` as a SavedModel whose signatures preprocess inside.

    Signatures (both return ``{"probabilities": (batch, classes)}``):

    * ``serving_default``: ``images`` float32 RGB (grey for a one-channel model), values
      0–255, shape ``(batch, H, W, channels)``;
    * ``serving_uint8``: the same as uint8.

    ``H, W`` are the model's input size (227 for AlexNet and SqueezeNet); the model's own
    ``preprocess`` runs inside the signature.  ``metadata`` (JSON-serialisable) is written
    with the model's configuration to ``assets/medkeras.json``.  The directory is written
    next to ``path`` and moved into place, so an interrupted export leaves nothing half-done.

    Examples
    --------
    >>> import numpy as np, tensorflow as tf, medkeras, tempfile, os
    >>> model = medkeras.SqueezeNet(classes=2)
    >>> out = os.path.join(tempfile.mkdtemp(), "model")
    >>> medkeras.export_saved_model(model, out)
    >>> served = tf.saved_model.load(out)
    >>> served.signatures["serving_uint8"](images=tf.zeros((1, 227, 227, 3), tf.uint8))[
    ...     "probabilities"].shape
    TensorShape([1, 2])
    """
    height, width, channels = model.input_shape[1:]
    if channels not in (1, 3):
        raise ValueError(f"export_saved_model expects a grey or RGB model, got "
                         f"{model.input_shape}")
    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(f"{path} exists; remove it or choose another path")

    def serve(images):
        prepared = (model.preprocess(images) if hasattr(model, "preprocess")
                    else preprocess_input(images))
        return {"probabilities": model(prepared, training=False)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec((None, height, width, channels), tf.float32, name="images")])
    archive.add_endpoint("serving_uint8", lambda images: serve(tf.cast(images, tf.float32)),
                         input_signature=[tf.TensorSpec((None, height, width, channels), tf.uint8,
                                                        name="images")])
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".export-")
    try:
        archive.write_out(staging, verbose=False)
        os.makedirs(os.path.join(staging, "assets"), exist_ok=True)
        info = {"model": type(model).__name__, "config": model.get_config(),
                "input": {"size": [height, width], "color": "RGB" if channels == 3 else "grey",
                          "range": [0, 255]},
                "preprocessing": getattr(model, "preprocessing_name",
                                         "BGR, ImageNet mean subtracted") +
                " (inside the signature)",
                "metadata": metadata}
        with open(os.path.join(staging, "assets", "medkeras.json"), "w") as f:
            json.dump(info, f, indent=2, default=str)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


def load_exported(folder, *, application=None):
    """An exported cell (:func:`medkeras.experiment.sweep.export_cell`) → ``(model, info)``.

    ``application`` checks that the folder was exported by that application.
    """
    import pathlib

    import medkeras.models  # noqa: F401  (registers the custom layers and models)
    import medkeras.training  # noqa: F401  (registers the optimizer)

    folder = pathlib.Path(folder)
    model_path, info_path = folder / "model.keras", folder / "info.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else None
    what = f"an exported {application} model" if application else "an exported model"
    if not model_path.is_file() or info is None or (
            application is not None and info.get("application") != application):
        raise ValueError(f"{folder}: not {what} (model.keras and info.json expected; see "
                         f"`python -m apps.{application or '<app>'} export`)")
    return keras.saving.load_model(model_path), info
