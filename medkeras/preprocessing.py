"""Input preprocessing of the Caffe ImageNet models, and channel helpers for medical patches."""

import numpy as np
import tensorflow as tf

#: Caffe's ImageNet mean (``ilsvrc_2012_mean.npy`` averaged per channel), in **BGR** order.
IMAGENET_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)


def _check_channels(images, channels, what):
    if images.shape[-1] != channels:
        raise ValueError(f"{what} expects {channels} channels in the last axis, got shape "
                         f"{tuple(images.shape)}")


def preprocess_input(images):
    """RGB images with values 0–255 → Caffe's input: BGR, ImageNet mean subtracted.

    Works on NumPy arrays (returns float32 NumPy) and on tensors (returns a float32 tensor),
    so it can run inside a ``tf.data`` pipeline or a serving signature.

    >>> preprocess_input(np.full((1, 1, 3), 128, np.uint8)).round(2)
    array([[[23.99, 11.33,  5.32]]], dtype=float32)
    """
    _check_channels(images, 3, "preprocess_input")
    if isinstance(images, np.ndarray):                  # one pass: flip, cast and subtract
        out = np.empty(images.shape, np.float32)
        np.subtract(images[..., ::-1], np.asarray(IMAGENET_MEAN_BGR, np.float32), out=out,
                    dtype=np.float32)
        return out
    images = tf.cast(images, tf.float32)
    return tf.reverse(images, axis=[-1]) - tf.constant(IMAGENET_MEAN_BGR, tf.float32)


def grey_to_rgb(patches):
    """Grey patches ``(..., H, W)`` or ``(..., H, W, 1)`` → 3 channels by repetition.

    The paper feeds grey CIMT and colonoscopy-quality patches to ImageNet networks this way.
    NumPy in, NumPy out; a tensor in, a tensor out (for ``tf.data`` pipelines).
    """
    if tf.is_tensor(patches):
        if patches.shape.rank >= 3 and patches.shape[-1] == 1:
            patches = patches[..., 0]
        return tf.repeat(patches[..., None], 3, axis=-1)
    patches = np.asarray(patches)
    if patches.ndim >= 3 and patches.shape[-1] == 1:
        patches = patches[..., 0]
    if patches.ndim < 2:
        raise ValueError(f"grey_to_rgb expects (..., H, W) patches, got shape {patches.shape}")
    return np.repeat(patches[..., None], 3, axis=-1)


def two_channel_to_rgb(patches):
    """Two-channel patches ``(..., 2)`` → ``(..., 3)`` as ``[c0, c1, c1]``.

    The vessel-aligned PE representation (Tajbakhsh & Liang, MICCAI 2015) has a cross-
    sectional and a longitudinal channel; the second is repeated to fill the third.  NumPy
    in, NumPy out; a tensor in, a tensor out.
    """
    if not tf.is_tensor(patches):
        patches = np.asarray(patches)
    _check_channels(patches, 2, "two_channel_to_rgb")
    if tf.is_tensor(patches):
        return tf.concat([patches, patches[..., 1:2]], axis=-1)
    return np.concatenate([patches, patches[..., 1:2]], axis=-1)
