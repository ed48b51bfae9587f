"""The inference forward pass: XLA-compiled, padded batches, the model's own outputs."""

import gc
import weakref

import keras
import numpy as np
import pytest

import medkeras
from medkeras.inference import inference_function, padded_size


def test_padded_sizes_are_powers_of_two_up_to_the_batch():
    assert [padded_size(n, 64) for n in (1, 2, 3, 5, 33, 63, 64)] == [1, 2, 4, 8, 64, 64, 64]
    assert padded_size(5, 6) == 6
    assert {padded_size(n, 64) for n in range(1, 65)} == {1, 2, 4, 8, 16, 32, 64}


@pytest.mark.parametrize("count", [0, 1, 5, 16, 37])
def test_outputs_are_the_models_for_any_count(count):
    """Padded and XLA-compiled: each sample's output is the model's own (float rounding)."""
    model = medkeras.SqueezeNet(classes=3, seed=0)
    images = medkeras.preprocess_input(np.random.default_rng(count).uniform(
        0, 255, (count, 227, 227, 3)).astype(np.float32))
    got = inference_function(model, batch_size=16)(images)
    assert got.shape == (count, 3) and got.dtype == np.float32
    if count:
        expected = model.predict(images, verbose=0)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
        assert np.ptp(expected[:, 0]) > 1e-4 or count == 1     # samples tell apart


def test_one_function_per_model_and_a_dropped_model_is_freed():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    infer = inference_function(model, batch_size=4)
    assert inference_function(model, batch_size=4) is infer
    assert inference_function(model, batch_size=8) is not infer
    infer(np.ones((3, 3), np.float32))
    alive = weakref.ref(model)
    del model, infer
    gc.collect()
    assert alive() is None


def test_xla_by_default_for_float32_and_off_under_mixed_precision():
    from medkeras.precision import precision_scope

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.ones((2, 3), np.float32)
    assert inference_function(model).jit_compile
    assert not inference_function(model, jit_compile=False).jit_compile
    with precision_scope("bfloat16"):
        half = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    infer = inference_function(half)
    assert not infer.jit_compile
    out = infer(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, half.predict(x, verbose=0), atol=1e-2)


def test_a_model_that_is_not_keras_is_used_through_its_predict_on_batch():
    sizes = []

    class Scorer:
        def predict_on_batch(self, x):
            sizes.append(len(x))
            return np.asarray(x)[:, :2] * 2
    infer = inference_function(Scorer(), batch_size=2)
    assert not infer.jit_compile
    out = infer(np.arange(20, dtype=np.float32).reshape(5, 4))
    np.testing.assert_array_equal(out, np.arange(20).reshape(5, 4)[:, :2] * 2)
    assert sizes == [2, 2, 1]


def test_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        inference_function(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
                           batch_size=0)
