"""medkeras: pre-trained CNNs for medical image analysis, full training or fine-tuning.

Reproduces and extends Tajbakhsh et al., "Convolutional Neural Networks for Medical Image
Analysis: Full Training or Fine Tuning?", IEEE TMI 35(5), 2016.
"""

from medkeras.export import export_saved_model
from medkeras.layers import (CaffeMaxPooling2D, GroupedConv2D, LocalResponseNormalization,
                             SpaceToDepthConv2D)
from medkeras.models import AlexNet, SqueezeNet, TunableModel
from medkeras.preprocessing import (IMAGENET_MEAN_BGR, grey_to_rgb, preprocess_input,
                                    two_channel_to_rgb)
from medkeras.training import CaffeSGD, compile_for_scheme, epoch_decay, paper_optimizer
from medkeras.weights import WeightsUnavailableError

__version__ = "0.1.0"

__all__ = ["AlexNet", "CaffeMaxPooling2D", "CaffeSGD", "GroupedConv2D", "IMAGENET_MEAN_BGR",
           "LocalResponseNormalization", "SpaceToDepthConv2D", "SqueezeNet", "TunableModel",
           "WeightsUnavailableError", "compile_for_scheme", "epoch_decay", "export_saved_model",
           "grey_to_rgb", "paper_optimizer", "preprocess_input", "two_channel_to_rgb"]
