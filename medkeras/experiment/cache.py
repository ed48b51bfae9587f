"""Frozen-prefix caching: compute the frozen layers once per patch, train only the rest.

When every block before ``first`` is frozen, their output for a fixed patch never changes,
so it is computed once and the trainable remainder (the *head*) trains on it.  The head is
built from the model's own layers, so training it trains the model.  The cut is placed at
the first layer that is trainable or stochastic: dropout always lies after it, which
keeps the result exactly that of training the whole model.
"""

import numpy as np

import keras


STOCHASTIC_LAYERS = (keras.layers.Dropout, keras.layers.GaussianNoise,
                     keras.layers.GaussianDropout, keras.layers.SpatialDropout2D)


def is_stochastic(layer):
    """Whether ``layer`` draws random numbers in training (a dropout of rate 0 does not)."""
    return isinstance(layer, STOCHASTIC_LAYERS) and getattr(layer, "rate", 1.0) != 0


def cut_layer(model, first):
    """The layer at whose input the model is cut when training from block ``first``.

    The first layer that is trainable or stochastic: frozen layers after a dropout still see
    its random masks during training (as in Caffe), so they cannot be cached.  AlexNet: for
    ``fc6`` the cut is fc6 itself (the cache holds the flattened pool5), for ``fc7`` it is
    ``drop6``, and for ``fc8`` also ``drop6`` (the frozen fc7 runs on dropped-out fc6).
    """
    trainable = {id(layer) for block in model.tunable_layers[model.tunable_layers.index(first):]
                 for layer in model.block_layers(block)}
    for layer in model.layers:
        if id(layer) in trainable or is_stochastic(layer):
            return layer
    raise ValueError(f"no trainable layer from block {first!r}")


def split_frozen_prefix(model, first):
    """``(prefix, head)``: the frozen part ``input → cut`` and the trainable part ``cut → output``.

    Returns ``(None, model)`` when nothing is frozen (``first`` is the first block).
    """
    if first == model.tunable_layers[0]:
        return None, model
    cut = cut_layer(model, first)
    stochastic = [layer.name for layer in model.layers[:model.layers.index(cut)]
                  if is_stochastic(layer)]
    if stochastic:
        raise ValueError(f"cannot cache before {first!r}: stochastic layers {stochastic} "
                         "precede the cut")
    prefix = keras.Model(model.input, cut.input, name=f"{model.name}_frozen_prefix")
    head = keras.Model(cut.input, model.output, name=f"{model.name}_from_{first}")
    return prefix, head


def compute_features(prefix, inputs, *, batch_size=64, path=None, progress=False):
    """Run ``prefix`` over ``inputs`` once, in batches; into memory or a ``.npy`` memmap at
    ``path`` (for sets larger than memory)."""
    count = len(inputs)
    shape = (count,) + tuple(prefix.output.shape[1:])
    if path is None:
        features = np.empty(shape, np.float32)
    else:
        features = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    steps = range(0, count, batch_size)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="caching frozen layers", unit="batch")
    for start in steps:
        batch = np.asarray(inputs[start:start + batch_size])
        features[start:start + len(batch)] = prefix(batch, training=False)
    if path is not None:
        features.flush()
    return features
