"""The fast layers compute exactly what their plain references compute."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from medkeras.layers import (CaffeMaxPooling2D, GroupedConv2D, LocalResponseNormalization,
                             SpaceToDepthConv2D)


@pytest.mark.parametrize("size,kernel,stride,channels", [
    (227, 11, 4, 3),   # AlexNet conv1: 57 blocks, one row of padding
    (35, 7, 2, 5),     # odd kernel, crop needed
    (30, 8, 4, 2),     # kernel a multiple of the stride
    (21, 3, 3, 4),
])
def test_space_to_depth_conv_equals_strided_conv(size, kernel, stride, channels):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, size, size, channels)).astype(np.float32)
    fast = SpaceToDepthConv2D(6, kernel, strides=stride, activation="relu")
    plain = keras.layers.Conv2D(6, kernel, strides=stride, activation="relu")
    fast.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(fast.get_weights())
    np.testing.assert_allclose(fast(x, training=True), plain(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast(x), plain(x), rtol=1e-5, atol=1e-5)

    # The weight gradient, where the speed-up lies, is the same too.
    def kernel_gradient(layer):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True) ** 2)
        return tape.gradient(loss, layer.kernel)
    np.testing.assert_allclose(kernel_gradient(fast), kernel_gradient(plain), rtol=1e-4, atol=1e-3)


def graph_ops(function, *args):
    return {op.type for op in tf.function(function).get_concrete_function(*args).graph.get_operations()}


def test_space_to_depth_conv_rewrites_only_where_the_kernel_trains():
    """Training a trainable kernel takes the rewrite; inference and a frozen layer the plain
    strided convolution, which is faster forward."""
    x = tf.zeros((1, 35, 35, 3))
    layer = SpaceToDepthConv2D(4, 11, strides=4)
    layer.build(x.shape)
    assert "SpaceToDepth" in graph_ops(lambda x: layer(x, training=True), x)
    assert "SpaceToDepth" not in graph_ops(lambda x: layer(x, training=False), x)
    layer.trainable = False
    assert "SpaceToDepth" not in graph_ops(lambda x: layer(x, training=True), x)


def test_space_to_depth_conv_rejects_unsupported_settings():
    with pytest.raises(ValueError, match="padding='valid'"):
        SpaceToDepthConv2D(4, 3, strides=2, padding="same").build((1, 9, 9, 3))


def test_grouped_conv_equals_keras_groups_and_caffe_grouping():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 9, 8)).astype(np.float32)
    fast = GroupedConv2D(6, 3, padding="same", groups=2)
    plain = keras.layers.Conv2D(6, 3, padding="same", groups=2)
    fast.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(fast.get_weights())
    assert fast.kernel.shape == (3, 3, 4, 6)
    np.testing.assert_allclose(fast(x), plain(x), rtol=1e-5, atol=1e-5)
    # Caffe's convention: output channels 0-2 see only input channels 0-3.
    kernel, bias = fast.get_weights()
    first_group = tf.nn.conv2d(x[..., :4], kernel[..., :3], 1, "SAME") + bias[:3]
    np.testing.assert_allclose(fast(x)[..., :3], first_group, rtol=1e-5, atol=1e-5)


def caffe_lrn_reference(x, size=5, alpha=1e-4, beta=0.75, k=1.0):
    """Caffe's LRN written out with NumPy loops over channels."""
    channels = x.shape[-1]
    out = np.empty_like(x)
    half = size // 2
    for c in range(channels):
        window = x[..., max(0, c - half):min(channels, c + half + 1)]
        scale = k + alpha / size * np.sum(window ** 2, axis=-1)
        out[..., c] = x[..., c] / scale ** beta
    return out


def test_lrn_matches_caffe_formula():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((2, 4, 4, 7)) * 100).astype(np.float32)  # large: LRN matters
    expected = caffe_lrn_reference(x.astype(np.float64))
    assert np.abs(expected - x).max() > 1.0  # the normalisation is not negligible here
    np.testing.assert_allclose(LocalResponseNormalization()(x), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNormalization(size=4)


def caffe_max_pool_reference(x, kernel, stride, pad):
    height = x.shape[1]
    out = int(np.ceil((height + 2 * pad - kernel) / stride)) + 1
    if pad and (out - 1) * stride >= height + pad:
        out -= 1
    result = np.empty((x.shape[0], out, out, x.shape[-1]), x.dtype)
    for i in range(out):
        for j in range(out):
            h0, w0 = i * stride - pad, j * stride - pad
            h1, w1 = min(h0 + kernel, height), min(w0 + kernel, height)
            result[:, i, j] = x[:, max(h0, 0):h1, max(w0, 0):w1].max(axis=(1, 2))
    return result


@pytest.mark.parametrize("size,kernel,stride,pad", [(113, 3, 2, 0), (56, 3, 2, 0), (55, 3, 2, 0),
                                                     (10, 3, 2, 1), (7, 2, 2, 0)])
def test_caffe_max_pooling_matches_caffe(size, kernel, stride, pad):
    x = np.random.default_rng(3).standard_normal((2, size, size, 3)).astype(np.float32)
    layer = CaffeMaxPooling2D(kernel, stride, pad)
    expected = caffe_max_pool_reference(x, kernel, stride, pad)
    result = layer(x)
    assert tuple(result.shape) == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(result, expected)
