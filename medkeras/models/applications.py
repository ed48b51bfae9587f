"""Modern ImageNet backbones from ``keras.applications``, cut into tunable blocks.

Kandel & Castelli, "How Deeply to Fine-Tune a Convolutional Neural Network: A Case Study
Using a Histopathology Dataset", Applied Sciences 10(10):3359, 2020, fine-tune VGG, Inception
and ResNet networks block by block.  Here each architecture of ``keras.applications`` is a
:class:`~medkeras.models.TunableModel` like :class:`~medkeras.AlexNet`: its weight layers
are partitioned into ordered blocks (the architecture's own stages), a new classification
head is the last block, and ``schemes`` run from ``scratch`` and ``FT:only head`` to
``FT:<first block>-head``.

Blocks (input to output, ``head`` last):

============== ====================================================================
VGG16, VGG19   ``block1`` … ``block5`` (the convolution blocks, each ending in a pool)
ResNet50       ``conv1`` (with pool1), ``conv2`` … ``conv5`` (the residual stages)
InceptionV3    ``stem`` (convolutions up to the first module), ``mixed0to2`` (35×35),
               ``mixed3`` (reduction), ``mixed4to7`` (17×17), ``mixed8`` (reduction),
               ``mixed9to10`` (8×8)
DenseNet121    ``conv1`` (with pool1), ``conv2`` … ``conv5`` (each dense block with the
               transition after it; the final batch norm with ``conv5``)
EfficientNetB0 ``stem``, ``block1`` … ``block7`` (the MBConv stages), ``top``
MobileNetV2    ``conv1``, ``stage1`` … ``stage7`` (the bottleneck sequences of Sandler
               et al. 2018, Table 2), ``top``
============== ====================================================================

Every block boundary is a single tensor (residual connections stay inside a stage), so
frozen-prefix caching cuts there.  The global average pooling belongs to the last
convolutional block, so ``FT:only head`` caches one feature vector per image.

Frozen blocks: Keras runs a ``BatchNormalization`` layer whose ``trainable`` is ``False``
in inference mode, so a frozen block's moving statistics never change (keras issue #9522,
the classic trap of Keras 2).  EfficientNet is built without its stochastic depth
(its ``*_drop`` layers get rate 0): random drops inside frozen blocks would make them
neither fixed nor cacheable.

Inputs: ``input_size`` × ``input_size`` images with ``channels`` 3 (RGB) or 1 (grey,
repeated into the three channels the ImageNet filters expect), prepared by the
architecture's own ``preprocess_input`` (:meth:`ApplicationBackbone.preprocess`, from RGB
values in 0–255).

Weights: ``"imagenet"`` through ``keras.applications``' own hashed download and cache
(``~/.keras/models``); offline it fails within seconds with the file to copy there; a
``.h5`` file of the architecture without its top (the file Keras downloads); a
``.weights.h5``/``.keras`` file of this medkeras model; or ``None`` (random, seeded by
``seed``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import re
import socket

import keras

from medkeras.models.base import TunableModel
from medkeras.models.initializers import dropout_seed
from medkeras.weights import WeightsUnavailableError

__all__ = ["APPLICATIONS", "ApplicationBackbone", "DenseNet121", "EfficientNetB0",
           "InceptionV3", "MobileNetV2", "ResNet50", "VGG16", "VGG19"]

HEAD = "head"
DOWNLOAD_TIMEOUT_S = 10.0


def _by_name(rules):
    """A block assignment from ``(regex, block)`` rules on layer names: a layer matched by
    no rule (padding, pooling, the input) belongs to the block of the layer before it in
    the graph's order.  ``block`` may use the regex's groups (``r"\\1"``)."""
    compiled = [(re.compile(pattern), block) for pattern, block in rules]

    def assign(layers, first):
        blocks, current = [], first
        for layer in layers:
            for pattern, block in compiled:
                match = pattern.match(layer.name)
                if match:
                    current = match.expand(block)
                    break
            blocks.append(current)
        return blocks
    return assign


_INCEPTION_GROUPS = {0: "mixed0to2", 1: "mixed0to2", 2: "mixed0to2", 3: "mixed3",
                     4: "mixed4to7", 5: "mixed4to7", 6: "mixed4to7", 7: "mixed4to7",
                     8: "mixed8", 9: "mixed9to10", 10: "mixed9to10"}


def _inception_modules(layers, first):
    """InceptionV3's layers carry generic names (``conv2d_57``), so its blocks follow the
    graph: the stem ends with its second max pooling, module K with its concatenation
    ``mixedK``.  In any topological order a module's layers lie between the two
    concatenations that bound it (they depend on the first; the second depends on them)."""
    blocks, module, pools = [], None, 0
    for layer in layers:
        if module is None:                   # the stem
            blocks.append(first)
            if isinstance(layer, keras.layers.MaxPooling2D):
                pools += 1
                module = 0 if pools == 2 else None
            continue
        blocks.append(_INCEPTION_GROUPS[module])
        match = re.fullmatch(r"mixed(\d+)", layer.name)
        if match:                            # closes module K; K + 1 follows
            module = min(int(match.group(1)) + 1, 10)
    return blocks


_MOBILENET_STAGES = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3, 6: 4, 7: 4, 8: 4, 9: 4, 10: 5, 11: 5,
                     12: 5, 13: 6, 14: 6, 15: 6, 16: 7}


def _mobilenet_v2(layers, first):
    """MobileNetV2's ``block_N`` layers grouped into its seven bottleneck sequences."""
    blocks, current = [], first
    for name in (layer.name for layer in layers):
        match = re.match(r"block_(\d+)_", name)
        if match:
            current = f"stage{_MOBILENET_STAGES[int(match.group(1))]}"
        elif name.startswith("expanded_conv"):
            current = "stage1"
        elif name in ("Conv_1", "Conv_1_bn", "out_relu"):
            current = "top"
        blocks.append(current)
    return blocks


