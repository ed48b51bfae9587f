"""AlexNet training and inference throughput: straightforward Keras vs medkeras, one run.

The baseline is the AlexNet anyone would write in Keras: ``Conv2D(groups=2)``, an LRN layer
around ``tf.nn.local_response_normalization``, Keras pooling.  medkeras computes exactly the
same function (see tests/test_layers.py) with split grouped convolutions and a space-to-depth
conv1, with and without XLA.  Figures are images/s and ratios to the baseline measured in the
same process, on random 227×227 inputs, 2 classes, SGD with momentum.

    python bench/bench_alexnet.py [--batch 64] [--steps 5] [--warmup 2]
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

import medkeras


class PlainLRN(keras.layers.Layer):
    def call(self, x):
        return tf.nn.local_response_normalization(x, 2, 1.0, 1e-4 / 5, 0.75)


def naive_alexnet(classes):
    inputs = keras.Input((227, 227, 3))
    x = keras.layers.Conv2D(96, 11, strides=4, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(3, 2)(PlainLRN()(x))
    x = keras.layers.Conv2D(256, 5, padding="same", groups=2, activation="relu")(x)
    x = keras.layers.MaxPooling2D(3, 2)(PlainLRN()(x))
    x = keras.layers.Conv2D(384, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(384, 3, padding="same", groups=2, activation="relu")(x)
    x = keras.layers.Conv2D(256, 3, padding="same", groups=2, activation="relu")(x)
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D(3, 2)(x))
    x = keras.layers.Dropout(0.5)(keras.layers.Dense(4096, activation="relu")(x))
    x = keras.layers.Dropout(0.5)(keras.layers.Dense(4096, activation="relu")(x))
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


def throughput(model, jit_compile, batch, steps, warmup):
    model.compile(keras.optimizers.SGD(0.001, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.uniform(-120, 120, (batch, 227, 227, 3)).astype(np.float32)
    y = rng.integers(0, 2, batch)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    train = batch * steps / (time.perf_counter() - start)
    predict = tf.function(lambda images: model(images, training=False), jit_compile=jit_compile)
    for _ in range(warmup):
        predict(x)
    start = time.perf_counter()
    for _ in range(steps):
        predict(x).numpy()
    infer = batch * steps / (time.perf_counter() - start)
    return train, infer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    print(f"TF {tf.__version__}, Keras {keras.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, GPUs: {len(tf.config.list_physical_devices('GPU'))}, "
          f"oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}, batch {args.batch}")
    variants = [
        ("keras AlexNet, groups=2 (baseline)", lambda: naive_alexnet(2), False),
        ("medkeras.AlexNet", lambda: medkeras.AlexNet(classes=2), False),
        ("medkeras.AlexNet + XLA", lambda: medkeras.AlexNet(classes=2), True),
        ("medkeras.SqueezeNet + XLA", lambda: medkeras.SqueezeNet(classes=2), True),
    ]
    base = None
    print(f"{'model':38s} {'train img/s':>12s} {'ratio':>6s} {'infer img/s':>12s} {'ratio':>6s}")
    for name, build, jit in variants:
        keras.backend.clear_session()
        train, infer = throughput(build(), jit, args.batch, args.steps, args.warmup)
        base = base or (train, infer)
        print(f"{name:38s} {train:12.1f} {train / base[0]:6.2f} {infer:12.1f} {infer / base[1]:6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
