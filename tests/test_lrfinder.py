"""The learning-rate range test (Smith 2017) against a grid search of fixed rates."""

import keras
import numpy as np
import pytest

from medkeras.experiment.lrfinder import learning_rate_range_test, steepest_descent_rate

N, D = 2048, 32


def _problem():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N)
    x = (rng.normal(size=(N, D)) + 0.5 * (2 * y[:, None] - 1) * (np.arange(D) < 8)) * 3
    return x.astype("float32"), y


def _model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((D,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))


def _loss_after_training(x, y, rate, steps=100):
    model = _model()
    model.compile(keras.optimizers.SGD(rate, momentum=0.9), "sparse_categorical_crossentropy")
    order = np.random.default_rng(3).permutation(N)
    losses = [float(model.train_on_batch(*(a[np.take(order, np.arange(s * 32, s * 32 + 32),
                                                     mode="wrap")] for a in (x, y))))
              for s in range(steps)]
    final = np.mean(losses[-20:])
    return final if np.isfinite(final) else np.inf


def test_the_range_test_picks_a_rate_near_the_best_fixed_rate():
    x, y = _problem()
    grid = np.geomspace(1e-4, 1, 9)                    # the known-good rate, by brute force
    best = grid[int(np.argmin([_loss_after_training(x, y, rate) for rate in grid]))]
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    found = learning_rate_range_test(model, x, y, optimizer=keras.optimizers.SGD(
        0.01, momentum=0.9), batch_size=32, steps=100, start=1e-5, stop=10)
    assert best / 3 <= found.chosen <= best * 3, (found.chosen, best)
    assert found.diverged and len(found.losses) < 100    # it went far enough to see divergence
    for a, b in zip(before, model.get_weights()):        # and left no trace
        np.testing.assert_array_equal(a, b)


def test_steepest_descent_ignores_the_diverging_end_and_checks_its_schedule():
    rates = np.geomspace(1e-5, 1, 41)
    loss = 1 / (1 + np.exp(3 * (np.log10(rates) + 3)))       # falls fastest at 1e-3 ...
    loss = loss + np.where(rates > 1e-1, (np.log10(rates) + 1) * 50, 0)  # ... then explodes
    assert steepest_descent_rate(rates, loss) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="steps >= 10"):
        learning_rate_range_test(_model(), *_problem(), optimizer=keras.optimizers.SGD(),
                                 steps=5)


def test_from_scratch_a_late_dip_before_divergence_is_not_taken_at_face_value():
    """Training from scratch, the loss stays at ln 2 over most of the range and falls only
    just before it diverges: the rate is capped at a tenth of the rate of the minimum."""
    rates = np.geomspace(1e-6, 1, 50)
    loss = np.full(50, np.log(2))
    loss[41] -= 0.01                                  # the dip, at 0.105 ...
    loss[42:] += np.linspace(0.01, 0.05, 8)           # ... then divergence
    assert steepest_descent_rate(rates, loss) == pytest.approx(rates[41] / 10)
