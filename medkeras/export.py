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


def load_exported(folder, *, application=None, settings=None):
    """An exported cell (:func:`medkeras.experiment.sweep.export_cell`) → ``(model, info)``.

    Only what is ours is loaded: ``model.keras`` goes through Keras with ``safe_mode=True``
    (no Python code from the file: a ``lambda`` in a hand-crafted config is refused);
    where the export was quantized (``export --quantize int8``) the model returned runs the
    int8 file (:class:`medkeras.quantize.QuantizedModel`).  Every problem (a missing or broken ``info.json``, another application's model, a
    configuration Keras cannot build, settings with an unknown key) is a ``ValueError``
    naming the file.

    Parameters
    ----------
    application : str, optional
        The folder must have been exported by this application.
    settings : type, optional
        The application's settings class: ``info["settings"]`` is returned built with it
        (its own checks apply).
    """
    import pathlib

    import medkeras.models  # noqa: F401  (registers the custom layers and models)
    import medkeras.training  # noqa: F401  (registers the optimizer)
    from medkeras.io.files import read_json

    folder = pathlib.Path(folder)
    model_path, info_path = folder / "model.keras", folder / "info.json"
    what = f"an exported {application} model" if application else "an exported model"
    hint = (f"not {what} (model.keras and info.json expected; see "
            f"`python -m apps.{application or '<app>'} export`)")
    if not folder.is_dir() or not model_path.is_file() or not info_path.is_file():
        raise ValueError(f"{folder}: {hint}")
    info = read_json(info_path)
    if not isinstance(info, dict) or not isinstance(info.get("settings", {}), dict):
        raise ValueError(f"{info_path}: expected a JSON object with a settings object")
    if application is not None and info.get("application") != application:
        raise ValueError(f"{folder}: {hint}; its info.json says application "
                         f"{info.get('application')!r}")
    if settings is not None:
        try:
            info["settings"] = settings(**info.get("settings", {}))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{info_path}: its settings do not fit this version of "
                             f"{application or 'medkeras'} ({err})") from None
    try:
        model = keras.saving.load_model(model_path, safe_mode=True)
    except Exception as err:   # zip, HDF5, deserialisation: Keras raises many types
        raise ValueError(f"{model_path}: cannot load this model ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None
    quantized = info.get("quantized")
    if quantized is not None:                  # export --quantize int8: run the int8 file
        from medkeras.quantize import QuantizedModel

        if not isinstance(quantized, dict) or not (folder / str(quantized.get("file"))).is_file():
            raise ValueError(f"{info_path}: names a quantized model that is not in {folder}")
        model = QuantizedModel(model, folder / quantized["file"])
    return model, info