@dataclasses.dataclass(frozen=True)
class Architecture:
    """How one ``keras.applications`` architecture is built and cut into blocks."""
    constructor: str        # keras.applications.<constructor>
    module: str             # keras.applications.<module>.preprocess_input
    input_size: int         # the ImageNet input size
    min_size: int           # the smallest input keras.applications accepts
    blocks: tuple           # the blocks before the head, input to output
    assign: object          # (layers in graph order, first block) -> block of each layer
    stochastic_depth: bool = False   # Dropout layers "*_drop" inside blocks, set to rate 0


ARCHITECTURES = {
    "vgg16": Architecture("VGG16", "vgg16", 224, 32, tuple(f"block{i}" for i in range(1, 6)),
                          _by_name([(r"(block\d)_", r"\1")])),
    "vgg19": Architecture("VGG19", "vgg19", 224, 32, tuple(f"block{i}" for i in range(1, 6)),
                          _by_name([(r"(block\d)_", r"\1")])),
    "resnet50": Architecture("ResNet50", "resnet", 224, 32,
                             tuple(f"conv{i}" for i in range(1, 6)),
                             _by_name([(r"(conv\d)_", r"\1")])),
    "inception_v3": Architecture("InceptionV3", "inception_v3", 299, 75,
                                 ("stem", "mixed0to2", "mixed3", "mixed4to7", "mixed8",
                                  "mixed9to10"), _inception_modules),
    "densenet121": Architecture("DenseNet121", "densenet", 224, 32,
                                tuple(f"conv{i}" for i in range(1, 6)),
                                _by_name([(r"(conv\d)_", r"\1"), (r"pool(\d)_", r"conv\1")])),
    "efficientnet_b0": Architecture("EfficientNetB0", "efficientnet", 224, 32,
                                    ("stem",) + tuple(f"block{i}" for i in range(1, 8))
                                    + ("top",),
                                    _by_name([(r"stem_", "stem"), (r"block(\d)[a-z]_",
                                                                   r"block\1"),
                                              (r"top_", "top")]),
                                    stochastic_depth=True),
    "mobilenet_v2": Architecture("MobileNetV2", "mobilenet_v2", 224, 32,
                                 ("conv1",) + tuple(f"stage{i}" for i in range(1, 8)) + ("top",),
                                 _mobilenet_v2),
}


