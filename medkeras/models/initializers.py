"""Random initialisations for training from scratch, as Caffe defines them.

* ``"gaussian"``: Caffe's Gaussian filler with the model zoo's standard deviations and
  constant biases (the ``train_val.prototxt`` of each network);
* ``"xavier"`` (alias ``"glorot"``): Caffe's Xavier filler, uniform on
  ``±sqrt(3 / fan_in)``, zero biases;
* ``"msra"`` (alias ``"he"``): Caffe's MSRA filler, normal with std ``sqrt(2 / fan_in)``,
  zero biases (He et al., ICCV 2015).

``fan_in`` counts one group's input channels for grouped convolutions, as Caffe does.
"""

import keras

INITS = ("gaussian", "xavier", "msra")
_ALIASES = {"caffe": "gaussian", "glorot": "xavier", "he": "msra"}


def canonical_init(init):
    """The canonical name of an initialisation, or a clear ``ValueError``."""
    name = _ALIASES.get(init, init)
    if name not in INITS:
        raise ValueError(f"init must be one of {list(INITS) + list(_ALIASES)}, got {init!r}")
    return name


def layer_initializers(init, *, gaussian_std, bias=0.0, seed=None):
    """``kernel_initializer``/``bias_initializer`` keyword arguments for one layer.

    ``gaussian_std`` and ``bias`` apply to the Gaussian filler (the zoo's values).
    """
    init = canonical_init(init)
    if init == "gaussian":
        kernel = keras.initializers.RandomNormal(0.0, gaussian_std, seed=seed)
        bias_init = keras.initializers.Constant(bias)
    elif init == "xavier":
        kernel = keras.initializers.VarianceScaling(1.0, "fan_in", "uniform", seed=seed)
        bias_init = keras.initializers.Zeros()
    else:
        kernel = keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=seed)
        bias_init = keras.initializers.Zeros()
    return {"kernel_initializer": kernel, "bias_initializer": bias_init}


def dropout_seed(seed, index):
    """``seed`` keyword of the ``index``-th dropout layer of a model built with ``seed``.

    Without it Keras draws a dropout layer's seed from its global generator when the layer
    is built, so the masks depend on what the process did before (``set_random_seed`` is
    usually called later, at training time).  ``seed=None`` keeps that behaviour.
    """
    return {} if seed is None else {"seed": 10_000 + 100 * seed + index}
