"""Test helpers: Caffe deploy prototxts and random-weight .caffemodel files.

The prototxts are written here from the published architectures (Krizhevsky et al. 2012 as
BVLC's bvlc_alexnet; Iandola et al. 2016, SqueezeNet v1.1) so the tests do not depend on
``../shared``.  OpenCV's Caffe importer reads them as the independent reference.
"""

import numpy as np

from medkeras.caffe import write_caffemodel


def _conv(name, bottom, top, num, kernel, stride=1, pad=0, group=1):
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}" '
            f'convolution_param {{ num_output: {num} kernel_size: {kernel} stride: {stride} '
            f'pad: {pad} group: {group} }} }}\n')


def _relu(name, blob):
    return f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}\n'


def _pool(name, bottom, top, kind="MAX", kernel=3, stride=2, global_pool=False):
    params = "global_pooling: true" if global_pool else f"kernel_size: {kernel} stride: {stride}"
    return (f'layer {{ name: "{name}" type: "Pooling" bottom: "{bottom}" top: "{top}" '
            f'pooling_param {{ pool: {kind} {params} }} }}\n')


def _input():
    return ('layer { name: "data" type: "Input" top: "data" '
            'input_param { shape: { dim: 1 dim: 3 dim: 227 dim: 227 } } }\n')


def alexnet_prototxt(classes=1000):
    text = 'name: "AlexNet"\n' + _input()
    text += _conv("conv1", "data", "conv1", 96, 11, stride=4) + _relu("relu1", "conv1")
    text += ('layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1" '
             'lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }\n')
    text += _pool("pool1", "norm1", "pool1")
    text += _conv("conv2", "pool1", "conv2", 256, 5, pad=2, group=2) + _relu("relu2", "conv2")
    text += ('layer { name: "norm2" type: "LRN" bottom: "conv2" top: "norm2" '
             'lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }\n')
    text += _pool("pool2", "norm2", "pool2")
    text += _conv("conv3", "pool2", "conv3", 384, 3, pad=1) + _relu("relu3", "conv3")
    text += _conv("conv4", "conv3", "conv4", 384, 3, pad=1, group=2) + _relu("relu4", "conv4")
    text += _conv("conv5", "conv4", "conv5", 256, 3, pad=1, group=2) + _relu("relu5", "conv5")
    text += _pool("pool5", "conv5", "pool5")
    for name, bottom, num in (("fc6", "pool5", 4096), ("fc7", "fc6", 4096), ("fc8", "fc7", classes)):
        text += (f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{name}" '
                 f'inner_product_param {{ num_output: {num} }} }}\n')
        if name != "fc8":
            text += _relu(f"relu{name[-1]}", name)
            text += (f'layer {{ name: "drop{name[-1]}" type: "Dropout" bottom: "{name}" '
                     f'top: "{name}" dropout_param {{ dropout_ratio: 0.5 }} }}\n')
    text += 'layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }\n'
    return text


SQUEEZENET_FIRES = [("fire2", 16, 64), ("fire3", 16, 64), ("fire4", 32, 128), ("fire5", 32, 128),
                    ("fire6", 48, 192), ("fire7", 48, 192), ("fire8", 64, 256), ("fire9", 64, 256)]


def squeezenet_prototxt(classes=1000):
    text = 'name: "SqueezeNet"\n' + _input()
    text += _conv("conv1", "data", "conv1", 64, 3, stride=2) + _relu("relu_conv1", "conv1")
    text += _pool("pool1", "conv1", "pool1")
    bottom = "pool1"
    for fire, squeeze, expand in SQUEEZENET_FIRES:
        if fire in ("fire4", "fire6"):
            pool = f"pool{int(fire[-1]) - 1}"
            text += _pool(pool, bottom, pool)
            bottom = pool
        s, e1, e3 = f"{fire}/squeeze1x1", f"{fire}/expand1x1", f"{fire}/expand3x3"
        text += _conv(s, bottom, s, squeeze, 1) + _relu(f"{fire}/relu_squeeze1x1", s)
        text += _conv(e1, s, e1, expand, 1) + _relu(f"{fire}/relu_expand1x1", e1)
        text += _conv(e3, s, e3, expand, 3, pad=1) + _relu(f"{fire}/relu_expand3x3", e3)
        text += (f'layer {{ name: "{fire}/concat" type: "Concat" bottom: "{e1}" bottom: "{e3}" '
                 f'top: "{fire}/concat" }}\n')
        bottom = f"{fire}/concat"
    text += _conv("conv10", bottom, "conv10", classes, 1) + _relu("relu_conv10", "conv10")
    text += _pool("pool10", "conv10", "pool10", kind="AVE", global_pool=True)
    text += 'layer { name: "prob" type: "Softmax" bottom: "pool10" top: "prob" }\n'
    return text


def _he(rng, shape, fan_in):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def random_alexnet_layers(rng, classes=1000, fc_scale=1.0):
    """Random AlexNet blobs in Caffe's layout, scaled so activations stay O(1)–O(100)."""
    layers = []
    for name, out, cin, k in (("conv1", 96, 3, 11), ("conv2", 256, 48, 5), ("conv3", 384, 256, 3),
                              ("conv4", 384, 192, 3), ("conv5", 256, 192, 3)):
        layers.append((name, "Convolution", [_he(rng, (out, cin, k, k), cin * k * k),
                                             rng.normal(0, 0.1, out).astype(np.float32)]))
    for name, out, n_in in (("fc6", 4096, 9216), ("fc7", 4096, 4096), ("fc8", classes, 4096)):
        layers.append((name, "InnerProduct", [fc_scale * _he(rng, (out, n_in), n_in),
                                              rng.normal(0, 0.1, out).astype(np.float32)]))
    return layers


def random_squeezenet_layers(rng, classes=1000):
    layers = [("conv1", "Convolution", [_he(rng, (64, 3, 3, 3), 27),
                                        rng.normal(0, 0.1, 64).astype(np.float32)])]
    cin = 64
    for fire, squeeze, expand in SQUEEZENET_FIRES:
        for part, out, n_in, k in (("squeeze1x1", squeeze, cin, 1), ("expand1x1", expand, squeeze, 1),
                                   ("expand3x3", expand, squeeze, 3)):
            layers.append((f"{fire}/{part}", "Convolution",
                           [_he(rng, (out, n_in, k, k), n_in * k * k),
                            rng.normal(0, 0.1, out).astype(np.float32)]))
        cin = 2 * expand
    layers.append(("conv10", "Convolution", [_he(rng, (classes, cin, 1, 1), cin),
                                             rng.normal(0, 0.1, classes).astype(np.float32)]))
    return layers


def write_random(path, layers, fmt):
    write_caffemodel(path, layers, fmt=fmt, name="random")
    return path
