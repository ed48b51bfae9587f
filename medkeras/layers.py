"""Keras layers that reproduce Caffe's AlexNet/SqueezeNet operations exactly, and fast.

All layers are registered Keras serializables (package ``medkeras``) so models that use
them save and load in the ``.keras`` format.  The convolution layers keep the weight
layout of :class:`keras.layers.Conv2D` (HWIO kernel, grouped kernels as
``(kh, kw, cin // groups, cout)``), so weights move freely between them and plain Keras.
"""

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="medkeras")
class LocalResponseNormalization(keras.layers.Layer):
    """Caffe's across-channel LRN: ``x / (k + alpha / size * sum(x_j^2)) ** beta``.

    Caffe divides ``alpha`` by ``local_size``; TensorFlow's ``tf.nn.local_response_normalization``
    does not, so the division happens here.  The sum runs over ``size`` neighbouring
    channels centred on each channel (zero beyond the edges), as in Caffe.
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0, **kwargs):
        super().__init__(**kwargs)
        if size < 1 or size % 2 != 1:
            raise ValueError(f"LRN size must be a positive odd number, got {size}")
        self.size, self.alpha, self.beta, self.k = int(size), float(alpha), float(beta), float(k)

    def call(self, inputs):
        # TensorFlow's LRN has no bfloat16/float16 CPU kernel: under mixed precision it runs
        # in float32 and its output goes back to the compute dtype
        x = inputs if inputs.dtype == tf.float32 else tf.cast(inputs, tf.float32)
        y = tf.nn.local_response_normalization(
            x, depth_radius=(self.size - 1) // 2, bias=self.k,
            alpha=self.alpha / self.size, beta=self.beta)
        return y if y.dtype == inputs.dtype else tf.cast(y, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha,
                "beta": self.beta, "k": self.k}


@keras.saving.register_keras_serializable(package="medkeras")
class GroupedConv2D(keras.layers.Conv2D):
    """``Conv2D(groups=g)`` computed as ``g`` ordinary convolutions and a concatenation.

    Same weights and outputs as Keras' grouped convolution, but on CPU TensorFlow's grouped
    convolution (and its gradients) is several times slower than ``g`` separate ones.
    Group ``i`` sees input channels ``[i*cin/g, (i+1)*cin/g)`` and produces output channels
    ``[i*cout/g, (i+1)*cout/g)``: Caffe's ``group`` convention.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1:
            return super().convolution_op(inputs, kernel)
        padding = self.padding.upper()
        input_groups = tf.split(inputs, self.groups, axis=-1)
        kernel_groups = tf.split(kernel, self.groups, axis=-1)
        outputs = [tf.nn.conv2d(x, k, strides=self.strides, padding=padding,
                                dilations=self.dilation_rate)
                   for x, k in zip(input_groups, kernel_groups)]
        return tf.concat(outputs, axis=-1)


