"""Precision: bfloat16 (Keras' mixed_bfloat16) where the CPU has it, float32 elsewhere."""

import keras
import numpy as np
import pytest

import medkeras
from medkeras.precision import cpu_has_native_bfloat16, precision_scope, resolve_precision


def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path):
    with_bf16 = tmp_path / "zen4"
    with_bf16.write_text("processor : 0\nflags : fpu avx2 avx512f avx512_bf16 fma\n")
    without = tmp_path / "zen3"
    without.write_text("processor : 0\nflags : fpu avx2 fma\n")
    amx = tmp_path / "sapphire"
    amx.write_text("flags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    assert cpu_has_native_bfloat16(str(with_bf16)) and cpu_has_native_bfloat16(str(amx))
    assert not cpu_has_native_bfloat16(str(without))
    assert not cpu_has_native_bfloat16(str(tmp_path / "missing"))


def test_auto_follows_the_cpu(monkeypatch):
    import medkeras.precision as precision

    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: True)
    assert resolve_precision("auto") == "bfloat16"
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: False)
    assert resolve_precision("auto") == "float32"
    assert resolve_precision("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="Received: precision='half'"):
        resolve_precision("half")


@pytest.mark.parametrize("name", ["AlexNet", "SqueezeNet"])
def test_models_train_and_agree_under_bfloat16(name):
    """AlexNet's LRN has no bfloat16 CPU kernel: it runs in float32 inside the bfloat16
    graph.  Same weights: probabilities within bfloat16's resolution of float32's; the
    output stays float32; the policy is restored after the scope."""
    images = np.random.default_rng(0).uniform(0, 255, (4, 227, 227, 3)).astype("float32")
    x = medkeras.preprocess_input(images)
    keras.utils.set_random_seed(0)
    full = getattr(medkeras, name)(classes=2)
    with precision_scope("bfloat16") as policy:
        half = getattr(medkeras, name)(classes=2)
    assert policy == "mixed_bfloat16" and keras.config.dtype_policy().name == "float32"
    half.set_weights(full.get_weights())
    assert half.get_layer("conv1").compute_dtype == "bfloat16"
    expected = full.predict(x, verbose=0)
    got = half.predict(x, verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-2)
    half.compile(optimizer=keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy")
    loss = half.train_on_batch(x, np.array([0, 1, 0, 1]))
    assert np.isfinite(loss)
    assert half.get_layer("conv1").kernel.dtype == "float32"          # master weights


def test_the_sweep_config_resolves_and_checks_its_precision(monkeypatch):
    import medkeras.precision as precision
    from medkeras.experiment.sweep import SweepConfig

    assert SweepConfig(precision="bfloat16").precision == "bfloat16"
    assert SweepConfig().precision == "float32"
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: True)
    assert SweepConfig(precision="auto").precision == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of"):
        SweepConfig(precision="fp8")


def test_no_xla_on_the_cpu_by_default():
    """XLA halves SqueezeNet's training on CPU (18 against 40 img/s): the default ("auto")
    leaves it off where no GPU is visible; asked for, it is on."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible: auto turns XLA on there")
    model = medkeras.SqueezeNet(classes=2)
    medkeras.compile_for_scheme(model, "FT:only conv10", steps_per_epoch=1)
    assert model.jit_compile is False
    medkeras.compile_for_scheme(model, "FT:only conv10", steps_per_epoch=1, jit_compile=True)
    assert model.jit_compile is True


def square_task(rng, count, test_count):
    """Noise patches; positives are brighter in one 30×30 square (a local signal)."""
    from medkeras.experiment.sweep import PatchTask

    def patches(n):
        y = np.arange(n) % 2
        x = rng.normal(0, 20, (n, 227, 227, 3)).astype(np.float32)
        x[:, 100:130, 100:130, :] += 20 * y[:, None, None, None]
        return x, y
    x, y = patches(count)
    x_test, y_test = patches(test_count)
    return PatchTask("square", x, y, np.arange(count) // 2, x_test, y_test)


def test_bfloat16_and_float32_sweeps_rank_the_schemes_alike(tmp_path):
    """The same small sweep (SqueezeNet, three schemes, 2 epochs) in float32 and in
    bfloat16: every test AUC within 0.05 (100 test patches) and the schemes in the same order
    wherever float32 separates them by 0.2 or more.  About 2 minutes on a 2-core CPU without
    native bfloat16, where TensorFlow emulates it (training about 7× slower)."""
    import json

    from medkeras.experiment.runner import TrainConfig
    from medkeras.experiment.sweep import SweepConfig, run_sweep
    from tests.test_experiment_sweep import pretrained_file

    weights = pretrained_file(tmp_path)
    tables = {}
    for precision in ("float32", "bfloat16"):
        config = SweepConfig(backbone="squeezenet", weights=weights, precision=precision,
                             schemes=("scratch", "FT:only conv10", "FT:conv1-conv10"),
                             scratch_learning_rate=3e-3,
                             train=TrainConfig(epochs=2, batch_size=8, tensorboard=False))
        out = tmp_path / precision
        table = run_sweep(square_task(np.random.default_rng(0), 32, 100), config, str(out),
                          log=None)
        tables[precision] = dict(zip(table["scheme"], table["test_auc"]))
        recorded = json.loads((out / "config.json").read_text())["sweep"]
        assert recorded.get("precision", "float32") == precision       # float32: unwritten
    full, half = tables["float32"], tables["bfloat16"]
    for scheme in full:
        assert abs(half[scheme] - full[scheme]) <= 0.05, (scheme, full, half)
    separated = [(a, b) for a in full for b in full if full[a] - full[b] >= 0.2]
    assert separated, f"float32 separates no schemes: {full}"       # the test can fail
    for better, worse in separated:
        assert half[better] > half[worse], (better, worse, full, half)
