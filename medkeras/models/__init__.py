"""medkeras backbones: Caffe-exact AlexNet and SqueezeNet v1.1 with layer-wise fine-tuning."""

from medkeras.models.alexnet import AlexNet
from medkeras.models.base import TunableModel
from medkeras.models.squeezenet import SqueezeNet

__all__ = ["AlexNet", "SqueezeNet", "TunableModel"]
