"""Converted Caffe weights reproduce an independent Caffe implementation (OpenCV's importer)."""

import numpy as np
import pytest

import medkeras
from tests import caffe_nets

cv2 = pytest.importorskip("cv2")
if not hasattr(cv2, "dnn") or not hasattr(cv2.dnn, "readNetFromCaffe"):
    pytest.skip("needs OpenCV 4.x with the Caffe importer", allow_module_level=True)


def opencv_forward(prototxt_text, caffemodel, inputs_nhwc, outputs, tmp_path):
    prototxt = tmp_path / "deploy.prototxt"
    prototxt.write_text(prototxt_text)
    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    if hasattr(net, "enableWinograd"):
        net.enableWinograd(False)  # exact fp32 convolutions
    results = {name: [] for name in outputs}
    for image in inputs_nhwc:  # the prototxts declare batch 1
        net.setInput(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
        for name, value in zip(outputs, net.forward(outputs)):
            results[name].append(value.reshape(value.shape[0], -1)[0])
    return {name: np.stack(values) for name, values in results.items()}


def keras_forward(model, inputs, outputs):
    import keras
    probe = keras.Model(model.input, [model.get_layer(name).output for name in outputs])
    values = probe.predict(inputs, verbose=0)
    return {name: np.asarray(v).reshape(len(inputs), -1) for name, v in zip(outputs, values)}


def assert_close(found, expected, what):
    scale = np.abs(expected).max()
    assert scale > 1e-3, f"{what}: reference is degenerate (max |value| {scale})"
    error = np.abs(found - expected).max() / scale
    assert error <= 1e-4, f"{what}: relative error {error:.2e}"


def random_inputs(rng, n=3):
    """Caffe-preprocessed inputs: BGR pixels 0-255 minus the ImageNet mean."""
    pixels = rng.uniform(0, 255, (n, 227, 227, 3)).astype(np.float32)
    return medkeras.preprocess_input(pixels)


@pytest.mark.parametrize("fmt", ["V1", "V2"])
def test_alexnet_matches_opencv(fmt, tmp_path):
    rng = np.random.default_rng(7)
    # fc weights scaled down so the softmax is not saturated and prob is informative too.
    caffemodel = caffe_nets.write_random(tmp_path / f"alexnet_{fmt}.caffemodel",
                                         caffe_nets.random_alexnet_layers(rng, fc_scale=0.05), fmt)
    assert medkeras.caffe.read_caffemodel(caffemodel).format == fmt
    model = medkeras.AlexNet(weights=str(caffemodel))
    inputs = random_inputs(rng)
    names = ["conv1", "pool2", "conv5", "fc6", "fc8", "prob"]
    reference = opencv_forward(caffe_nets.alexnet_prototxt(), caffemodel, inputs, names, tmp_path)
    ours = keras_forward(model, inputs, names)
    for name in names:
        expected = reference[name]
        if name.startswith("conv") or name in ("fc6", "fc7"):
            # OpenCV returns these layers' outputs before Caffe's in-place ReLU; Keras'
            # layers apply the ReLU.
            expected = np.maximum(expected, 0)
        if name in ("conv1", "pool2", "conv5"):
            # Feature maps are NHWC here and NCHW in OpenCV: compare in one layout.
            shape = model.get_layer(name).output.shape[1:]
            found = ours[name].reshape(len(inputs), *shape).transpose(0, 3, 1, 2)
            found = found.reshape(len(inputs), -1)
        else:
            found = ours[name]
        assert_close(found, expected, f"AlexNet {fmt} {name}")
    # The inputs give clearly different outputs, so agreement is not agreement on a constant.
    fc8 = reference["fc8"]
    assert np.abs(fc8[0] - fc8[1]).max() > 1e-2 * np.abs(fc8).max()


def test_alexnet_fc6_order_matters(tmp_path):
    """Guard against a silent flattening mistake: a model without the C,H,W → H,W,C reorder
    must disagree with OpenCV."""
    rng = np.random.default_rng(3)
    layers = caffe_nets.random_alexnet_layers(rng, fc_scale=0.05)
    caffemodel = caffe_nets.write_random(tmp_path / "a.caffemodel", layers, "V2")
    model = medkeras.AlexNet(weights=str(caffemodel))
    inputs = random_inputs(rng, 1)
    reference = opencv_forward(caffe_nets.alexnet_prototxt(), caffemodel, inputs, ["fc8"], tmp_path)
    fc6 = dict((name, blobs) for name, _, blobs in layers)["fc6"][0]
    model.get_layer("fc6").set_weights([fc6.T, model.get_layer("fc6").get_weights()[1]])
    wrong = keras_forward(model, inputs, ["fc8"])["fc8"]
    assert np.abs(wrong - reference["fc8"]).max() > 1e-2 * np.abs(reference["fc8"]).max()


@pytest.mark.parametrize("fmt", ["V1", "V2"])
def test_squeezenet_matches_opencv(fmt, tmp_path):
    rng = np.random.default_rng(11)
    caffemodel = caffe_nets.write_random(tmp_path / f"squeezenet_{fmt}.caffemodel",
                                         caffe_nets.random_squeezenet_layers(rng), fmt)
    model = medkeras.SqueezeNet(weights=str(caffemodel))
    inputs = random_inputs(rng)
    names = ["pool10", "prob"]
    reference = opencv_forward(caffe_nets.squeezenet_prototxt(), caffemodel, inputs, names, tmp_path)
    ours = keras_forward(model, inputs, names)
    for name in names:
        assert_close(ours[name], reference[name], f"SqueezeNet {fmt} {name}")


def test_squeezenet_ceil_pooling_sizes():
    model = medkeras.SqueezeNet(classes=2)
    sizes = [model.get_layer(name).output.shape[1] for name in ("conv1", "pool1", "pool3", "pool5")]
    assert sizes == [113, 56, 28, 14]  # Caffe's ceil rounding; Keras' floor gives 55, 27, 13


def test_new_classifier_when_classes_differ(tmp_path):
    rng = np.random.default_rng(5)
    layers = caffe_nets.random_squeezenet_layers(rng)
    caffemodel = caffe_nets.write_random(tmp_path / "s.caffemodel", layers, "V2")
    model = medkeras.SqueezeNet(classes=3, weights=str(caffemodel), seed=1)
    blobs = {name: b for name, _, b in layers}
    np.testing.assert_array_equal(model.get_layer("fire9_expand3x3").get_weights()[0],
                                  blobs["fire9/expand3x3"][0].transpose(2, 3, 1, 0))
    kernel = model.get_layer("conv10").get_weights()[0]
    assert kernel.shape == (1, 1, 512, 3)
    fresh = medkeras.SqueezeNet(classes=3, seed=1).get_layer("conv10").get_weights()[0]
    np.testing.assert_array_equal(kernel, fresh)  # the new head keeps its seeded initialisation
