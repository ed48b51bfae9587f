"""ImageNet weights: offline failure, verified download and cache, corrupt files."""

import dataclasses
import functools
import http.server
import os
import threading
import time

import numpy as np
import pytest

import medkeras
from medkeras import weights as zoo_weights
from medkeras.caffe import CaffeModelError, read_caffemodel
from tests import caffe_nets


def test_imagenet_offline_fails_fast_with_help():
    start = time.monotonic()
    with pytest.raises(medkeras.WeightsUnavailableError) as info:
        medkeras.AlexNet(weights="imagenet")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "http://127.0.0.1:9/bvlc_alexnet.caffemodel" in message  # the URL tried
    assert "bvlc_alexnet.caffemodel" in message and "9116a64c" in message  # the file
    assert "MEDKERAS_ALEXNET_CAFFEMODEL" in message and "weights='/path/to/" in message
    assert not os.listdir(zoo_weights.cache_dir()) if os.path.isdir(zoo_weights.cache_dir()) \
        else True  # nothing half-written in the cache


@pytest.fixture
def served_squeezenet(tmp_path, monkeypatch):
    """A random SqueezeNet .caffemodel on a local HTTP server, registered as the zoo file."""
    rng = np.random.default_rng(0)
    root = tmp_path / "www"
    root.mkdir()
    path = caffe_nets.write_random(root / "squeezenet_v1.1.caffemodel",
                                   caffe_nets.random_squeezenet_layers(rng), "V2")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    zoo = dataclasses.replace(zoo_weights.ZOO["squeezenet_v1.1"], sha1=zoo_weights.file_sha1(path),
                              size=os.path.getsize(path), content_sha256=None)
    monkeypatch.setitem(zoo_weights.ZOO, "squeezenet_v1.1", zoo)
    monkeypatch.setenv("MEDKERAS_SQUEEZENET_URL",
                       f"http://127.0.0.1:{server.server_address[1]}/squeezenet_v1.1.caffemodel")
    yield path, server
    server.shutdown()


def test_imagenet_download_verify_convert_cache(served_squeezenet, monkeypatch):
    path, server = served_squeezenet
    model = medkeras.SqueezeNet(classes=1000, weights="imagenet")
    reference = medkeras.SqueezeNet(classes=1000, weights=str(path))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    cached = sorted(os.listdir(zoo_weights.cache_dir()))
    assert cached == ["squeezenet_v1.1_imagenet_keras_v1.npz"]  # download removed once converted
    server.shutdown()  # the cache alone serves the next model, now with a new classifier
    monkeypatch.setenv("MEDKERAS_SQUEEZENET_URL", "http://127.0.0.1:9/none")
    two_class = medkeras.SqueezeNet(classes=2, weights="imagenet")
    np.testing.assert_array_equal(two_class.get_layer("fire9_expand3x3").get_weights()[0],
                                  model.get_layer("fire9_expand3x3").get_weights()[0])
    assert two_class.get_layer("conv10").get_weights()[0].shape == (1, 1, 512, 2)


def test_imagenet_rejects_a_corrupt_download(served_squeezenet, monkeypatch):
    path, _ = served_squeezenet
    zoo = dataclasses.replace(zoo_weights.ZOO["squeezenet_v1.1"], sha1="0" * 40)
    monkeypatch.setitem(zoo_weights.ZOO, "squeezenet_v1.1", zoo)
    with pytest.raises(medkeras.WeightsUnavailableError, match="does not match the official"):
        medkeras.SqueezeNet(weights="imagenet")
    assert os.listdir(zoo_weights.cache_dir()) == []  # the bad file was not kept


def test_imagenet_from_a_local_copy(served_squeezenet, monkeypatch):
    path, server = served_squeezenet
    server.shutdown()
    monkeypatch.setenv("MEDKERAS_SQUEEZENET_CAFFEMODEL", str(path))
    model = medkeras.SqueezeNet(weights="imagenet")
    assert os.path.exists(path)  # the user's file is never deleted
    expected = read_caffemodel(path).by_name()["conv1"].blobs[0].transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(model.get_layer("conv1").get_weights()[0], expected)


def test_imagenet_content_checksum(monkeypatch, tmp_path):
    """Files published without a checksum are verified by their weight values."""
    path = caffe_nets.write_random(tmp_path / "s.caffemodel",
                                   caffe_nets.random_squeezenet_layers(np.random.default_rng(1)), "V1")
    monkeypatch.setenv("MEDKERAS_SQUEEZENET_CAFFEMODEL", str(path))
    with pytest.raises(medkeras.WeightsUnavailableError, match="differ from the published"):
        medkeras.SqueezeNet(weights="imagenet")


def test_real_squeezenet_content_checksum(shared):
    net = read_caffemodel(shared / "weights" / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")
    assert zoo_weights.content_sha256(net) == zoo_weights.ZOO["squeezenet_v1.1"].content_sha256


# -- corrupt and mismatched files ------------------------------------------------------------

@pytest.fixture
def alexnet_file(tmp_path):
    layers = caffe_nets.random_alexnet_layers(np.random.default_rng(2), classes=2)
    return caffe_nets.write_random(tmp_path / "alexnet.caffemodel", layers, "V1"), layers


@pytest.mark.parametrize("fraction", [0.999, 0.5, 0.01])
def test_truncated_caffemodel(alexnet_file, tmp_path, fraction):
    path, _ = alexnet_file
    data = path.read_bytes()
    truncated = tmp_path / "truncated.caffemodel"
    truncated.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(CaffeModelError, match="truncated"):
        medkeras.AlexNet(classes=2, weights=str(truncated))


def test_garbage_and_text_files(tmp_path):
    garbage = tmp_path / "garbage.caffemodel"
    garbage.write_bytes(np.random.default_rng(0).bytes(10000))
    with pytest.raises(CaffeModelError, match="garbage.caffemodel"):
        medkeras.AlexNet(weights=str(garbage))
    text = tmp_path / "deploy.caffemodel"
    text.write_text(caffe_nets.alexnet_prototxt())
    with pytest.raises(CaffeModelError, match="prototxt|no layers with weights"):
        medkeras.AlexNet(weights=str(text))


def test_mismatched_layer_names_layer_and_shapes(alexnet_file, tmp_path):
    _, layers = alexnet_file
    rng = np.random.default_rng(3)
    bad = [(name, kind, [rng.standard_normal((256, 96, 5, 5)).astype(np.float32), blobs[1]])
           if name == "conv2" else (name, kind, blobs) for name, kind, blobs in layers]
    path = caffe_nets.write_random(tmp_path / "bad.caffemodel", bad, "V2")
    with pytest.raises(CaffeModelError) as info:
        medkeras.AlexNet(classes=2, weights=str(path))
    message = str(info.value)
    assert "'conv2'" in message and "(256, 48, 5, 5)" in message and "(256, 96, 5, 5)" in message


def test_missing_layer(alexnet_file, tmp_path):
    _, layers = alexnet_file
    path = caffe_nets.write_random(tmp_path / "nofc7.caffemodel",
                                   [layer for layer in layers if layer[0] != "fc7"], "V2")
    with pytest.raises(CaffeModelError, match="'fc7' is missing"):
        medkeras.AlexNet(classes=2, weights=str(path))


def test_squeezenet_file_into_alexnet(tmp_path):
    path = caffe_nets.write_random(tmp_path / "s.caffemodel",
                                   caffe_nets.random_squeezenet_layers(np.random.default_rng(0)), "V2")
    with pytest.raises(CaffeModelError, match="conv1.*expected Caffe shape \\(96, 3, 11, 11\\)"):
        medkeras.AlexNet(weights=str(path))
