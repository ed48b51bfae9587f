"""AlexNet exactly as Caffe's ``bvlc_alexnet`` (Tajbakhsh et al. 2016, Table I)."""

import keras

from medkeras.caffe import WeightSpec
from medkeras.layers import (CaffeMaxPooling2D, GroupedConv2D, LocalResponseNormalization,
                             SpaceToDepthConv2D)
from medkeras.models.base import TunableModel
from medkeras.models.initializers import canonical_init, dropout_seed, layer_initializers

# (name, filters, kernel, stride, groups, Gaussian std, zoo bias) per bvlc_alexnet train_val.
_CONVS = [("conv1", 96, 11, 4, 1, 0.01, 0.0), ("conv2", 256, 5, 1, 2, 0.01, 0.1),
          ("conv3", 384, 3, 1, 1, 0.01, 0.0), ("conv4", 384, 3, 1, 2, 0.01, 0.1),
          ("conv5", 256, 3, 1, 2, 0.01, 0.1)]


@keras.saving.register_keras_serializable(package="medkeras")
class AlexNet(TunableModel):
    """Caffe's BVLC AlexNet as a functional Keras model.

    227×227×3 Caffe-preprocessed input (BGR, ImageNet mean subtracted: see
    :func:`medkeras.preprocess_input`); conv1 (96 11×11/4) → ReLU → LRN → pool;
    conv2 (256 5×5, 2 groups) → ReLU → LRN → pool; conv3 (384 3×3); conv4 (384 3×3, 2 groups);
    conv5 (256 3×3, 2 groups) → pool; fc6, fc7 (4096, ReLU, dropout 0.5); fc8 (``classes``)
    → softmax.  LRN: size 5, alpha 1e-4, beta 0.75, k 1.  Grouped convolutions run as two
    convolutions and a trainable conv1 trains as an exact space-to-depth convolution (and
    infers as a plain strided one, faster there): about 2.5× Keras' ``groups=2`` version's
    training speed on CPU and 1.05× its inference speed (``bench/bench_alexnet.py``), with
    the same weight layout.

    Parameters
    ----------
    classes : int
        Output classes.  With ImageNet or Caffe weights and ``classes != 1000``, fc8 is a new,
        freshly initialised layer.
    weights : None, "imagenet" or path
        ``None`` (random), ``"imagenet"`` (the official bvlc_alexnet weights, downloaded,
        verified and converted once: :func:`medkeras.weights.imagenet_weights`), a
        ``.caffemodel`` file (V1 or V2) or a Keras ``.weights.h5`` file.
    init : {"gaussian", "xavier", "msra"}
        Random initialisation (:mod:`medkeras.models.initializers`).
    dropout : float
        Dropout rate after fc6 and fc7.
    trainable_from : str
        First trainable block (:meth:`set_trainable_from`); ``"conv1"`` trains all.
    seed : int, optional
        Seed of the random initialisation and of the dropout masks (``None``: Keras'
        global generator, which depends on the process's history).

    Examples
    --------
    >>> import numpy as np, medkeras
    >>> model = medkeras.AlexNet(classes=2)
    >>> model.set_trainable_from("fc7")          # FT:fc7-fc8
    >>> [l.name for l in model.layers if l.trainable_weights]
    ['fc7', 'fc8']
    >>> model.predict(np.zeros((1, 227, 227, 3)), verbose=0).shape
    (1, 2)
    """

    tunable_layers = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
    caffe_specs = tuple([WeightSpec(name, name, "conv") for name, *_ in _CONVS]
                        + [WeightSpec("fc6", "fc6", "dense", flatten_chw=(256, 6, 6)),
                           WeightSpec("fc7", "fc7", "dense"), WeightSpec("fc8", "fc8", "dense")])
    name_in_zoo = "bvlc_alexnet"
    input_size = 227

    def __init__(self, classes=1000, weights=None, *, init="gaussian", dropout=0.5,
                 trainable_from="conv1", seed=None, name="alexnet", **kwargs):
        self._check_arguments(classes, dropout)
        init = canonical_init(init)

        def inits(std, bias, index):
            return layer_initializers(init, gaussian_std=std, bias=bias,
                                      seed=None if seed is None else seed + index)

        inputs = keras.Input((227, 227, 3), name="image")
        x = inputs
        for index, (layer_name, filters, size, stride, groups, std, bias) in enumerate(_CONVS):
            conv = SpaceToDepthConv2D if stride > 1 else GroupedConv2D
            x = conv(filters, size, strides=stride, padding="valid" if stride > 1 else "same",
                     groups=groups, activation="relu", name=layer_name,
                     **inits(std, bias, index))(x)
            if layer_name in ("conv1", "conv2"):
                x = LocalResponseNormalization(5, 1e-4, 0.75, 1.0, name=f"norm{layer_name[-1]}")(x)
            if layer_name in ("conv1", "conv2", "conv5"):
                x = CaffeMaxPooling2D(3, 2, name=f"pool{layer_name[-1]}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(4096, activation="relu", name="fc6", **inits(0.005, 0.1, 5))(x)
        x = keras.layers.Dropout(dropout, name="drop6", **dropout_seed(seed, 0))(x)
        x = keras.layers.Dense(4096, activation="relu", name="fc7", **inits(0.005, 0.1, 6))(x)
        x = keras.layers.Dropout(dropout, name="drop7", **dropout_seed(seed, 1))(x)
        x = keras.layers.Dense(classes, name="fc8", **inits(0.01, 0.0, 7))(x)
        # float32 even under mixed precision: probabilities and the loss stay exact
        outputs = keras.layers.Softmax(name="prob", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._finish_init(classes=classes, init=init, dropout=dropout, seed=seed,
                          weights=weights, trainable_from=trainable_from)
