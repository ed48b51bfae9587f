"""Train one scheme with the paper's recipe: validation AUC every epoch, early stopping at the
best validation AUC (best weights restored), a checkpoint every epoch and automatic resume,
CSV and TensorBoard logs, a progress bar, optional frozen-prefix caching."""

import dataclasses
import json
import math
import os
import shutil
import time

import keras
import numpy as np

from medkeras.atomic import write_json_atomic
from medkeras.experiment.cache import compute_features, split_frozen_prefix
from medkeras.training import paper_optimizer


@dataclasses.dataclass
class TrainConfig:
    """How one scheme trains.

    ``positive_classes`` declares which classes count as positive for the validation AUC of
    a multi-class task (the paper merges CIMT's two interface classes against background);
    ``None``: every class counts, and the validation AUC is the macro one-vs-rest AUC.
    ``patience`` is in epochs without a better validation AUC.  The cap is ``epochs``, or
    ``max_iterations`` (SGD steps, the paper's unit) rounded up to whole epochs, since the
    validation AUC is measured once an epoch: whichever is smaller.
    """
    epochs: int = 30
    batch_size: int = 64
    patience: int = 5
    positive_classes: tuple = (1,)
    cache_frozen: bool = True
    seed: int = 0
    learning_rate: float = None  # None: the backbone's default (Table II for AlexNet)
    #                              ("auto" in a sweep: a range test, see sweep.cell_learning_rate)
    tensorboard: bool = True
    max_iterations: int = None

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be >= 1")
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1 or None; got {self.max_iterations}")
        if self.positive_classes is not None:
            self.positive_classes = tuple(int(c) for c in self.positive_classes)

    def epoch_cap(self, n_train):
        """The epochs a run on ``n_train`` patches may take.

        >>> TrainConfig(epochs=30, max_iterations=100, batch_size=64).epoch_cap(640)
        10
        """
        if self.max_iterations is None:
            return self.epochs
        steps_per_epoch = math.ceil(n_train / self.batch_size)
        return min(self.epochs, math.ceil(self.max_iterations / steps_per_epoch))


#: A run whose training loss never fell this far below chance level did not learn.
CHANCE_MARGIN = 0.05


@dataclasses.dataclass
class TrainResult:
    """A finished run.  ``stopped_early``: the validation AUC stopped improving for
    ``patience`` epochs (the run *converged*); otherwise the epoch cap stopped it while it
    may still have been improving (*not converged*); ``diverged``: its loss or outputs
    stopped being finite (a rate too large) and it was stopped.

    A run stopped by patience whose training loss never fell ``CHANCE_MARGIN`` below
    ``chance_loss`` (the loss of predicting the class frequencies, ln 3 for three balanced
    classes) *did not learn*: it stopped on the plateau every network starts on, not at
    an optimum.  Measured: SqueezeNet from scratch on CIMT at rate 3e-3, patience 3,
    stopped at validation AUC 0.62 with its loss at 1.078 (ln 3 = 1.099), still falling."""
    scheme: str
    best_val_auc: float
    best_epoch: int
    epochs_run: int
    seconds: float
    history: list  # per epoch: {"epoch", "iterations", "loss", "val_auc"}
    cached: bool
    stopped_early: bool = False
    diverged: bool = False
    chance_loss: float = None

    @property
    def status(self):
        if self.diverged:
            return "diverged"
        if not self.stopped_early:
            return "not converged"
        losses = [h["loss"] for h in self.history if math.isfinite(h.get("loss", math.nan))]
        if self.chance_loss and losses and \
                min(losses) > (1 - CHANCE_MARGIN) * self.chance_loss:
            return "did not learn"
        return "converged"


def chance_loss(labels):
    """The cross-entropy of always predicting the class frequencies of ``labels``.

    >>> round(chance_loss([0, 1, 2] * 5), 4)
    1.0986
    """
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def positive_scores(probabilities, positive_classes):
    """The binary score of a classifier: its summed probability of ``positive_classes``
    (``None``: no merging, the probabilities of every class as they are)."""
    if positive_classes is None:
        return np.asarray(probabilities)
    return np.asarray(probabilities)[:, list(positive_classes)].sum(axis=1)


def validation_auc(scores, labels, positive_classes):
    """Binary ROC AUC (scikit-learn) of :func:`positive_scores` against ``labels``; with
    ``positive_classes=None``, the macro one-vs-rest AUC of the class probabilities."""
    from sklearn.metrics import roc_auc_score

    if positive_classes is None:
        from medkeras.evaluation.multiclass import macro_auc

        return macro_auc(np.asarray(labels), scores)
    positive = np.isin(labels, positive_classes)
    if positive.all() or not positive.any():
        raise ValueError("the validation set needs both positive and negative examples")
    return float(roc_auc_score(positive, scores))


