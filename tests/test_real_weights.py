"""Real ImageNet SqueezeNet v1.1 weights (../shared): the whole chain classifies real photos."""

import numpy as np
import pytest
import skimage.data
import skimage.transform

import medkeras

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def caffe_input(image):
    """An RGB photo → 227×227 Caffe input (resize, BGR, mean subtracted)."""
    resized = skimage.transform.resize(image, (227, 227), anti_aliasing=True, preserve_range=True)
    return medkeras.preprocess_input(resized.astype(np.float32))


@pytest.fixture(scope="module")
def photos():
    return np.stack([caffe_input(skimage.data.chelsea()), caffe_input(skimage.data.coffee())])


def test_real_squeezenet_classifies_cat_and_espresso(shared, photos):
    weights = shared / "weights" / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
    model = medkeras.SqueezeNet(weights=str(weights))
    probabilities = model.predict(photos, verbose=0)
    cat, coffee = probabilities.argmax(axis=1)
    assert cat in CAT_CLASSES
    assert coffee == ESPRESSO and probabilities[1, ESPRESSO] > 0.9

    cv2 = pytest.importorskip("cv2")
    prototxt = shared / "weights" / "squeezenet_v1.1" / "deploy.prototxt"
    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))
    for image, ours in zip(photos, probabilities):
        net.setInput(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
        theirs = net.forward().reshape(-1)
        assert np.argsort(theirs)[-3:].tolist() == np.argsort(ours)[-3:].tolist()
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_real_squeezenet_fine_tunes_from_imagenet(shared, monkeypatch):
    """weights='imagenet' through a local copy, with a new 2-class head."""
    weights = shared / "weights" / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
    monkeypatch.setenv("MEDKERAS_SQUEEZENET_CAFFEMODEL", str(weights))
    model = medkeras.SqueezeNet(classes=2, weights="imagenet")
    reference = medkeras.SqueezeNet(weights=str(weights))
    np.testing.assert_array_equal(model.get_layer("fire9_expand3x3").get_weights()[0],
                                  reference.get_layer("fire9_expand3x3").get_weights()[0])
    assert model.output_shape == (None, 2)