@keras.saving.register_keras_serializable(package="medkeras")
class SpaceToDepthConv2D(keras.layers.Conv2D):
    """A large-stride ``valid`` convolution rewritten exactly as space-to-depth + stride 1.

    An ``k x k`` stride-``s`` convolution over ``c`` channels equals a
    ``ceil(k/s) x ceil(k/s)`` stride-1 convolution over the ``s*s*c`` channels of
    ``tf.nn.space_to_depth(x, s)`` with the kernel zero-padded to a multiple of ``s`` and
    rearranged the same way.  The kernel is stored in the ordinary ``(k, k, c, f)`` layout and
    rearranged on the fly; the result is identical.  On CPU the rewritten form trains
    AlexNet's ``conv1`` (11x11, stride 4, 3 channels) markedly faster, because its weight
    gradient becomes a dense, well-shaped convolution; the forward pass alone is faster as a
    plain strided convolution, so the layer uses the rewrite only when training a trainable
    kernel (same weights, the same function up to float rounding).
    """

    def build(self, input_shape):
        if self.padding != "valid" or self.strides[0] != self.strides[1] \
                or self.strides[0] < 2 or self.groups != 1 \
                or tuple(self.dilation_rate) != (1, 1) or self.data_format != "channels_last":
            raise ValueError(
                "SpaceToDepthConv2D needs padding='valid', equal strides >= 2, groups=1, "
                "no dilation and channels_last; got "
                f"padding={self.padding!r} strides={self.strides} groups={self.groups} "
                f"dilation_rate={self.dilation_rate} data_format={self.data_format!r}")
        super().build(input_shape)

    def call(self, inputs, training=None):
        # the rewrite pays where the kernel's gradient is computed; a plain strided convolution
        # is faster forward only (AlexNet's conv1 at batch 64: 156 vs 230 ms on a 2-core CPU)
        if training and self.trainable:
            outputs = self.convolution_op(inputs, self.kernel)
        else:
            outputs = keras.layers.Conv2D.convolution_op(self, inputs, self.kernel)
        if self.use_bias:
            outputs = outputs + self.bias                   # channels_last (checked in build)
        return outputs if self.activation is None else self.activation(outputs)

    def convolution_op(self, inputs, kernel):
        stride = self.strides[0]
        kh, kw, channels, filters = kernel.shape
        blocks_h, blocks_w = math.ceil(kh / stride), math.ceil(kw / stride)
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            raise ValueError("SpaceToDepthConv2D needs a static input height and width")
        out_h, out_w = (height - kh) // stride + 1, (width - kw) // stride + 1
        need_h, need_w = (out_h - 1 + blocks_h) * stride, (out_w - 1 + blocks_w) * stride
        x = inputs[:, :min(height, need_h), :min(width, need_w), :]
        x = tf.pad(x, [[0, 0], [0, max(0, need_h - height)], [0, max(0, need_w - width)], [0, 0]])
        x = tf.nn.space_to_depth(x, stride)
        k = tf.pad(kernel, [[0, blocks_h * stride - kh], [0, blocks_w * stride - kw], [0, 0], [0, 0]])
        k = tf.reshape(k, [blocks_h, stride, blocks_w, stride, channels, filters])
        k = tf.transpose(k, [0, 2, 1, 3, 4, 5])
        k = tf.reshape(k, [blocks_h, blocks_w, stride * stride * channels, filters])
        return tf.nn.conv2d(x, k, strides=1, padding="VALID")


@keras.saving.register_keras_serializable(package="medkeras")
class CaffeMaxPooling2D(keras.layers.Layer):
    """Max pooling with Caffe's output size: ``ceil((H + 2*pad - k) / s) + 1``.

    Keras rounds down; Caffe rounds up (and drops a last window that would start in the
    padding).  The extra bottom/right border is padded with ``-inf`` so it never wins.
    Where the two conventions agree (all of AlexNet's pools) this is plain max pooling.
    """

    def __init__(self, pool_size=3, strides=2, padding=0, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides, self.padding = int(pool_size), int(strides), int(padding)

    def _output_size(self, size):
        out = math.ceil((size + 2 * self.padding - self.pool_size) / self.strides) + 1
        if self.padding and (out - 1) * self.strides >= size + self.padding:
            out -= 1
        return out

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, self._output_size(height), self._output_size(width), channels)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        out_h, out_w = self._output_size(height), self._output_size(width)
        extra_h = (out_h - 1) * self.strides + self.pool_size - height - self.padding
        extra_w = (out_w - 1) * self.strides + self.pool_size - width - self.padding
        x = inputs
        if self.padding or extra_h > 0 or extra_w > 0:
            x = tf.pad(x, [[0, 0], [self.padding, max(0, extra_h)],
                           [self.padding, max(0, extra_w)], [0, 0]],
                       constant_values=float("-inf"))
        x = tf.nn.max_pool2d(x, self.pool_size, self.strides, "VALID")
        if x.shape[1] == out_h and x.shape[2] == out_w:
            return x
        return x[:, :out_h, :out_w, :]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size,
                "strides": self.strides, "padding": self.padding}
