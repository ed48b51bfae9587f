"""int8 deployment models: TensorFlow Lite with full-integer quantization.

:func:`quantize_int8` converts a trained Keras model into a ``.tflite`` file whose weights
and activations are int8, calibrated on a sample of the training patches (the ranges of
every activation come from real inputs, so the int8 model sees what the float one was
trained on).  Operations without an int8 kernel (AlexNet's LRN) stay in float inside the
same file.  The classifier (the last layer with weights and what follows it: the softmax)
stays in float32 outside the file: int8 probabilities come in steps of 1/256, and a
model whose scores differ by less would lose its ranking, hence its AUC.  Inputs and
outputs are float32: the pair is a drop-in for the Keras model on preprocessed patches.

:class:`QuantizedModel` runs such a file behind the small part of the Keras model API the
inference commands use (``predict_on_batch``, ``predict``, ``preprocess``, shapes), so
``detect``, ``score``, ``measure`` and ``predict`` take an int8 export unchanged.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

__all__ = ["QuantizedModel", "quantize_int8"]


def quantize_int8(model, calibration, path):
    """Write ``model`` as a full-integer-quantized TFLite file calibrated on ``calibration``.

    Parameters
    ----------
    model : keras.Model
    calibration : array (n, H, W, C)
        Model inputs as the model takes them (preprocessed), e.g. training patches; a few
        hundred suffice.
    path : path-like
        The ``.tflite`` file, written atomically.
    """
    import tensorflow as tf

    from medkeras.atomic import write_bytes_atomic

    calibration = np.asarray(calibration, np.float32)
    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f"calibration must be a non-empty (n, H, W, C) array; Received: "
                         f"shape {calibration.shape}")

    def representative():
        for sample in calibration:
            yield [sample[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(_body(model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    with contextlib.redirect_stdout(io.StringIO()):   # Keras' export lists every variable
        converted = converter.convert()
    write_bytes_atomic(path, converted)
    return path


def _classifier(model):
    """The last layer with weights (the classifier: conv10, fc8, the new head's dense)."""
    for layer in reversed(model.layers):
        if getattr(layer, "kernel", None) is not None:
            return layer
    raise ValueError(f"{model.name}: no layer with weights to quantize")


def _body(model):
    """``model`` up to its classifier's input: what the int8 file computes."""
    import keras

    return keras.Model(model.inputs, _classifier(model).input)


def _tail(model):
    """The classifier and what follows it (softmax), kept in float32."""
    import keras

    return keras.Model(_classifier(model).input, model.outputs)


class QuantizedModel:
    """A ``.tflite`` model in place of the Keras ``model`` it was converted from.

    Prediction runs the TFLite interpreter (in batches, resized to each input); everything
    else (``preprocess``, ``input_shape``, ``output_shape``, the name) is the Keras
    model's.
    """

    def __init__(self, model, path, *, threads=None):
        import os

        import tensorflow as tf

        self.model, self.path = model, str(path)
        try:
            # TFLite's default XNNPACK delegate cannot prepare these int8 graphs (seen with
            # SqueezeNet: "failed to create XNNPACK runtime"); the built-in int8 kernels run
            self.interpreter = tf.lite.Interpreter(
                model_path=self.path, num_threads=threads or os.cpu_count(),
                experimental_op_resolver_type=(
                    tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"{path}: not a TFLite model ({err})") from None
        self.tail = _tail(model)
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._batch = None

    def __getattr__(self, name):                 # preprocess, input_shape, output_shape...
        return getattr(self.model, name)

    def predict_on_batch(self, x):
        x = np.ascontiguousarray(x, np.float32)
        if self._batch != len(x):
            self.interpreter.resize_tensor_input(self._input, x.shape)
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self._input, x)
        self.interpreter.invoke()
        features = self.interpreter.get_tensor(self._output).copy()
        return np.asarray(self.tail(features, training=False), np.float32)

    def predict(self, x, batch_size=64, verbose=0):
        outputs = [self.predict_on_batch(x[start:start + batch_size])
                   for start in range(0, len(x), batch_size)]
        return np.concatenate(outputs) if outputs else np.zeros((0, self.output_shape[-1]))

    def __call__(self, x, training=False):
        return self.predict_on_batch(np.asarray(x))
