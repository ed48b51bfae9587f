"""Layer-wise fine-tuning, schemes, serialisation and SavedModel export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import medkeras

PAPER_SCHEMES = ["scratch", "FT:only fc8", "FT:fc7-fc8", "FT:fc6-fc8", "FT:conv5-fc8",
                 "FT:conv4-fc8", "FT:conv3-fc8", "FT:conv2-fc8", "FT:conv1-fc8"]


def weights_by_layer(model):
    return {layer.name: [w.copy() for w in layer.get_weights()]
            for layer in model.layers if layer.weights}


def test_alexnet_schemes_are_the_papers():
    model = medkeras.AlexNet(classes=2)
    assert list(model.schemes) == PAPER_SCHEMES
    assert medkeras.AlexNet.scheme_table() == model.schemes  # no model needed to list them
    assert model.tunable_layers == ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def test_squeezenet_schemes():
    model = medkeras.SqueezeNet(classes=2)
    assert list(model.schemes)[:3] == ["scratch", "FT:only conv10", "FT:fire9-conv10"]
    assert model.schemes["FT:conv1-conv10"] == "conv1"
    assert [layer.name for layer in model.block_layers("fire5")] == [
        "fire5_squeeze1x1", "fire5_expand1x1", "fire5_expand3x3", "fire5_concat"]


@pytest.mark.parametrize("model_class,batch", [(medkeras.AlexNet, 4), (medkeras.SqueezeNet, 4)])
def test_training_changes_exactly_the_tuned_layers(model_class, batch):
    """For every tunable layer: after one step, exactly the expected weights changed.

    One compiled model is re-frozen in turn, which also checks that set_trainable_from takes
    effect on an already compiled model."""
    model = model_class(classes=2, init="msra", seed=0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, 227, 227, 3)).astype(np.float32)
    y = np.array([0, 1] * (batch // 2))
    model.compile(optimizer=medkeras.CaffeSGD(1e-4), loss="sparse_categorical_crossentropy",
                  jit_compile=False)
    blocks = model.tunable_layers
    for start, block in enumerate(blocks):
        model.set_trainable_from(block)
        assert model.compiled  # recompiled, not left uncompiled
        before = weights_by_layer(model)
        model.train_on_batch(x, y)
        after = weights_by_layer(model)
        assert all(np.isfinite(w).all() for ws in after.values() for w in ws)
        expected_trained = {layer.name for b in blocks[start:] for layer in model.block_layers(b)
                            if layer.weights}
        changed = {name for name in before
                   if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))}
        assert changed == expected_trained, f"train from {block}"


def test_squeezenet_classifier_relu():
    """Caffe's ReLU on conv10 stays for the ImageNet classifier, not for a new one."""
    assert medkeras.SqueezeNet().get_layer("conv10").activation.__name__ == "relu"
    assert medkeras.SqueezeNet(classes=2).get_layer("conv10").activation.__name__ == "linear"
    model = medkeras.SqueezeNet(classes=2, classifier_relu=True)
    assert model.get_layer("conv10").activation.__name__ == "relu"
    assert model.get_config()["classifier_relu"] is True


def test_set_trainable_from_validates():
    model = medkeras.AlexNet(classes=2)
    with pytest.raises(ValueError, match="conv6.*conv1"):
        model.set_trainable_from("conv6")
    model.set_trainable_from("FT:conv4-fc8")  # scheme names are accepted
    assert model.trainable_from == "conv4"
    assert [l.name for l in model.layers if l.trainable_weights] == [
        "conv4", "conv5", "fc6", "fc7", "fc8"]


@pytest.mark.filterwarnings("ignore:The object being serialized includes a `lambda`")
def test_set_trainable_from_refuses_when_recompile_impossible():
    model = medkeras.SqueezeNet(classes=2)
    model.compile(optimizer="sgd", loss=lambda y, p: tf.reduce_mean(p))  # not serialisable
    with pytest.raises(RuntimeError, match="compile"):
        model.set_trainable_from("conv10")


def test_constructor_validates():
    with pytest.raises(ValueError, match="classes"):
        medkeras.AlexNet(classes=1)
    with pytest.raises(ValueError, match="init"):
        medkeras.AlexNet(init="uniformish")
    with pytest.raises(ValueError, match="weights="):
        medkeras.AlexNet(weights="model.pt")
    with pytest.raises(FileNotFoundError):
        medkeras.AlexNet(weights="missing.caffemodel")


