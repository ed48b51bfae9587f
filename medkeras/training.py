"""The training recipe of Tajbakhsh et al. (2016), Table II, as reusable Keras pieces.

* SGD, momentum 0.9;
* learning rate 0.001 for the tuned layers, 0.01 (×10) for the new classifier when
  fine-tuning, 0 for frozen layers (they are not trainable at all);
* every bias learns twice as fast as its weights (Caffe's ``lr_mult: 2``);
* the learning rate is multiplied by 0.95 after every epoch;
* training from scratch: 0.001 for every layer (biases still ×2).

Keras has no per-layer learning rate, so :class:`CaffeSGD` carries Caffe's multipliers and
serialises them with the model.
"""

import keras

SCRATCH = "scratch"


@keras.saving.register_keras_serializable(package="medkeras")
class CaffeSGD(keras.optimizers.SGD):
    """SGD with momentum and Caffe's per-layer learning-rate multipliers.

    The update of variable ``w`` of layer ``L`` is Caffe's:
    ``v ← momentum·v − lr·m_L·b·(g + l2·w)``, ``w ← w + v``, with ``m_L`` from
    ``layer_multipliers`` (a key matches layer ``L`` or the block ``L`` belongs to, e.g.
    ``"fire9"`` matches ``fire9_squeeze1x1``), ``b = bias_multiplier`` for biases (1 for
    weights), and ``l2`` Caffe's weight decay on weights only (``decay_mult: 0`` on biases).

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule
    momentum : float
    layer_multipliers : dict of str → float
    bias_multiplier : float
    l2 : float
    """

    def __init__(self, learning_rate=0.001, momentum=0.9, *, layer_multipliers=None,
                 bias_multiplier=2.0, l2=0.0, name="caffe_sgd", **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, name=name, **kwargs)
        self.layer_multipliers = {str(k): float(v) for k, v in (layer_multipliers or {}).items()}
        self.bias_multiplier = float(bias_multiplier)
        self.l2 = float(l2)
        if any(v < 0 for v in self.layer_multipliers.values()) or self.bias_multiplier < 0 \
                or self.l2 < 0:
            raise ValueError("learning-rate multipliers and l2 must be non-negative")

    def multiplier(self, variable_path):
        """The learning-rate multiplier of a variable, from its path (``"fc8/bias"``)."""
        parts = variable_path.split("/")
        layer, kind = (parts[-2] if len(parts) > 1 else ""), parts[-1]
        factor = 1.0
        for key, value in self.layer_multipliers.items():
            if layer == key or layer.startswith(key + "_"):
                factor = value
        return factor * (self.bias_multiplier if kind == "bias" else 1.0)

    def build(self, variables):
        super().build(variables)
        self._lr_multipliers = [self.multiplier(v.path) for v in variables]
        self._is_bias = [v.path.split("/")[-1] == "bias" for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        if self.l2 and not self._is_bias[index]:
            gradient = gradient + self.l2 * variable
        super().update_step(gradient, variable, learning_rate * self._lr_multipliers[index])

    def get_config(self):
        return {**super().get_config(), "layer_multipliers": self.layer_multipliers,
                "bias_multiplier": self.bias_multiplier, "l2": self.l2}


def epoch_decay(learning_rate, steps_per_epoch, decay=0.95):
    """Learning rate × ``decay`` after every epoch (a staircase exponential schedule)."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    return keras.optimizers.schedules.ExponentialDecay(
        learning_rate, decay_steps=int(steps_per_epoch), decay_rate=decay, staircase=True)


def paper_optimizer(model, scheme, *, steps_per_epoch, learning_rate=None,
                    new_layer_multiplier=10.0, decay=0.95, momentum=0.9, l2=0.0):
    """The Table II optimizer for ``model`` trained with ``scheme``.

    ``scheme`` is ``"scratch"`` or a fine-tuning scheme of ``model.schemes``
    (``"FT:fc7-fc8"``); fine-tuning gives the classifier ``new_layer_multiplier`` × the rate.
    ``learning_rate`` defaults to the backbone's ``default_learning_rate``: the paper's 0.001
    for AlexNet, 0.0001 for SqueezeNet (at 0.001 its new classifier diverges).
    """
    if scheme not in model.schemes:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {list(model.schemes)}")
    if learning_rate is None:
        learning_rate = model.default_learning_rate
    return CaffeSGD(epoch_decay(learning_rate, steps_per_epoch, decay), momentum,
                    layer_multipliers=scheme_multipliers(model, scheme, new_layer_multiplier),
                    l2=l2)


def scheme_multipliers(model, scheme, new_layer_multiplier=10.0):
    """Caffe's per-layer learning-rate multipliers of a scheme: none for ``scratch``, the
    new classifier ×``new_layer_multiplier`` when fine-tuning."""
    return {} if scheme == SCRATCH else {model.head: new_layer_multiplier}


def compile_for_scheme(model, scheme, *, steps_per_epoch, jit_compile="auto", metrics=None,
                       **optimizer_options):
    """Freeze ``model`` for ``scheme`` and compile it with the Table II optimizer.

    ``jit_compile="auto"`` is Keras' choice: XLA on GPUs, off on CPU (where it did not
    speed AlexNet up: ``bench/bench_alexnet.py``).  ``scratch`` does not re-initialise
    weights: build the model with ``weights=None``.
    """
    if scheme not in model.schemes:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {list(model.schemes)}")
    model.set_trainable_from(model.schemes[scheme])
    model.compile(optimizer=paper_optimizer(model, scheme, steps_per_epoch=steps_per_epoch,
                                            **optimizer_options),
                  loss="sparse_categorical_crossentropy", metrics=metrics,
                  jit_compile=jit_compile)
    return model
