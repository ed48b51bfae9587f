"""Caffe weight blobs → Keras weights, checked layer by layer against the Keras model.

Conventions (Caffe → Keras):

* convolution filters OIHW → HWIO; grouped filters keep Caffe's contiguous output halves,
  which is also Keras' ``groups`` layout, so the same transpose serves both;
* fully connected weights ``(out, in)`` are transposed to ``(in, out)``;
* a fully connected layer fed by a flattened feature map (AlexNet's fc6) has its input rows
  reordered from Caffe's C,H,W flattening to Keras' H,W,C flattening.
"""

import dataclasses
import logging

import numpy as np

from medkeras.caffe.proto import CaffeModelError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """How one Caffe layer maps onto one Keras layer.

    ``flatten_chw`` is the (channels, height, width) of the feature map a fully connected
    layer flattens, or ``None``.
    """
    caffe_name: str
    keras_name: str
    kind: str  # "conv" or "dense"
    flatten_chw: tuple = None


def _strip_leading_ones(shape):
    shape = tuple(int(d) for d in shape)
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _fit(array, caffe_shape, what):
    if _strip_leading_ones(array.shape) != _strip_leading_ones(caffe_shape):
        raise CaffeModelError(f"{what}: expected Caffe shape {tuple(caffe_shape)}, "
                              f"found {tuple(array.shape)}")
    return array.reshape(caffe_shape)


def convert_layer(spec, blobs, kernel_shape, source=""):
    """Convert one layer's Caffe blobs into Keras ``[kernel, bias]`` of ``kernel_shape``."""
    where = f"{source}: layer {spec.caffe_name!r}" if source else f"layer {spec.caffe_name!r}"
    if len(blobs) != 2:
        raise CaffeModelError(f"{where}: expected 2 blobs (weights, bias), found {len(blobs)}")
    weights, bias = blobs
    if spec.kind == "conv":
        kh, kw, cin, cout = kernel_shape
        kernel = _fit(weights, (cout, cin, kh, kw), f"{where} weights (Keras kernel {kernel_shape})")
        kernel = kernel.transpose(2, 3, 1, 0)
    elif spec.kind == "dense":
        n_in, n_out = kernel_shape
        matrix = _fit(weights, (n_out, n_in), f"{where} weights (Keras kernel {kernel_shape})")
        if spec.flatten_chw is not None:
            c, h, w = spec.flatten_chw
            kernel = matrix.reshape(n_out, c, h, w).transpose(2, 3, 1, 0).reshape(n_in, n_out)
        else:
            kernel = matrix.T
    else:
        raise ValueError(f"unknown layer kind {spec.kind!r}")
    bias = _fit(bias, (kernel_shape[-1],), f"{where} bias")
    return [np.ascontiguousarray(kernel, dtype=np.float32), bias.astype(np.float32)]


def _kernel_shape_from_blob(spec, weights):
    dims = _strip_leading_ones(weights.shape)
    if spec.kind == "conv":
        dims = (1,) * (4 - len(dims)) + dims
        cout, cin, kh, kw = dims[-4:]
        return (kh, kw, cin, cout)
    if len(dims) == 1:
        dims = (1,) + dims
    return (int(np.prod(dims[1:])), dims[0])


def caffe_to_keras(caffe_net, specs, *, kernel_shapes=None, source="", head=None):
    """Convert a :class:`~medkeras.caffe.proto.CaffeNet` into Keras weights.

    Parameters
    ----------
    caffe_net : CaffeNet
    specs : list of WeightSpec
    kernel_shapes : dict, optional
        Keras layer name → the kernel shape the model expects; every blob is checked
        against it.  Without it the shapes are taken from the blobs themselves (used to
        cache checksum-verified ImageNet weights before any model exists).
    source : str
        The file name, for error messages.
    head : str, optional
        The Keras name of the classifier layer.  It is converted when its shape fits the
        model; when the file's class count differs from the model's, it is left out so the
        model keeps its fresh initialisation (fine-tuning replaces the classifier).

    Returns
    -------
    dict
        Keras layer name → ``[kernel, bias]``.

    Raises
    ------
    CaffeModelError
        A layer is missing or a blob's shape does not fit, naming the layer and the expected
        and found shapes.
    """
    layers = caffe_net.by_name()
    converted = {}
    for spec in specs:
        where = f"{source}: " if source else ""
        if spec.caffe_name not in layers or not layers[spec.caffe_name].blobs:
            found = [name for name, layer in layers.items() if layer.blobs]
            raise CaffeModelError(
                f"{where}layer {spec.caffe_name!r} is missing from the Caffe model (layers with "
                f"weights found: {found}); is this the right network, and is the file complete?")
        blobs = layers[spec.caffe_name].blobs
        kernel_shape = tuple(kernel_shapes[spec.keras_name]) if kernel_shapes is not None \
            else _kernel_shape_from_blob(spec, blobs[0])
        if spec.keras_name == head:
            file_classes = int(_strip_leading_ones(blobs[0].shape)[0]) if blobs else -1
            if file_classes != kernel_shape[-1]:
                log.info("%sclassifier %r has %d classes in the file and %d in the model: "
                         "it keeps its fresh initialisation", where, spec.caffe_name,
                         file_classes, kernel_shape[-1])
                continue
        converted[spec.keras_name] = convert_layer(spec, blobs, kernel_shape, source)
    return converted


def assign_weights(model, weights, *, source=""):
    """Set ``{layer name: [kernel, bias]}`` on ``model``, checking every shape first."""
    for name, arrays in weights.items():
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise CaffeModelError(f"{source}: the model has no layer {name!r}") from None
        expected = [tuple(v.shape) for v in layer.weights]
        found = [tuple(a.shape) for a in arrays]
        if expected != found:
            raise CaffeModelError(f"{source}: layer {name!r}: expected weight shapes {expected}, "
                                  f"found {found}")
    for name, arrays in weights.items():
        model.get_layer(name).set_weights(arrays)