def test_keras_format_round_trip(tmp_path):
    model = medkeras.AlexNet(classes=3, seed=0, trainable_from="fc6")
    medkeras.compile_for_scheme(model, "FT:fc6-fc8", steps_per_epoch=2, jit_compile=False)
    x = np.random.default_rng(1).uniform(-50, 50, (4, 227, 227, 3)).astype(np.float32)
    model.fit(x, np.array([0, 1, 2, 0]), batch_size=2, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, medkeras.AlexNet)
    assert loaded.trainable_from == "fc6"
    assert [l.name for l in loaded.layers if l.trainable_weights] == ["fc6", "fc7", "fc8"]
    assert isinstance(loaded.optimizer, medkeras.CaffeSGD)
    assert loaded.optimizer.layer_multipliers == {"fc8": 10.0}
    assert int(loaded.optimizer.iterations) == 2
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    # Training continues from the restored state.
    loaded.fit(x, np.array([0, 1, 2, 0]), batch_size=2, epochs=1, verbose=0)


def test_keras_weights_file(tmp_path):
    model = medkeras.SqueezeNet(classes=2, seed=3)
    path = tmp_path / "squeezenet.weights.h5"
    model.save_weights(path)
    other = medkeras.SqueezeNet(classes=2, weights=str(path))
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_saved_model_export(tmp_path):
    model = medkeras.SqueezeNet(classes=2, seed=0)
    rgb = np.random.default_rng(2).integers(0, 256, (3, 227, 227, 3), dtype=np.uint8)
    expected = model.predict(medkeras.preprocess_input(rgb.astype(np.float32)), verbose=0)
    path = tmp_path / "export"
    medkeras.export_saved_model(model, path, metadata={"task": "test"})
    served = tf.saved_model.load(str(path))
    from_uint8 = served.signatures["serving_uint8"](images=tf.constant(rgb))["probabilities"]
    from_float = served.signatures["serving_default"](
        images=tf.constant(rgb, tf.float32))["probabilities"]
    np.testing.assert_allclose(from_uint8, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_float, expected, rtol=1e-5, atol=1e-6)
    assert (path / "assets" / "medkeras.json").read_text().count('"task": "test"') == 1
    with pytest.raises(FileExistsError):
        medkeras.export_saved_model(model, path)


def test_preprocess_input_and_channel_helpers():
    rgb = np.array([[[10, 20, 30]]], np.uint8)
    expected = np.array([[[30, 20, 10]]], np.float32) - np.array(medkeras.IMAGENET_MEAN_BGR,
                                                                  np.float32)
    np.testing.assert_allclose(medkeras.preprocess_input(rgb), expected)
    np.testing.assert_allclose(medkeras.preprocess_input(tf.constant(rgb)), expected)
    # NumPy in any dtype: float32 out, bit for bit the tensor path's values
    images = np.random.default_rng(0).uniform(0, 255, (2, 5, 4, 3))
    for dtype in (np.uint8, np.uint16, np.float32, np.float64):
        x = images.astype(dtype)
        got = medkeras.preprocess_input(x)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, medkeras.preprocess_input(tf.constant(x)).numpy())
    with pytest.raises(ValueError, match="3 channels"):
        medkeras.preprocess_input(np.zeros((4, 4, 2)))
    grey = np.arange(6).reshape(2, 3)
    assert medkeras.grey_to_rgb(grey).shape == (2, 3, 3)
    np.testing.assert_array_equal(medkeras.grey_to_rgb(grey[..., None])[..., 2], grey)
    two = np.stack([np.zeros((2, 2)), np.ones((2, 2))], axis=-1)
    np.testing.assert_array_equal(medkeras.two_channel_to_rgb(two)[0, 0], [0, 1, 1])
    with pytest.raises(ValueError, match="2 channels"):
        medkeras.two_channel_to_rgb(np.zeros((2, 2, 3)))


def test_shared_mean_matches_constant(shared):
    mean = np.load(shared / "weights" / "bvlc_alexnet" / "ilsvrc_2012_mean.npy")
    np.testing.assert_allclose(mean.mean(axis=(1, 2)), medkeras.IMAGENET_MEAN_BGR, atol=1e-4)


def test_channel_helpers_on_tensors_match_numpy():
    grey = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)[..., :1]
    np.testing.assert_array_equal(medkeras.grey_to_rgb(tf.constant(grey)), medkeras.grey_to_rgb(grey))
    two = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(medkeras.two_channel_to_rgb(tf.constant(two)),
                                  medkeras.two_channel_to_rgb(two))
