"""What every medkeras backbone shares: tunable blocks, fine-tuning schemes, weight loading."""

import os

import keras

from medkeras.caffe import assign_weights, caffe_to_keras, read_caffemodel


class TunableModel(keras.Model):
    """A functional Keras model whose weight layers form ordered, tunable blocks.

    Subclasses set ``tunable_layers`` (block names, input to output; the last block is the
    classifier) and build their graph with layer names ``block`` or ``block_<part>``.
    ``set_trainable_from(block)`` freezes every block before ``block`` and trains the rest,
    the layer-wise fine-tuning of Tajbakhsh et al. (2016).
    """

    tunable_layers = ()
    caffe_specs = ()
    #: Base learning rate of the training recipe for this backbone (Table II: 0.001).
    default_learning_rate = 0.001
    #: Base rate from scratch when the learning-rate range test cannot choose one (its loss
    #: never fell): BVLC's reference AlexNet solver (``base_lr: 0.01``).
    scratch_learning_rate = 0.01

    # -- fine-tuning depth -------------------------------------------------------------
    @property
    def head(self):
        """The classifier block, replaced when fine-tuning to a new task."""
        return self.tunable_layers[-1]

    @classmethod
    def scheme_table(cls):
        """Scheme name → first trainable block, deepest tuning last, ``scratch`` first.

        Names follow the paper: ``FT:only fc8``, ``FT:fc7-fc8``, …, ``FT:conv1-fc8``.
        ``scratch`` trains every block like ``FT:conv1-fc8`` but from random weights.  A
        class method: sweeps and reports list schemes without building a model.
        """
        first, last = cls.tunable_layers[0], cls.tunable_layers[-1]
        names = {"scratch": first}
        for block in reversed(cls.tunable_layers):
            names["FT:only " + last if block == last else f"FT:{block}-{last}"] = block
        return names

    @property
    def schemes(self):
        """:meth:`scheme_table` of this model."""
        return self.scheme_table()

    def block_layers(self, block):
        """The Keras layers of one tunable block."""
        if block not in self.tunable_layers:
            raise ValueError(f"unknown block {block!r}; blocks are {list(self.tunable_layers)}")
        return [layer for layer in self.layers
                if layer.name == block or layer.name.startswith(block + "_")]

    @property
    def trainable_from(self):
        """The first trainable block (``set_trainable_from``'s last argument)."""
        return self._trainable_from

    def set_trainable_from(self, layer):
        """Train ``layer`` and every block after it; freeze the blocks before it.

        ``"fc8"`` trains only the classifier (FT:only fc8), ``"conv1"`` trains everything
        (FT:conv1-fc8).  A scheme name (``"FT:fc6-fc8"``) is accepted too.  When the model was
        already compiled it is recompiled from its compile configuration with a fresh
        optimizer (Keras fixes the trainable variables at compile time); when that is not
        possible a ``RuntimeError`` asks for an explicit ``compile()``.
        """
        if layer in self.schemes and layer not in self.tunable_layers:
            layer = self.schemes[layer]
        if layer not in self.tunable_layers:
            raise ValueError(
                f"cannot train from {layer!r}: choose a block of {list(self.tunable_layers)} "
                f"or a scheme of {list(self.schemes)}")
        start = self.tunable_layers.index(layer)
        for index, block in enumerate(self.tunable_layers):
            for keras_layer in self.block_layers(block):
                keras_layer.trainable = index >= start
        self._trainable_from = layer
        if getattr(self, "compiled", False):
            self._recompile()

    def _recompile(self):
        try:
            config = self.get_compile_config()
            if not config:
                raise ValueError("no compile configuration")
            self.compile_from_config(config)
        except Exception as err:  # a custom, unserialisable loss or metric
            self.compiled = False
            raise RuntimeError(
                "the trainable layers changed after compile() and the model could not be "
                f"recompiled automatically ({err}); call model.compile(...) again") from err

    def preprocess(self, images):
        """RGB images with values in 0–255 → this model's input (Caffe's: BGR, ImageNet
        mean subtracted); NumPy or tensors."""
        from medkeras.preprocessing import preprocess_input
        return preprocess_input(images)

    # -- weights ------------------------------------------------------------------------
    def load_caffe_weights(self, path):
        """Load weights from a ``.caffemodel`` (V1 or V2), converted to Keras' layout.

        The classifier is loaded only when the file's class count equals ``classes``;
        otherwise it keeps its fresh initialisation, as fine-tuning expects.
        """
        net = read_caffemodel(path)
        shapes = {spec.keras_name: tuple(self.get_layer(spec.keras_name).kernel.shape)
                  for spec in self.caffe_specs}
        weights = caffe_to_keras(net, self.caffe_specs, kernel_shapes=shapes,
                                 source=os.fspath(path), head=self.head)
        assign_weights(self, weights, source=os.fspath(path))

    def _load_initial_weights(self, weights):
        """Dispatch the ``weights`` constructor argument."""
        if weights is None:
            return
        if weights == "imagenet":
            from medkeras.weights import imagenet_weights
            weights = imagenet_weights(self.name_in_zoo, self.caffe_specs)
            assign_weights(self, _without_mismatched_head(self, weights),
                           source=f"{self.name_in_zoo} ImageNet weights")
            return
        path = os.fspath(weights)
        if path.endswith(".caffemodel"):
            self.load_caffe_weights(path)
        elif path.endswith((".weights.h5", ".h5", ".keras")):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"weights file not found: {path}")
            try:
                self.load_weights(path)
            except Exception as err:       # h5py and Keras raise many types
                raise ValueError(f"{path}: cannot load these weights into {self.name} "
                                 f"({type(err).__name__}: {err})") from None
        else:
            raise ValueError(
                f"weights={weights!r}: expected None, 'imagenet', a .caffemodel file or a Keras "
                ".weights.h5 file")

    # -- construction and serialisation ---------------------------------------------------
    @staticmethod
    def _check_arguments(classes, dropout):
        if not isinstance(classes, int) or isinstance(classes, bool) or classes < 2:
            raise ValueError(f"classes must be an integer >= 2, got {classes!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

    def _finish_init(self, *, classes, init, dropout, seed, weights, trainable_from):
        """Record the constructor arguments, load ``weights``, freeze for ``trainable_from``."""
        self.classes, self.init, self.dropout, self.seed = classes, init, dropout, seed
        self._trainable_from = self.tunable_layers[0]
        self._load_initial_weights(weights)
        self.set_trainable_from(trainable_from)

    def get_config(self):
        # Weights are not configuration: they travel in the .keras archive.
        return {"name": self.name, "trainable": self.trainable, "classes": self.classes,
                "init": self.init, "dropout": self.dropout,
                "trainable_from": self.trainable_from, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _without_mismatched_head(model, weights):
    """Drop the cached classifier when its class count differs from the model's."""
    head = weights.get(model.head)
    if head is not None and head[0].shape != tuple(model.get_layer(model.head).kernel.shape):
        weights = {name: arrays for name, arrays in weights.items() if name != model.head}
    return weights
