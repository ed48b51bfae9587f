"""medkeras backbones: Caffe-exact AlexNet and SqueezeNet v1.1 with layer-wise fine-tuning;
the ``keras.applications`` networks with block-wise fine-tuning are in
:mod:`medkeras.models.applications` (``APPLICATIONS``)."""

from medkeras.models.alexnet import AlexNet
from medkeras.models.base import TunableModel
from medkeras.models.squeezenet import SqueezeNet

#: Backbones by the short name the command line and sweeps use.
BACKBONES = {"alexnet": AlexNet, "squeezenet": SqueezeNet}

__all__ = ["AlexNet", "BACKBONES", "SqueezeNet", "TunableModel"]