class ShuffledBatches(keras.utils.PyDataset):
    """One epoch's batches, in an order drawn from a permutation seeded by (seed, epoch).

    The order depends on nothing but the seed and the epoch (not on when Keras reads ahead),
    so cached and uncached training and a resumed run see exactly the same batches.  Rows of
    a batch are read in index order (friendlier to ``.npy`` memmaps; the order inside a
    batch does not change its gradient).
    """

    def __init__(self, x, y, batch_size, *, seed, epoch):
        super().__init__()
        self.x, self.y, self.batch_size = x, np.asarray(y), batch_size
        self._order = np.random.default_rng([seed, epoch]).permutation(len(self.y))

    def __len__(self):
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index):
        rows = np.sort(self._order[index * self.batch_size:(index + 1) * self.batch_size])
        return np.asarray(self.x[rows]), self.y[rows]


def _rng_states(model):
    """The states of the model's random generators (dropout masks), by layer name."""
    return {layer.name: np.asarray(layer.seed_generator.state.numpy())
            for layer in model.layers if getattr(layer, "seed_generator", None) is not None}


def seed_random_layers(model, seed):
    """Set every random layer's generator (dropout masks) from ``seed`` and the layer name.

    The masks of a run then follow from the run's seed alone, whatever built the model and
    whatever the process did before: two processes, or a sweep resumed after a kill, draw
    the same masks.  (A layer's generator is otherwise seeded once, when it is built.)
    """
    import zlib

    for layer in model.layers:
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            value = np.random.default_rng([seed, zlib.crc32(layer.name.encode())]).integers(
                1, 2**31 - 1)
            generator.state.assign(np.array([value, 0], generator.state.dtype))


def _set_rng_states(model, states):
    for layer in model.layers:
        if layer.name in states:
            layer.seed_generator.state.assign(states[layer.name])


def _save_trainable_weights(model, path):
    """The weights of the trainable layers only, as ``.npz`` (written atomically).

    Frozen layers keep the starting weights, which the run rebuilds identically (ImageNet
    or a file); storing only what trains keeps an AlexNet FT:only fc8 checkpoint at 33 KB
    instead of 230 MB, which matters for sweeps of many cells.
    """
    arrays = {f"{layer.name}/{i}": w for layer in model.layers
              if layer.trainable and layer.weights for i, w in enumerate(layer.get_weights())}
    partial = path + ".partial.npz"
    np.savez(partial, **arrays)
    os.replace(partial, path)


def _load_trainable_weights(model, path):
    with np.load(path) as saved:
        names = sorted({key.rsplit("/", 1)[0] for key in saved.files})
        for name in names:
            layer = model.get_layer(name)
            layer.set_weights([saved[f"{name}/{i}"] for i in range(len(layer.weights))])


def environment():
    """Versions and devices, recorded beside results for reproducibility."""
    import platform
    import sys

    import tensorflow as tf

    import medkeras
    return {"medkeras": medkeras.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0], "platform": platform.platform(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}


