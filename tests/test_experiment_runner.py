"""Training one scheme: frozen-prefix caching is exact, interrupted runs resume exactly."""

import json
import os

import keras
import numpy as np
import pytest

import medkeras
from medkeras.experiment.cache import cut_layer, split_frozen_prefix
from medkeras.experiment.runner import TrainConfig, load_best_weights, train_scheme


def small_task(count=16, seed=0):
    """Patches whose class is visible in their mean, so AUC is meaningful, not constant."""
    rng = np.random.default_rng(seed)
    y = np.arange(count) % 2
    x = rng.normal(0, 20, (count, 227, 227, 3)).astype(np.float32) + 15 * y[:, None, None, None]
    return x, y


@pytest.mark.parametrize("model_class,first,cut", [
    (medkeras.AlexNet, "fc8", "drop6"), (medkeras.AlexNet, "fc7", "drop6"),
    (medkeras.AlexNet, "fc6", "fc6"), (medkeras.AlexNet, "conv3", "conv3"),
    (medkeras.SqueezeNet, "conv10", "drop9"), (medkeras.SqueezeNet, "fire4", "fire4_squeeze1x1"),
])
def test_cut_keeps_dropout_in_the_trained_part(model_class, first, cut):
    model = model_class(classes=2)
    assert cut_layer(model, first).name == cut
    prefix, head = split_frozen_prefix(model, first)
    x, _ = small_task(2)
    np.testing.assert_allclose(head(prefix(x)), model(x), rtol=1e-5, atol=1e-6)
    assert split_frozen_prefix(model, model.tunable_layers[0]) == (None, model)


def trained_weights(scheme, cache, run_dir, model_class=medkeras.SqueezeNet, epochs=2,
                    patience=10, **kw):
    keras.utils.set_random_seed(3)
    model = model_class(classes=2, seed=1)
    x, y = small_task()
    config = TrainConfig(epochs=epochs, batch_size=4, patience=patience, cache_frozen=cache,
                         tensorboard=False, **kw)
    result = train_scheme(model, scheme, (x[:12], y[:12]), (x[12:], y[12:]), run_dir=str(run_dir),
                          config=config, verbose=0)
    return model.get_weights(), result


@pytest.mark.parametrize("model_class,scheme", [
    (medkeras.SqueezeNet, "FT:only conv10"),     # dropout in the trained part
    (medkeras.SqueezeNet, "FT:fire8-conv10"),
    (medkeras.AlexNet, "FT:only fc8"),           # a frozen layer (fc7) after dropout
])
def test_cached_and_uncached_training_give_the_same_weights(tmp_path, model_class, scheme):
    cached, result_cached = trained_weights(scheme, True, tmp_path / "c", model_class)
    plain, result_plain = trained_weights(scheme, False, tmp_path / "p", model_class)
    assert result_cached.cached and not result_plain.cached
    for a, b in zip(cached, plain):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert [h["val_auc"] for h in result_cached.history] == pytest.approx(
        [h["val_auc"] for h in result_plain.history], abs=1e-6)
    # Training moved the tuned weights (the equality above is not of two untouched models).
    untouched = model_class(classes=2, seed=1).get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(cached, untouched))


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


