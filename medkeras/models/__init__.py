"""medkeras backbones: Caffe-exact AlexNet and SqueezeNet v1.1 with layer-wise fine-tuning;
the ``keras.applications`` networks with block-wise fine-tuning are in
:mod:`medkeras.models.applications` (``APPLICATIONS``)."""

from medkeras.models.alexnet import AlexNet
from medkeras.models.applications import APPLICATIONS
from medkeras.models.base import TunableModel
from medkeras.models.squeezenet import SqueezeNet

#: The paper's backbones (227×227 Caffe-preprocessed input) by the short name the four
#: applications' command lines use.
BACKBONES = {"alexnet": AlexNet, "squeezenet": SqueezeNet}
#: Every backbone a sweep can train: the paper's and the ``keras.applications`` ones.
ALL_BACKBONES = {**BACKBONES, **APPLICATIONS}

__all__ = ["ALL_BACKBONES", "APPLICATIONS", "AlexNet", "BACKBONES", "SqueezeNet",
           "TunableModel"]
