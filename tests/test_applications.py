"""The keras.applications backbones: one harness every architecture runs (Kandel & Castelli's
block-wise fine-tuning on modern networks).  Random weights and small inputs: the structure
is what is tested; ImageNet weights cannot be downloaded in tests."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from medkeras.experiment.cache import split_frozen_prefix
from medkeras.experiment.runner import TrainConfig, train_scheme
from medkeras.models.applications import APPLICATIONS, ARCHITECTURES
from medkeras.training import paper_optimizer
from medkeras.weights import WeightsUnavailableError

NAMES = sorted(APPLICATIONS)
#: Trained in the default run (BatchNorm, residual stages); the others under -m slow.
QUICK = ("mobilenet_v2",)
TRAINED = [pytest.param(name, marks=() if name in QUICK else pytest.mark.slow)
           for name in NAMES]


def small(name, **kw):
    """A 3-class model of ``name`` at the smallest input its architecture accepts."""
    kw.setdefault("input_size", ARCHITECTURES[name].min_size)
    return APPLICATIONS[name](classes=3, seed=0, **kw)


def images(model, count=6, seed=0):
    rng = np.random.default_rng(seed)
    size, channels = model.input_size, model.channels
    return rng.uniform(0, 255, (count, size, size, channels)).astype(np.float32)


def variables_by_path(model):
    return {v.path: np.array(v.numpy()) for v in model.weights}


@pytest.mark.parametrize("name", NAMES)
def test_blocks_partition_the_weight_layers_in_graph_order(name):
    model = small(name)
    assert model.tunable_layers[-1] == "head"
    assert list(model.schemes)[:2] == ["scratch", "FT:only head"]
    assert model.schemes[f"FT:{model.tunable_layers[0]}-head"] == model.tunable_layers[0]
    weight_layers = [layer.name for layer in model.layers if layer.weights]
    in_blocks = [layer.name for block in model.tunable_layers
                 for layer in model.block_layers(block) if layer.weights]
    assert sorted(in_blocks) == sorted(weight_layers)        # each in exactly one block
    assert all(any(layer.weights for layer in model.block_layers(block))
               for block in model.tunable_layers)             # no empty block
    # Along every edge of the graph the block index never decreases: blocks are stages.
    index = {layer.name: model.tunable_layers.index(block)
             for block in model.tunable_layers for layer in model.block_layers(block)}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for parent in node.parent_nodes:
                assert index[parent.operation.name] <= index[layer.name], (
                    parent.operation.name, layer.name)


@pytest.mark.parametrize("name", TRAINED)
def test_one_step_changes_exactly_the_tuned_blocks_and_frozen_batchnorm_stays(name):
    model = small(name)
    x = model.preprocess(images(model, 4))
    y = np.array([0, 1, 2, 0])
    blocks = model.tunable_layers
    for first in (blocks[-1], blocks[len(blocks) // 2], blocks[0]):
        scheme = next(s for s, b in model.schemes.items() if b == first and s != "scratch")
        model.set_trainable_from(first)
        model.compile(optimizer=paper_optimizer(model, scheme, steps_per_epoch=1,
                                                learning_rate=0.01),
                      loss="sparse_categorical_crossentropy", jit_compile=False)
        before = variables_by_path(model)
        model.train_on_batch(x, y)
        after = variables_by_path(model)
        tuned = {layer.name for b in blocks[blocks.index(first):]
                 for layer in model.block_layers(b)}
        for path, value in before.items():
            layer = path.split("/")[-2]
            changed = not np.array_equal(value, after[path])
            if layer not in tuned:
                # Frozen: kernels and BatchNorm's moving statistics alike (inference mode).
                assert not changed, f"{scheme}: frozen {path} changed"
        changed_layers = {p.split("/")[-2] for p in before
                          if not np.array_equal(before[p], after[p])}
        assert changed_layers and changed_layers <= tuned
        assert model.get_layer("head_dense").name in changed_layers
        moving = [p for p in before if "moving_mean" in p and p.split("/")[-2] in tuned]
        if moving:           # BatchNorm in a tuned block trains (its statistics move)
            assert any(not np.array_equal(before[p], after[p]) for p in moving)


@pytest.mark.parametrize("name", TRAINED)
def test_cached_and_uncached_training_give_the_same_weights(name, tmp_path):
    x_raw = images(small(name), 8, seed=1)
    y = np.arange(8) % 3
    weights = {}
    for cached in (True, False):
        model = small(name)
        x = model.preprocess(x_raw)
        first = model.tunable_layers[len(model.tunable_layers) // 2]
        scheme = f"FT:{first}-head"
        prefix, _ = split_frozen_prefix(model, first)
        assert prefix is not None                            # a single tensor at the cut
        # Whole-set batches: the cache computes the frozen features in the batches the
        # whole model trains on, so the two agree to the last bit or nearly (other batch
        # compositions change the last float bits, which BatchNorm on 1×1 maps of a batch
        # of four would amplify).
        config = TrainConfig(epochs=2, batch_size=8, cache_frozen=cached, tensorboard=False,
                             learning_rate=0.001)
        train_scheme(model, scheme, (x, y), (x, y), run_dir=str(tmp_path / str(cached)),
                     config=config, verbose=0)
        weights[cached] = model.get_weights()
    for a, b in zip(weights[True], weights[False]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow   # the default run has it through the classify application's export → predict
@pytest.mark.parametrize("name", NAMES)
def test_keras_and_saved_model_round_trips(name, tmp_path):
    import medkeras

    model = small(name, trainable_from="head")
    x_raw = images(model, 2)
    expected = model.predict(model.preprocess(x_raw), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model) and loaded.trainable_from == "head"
    np.testing.assert_allclose(loaded.predict(loaded.preprocess(x_raw), verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    medkeras.export_saved_model(model, tmp_path / "export")
    served = tf.saved_model.load(str(tmp_path / "export"))
    probabilities = served.signatures["serving_default"](images=tf.constant(x_raw))
    np.testing.assert_allclose(probabilities["probabilities"], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_grey_input_equals_the_rgb_model_on_a_repeated_image():
    for name in ("vgg16", "densenet121", "mobilenet_v2"):    # caffe, torch and tf modes
        grey = small(name, channels=1)
        rgb = small(name)
        rgb.set_weights(grey.get_weights())
        g = images(grey, 2)
        np.testing.assert_allclose(
            grey.predict(grey.preprocess(g), verbose=0),
            rgb.predict(rgb.preprocess(np.repeat(g, 3, axis=-1)), verbose=0),
            rtol=1e-4, atol=1e-5)


def test_same_seed_same_model_whatever_came_before():
    a = small("resnet50").get_weights()
    keras.utils.set_random_seed(123)
    small("vgg16")
    b = small("resnet50").get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_weights_files_and_bad_arguments(tmp_path):
    model = small("mobilenet_v2")
    model.save_weights(tmp_path / "m.weights.h5")
    again = small("mobilenet_v2", weights=str(tmp_path / "m.weights.h5"))
    assert all(np.array_equal(u, v) for u, v in zip(model.get_weights(), again.get_weights()))
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        small("vgg16", weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="input_size must be an integer >= 75"):
        small("inception_v3", input_size=32)
    with pytest.raises(ValueError, match="channels must be 1 .* Received: channels=4"):
        small("vgg16", channels=4)
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(ValueError, match="Received: weights="):
        small("vgg16", weights=str(tmp_path / "w.txt"))


def test_imagenet_offline_fails_fast_with_the_file_to_copy(tmp_path, monkeypatch):
    import time

    from keras.src.applications import vgg16 as keras_vgg16

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))        # an empty cache
    monkeypatch.setattr(keras_vgg16, "WEIGHTS_PATH_NO_TOP",
                        "http://127.0.0.1:9/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as error:
        small("vgg16", weights="imagenet")
    assert time.perf_counter() - start < 15
    message = str(error.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "weights='/path/to/" in message
    assert not os.path.exists(tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")


@pytest.mark.slow
def test_a_sweep_tunes_a_modern_backbone_block_by_block_on_raw_images(tmp_path):
    from medkeras.experiment.results import SweepResults
    from medkeras.experiment.sweep import PatchTask, SweepConfig, build_model, run_sweep

    rng = np.random.default_rng(0)
    y = np.arange(24) % 2
    x = rng.uniform(0, 200, (24, 32, 32, 3)).astype(np.float32) + 40 * y[:, None, None, None]
    y_test = np.arange(8) % 2
    x_test = rng.uniform(0, 200, (8, 32, 32, 3)).astype(np.float32) + 40 * y_test[:, None,
                                                                                 None, None]
    task = PatchTask("raw", x, y, np.arange(24) // 2, x_test, y_test, raw=True)
    config = SweepConfig(backbone="mobilenet_v2", weights=None,
                         schemes=("FT:only head", "FT:stage6-head"),
                         train=TrainConfig(epochs=1, batch_size=8, tensorboard=False))
    table = run_sweep(task, config, str(tmp_path / "s"), log=None)
    assert list(table["scheme"]) == ["FT:only head", "FT:stage6-head"]
    assert list(table["cached"]) == [True, True]
    assert table["test_auc"].between(0, 1).all()
    cells = {c.scheme: c for c in SweepResults(tmp_path / "s").cells}
    # The cell's model saw the images through MobileNetV2's own preprocessing (−1…1).
    model = build_model("mobilenet_v2", classes=2, input_shape=(32, 32, 3), seed=0)
    assert model.preprocess(x).min() >= -1 and model.preprocess(x).max() <= 1
    assert cells["FT:only head"].record["learning_rate"] == model.default_learning_rate
    from medkeras.experiment.sweep import load_cell_model
    loaded = load_cell_model(str(tmp_path / "s"), cells["FT:stage6-head"].record)
    assert loaded.input_shape == (None, 32, 32, 3)
    with pytest.raises(ValueError, match="227×227×3"):
        build_model("squeezenet", classes=2, input_shape=(32, 32, 3))
