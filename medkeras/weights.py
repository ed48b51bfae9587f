"""ImageNet weights of the Caffe model zoo: download, verify, convert once, cache.

``AlexNet(weights="imagenet")`` needs the official ``bvlc_alexnet.caffemodel`` (BVLC model
zoo, licence "unrestricted").  It is downloaded once, its SHA-1 and size checked, converted to
Keras' layout and cached as ``<cache>/<name>_imagenet_keras_v1.npz``; the download itself is
then deleted.  The cache directory is ``$MEDKERAS_HOME`` if set, else
``$KERAS_HOME/models/medkeras`` (``~/.keras/models/medkeras``).

Offline machines: download the file elsewhere and either pass the path directly
(``AlexNet(weights="/path/bvlc_alexnet.caffemodel")``) or set ``MEDKERAS_ALEXNET_CAFFEMODEL``
to it, so ``weights="imagenet"`` verifies and converts it.  ``MEDKERAS_ALEXNET_URL`` overrides
the download address (a mirror; tests point it at an unreachable one).  SqueezeNet uses
``MEDKERAS_SQUEEZENET_CAFFEMODEL`` and ``MEDKERAS_SQUEEZENET_URL``.
"""

import dataclasses
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

import numpy as np

from medkeras.caffe import caffe_to_keras, read_caffemodel

CONVERTER_VERSION = 1
DOWNLOAD_TIMEOUT_S = 10.0


class WeightsUnavailableError(OSError):
    """The ImageNet weights could be neither found locally nor downloaded and verified."""


@dataclasses.dataclass(frozen=True)
class ZooWeights:
    """One model zoo file and how to check it.

    ``sha1``/``size`` check the file's bytes.  ``content_sha256`` checks the weight values
    instead (layer names and float32 blobs, in file order), for files published without a
    checksum: it is the same for any faithful copy, however it is packed.
    """
    name: str
    filename: str
    url: str
    url_env: str
    file_env: str
    sha1: str = None
    size: int = None
    content_sha256: str = None


ZOO = {
    "bvlc_alexnet": ZooWeights(
        name="bvlc_alexnet", filename="bvlc_alexnet.caffemodel",
        url="http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel",
        url_env="MEDKERAS_ALEXNET_URL", file_env="MEDKERAS_ALEXNET_CAFFEMODEL",
        sha1="9116a64c0fbe4459d18f4bb6b56d647b63920377", size=243862414),
    "squeezenet_v1.1": ZooWeights(
        name="squeezenet_v1.1", filename="squeezenet_v1.1.caffemodel",
        url="https://raw.githubusercontent.com/forresti/SqueezeNet/master/SqueezeNet_v1.1/"
            "squeezenet_v1.1.caffemodel",
        url_env="MEDKERAS_SQUEEZENET_URL", file_env="MEDKERAS_SQUEEZENET_CAFFEMODEL",
        content_sha256="e0cf54c292799979445dc46bcf4193263329e4d5a1ebf9c2d2493e251dda7678"),
}


def cache_dir():
    """Where converted weights are cached (created on demand)."""
    if os.environ.get("MEDKERAS_HOME"):
        return os.environ["MEDKERAS_HOME"]
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(keras_home, "models", "medkeras")


def file_sha1(path, chunk=1 << 22):
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(caffe_net):
    """SHA-256 of a Caffe model's weight values, independent of how the file was packed."""
    digest = hashlib.sha256()
    for layer in caffe_net.layers:
        for blob in layer.blobs:
            digest.update(layer.name.encode())
            digest.update(np.ascontiguousarray(blob, dtype="<f4").tobytes())
    return digest.hexdigest()


def _help(zoo):
    return (f"To use a copy you already have, pass it directly (weights='/path/to/{zoo.filename}') "
            f"or set {zoo.file_env}=/path/to/{zoo.filename}; to use a mirror, set "
            f"{zoo.url_env}.")


def _verify_file(zoo, path):
    if zoo.size is not None and os.path.getsize(path) != zoo.size:
        raise WeightsUnavailableError(
            f"{path} has {os.path.getsize(path)} bytes, but the official {zoo.filename} has "
            f"{zoo.size}: the file is truncated or not the official one. {_help(zoo)}")
    if zoo.sha1 is not None and file_sha1(path) != zoo.sha1:
        raise WeightsUnavailableError(
            f"{path} does not match the official {zoo.filename} (sha1 {zoo.sha1}): the file is "
            f"corrupt or a different model. {_help(zoo)}")


