"""medkeras: pre-trained CNNs for medical image analysis, full training or fine-tuning.

Reproduces and extends Tajbakhsh et al., "Convolutional Neural Networks for Medical Image
Analysis: Full Training or Fine Tuning?", IEEE TMI 35(5), 2016, and the block-wise
fine-tuning of modern networks of Kandel & Castelli, Applied Sciences 10(10):3359, 2020.

The names below load on first use (PEP 562), so that importing a light part of medkeras —
a command line's ``--help``, the application contract — does not load TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_HOMES = {
    "export_saved_model": "medkeras.export",
    "CaffeMaxPooling2D": "medkeras.layers", "GroupedConv2D": "medkeras.layers",
    "LocalResponseNormalization": "medkeras.layers", "SpaceToDepthConv2D": "medkeras.layers",
    "AlexNet": "medkeras.models", "SqueezeNet": "medkeras.models",
    "TunableModel": "medkeras.models",
    **{name: "medkeras.models.applications" for name in (
        "DenseNet121", "EfficientNetB0", "InceptionV3", "MobileNetV2", "ResNet50", "VGG16",
        "VGG19")},
    "IMAGENET_MEAN_BGR": "medkeras.preprocessing", "grey_to_rgb": "medkeras.preprocessing",
    "preprocess_input": "medkeras.preprocessing",
    "two_channel_to_rgb": "medkeras.preprocessing",
    "CaffeSGD": "medkeras.training", "compile_for_scheme": "medkeras.training",
    "epoch_decay": "medkeras.training", "paper_optimizer": "medkeras.training",
    "WeightsUnavailableError": "medkeras.weights",
}

__all__ = sorted(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'medkeras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_HOMES))
