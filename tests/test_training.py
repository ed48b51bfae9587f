"""The Table II recipe: per-layer rates, bias ×2, new classifier ×10, ×0.95 per epoch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import medkeras
from medkeras.training import paper_optimizer


def assert_step(new, old, step):
    """new - old == step elementwise up to float32 rounding, and exactly so in the median.

    Adding a 1e-7 step to a 0.1 weight keeps only a few bits of the step, so each element
    is allowed a few ulps of the weight (and denormals flush to zero); the median ratio must still be 1 to 1e-6, which a
    wrong multiplier (×2, ×10) could never meet.
    """
    magnitude = np.maximum(np.abs(old), np.abs(new)).astype(np.float32)
    change = new.astype(np.float64) - old
    error = np.abs(change - step)
    bad = error > 1e-3 * np.abs(step) + 8 * np.spacing(magnitude) + np.finfo(np.float32).tiny
    assert not bad.any(), (f"{bad.sum()} elements off: step {step[bad][:3]}, change "
                           f"{change[bad][:3]}, old {old[bad][:3]}")
    moved = np.abs(step) > 1e3 * np.spacing(magnitude)
    if moved.any():
        assert np.median(change[moved] / step[moved]) == pytest.approx(1.0, abs=1e-6)


def gradients(model, x, y):
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=False))
        loss = tf.reduce_mean(loss)
    return tape.gradient(loss, model.trainable_variables)


EXPECTED_MULTIPLIERS = {  # FT:fc7-fc8 on AlexNet
    "fc7/kernel": 1.0, "fc7/bias": 2.0, "fc8/kernel": 10.0, "fc8/bias": 20.0}


@pytest.mark.parametrize("scheme,expected", [
    ("FT:fc7-fc8", EXPECTED_MULTIPLIERS),
    ("scratch", {"conv1/kernel": 1.0, "conv1/bias": 2.0, "fc8/kernel": 1.0, "fc8/bias": 2.0}),
])
def test_one_step_is_rate_times_multiplier_times_gradient(scheme, expected):
    model = medkeras.AlexNet(classes=2, init="msra", seed=0)
    model.set_trainable_from(model.schemes[scheme])
    optimizer = paper_optimizer(model, scheme, steps_per_epoch=10)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 227, 227, 3)).astype(np.float32)
    y = np.array([0, 1])
    variables = model.trainable_variables
    before = [v.numpy().copy() for v in variables]
    grads = gradients(model, x, y)
    optimizer.apply_gradients(zip(grads, variables))
    checked = 0
    for variable, old, grad in zip(variables, before, grads):
        multiplier = optimizer.multiplier(variable.path)
        if variable.path in expected:
            assert multiplier == expected[variable.path]
            checked += 1
        assert_step(variable.numpy(), old, -0.001 * multiplier * grad.numpy())
    assert checked == len(expected)

    # Second step: Caffe's momentum, v = 0.9 v - lr m g.
    velocity = [-0.001 * optimizer.multiplier(v.path) * g.numpy() for v, g in zip(variables, grads)]
    before = [v.numpy().copy() for v in variables]
    grads2 = gradients(model, x, y)
    optimizer.apply_gradients(zip(grads2, variables))
    for variable, old, v0, grad in zip(variables, before, velocity, grads2):
        step = 0.9 * v0 - 0.001 * optimizer.multiplier(variable.path) * grad.numpy()
        assert_step(variable.numpy(), old, step)


def test_rate_decays_by_095_per_epoch():
    model = medkeras.SqueezeNet(classes=2)
    optimizer = paper_optimizer(model, "FT:only conv10", steps_per_epoch=5, learning_rate=0.001)
    schedule = optimizer._learning_rate
    for step, epoch in [(0, 0), (4, 0), (5, 1), (9, 1), (10, 2), (50, 10)]:
        assert float(schedule(step)) == pytest.approx(0.001 * 0.95 ** epoch, rel=1e-6)


def test_fit_applies_decay_per_epoch():
    model = medkeras.SqueezeNet(classes=2, seed=0)
    medkeras.compile_for_scheme(model, "FT:only conv10", steps_per_epoch=2, jit_compile=False)
    x = np.zeros((4, 227, 227, 3), np.float32)
    model.fit(x, np.array([0, 1, 0, 1]), batch_size=2, epochs=3, verbose=0)
    assert int(model.optimizer.iterations) == 6
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4 * 0.95 ** 3, rel=1e-6)
    assert [l.name for l in model.layers if l.trainable_weights] == ["conv10"]


def test_default_rate_per_backbone():
    alexnet, squeezenet = medkeras.AlexNet(classes=2), medkeras.SqueezeNet(classes=2)
    assert float(paper_optimizer(alexnet, "scratch", steps_per_epoch=1).learning_rate) == \
        pytest.approx(0.001)  # Table II
    assert float(paper_optimizer(squeezenet, "scratch", steps_per_epoch=1).learning_rate) == \
        pytest.approx(0.0001)


def test_l2_applies_to_weights_only():
    kernel = keras.Variable(np.ones((2, 2), np.float32), name="kernel")
    optimizer = medkeras.CaffeSGD(0.1, momentum=0.0, l2=0.5, bias_multiplier=2.0)
    bias = keras.Variable(np.ones(2, np.float32), name="bias")
    optimizer.apply_gradients([(tf.zeros((2, 2)), kernel), (tf.zeros(2), bias)])
    np.testing.assert_allclose(kernel.numpy(), 1 - 0.1 * 0.5)  # decayed
    np.testing.assert_allclose(bias.numpy(), 1.0)  # decay_mult 0 on biases


def test_optimizer_config_round_trip():
    optimizer = medkeras.CaffeSGD(0.01, 0.8, layer_multipliers={"fc8": 10}, l2=5e-4)
    again = medkeras.CaffeSGD.from_config(optimizer.get_config())
    assert again.layer_multipliers == {"fc8": 10.0} and again.l2 == 5e-4
    assert again.multiplier("alexnet/fc8/bias") == 20.0
    assert again.multiplier("fire9_expand1x1/kernel") == 1.0
    assert medkeras.CaffeSGD(layer_multipliers={"fire9": 3}).multiplier("fire9_expand1x1/kernel") == 3
    with pytest.raises(ValueError):
        medkeras.CaffeSGD(layer_multipliers={"fc8": -1})
    with pytest.raises(ValueError, match="scheme"):
        paper_optimizer(medkeras.SqueezeNet(classes=2), "FT:fc7-fc8", steps_per_epoch=1)


def test_gaussian_init_uses_the_zoo_values():
    model = medkeras.AlexNet(classes=2, init="gaussian", seed=0)
    for name, std, bias in [("conv1", 0.01, 0.0), ("conv2", 0.01, 0.1), ("conv3", 0.01, 0.0),
                            ("fc6", 0.005, 0.1), ("fc7", 0.005, 0.1), ("fc8", 0.01, 0.0)]:
        kernel, b = model.get_layer(name).get_weights()
        assert kernel.std() == pytest.approx(std, rel=0.05), name
        np.testing.assert_allclose(b, bias, rtol=1e-7)


@pytest.mark.parametrize("init,check", [
    ("xavier", lambda k, fan_in: np.abs(k).max() <= np.sqrt(3 / fan_in) + 1e-7
     and k.std() == pytest.approx(np.sqrt(1 / fan_in), rel=0.05)),
    ("msra", lambda k, fan_in: k.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.05)),
])
def test_xavier_and_msra_follow_caffe(init, check):
    model = medkeras.AlexNet(classes=2, init=init, seed=0)
    for name, fan_in in [("conv1", 11 * 11 * 3), ("conv2", 5 * 5 * 48), ("fc6", 9216)]:
        kernel, bias = model.get_layer(name).get_weights()
        assert check(kernel, fan_in), name
        np.testing.assert_array_equal(bias, 0.0)


def test_seed_makes_initialisation_reproducible():
    a = medkeras.SqueezeNet(classes=2, seed=42).get_weights()
    b = medkeras.SqueezeNet(classes=2, seed=42).get_weights()
    c = medkeras.SqueezeNet(classes=2, seed=43).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