def _verify_content(zoo, path, net):
    if zoo.content_sha256 is not None and content_sha256(net) != zoo.content_sha256:
        raise WeightsUnavailableError(
            f"the weights in {path} differ from the published {zoo.filename} "
            f"(content sha256 {zoo.content_sha256}). {_help(zoo)}")


def download(url, destination, *, timeout=DOWNLOAD_TIMEOUT_S, progress=True):
    """Download ``url`` to ``destination`` atomically, with a progress bar.

    Raises ``OSError`` (from urllib) on any network failure; never leaves a partial file.
    """
    from tqdm.auto import tqdm

    directory = os.path.dirname(os.path.abspath(destination))
    os.makedirs(directory, exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        fd, partial = tempfile.mkstemp(dir=directory, suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                                   desc=os.path.basename(destination),
                                                   disable=not progress) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
            os.replace(partial, destination)
        finally:
            if os.path.exists(partial):
                os.remove(partial)


def _locate_caffemodel(zoo):
    """A verified local copy of the zoo file: user-provided, cached, or downloaded."""
    user_copy = os.environ.get(zoo.file_env)
    if user_copy:
        if not os.path.isfile(user_copy):
            raise WeightsUnavailableError(f"{zoo.file_env}={user_copy} is not a file. {_help(zoo)}")
        _verify_file(zoo, user_copy)
        return user_copy, False
    target = os.path.join(cache_dir(), zoo.filename)
    if not os.path.isfile(target):
        url = os.environ.get(zoo.url_env) or zoo.url
        try:
            download(url, target)
        except (OSError, ValueError) as err:  # URLError, timeouts, refused, bad URL
            reason = getattr(err, "reason", err)
            raise WeightsUnavailableError(
                f"could not download the ImageNet weights of {zoo.name}: {url} is unreachable "
                f"({reason}). medkeras needs the file {zoo.filename}"
                + (f" ({zoo.size:,} bytes, sha1 {zoo.sha1})" if zoo.sha1 else "")
                + f". {_help(zoo)}") from None
    try:
        _verify_file(zoo, target)
    except WeightsUnavailableError:
        os.remove(target)  # never keep a bad download in the cache
        raise
    return target, True


def imagenet_weights(name, caffe_specs):
    """Converted ImageNet weights of a zoo model: Keras layer name → ``[kernel, bias]``.

    ``caffe_specs`` is the model's map from Caffe layers to Keras layers (its
    ``caffe_specs``).

    Loads the cache when present; otherwise finds or downloads the ``.caffemodel``, verifies
    it, converts it with the model's layer map and caches the result.

    Raises
    ------
    WeightsUnavailableError
        Offline, unreachable, or a file that fails verification; the message names the URL,
        the file and how to provide a local copy.
    """
    if name not in ZOO:
        raise ValueError(f"no ImageNet weights for {name!r}; known: {list(ZOO)}")
    zoo = ZOO[name]
    cached = os.path.join(cache_dir(), f"{name}_imagenet_keras_v{CONVERTER_VERSION}.npz")
    if os.path.isfile(cached):
        try:
            with np.load(cached) as arrays:
                return {layer: [arrays[f"{layer}/kernel"], arrays[f"{layer}/bias"]]
                        for layer in sorted({key.split("/")[0] for key in arrays.files})}
        except (OSError, ValueError, KeyError):
            os.remove(cached)  # a damaged cache entry is rebuilt below
    path, downloaded = _locate_caffemodel(zoo)
    net = read_caffemodel(path)
    _verify_content(zoo, path, net)
    weights = caffe_to_keras(net, caffe_specs, source=path)
    os.makedirs(cache_dir(), exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=cache_dir(), suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **{f"{layer}/{part}": array for layer, arrays in weights.items()
                       for part, array in zip(("kernel", "bias"), arrays)})
    os.replace(partial, cached)
    if downloaded:
        os.remove(path)
    return weights