class ApplicationBackbone(TunableModel):
    """A ``keras.applications`` network with a new head, tunable block by block.

    Subclasses (:class:`VGG16`, :class:`ResNet50`, …) set ``architecture``.

    Parameters
    ----------
    classes : int
        Classes of the new head (>= 2).
    weights : None, "imagenet" or a path
        See the module's documentation.
    input_size : int
        Side of the square input (default: the architecture's ImageNet size); smaller
        sizes train faster, down to the architecture's minimum.
    channels : {3, 1}
        1: grey images, repeated into three channels inside the model.
    dropout : float
        Dropout before the new head's dense layer.
    trainable_from : str
        The first trainable block (or a scheme name).
    seed : int or None
        Seeds the random initialisation (the whole network from scratch, the head when
        fine-tuning) and the head's dropout.
    """

    architecture = None
    default_learning_rate = 0.001
    #: From scratch when the range test cannot choose: 0.01, with batch normalisation.
    scratch_learning_rate = 0.01

    def __init__(self, classes=1000, weights=None, *, input_size=None, channels=3,
                 dropout=0.2, trainable_from=None, seed=None, name=None, **kwargs):
        spec = ARCHITECTURES[self.architecture]
        self._check_arguments(classes, dropout)
        input_size = spec.input_size if input_size is None else input_size
        if not isinstance(input_size, int) or isinstance(input_size, bool) or \
                input_size < spec.min_size:
            raise ValueError(f"input_size must be an integer >= {spec.min_size} for "
                             f"{spec.constructor}; Received: input_size={input_size!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB); Received: "
                             f"channels={channels!r}")
        if seed is not None:
            # keras.applications' layers take their initial values from Keras' global
            # generator: seeding it here makes a model of a given seed the same in any process.
            keras.utils.set_random_seed(seed)
        inputs = keras.Input((input_size, input_size, channels), name="image")
        x = inputs
        if channels == 1:
            x = keras.layers.Concatenate(name="grey_to_rgb")([inputs, inputs, inputs])
            x = keras.layers.Rescaling(*_grey_affine(spec), name="grey_preprocessing")(x)
        kind = _weights_kind(weights)
        with _fresh_layer_names():
            base = _build_application(spec, x, weights if kind == "keras" else None)
        if weights is None:
            _scratch_batch_statistics(base)
        x = keras.layers.Dropout(dropout, name=f"{HEAD}_dropout", **dropout_seed(seed, 0))(
            base.output)
        outputs = keras.layers.Dense(classes, activation="softmax", name=f"{HEAD}_dense",
                                     dtype="float32")(x)         # float32 under mixed precision
        super().__init__(inputs=inputs, outputs=outputs,
                         name=name or self.architecture, **kwargs)
        self.input_size, self.channels = input_size, channels
        body = [layer for layer in self.layers if not layer.name.startswith(HEAD + "_")]
        block_of = {layer.name: HEAD for layer in self.layers}
        block_of.update(zip((layer.name for layer in body), spec.assign(body, spec.blocks[0])))
        self._block_of = block_of
        blocks = set(block_of.values())
        unknown = sorted(blocks - set(self.tunable_layers))
        if unknown:
            raise RuntimeError(f"{spec.constructor}: layers fell into unknown blocks {unknown}")
        self._finish_init(classes=classes, init="keras", dropout=dropout, seed=seed,
                          weights=weights if kind == "medkeras" else None,
                          trainable_from=trainable_from or self.tunable_layers[0])
        self.weights_source = None if weights is None else os.fspath(weights)

    @classmethod
    def spec(cls):
        return ARCHITECTURES[cls.architecture]

    def block_layers(self, block):
        """The Keras layers of one block (every layer of the graph belongs to one)."""
        if block not in self.tunable_layers:
            raise ValueError(f"unknown block {block!r}; blocks are {list(self.tunable_layers)}")
        return [layer for layer in self.layers if self._block_of[layer.name] == block]

    def preprocess(self, images):
        """Images with values in 0–255 (RGB, or grey for ``channels=1``) → the model's
        input: the architecture's ``preprocess_input`` (grey models do it inside).  NumPy
        in, NumPy out; a tensor in, a tensor out (for serving signatures)."""
        import numpy as np

        if isinstance(images, np.ndarray):
            images = images.astype(np.float32)
            if self.channels == 1:
                return images
            return np.asarray(getattr(keras.applications, self.spec().module)
                              .preprocess_input(images))
        images = keras.ops.cast(images, "float32")
        if self.channels == 1:
            return images
        return getattr(keras.applications, self.spec().module).preprocess_input(images)

    @property
    def preprocessing_name(self):
        """How inputs are prepared, in words (recorded with exports)."""
        return f"keras.applications.{self.spec().module}.preprocess_input"

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "classes": self.classes,
                "dropout": self.dropout, "trainable_from": self.trainable_from,
                "seed": self.seed, "input_size": self.input_size, "channels": self.channels}


def _grey_affine(spec):
    """``(scale, offset)`` per channel with ``preprocess_input(g, g, g) = scale·g + offset``:
    every architecture's preprocessing is an affine map per channel (a flip of the channel
    order aside, which a grey image does not see), so two constant images give it exactly."""
    import numpy as np

    module = getattr(keras.applications, spec.module)
    low = np.asarray(module.preprocess_input(np.zeros((1, 1, 1, 3), np.float32)))[0, 0, 0]
    high = np.asarray(module.preprocess_input(np.full((1, 1, 1, 3), 255, np.float32)))[0, 0, 0]
    return ((high - low) / 255).tolist(), low.tolist()


