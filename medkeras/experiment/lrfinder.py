"""The learning-rate range test: a fair rate for a recipe that has none (training from
scratch), chosen on the training split in a short run.

Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017, §3.3: train a few
hundred steps while the rate grows exponentially from tiny to large; the loss first stays
put, then falls, then diverges.  The rate to train with is where it falls fastest.  Here:

1. ``steps`` steps of the run's own optimizer (SGD with momentum and Caffe's multipliers),
   the rate from ``start`` to ``stop`` on a log scale, batches of the training split in a
   seeded order;
2. the loss smoothed by an exponential moving average (bias-corrected), the test stopped
   once it exceeds 4× its minimum or is not finite (divergence);
3. the chosen rate: where the smoothed loss falls fastest against log(rate), looked for
   only before the minimum of the smoothed loss (past it, training is diverging), and at
   most a tenth of the rate at that minimum.  The cap matters from scratch: there the loss
   hardly moves over most of the range, its only fall comes just before divergence, and
   the steepest point alone would pick a rate at the edge of instability (the rule
   "minimum / 10" of fastai's ``lr_find``).

When the smoothed loss never falls by ``MIN_FALL`` (5%) below where it started, the test
has nothing to say: ``chosen`` is ``None`` and the caller falls back to a documented rate.
This is the usual case from scratch on a hard task: measured on CIMT patches (3 classes,
SqueezeNet from scratch, 100 steps from 1e-6 to 1), the loss stayed within 0.3% of ln 3
over the whole range — a network from scratch needs hundreds of steps at one rate to
leave its plateau, and a short sweep of rates gives each a couple of steps.

The model's weights are put back afterwards: the test leaves no trace but its record.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["MIN_FALL", "RangeTest", "learning_rate_range_test", "loss_fell",
           "scheme_range_test", "steepest_descent_rate"]

#: The least relative fall of the smoothed loss for the test to choose a rate.
MIN_FALL = 0.05


@dataclasses.dataclass
class RangeTest:
    """The result: the ``chosen`` rate (``None`` when the loss never fell: see
    :func:`loss_fell`), every ``rates``/``losses`` step and the ``smoothed`` loss, and
    whether the loss ``diverged`` before ``stop``."""
    chosen: float
    rates: list
    losses: list
    smoothed: list
    diverged: bool

    def to_json(self):
        return dataclasses.asdict(self)


def _smooth(losses, beta):
    average, smoothed = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** i))
    return np.asarray(smoothed)


def loss_fell(smoothed, *, skip=5, min_fall=MIN_FALL):
    """Whether the smoothed loss fell by at least ``min_fall`` of its value after the
    first ``skip`` steps (the average warming up) — else the test shows no rate at which
    the run learns.

    >>> loss_fell([1.0986] * 50 + [1.097] * 50)
    False
    >>> loss_fell([0.69] * 50 + [0.5] * 10)
    True
    """
    smoothed = np.asarray(smoothed, float)
    start = smoothed[min(skip, len(smoothed) - 1)]
    return bool(start - smoothed.min() >= min_fall * abs(start))


def steepest_descent_rate(rates, smoothed, *, skip=5):
    """The rate at which ``smoothed`` (the loss) falls fastest against log(rate), searched
    before the loss's minimum, capped at a tenth of the rate at that minimum; the first
    ``skip`` steps (the average still warming up) are left out.

    >>> rates = np.logspace(-5, 0, 51)
    >>> loss = 1 / (1 + np.exp(4 * (np.log10(rates) + 2)))   # falls fastest at 1e-2
    >>> float(steepest_descent_rate(rates, loss))
    0.01
    """
    rates, smoothed = np.asarray(rates, float), np.asarray(smoothed, float)
    end = int(np.argmin(smoothed)) + 1
    if end - skip < 3:
        skip = 0
    if end < 3:
        return float(rates[max(end - 1, 0)] / 10)     # fell from the start: stay well below
    slopes = np.gradient(smoothed[:end], np.log(rates[:end]))
    steepest = float(rates[skip + int(np.argmin(slopes[skip:]))])
    return min(steepest, float(rates[end - 1]) / 10)


def learning_rate_range_test(model, x, y, *, optimizer, batch_size=64, steps=100,
                             start=1e-6, stop=1.0, seed=0, beta=0.9, loss=None,
                             progress=False):
    """Run the range test on ``model`` (compiled here with ``optimizer``, weights restored).

    Parameters
    ----------
    model : keras.Model
        With its trainable layers set as the run will train them.
    x, y : arrays
        Training patches and labels (a seeded order of them is cycled through).
    optimizer : keras.optimizers.Optimizer
        The run's optimizer (its rate is overwritten at every step).
    steps, start, stop : the schedule of the test.
    seed : int
    beta : float
        Smoothing of the loss.
    loss : the loss (default sparse categorical cross-entropy).

    Returns
    -------
    RangeTest
    """
    if steps < 10 or not 0 < start < stop:
        raise ValueError(f"the range test needs steps >= 10 and 0 < start < stop; got "
                         f"steps={steps}, start={start}, stop={stop}")
    saved = [w.copy() for w in model.get_weights()]
    rates = np.geomspace(start, stop, steps)
    optimizer.learning_rate = float(rates[0])
    model.compile(optimizer=optimizer, loss=loss or "sparse_categorical_crossentropy")
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(len(y))
    y = np.asarray(y)
    losses, best, diverged = [], math.inf, False
    iterator = range(steps)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc="learning-rate range test", unit="step")
    for step in iterator:
        optimizer.learning_rate.assign(float(rates[step]))
        first = (step * batch_size) % len(order)
        rows = np.sort(np.take(order, np.arange(first, first + batch_size), mode="wrap"))
        value = float(model.train_on_batch(np.asarray(x[rows]), y[rows]))
        losses.append(value)
        smoothed = _smooth(losses, beta)[-1]
        best = min(best, smoothed)
        if not math.isfinite(value) or smoothed > 4 * best:
            diverged = True
            break
    model.set_weights(saved)
    finite = [v if math.isfinite(v) else 1e30 for v in losses]
    smoothed = _smooth(finite, beta)
    chosen = (steepest_descent_rate(rates[:len(losses)], smoothed) if loss_fell(smoothed)
              else None)
    return RangeTest(chosen=chosen, rates=rates[:len(losses)].tolist(), losses=losses,
                     smoothed=smoothed.tolist(), diverged=diverged)


def scheme_range_test(model, scheme, x, y, *, batch_size=64, steps=100, seed=0,
                      progress=False):
    """The range test of a scheme of a :class:`~medkeras.models.TunableModel`: its layers
    frozen as the scheme trains them, the recipe's optimizer (SGD, momentum 0.9, Caffe's
    multipliers), rates from 1e-6 to 1."""
    from medkeras.training import CaffeSGD, scheme_multipliers

    model.set_trainable_from(model.schemes[scheme])
    optimizer = CaffeSGD(1e-6, 0.9, layer_multipliers=scheme_multipliers(model, scheme))
    return learning_rate_range_test(model, x, y, optimizer=optimizer, batch_size=batch_size,
                                    steps=steps, start=1e-6, stop=1.0, seed=seed,
                                    progress=progress)