def cell_devices():
    """The devices one cell trains on together: its GPUs when it has more than one (a
    workstation's, or those Ray gave the cell), else the logical CPU devices when the CPU
    was split into several (``tf.config.set_logical_device_configuration``; how the
    mirrored path is tested without GPUs), else none: the default single device."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return [device.name for device in gpus]
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return [device.name for device in cpus]
    return []


def distribution_scope():
    """``tf.distribute.MirroredStrategy(devices).scope()`` over :func:`cell_devices` when
    there are several (each batch split between them, gradients summed: one model, data
    parallel), else a scope that changes nothing.  The model must be built, compiled and
    trained inside it."""
    import contextlib

    import tensorflow as tf

    devices = cell_devices()
    if not devices:
        return contextlib.nullcontext()
    return tf.distribute.MirroredStrategy(devices).scope()


def record_or_check(path, record, *, mismatch):
    """Write ``record`` as JSON at ``path`` the first time; on later runs, raise
    ``ValueError(mismatch)`` unless the file holds the same record (as read back: tuples
    are lists).  What keeps one output directory from mixing two experiments."""
    record = json.loads(json.dumps(record))
    if os.path.exists(path):
        with open(path) as f:
            if json.load(f) != record:
                raise ValueError(mismatch)
    else:
        write_json_atomic(path, record)


class _EpochBookkeeping(keras.callbacks.Callback):
    """Validation AUC, early stopping, best weights and the resumable checkpoint."""

    def __init__(self, run_dir, x_val, y_val, config, state, full_model):
        super().__init__()
        self.run_dir, self.x_val, self.y_val, self.config = run_dir, x_val, y_val, config
        self.state, self.full_model = state, full_model
        self._epoch_start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        scores = positive_scores(
            self.model.predict(self.x_val, batch_size=self.config.batch_size, verbose=0),
            self.config.positive_classes)
        state = self.state
        if not np.isfinite(scores).all() or not math.isfinite(logs.get("loss", 0.0)):
            # The loss blew up (a rate too large): nothing more to learn from this run.
            auc = math.nan
            state["diverged"] = True
            self.model.stop_training = True
            if not os.path.exists(os.path.join(self.run_dir, "best.npz")):
                _save_trainable_weights(self.full_model,
                                        os.path.join(self.run_dir, "best.npz"))
        else:
            auc = validation_auc(scores, self.y_val, self.config.positive_classes)
        logs["val_auc"] = auc
        iterations = keras.ops.convert_to_numpy(self.model.optimizer.iterations)  # mirrored too
        state["history"].append({"epoch": epoch, "iterations": int(iterations),
                                 "loss": float(logs.get("loss", math.nan)), "val_auc": auc})
        if auc > state["best_val_auc"]:
            state.update(best_val_auc=auc, best_epoch=epoch, wait=0)
            partial = os.path.join(self.run_dir, "best_val_scores.partial.npy")
            np.save(partial, scores)
            os.replace(partial, os.path.join(self.run_dir, "best_val_scores.npy"))
            _save_trainable_weights(self.full_model, os.path.join(self.run_dir, "best.npz"))
        else:
            state["wait"] += 1
        state["epoch"] = epoch
        state["seconds"] += time.perf_counter() - self._epoch_start
        if state["wait"] >= self.config.patience:
            self.model.stop_training = True
            state["stopped_early"] = True
        _save_checkpoint(self.run_dir, self.full_model, self.model.optimizer, state)


def _save_checkpoint(run_dir, model, optimizer, state):
    """Weights, optimizer state and bookkeeping, replaced as a whole (never half-written)."""
    staging = os.path.join(run_dir, "checkpoint.partial")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    _save_trainable_weights(model, os.path.join(staging, "trainable.npz"))
    store = {}
    optimizer.save_own_variables(store)
    np.savez(os.path.join(staging, "optimizer.npz"), **store)
    np.savez(os.path.join(staging, "rng.npz"), **_rng_states(model))
    write_json_atomic(os.path.join(staging, "state.json"), state)
    final = os.path.join(run_dir, "checkpoint")
    old = os.path.join(run_dir, "checkpoint.old")
    if os.path.exists(final):
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(run_dir, model, trainable_model, scheme):
    final = os.path.join(run_dir, "checkpoint")
    if not os.path.isdir(final):
        old = os.path.join(run_dir, "checkpoint.old")  # interrupted between the two renames
        if not os.path.isdir(old):
            return None
        final = old
    with open(os.path.join(final, "state.json")) as f:
        state = json.load(f)
    _check_same_scheme(run_dir, state.get("scheme"), scheme)
    _load_trainable_weights(model, os.path.join(final, "trainable.npz"))
    optimizer = trainable_model.optimizer
    optimizer.build(trainable_model.trainable_variables)
    with np.load(os.path.join(final, "optimizer.npz")) as saved:
        optimizer.load_own_variables({key: saved[key] for key in saved.files})
    with np.load(os.path.join(final, "rng.npz")) as saved:
        _set_rng_states(model, {key: saved[key] for key in saved.files})
    return state


def train_scheme(model, scheme, train, validation, *, run_dir, config=None, verbose=1,
                 callbacks=(), extend=False):
    """Train ``model`` with ``scheme`` on in-memory patches; resumes from ``run_dir``.

    Parameters
    ----------
    model : medkeras.TunableModel
        Built with the starting weights the scheme needs (ImageNet for fine-tuning, random
        for ``scratch``).  On return it holds the weights of the best validation epoch.
    scheme : str
        A key of ``model.schemes``.
    train, validation : (x, y)
        Preprocessed patches (N, 227, 227, 3) and integer labels; arrays or ``.npy`` memmaps.
    run_dir : str
        Checkpoints, logs and ``result.json``.  A run interrupted at any point continues from
        its last finished epoch when called again; a finished run returns its result at once.
        Only the trainable layers are stored (``best.npz``, ``checkpoint/``): call again, or
        :func:`load_best_weights`, with a model built from the same starting weights.
    config : TrainConfig
    verbose : int
        Keras' progress display (1: a progress bar, 0: silent).
    callbacks : sequence of keras.callbacks.Callback
        More callbacks; they see ``logs["val_auc"]``.
    extend : bool
        A finished run that did not converge goes on from its last checkpoint when
        ``config.epochs`` is larger than the epochs it ran (``sweep --extend``).
    """
    config = config or TrainConfig()
    if scheme not in model.schemes:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {list(model.schemes)}")
    (x_train, y_train), (x_val, y_val) = train, validation
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError("patches and labels differ in length")
    os.makedirs(run_dir, exist_ok=True)
    write_json_atomic(os.path.join(run_dir, "config.json"), {
        "scheme": scheme, "model": type(model).__name__, "model_config": model.get_config(),
        "train": dataclasses.asdict(config), "n_train": int(len(y_train)),
        "n_validation": int(len(y_val)), "environment": environment()})
    result_path = os.path.join(run_dir, "result.json")
    if os.path.exists(result_path):
        with open(result_path) as f:
            result = TrainResult(**json.load(f))
        _check_same_scheme(run_dir, result.scheme, scheme)
        if not extend or result.status != "not converged" or \
                result.epochs_run >= config.epoch_cap(len(y_train)):
            load_best_weights(model, run_dir)
            return result
        # extend: not converged, and a larger cap now: go on from the last checkpoint.

    keras.utils.set_random_seed(config.seed)
    seed_random_layers(model, config.seed)
    first = model.schemes[scheme]
    model.set_trainable_from(first)
    prefix, trainable_model = (split_frozen_prefix(model, first) if config.cache_frozen
                               else (None, model))
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    trainable_model.compile(
        optimizer=paper_optimizer(model, scheme, steps_per_epoch=steps_per_epoch,
                                  learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy")
    state = _load_checkpoint(run_dir, model, trainable_model, scheme) or {
        "scheme": scheme, "epoch": -1, "best_val_auc": -math.inf, "best_epoch": -1, "wait": 0,
        "stopped_early": False, "seconds": 0.0, "history": []}
    epoch_cap = config.epoch_cap(len(y_train))
    if state["stopped_early"] or state.get("diverged") or state["epoch"] + 1 >= epoch_cap:
        return _finish(model, scheme, state, run_dir, prefix is not None, y_train)

    if prefix is not None:
        start = time.perf_counter()
        x_train = compute_features(prefix, x_train, batch_size=config.batch_size,
                                   progress=bool(verbose))
        x_val = compute_features(prefix, x_val, batch_size=config.batch_size)
        state["seconds"] += time.perf_counter() - start
    all_callbacks = [_EpochBookkeeping(run_dir, x_val, y_val, config, state, model),
                     keras.callbacks.CSVLogger(os.path.join(run_dir, "log.csv"), append=True)]
    if config.tensorboard:
        all_callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard"),
                                                         write_graph=False))
    for epoch in range(state["epoch"] + 1, epoch_cap):  # one fit per epoch: see ShuffledBatches
        batches = ShuffledBatches(x_train, y_train, config.batch_size, seed=config.seed,
                                  epoch=epoch)
        # shuffle=False: the order is the batches' own.  Keras would otherwise shuffle the
        # batch order with Python's global generator, whose state depends on the process's
        # history, and a resumed run would see other batches than an uninterrupted one.
        trainable_model.fit(batches, epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
                            callbacks=all_callbacks + list(callbacks), verbose=verbose)
        if state["stopped_early"] or state.get("diverged"):
            break
    return _finish(model, scheme, state, run_dir, prefix is not None, y_train)


def load_best_val_scores(run_dir):
    """The validation scores (:func:`positive_scores`) of a run's best epoch, in the order of
    its validation set."""
    return np.load(os.path.join(run_dir, "best_val_scores.npy"))


def _check_same_scheme(run_dir, found, wanted):
    if found != wanted:
        raise ValueError(f"{run_dir} holds a run of {found!r}, not {wanted!r}; use another "
                         "directory")


def load_best_weights(model, run_dir):
    """Put a finished run's best weights into ``model``, built with the run's starting
    weights (ImageNet, a file, or the same seed for ``scratch``); returns the scheme."""
    with open(os.path.join(run_dir, "result.json")) as f:
        scheme = json.load(f)["scheme"]
    model.set_trainable_from(model.schemes[scheme])
    _load_trainable_weights(model, os.path.join(run_dir, "best.npz"))
    return scheme


def _finish(model, scheme, state, run_dir, cached, y_train):
    _load_trainable_weights(model, os.path.join(run_dir, "best.npz"))
    result = TrainResult(scheme=scheme, best_val_auc=state["best_val_auc"],
                         best_epoch=state["best_epoch"], epochs_run=state["epoch"] + 1,
                         seconds=state["seconds"], history=state["history"], cached=cached,
                         stopped_early=bool(state["stopped_early"]),
                         diverged=bool(state.get("diverged", False)),
                         chance_loss=chance_loss(y_train))
    write_json_atomic(os.path.join(run_dir, "result.json"), dataclasses.asdict(result))
    return result