@pytest.mark.parametrize("cache", [True, False])
def test_interrupted_run_resumes_exactly(tmp_path, cache):
    reference, reference_result = trained_weights("FT:only conv10", cache, tmp_path / "ref",
                                                  epochs=4)
    keras.utils.set_random_seed(3)
    model = medkeras.SqueezeNet(classes=2, seed=1)
    x, y = small_task()
    config = TrainConfig(epochs=4, batch_size=4, patience=10, cache_frozen=cache,
                         tensorboard=False)
    with pytest.raises(KeyboardInterrupt):
        train_scheme(model, "FT:only conv10", (x[:12], y[:12]), (x[12:], y[12:]),
                     run_dir=str(tmp_path / "run"), config=config, verbose=0,
                     callbacks=[Interrupt()])
    assert not os.path.exists(tmp_path / "run" / "result.json")
    assert json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["epoch"] == 1
    # A new process: a fresh model, the same call.
    keras.utils.set_random_seed(99)
    model = medkeras.SqueezeNet(classes=2, seed=1)
    result = train_scheme(model, "FT:only conv10", (x[:12], y[:12]), (x[12:], y[12:]),
                          run_dir=str(tmp_path / "run"), config=config, verbose=0)
    assert [h["epoch"] for h in result.history] == [0, 1, 2, 3]
    assert [h["val_auc"] for h in result.history] == pytest.approx(
        [h["val_auc"] for h in reference_result.history], abs=1e-6)
    for a, b in zip(model.get_weights(), reference):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_best_epoch_restored_and_finished_runs_return_at_once(tmp_path):
    weights, result = trained_weights("FT:fire9-conv10", True, tmp_path / "run", epochs=3)
    aucs = [h["val_auc"] for h in result.history]
    assert result.best_epoch == int(np.argmax(aucs)) and result.best_val_auc == max(aucs)
    best = medkeras.SqueezeNet(classes=2, seed=1)  # the run's starting weights
    assert load_best_weights(best, str(tmp_path / "run")) == "FT:fire9-conv10"
    for a, b in zip(weights, best.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Only the trained layers are stored: fire9 and conv10, not the frozen network.
    with np.load(tmp_path / "run" / "best.npz") as stored:
        assert {key.split("/")[0] for key in stored.files} == {
            "fire9_squeeze1x1", "fire9_expand1x1", "fire9_expand3x3", "conv10"}
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 4  # header + 3 epochs
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["scheme"] == "FT:fire9-conv10" and recorded["train"]["epochs"] == 3
    assert recorded["model_config"]["seed"] == 1 and recorded["environment"]["tensorflow"]
    model = medkeras.SqueezeNet(classes=2, seed=1)  # same starting weights, nothing trained
    again = train_scheme(model, "FT:fire9-conv10", small_task()[:2], small_task()[:2],
                         run_dir=str(tmp_path / "run"), verbose=0)
    assert again == result
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_early_stopping(tmp_path):
    _, result = trained_weights("FT:only conv10", True, tmp_path / "run", epochs=30,
                                patience=2, learning_rate=0.0)  # nothing can improve
    assert result.epochs_run == 1 + 2  # best at epoch 0, then patience (2) epochs without gain
    # Patience stopped it; at rate 0 its loss never left chance level: it did not learn.
    assert result.stopped_early and result.status == "did not learn"
    _, capped = trained_weights("FT:only conv10", True, tmp_path / "capped", epochs=2,
                                patience=2, learning_rate=0.0)
    assert capped.epochs_run == 2 and capped.status == "not converged"  # the cap stopped it


def test_a_run_whose_loss_blows_up_is_stopped_and_reported_diverged(tmp_path):
    _, result = trained_weights("scratch", False, tmp_path / "run", epochs=5,
                                learning_rate=1e8)
    assert result.diverged and result.status == "diverged" and result.epochs_run < 5
    assert (tmp_path / "run" / "best.npz").exists()           # the run's files are whole


def test_validation_needs_both_classes(tmp_path):
    model = medkeras.SqueezeNet(classes=2)
    x, y = small_task(8)
    with pytest.raises(ValueError, match="positive and negative"):
        train_scheme(model, "FT:only conv10", (x, y), (x[:2], np.zeros(2, int)),
                     run_dir=str(tmp_path), config=TrainConfig(epochs=1, batch_size=4,
                                                               tensorboard=False), verbose=0)


def test_a_run_directory_belongs_to_one_scheme(tmp_path):
    trained_weights("FT:only conv10", True, tmp_path / "run", epochs=1)
    with pytest.raises(ValueError, match="holds a run of 'FT:only conv10'"):
        trained_weights("FT:fire9-conv10", True, tmp_path / "run", epochs=1)


def test_best_validation_scores_are_those_of_the_restored_weights(tmp_path):
    from medkeras.experiment.runner import load_best_val_scores, positive_scores
    _, result = trained_weights("FT:only conv10", True, tmp_path / "run", epochs=2)
    keras.utils.set_random_seed(3)
    model = medkeras.SqueezeNet(classes=2, seed=1)
    load_best_weights(model, str(tmp_path / "run"))
    x, _ = small_task()
    np.testing.assert_allclose(load_best_val_scores(str(tmp_path / "run")),
                               positive_scores(model.predict(x[12:], verbose=0), (1,)),
                               rtol=1e-4, atol=1e-6)