def _weights_kind(weights):
    """``None``; ``"keras"`` (loaded by keras.applications: ``"imagenet"`` or a notop
    ``.h5``); ``"medkeras"`` (a ``.weights.h5``/``.keras`` file of this model)."""
    if weights is None:
        return None
    if weights == "imagenet":
        return "keras"
    if isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights file not found: {path}")
        if path.endswith((".weights.h5", ".keras")):
            return "medkeras"
        if path.endswith(".h5"):
            return "keras"
    raise ValueError(f"weights must be None, 'imagenet', a keras.applications .h5 file or a "
                     f".weights.h5/.keras file of this model; Received: weights={weights!r}")


@contextlib.contextmanager
def _fresh_layer_names():
    """Keras names unnamed layers from process-wide counters (``conv2d_57`` if 57 were made
    before), and checkpoints and dropout seeds go by layer name: build with fresh counters
    so a model's names are the same in any process, whatever was built before."""
    from keras.src.backend.common import global_state

    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


def _build_application(spec, x, keras_weights):
    """``keras.applications.<constructor>`` on the tensor ``x``, without its top, pooled."""
    constructor = getattr(keras.applications, spec.constructor)
    if keras_weights is not None:
        keras_weights = "imagenet" if keras_weights == "imagenet" else os.fspath(keras_weights)
    arguments = dict(include_top=False, weights=keras_weights, input_tensor=x, pooling="avg")
    if keras_weights != "imagenet":
        base = constructor(**arguments)
    else:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        try:
            base = constructor(**arguments)
        except Exception as err:    # keras.utils.get_file: URL, HTTP or timeout failures
            raise WeightsUnavailableError(_offline_help(spec, err)) from err
        finally:
            socket.setdefaulttimeout(previous)
    if spec.stochastic_depth:
        for layer in base.layers:
            if isinstance(layer, keras.layers.Dropout) and layer.name.endswith("_drop"):
                layer.rate = 0.0
    return base


#: Moving-average momentum of batch normalisation in a network trained from scratch.
SCRATCH_BN_MOMENTUM = 0.9


def _scratch_batch_statistics(base):
    """From scratch, batch normalisation's moving statistics start at mean 0, variance 1 and
    follow the batches with Keras' momentum (0.99; MobileNetV2 0.999): after the few hundred
    steps of a small medical set they are still mostly their starting values, and the
    network evaluated in inference mode (validation, test) gives nearly the same output for
    every image.  0.9 (PyTorch's default) lets them catch up within tens of steps.
    ImageNet-initialised networks keep their statistics and momentum."""
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = SCRATCH_BN_MOMENTUM


def _offline_help(spec, err):
    url = re.search(r"https?://\S+?\.h5", str(err))
    file = url.group(0).rsplit("/", 1)[-1] if url else f"the {spec.constructor} notop .h5"
    cache = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")),
                         "models")
    return (f"ImageNet weights of {spec.constructor} could not be downloaded "
            f"({url.group(0) if url else 'keras.applications'}): {err}. On a machine "
            f"without internet, copy {file} into {cache} (Keras' cache), or pass "
            f"weights='/path/to/{file}'.")


def _backbone(class_name, architecture):
    cls = type(class_name, (ApplicationBackbone,), {
        "architecture": architecture,
        "tunable_layers": ARCHITECTURES[architecture].blocks + (HEAD,),
        "input_size": ARCHITECTURES[architecture].input_size,
        "__doc__": f"keras.applications.{ARCHITECTURES[architecture].constructor}, tunable "
                   f"by block: {', '.join(ARCHITECTURES[architecture].blocks)}, {HEAD}.",
        "__module__": __name__})
    return keras.saving.register_keras_serializable(package="medkeras")(cls)


VGG16 = _backbone("VGG16", "vgg16")
VGG19 = _backbone("VGG19", "vgg19")
ResNet50 = _backbone("ResNet50", "resnet50")
InceptionV3 = _backbone("InceptionV3", "inception_v3")
DenseNet121 = _backbone("DenseNet121", "densenet121")
EfficientNetB0 = _backbone("EfficientNetB0", "efficientnet_b0")
MobileNetV2 = _backbone("MobileNetV2", "mobilenet_v2")

#: The backbones by their command-line names.
APPLICATIONS = {"vgg16": VGG16, "vgg19": VGG19, "resnet50": ResNet50,
                "inception_v3": InceptionV3, "densenet121": DenseNet121,
                "efficientnet_b0": EfficientNetB0, "mobilenet_v2": MobileNetV2}
