"""AlexNet training and inference throughput: straightforward Keras vs medkeras, one run.

Every variant is built and warmed up first, then measured in interleaved rounds (each
round measures every variant once), and the median is reported: a burst of load on a
shared machine hits every variant alike instead of flipping one ratio.

The baseline is the AlexNet anyone would write in Keras: ``Conv2D(groups=2)``, an LRN layer
around ``tf.nn.local_response_normalization``, Keras pooling.  medkeras computes exactly the
same function (see tests/test_layers.py) with split grouped convolutions and a space-to-depth
conv1, with and without XLA.  Figures are images/s and ratios to the baseline measured in the
same process, on random 227×227 inputs, 2 classes, SGD with momentum.

    python bench/bench_alexnet.py [--batch 64] [--steps 3] [--rounds 5] [--bfloat16]
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


def prepare(model, jit_compile, batch):
    """Compiled train step and inference function of ``model`` on fixed random data."""
    model.compile(keras.optimizers.SGD(0.001, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.uniform(-120, 120, (batch, 227, 227, 3)).astype(np.float32)
    y = rng.integers(0, 2, batch)
    predict = tf.function(lambda images: model(images, training=False), jit_compile=jit_compile)
    return (lambda: model.train_on_batch(x, y)), (lambda: predict(x).numpy())


def rate(step, batch, steps):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5,
                        help="measurements per variant, interleaved (the median is shown)")
    parser.add_argument("--bfloat16", action="store_true",
                        help="also the mixed_bfloat16 variants (on a CPU without native "
                             "bfloat16 TensorFlow emulates it, about 7× slower to train: "
                             "one step per round there)")
    args = parser.parse_args()
    from medkeras.precision import cpu_has_native_bfloat16, precision_scope

    print(f"TF {tf.__version__}, Keras {keras.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, GPUs: {len(tf.config.list_physical_devices('GPU'))}, "
          f"native bfloat16: {cpu_has_native_bfloat16()}, batch {args.batch}, "
          f"{args.rounds} interleaved rounds of {args.steps} steps (median; best in brackets)"
          + ("" if cpu_has_native_bfloat16() or not args.bfloat16
             else "; bfloat16 emulated: 1 step per round"))

    def in_precision(build, precision):
        def built():
            with precision_scope(precision):
                return build()
        return built

    steps = args.steps
    variants = [
        ("keras AlexNet, groups=2 (baseline)", lambda: naive_alexnet(2), False, steps),
        ("medkeras.AlexNet", lambda: medkeras.AlexNet(classes=2), False, steps),
        ("medkeras.AlexNet + XLA", lambda: medkeras.AlexNet(classes=2), True, steps),
        ("medkeras.SqueezeNet", lambda: medkeras.SqueezeNet(classes=2), False, steps),
        ("medkeras.SqueezeNet + XLA", lambda: medkeras.SqueezeNet(classes=2), True, steps),
    ]
    if args.bfloat16:
        half_steps = steps if cpu_has_native_bfloat16() else 1      # emulated: slow
        variants += [
            ("medkeras.AlexNet, bfloat16",
             in_precision(lambda: medkeras.AlexNet(classes=2), "bfloat16"), False, half_steps),
            ("medkeras.SqueezeNet, bfloat16",
             in_precision(lambda: medkeras.SqueezeNet(classes=2), "bfloat16"), False,
             half_steps)]
    prepared = []
    for name, build, jit, variant_steps in variants:       # compile and warm up every one
        train, infer = prepare(build(), jit, args.batch)
        train(), train(), infer(), infer()
        prepared.append((name, train, infer, variant_steps))
    rates = {name: ([], []) for name, *_ in prepared}
    for _ in range(args.rounds):                            # interleaved: load hits them all
        for name, train, infer, variant_steps in prepared:
            rates[name][0].append(rate(train, args.batch, variant_steps))
            rates[name][1].append(rate(infer, args.batch, variant_steps))
    base = [float(np.median(r)) for r in rates[prepared[0][0]]]
    print(f"{'model':38s} {'train img/s':>18s} {'ratio':>6s} {'infer img/s':>18s} {'ratio':>6s}")
    for name, *_ in prepared:
        train, infer = (float(np.median(r)) for r in rates[name])
        best_train, best_infer = (max(r) for r in rates[name])
        print(f"{name:38s} {train:9.1f} [{best_train:6.1f}] {train / base[0]:6.2f} "
              f"{infer:9.1f} [{best_infer:6.1f}] {infer / base[1]:6.2f}", flush=True)
    for name, ref in (("medkeras.AlexNet, bfloat16", "medkeras.AlexNet"),
                      ("medkeras.SqueezeNet, bfloat16", "medkeras.SqueezeNet"),
                      ("medkeras.SqueezeNet + XLA", "medkeras.SqueezeNet")):
        if name in rates:
            ratio = np.median(rates[name][0]) / np.median(rates[ref][0])
            print(f"training {name} / {ref}: {ratio:.2f}")


if __name__ == "__main__":
    main()
