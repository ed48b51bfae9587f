"""SqueezeNet v1.1 exactly as its Caffe release (Iandola et al., 2016; forresti/SqueezeNet)."""

import keras

from medkeras.caffe import WeightSpec
from medkeras.layers import CaffeMaxPooling2D
from medkeras.models.base import TunableModel
from medkeras.models.initializers import canonical_init, dropout_seed, layer_initializers

# (fire module, squeeze channels, expand channels per branch); a pool precedes fire4, fire6.
_FIRES = [("fire2", 16, 64), ("fire3", 16, 64), ("fire4", 32, 128), ("fire5", 32, 128),
          ("fire6", 48, 192), ("fire7", 48, 192), ("fire8", 64, 256), ("fire9", 64, 256)]


def _fire_specs():
    specs = [WeightSpec("conv1", "conv1", "conv")]
    for fire, _, _ in _FIRES:
        specs += [WeightSpec(f"{fire}/{part}", f"{fire}_{part}", "conv")
                  for part in ("squeeze1x1", "expand1x1", "expand3x3")]
    return tuple(specs + [WeightSpec("conv10", "conv10", "conv")])


@keras.saving.register_keras_serializable(package="medkeras")
class SqueezeNet(TunableModel):
    """SqueezeNet v1.1 as a functional Keras model, with the same API as :class:`AlexNet`.

    227×227×3 Caffe-preprocessed input; conv1 (64 3×3/2) → pool → fire2, fire3 → pool →
    fire4, fire5 → pool → fire6 … fire9 → dropout 0.5 → conv10 (``classes`` 1×1, ReLU) →
    global average → softmax.  Pools round their output size up, as Caffe does
    (113 → 56 → 28 → 14).  Tunable blocks: ``conv1``, ``fire2`` … ``fire9``, ``conv10``.
    Caffe layer ``fire2/squeeze1x1`` is Keras layer ``fire2_squeeze1x1``.

    Parameters are those of :class:`AlexNet`; the default ``init`` is ``"xavier"``, the one
    SqueezeNet was trained with (``conv10`` Gaussian, std 0.01).  One more:

    classifier_relu : bool, optional
        Caffe's SqueezeNet applies a ReLU to conv10 before averaging.  ``None`` (default)
        keeps it for the 1000-class ImageNet classifier, so that model is exact, and drops it
        for a new classifier: there a freshly initialised 2-class head behind a ReLU dies
        within a few steps at the fine-tuning rate (both outputs 0, loss stuck at ln 2).

    Examples
    --------
    >>> import medkeras
    >>> model = medkeras.SqueezeNet(classes=2)
    >>> model.schemes["FT:fire9-conv10"]
    'fire9'
    """

    tunable_layers = ("conv1",) + tuple(f for f, _, _ in _FIRES) + ("conv10",)
    caffe_specs = _fire_specs()
    name_in_zoo = "squeezenet_v1.1"
    input_size = 227
    # Table II's 0.001 (×10 on the new conv10) makes SqueezeNet's fine-tuned head diverge:
    # its ImageNet fire9 features reach ~100 and feed conv10 directly (no fc7-like layer).
    default_learning_rate = 0.0001
    # From scratch on the frames task (1,280 crops, 6 epochs) 1e-4 stayed at ln 2, 3e-3
    # reached validation AUC 0.93 and 1e-2 oscillated around 0.86.
    scratch_learning_rate = 0.003

    def __init__(self, classes=1000, weights=None, *, init="xavier", dropout=0.5,
                 trainable_from="conv1", seed=None, classifier_relu=None, name="squeezenet",
                 **kwargs):
        self._check_arguments(classes, dropout)
        init = canonical_init(init)
        if classifier_relu is None:
            classifier_relu = classes == 1000
        counter = iter(range(1000))

        def conv(filters, size, layer_name, stride=1, activation="relu"):
            step = next(counter)
            # The zoo initialises conv10 with a Gaussian (std 0.01) under Xavier training.
            layer_init = "gaussian" if layer_name == "conv10" and init == "xavier" else init
            return keras.layers.Conv2D(
                filters, size, strides=stride,
                padding="valid" if size == 3 and stride > 1 else "same",
                activation=activation, name=layer_name,
                **layer_initializers(layer_init, gaussian_std=0.01,
                                     seed=None if seed is None else seed + step))

        inputs = keras.Input((227, 227, 3), name="image")
        x = conv(64, 3, "conv1", stride=2)(inputs)
        x = CaffeMaxPooling2D(3, 2, name="pool1")(x)
        for fire, squeeze, expand in _FIRES:
            if fire in ("fire4", "fire6"):
                x = CaffeMaxPooling2D(3, 2, name=f"pool{int(fire[-1]) - 1}")(x)
            s = conv(squeeze, 1, f"{fire}_squeeze1x1")(x)
            x = keras.layers.Concatenate(name=f"{fire}_concat")(
                [conv(expand, 1, f"{fire}_expand1x1")(s), conv(expand, 3, f"{fire}_expand3x3")(s)])
        x = keras.layers.Dropout(dropout, name="drop9", **dropout_seed(seed, 0))(x)
        x = conv(classes, 1, "conv10", activation="relu" if classifier_relu else None)(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool10")(x)
        # float32 even under mixed precision: probabilities and the loss stay exact
        outputs = keras.layers.Softmax(name="prob", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.classifier_relu = bool(classifier_relu)
        self._finish_init(classes=classes, init=init, dropout=dropout, seed=seed,
                          weights=weights, trainable_from=trainable_from)

    def get_config(self):
        return {**super().get_config(), "classifier_relu": self.classifier_relu}
