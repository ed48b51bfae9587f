"""Reading Caffe ``.caffemodel`` files without Caffe, and converting them to Keras."""

from medkeras.caffe.convert import WeightSpec, assign_weights, caffe_to_keras, convert_layer
from medkeras.caffe.proto import CaffeModelError, CaffeNet, read_caffemodel, write_caffemodel

__all__ = ["CaffeModelError", "CaffeNet", "WeightSpec", "assign_weights", "caffe_to_keras",
           "convert_layer", "read_caffemodel", "write_caffemodel"]
