"""Layer-wise sweeps: every scheme × training fraction × seed, resumable cell by cell.

A sweep directory holds ``config.json`` and one folder per cell under ``cells/``; a cell is
finished when its ``cell.json`` exists (written atomically, last), so a killed sweep re-run
with the same call trains only the missing cells, and an interrupted cell resumes from its
last epoch (:func:`medkeras.experiment.runner.train_scheme`).
"""

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from medkeras.data.patches import predict_in_chunks
from medkeras.data.splits import balanced_indices, split_by_group, subsample_groups
from medkeras.evaluation import delong_auc_interval
from medkeras.models import ALL_BACKBONES
from medkeras.atomic import write_json_atomic
from medkeras.experiment.results import cell_name, parse_label, scratch_label
from medkeras.experiment.runner import (TrainConfig, distribution_scope, environment,
                                        load_best_val_scores, positive_scores,
                                        record_or_check, train_scheme)



@dataclasses.dataclass
class PatchTask:
    """What an application hands to a sweep.

    Development patches ``x`` (preprocessed, ``(N, 227, 227, 3)``) with labels ``y`` and
    ``groups`` (video, patient): training and validation are split from them by group.  Test
    patches ``x_test``/``y_test`` belong to ``test_units`` (the candidate or frame each was
    cut from): a unit's score is the mean positive probability over its patches, as in the
    paper.  ``test_groups`` (per test patch) drive the confidence intervals (patients).
    ``raw``: ``x`` and ``x_test`` hold images with values 0–255 (RGB, or grey with one
    channel) at the model's input size, and every cell prepares them with its model's own
    ``preprocess`` (a ``keras.applications`` backbone's ``preprocess_input``).
    ``positive_classes=None``: no class is merged into a positive one; a unit's score is
    its mean probability of every class and AUCs are macro one-vs-rest
    (:mod:`medkeras.evaluation.multiclass`).
    ``stratify``: the validation split and the training fractions take groups class by
    class (:func:`~medkeras.data.splits.split_by_group` with ``strata``), for groups of
    one class each (patients of one diagnosis) that must reach every split.
    """
    name: str
    x: object
    y: np.ndarray
    groups: np.ndarray
    x_test: object
    y_test: np.ndarray
    test_units: np.ndarray = None
    test_groups: np.ndarray = None
    classes: int = 2
    positive_classes: tuple = (1,)
    raw: bool = False
    stratify: bool = False

    def __post_init__(self):
        self.y, self.groups = np.asarray(self.y), np.asarray(self.groups)
        self.y_test = np.asarray(self.y_test)
        if not len(self.x) == len(self.y) == len(self.groups):
            raise ValueError("x, y and groups must have the same length")
        if len(self.x_test) != len(self.y_test):
            raise ValueError("x_test and y_test must have the same length")
        if self.test_units is None:
            self.test_units = np.arange(len(self.y_test))
        self.test_units = np.asarray(self.test_units)
        if self.test_groups is not None:
            self.test_groups = np.asarray(self.test_groups)
        if len(np.unique(self.groups)) < 2:
            raise ValueError("the development set needs at least two groups (train/validation)")


@dataclasses.dataclass
class SweepConfig:
    """Which cells a sweep runs, and how each trains.

    ``schemes=None`` means all of the backbone's (``scratch`` and every fine-tuning depth).
    ``weights`` are the starting weights of fine-tuning (``"imagenet"`` or a file).
    ``train.learning_rate`` is the base rate of fine-tuning (``None``: the backbone's
    default; ``"auto"``: a range test, as for scratch); ``scratch_learning_rate`` that of
    ``scratch`` (``None``: a learning-rate range test of ``range_test_steps`` steps on each
    cell's training patches).
    ``scratch_inits`` lists the random initialisations of ``scratch``: ``(None,)`` is the
    backbone's default (one cell named ``scratch``); ``("gaussian", "xavier", "msra")``
    gives cells ``scratch (gaussian)`` … for the paper's convergence comparison (Fig. 10).
    ``precision`` (:mod:`medkeras.precision`) is resolved when the config is made: ``auto``
    becomes ``bfloat16`` on CPUs with native bfloat16, else ``float32``.
    """
    backbone: str = "squeezenet"
    schemes: tuple = None
    fractions: tuple = (1.0,)
    seeds: tuple = (0,)
    weights: str = "imagenet"
    scratch_inits: tuple = (None,)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    scratch_learning_rate: float = None
    range_test_steps: int = 100
    precision: str = "float32"

    def __post_init__(self):
        from medkeras.precision import resolve_precision

        self.precision = resolve_precision(self.precision)      # "auto" → what this CPU does
        if self.backbone not in ALL_BACKBONES:
            raise ValueError(f"backbone must be one of {list(ALL_BACKBONES)}; Received: "
                             f"backbone={self.backbone!r}")
        if isinstance(self.train, dict):
            self.train = TrainConfig(**self.train)
        for fraction in self.fractions:
            if not 0 < fraction <= 1:
                raise ValueError(f"fractions must be in (0, 1], got {fraction}")
        self.fractions = tuple(float(f) for f in self.fractions)
        self.seeds = tuple(int(s) for s in self.seeds)
        if self.schemes is not None:
            self.schemes = tuple(self.schemes)
        from medkeras.models.initializers import canonical_init
        self.scratch_inits = tuple(None if i is None else canonical_init(i)
                                   for i in self.scratch_inits)
        if not self.scratch_inits:
            raise ValueError("scratch_inits needs at least one entry (None: the default)")

    def to_json(self):
        return dataclasses.asdict(self)


def build_model(backbone, *, classes, weights=None, init=None, seed=None, input_shape=None,
                precision="float32"):
    """A backbone for a cell.  ``input_shape`` ``(size, size, channels)`` sizes a
    ``keras.applications`` backbone; the paper's take 227×227×3 only.  ``precision``:
    ``float32`` or ``bfloat16`` (Keras' ``mixed_bfloat16``; :mod:`medkeras.precision`)."""
    from medkeras.models.applications import ApplicationBackbone
    from medkeras.precision import precision_scope

    model_class = ALL_BACKBONES[backbone]
    options = {} if init is None else {"init": init}
    if issubclass(model_class, ApplicationBackbone):
        if init is not None:
            raise ValueError(f"{backbone} starts from keras.applications' own initialisation; "
                             f"Received: init={init!r} (scratch_inits apply to alexnet and "
                             "squeezenet)")
        if input_shape is not None:
            if input_shape[0] != input_shape[1]:
                raise ValueError(f"{backbone} takes square images; Received: {input_shape}")
            options = {"input_size": int(input_shape[0]), "channels": int(input_shape[2])}
    elif input_shape is not None and tuple(input_shape) != (227, 227, 3):
        raise ValueError(f"{backbone} takes 227×227×3 patches; Received: {tuple(input_shape)}")
    with precision_scope(precision):
        return model_class(classes=classes, weights=weights, seed=seed, **options)


def unit_scores(probabilities, units, positive_classes):
    """Mean positive probability per unit (candidate/frame), units in sorted order; with
    ``positive_classes=None`` the mean probability of every class, ``(units, classes)``."""
    positive = positive_scores(probabilities, positive_classes)
    order, inverse = np.unique(units, return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse)
    if positive.ndim == 2:
        sums = np.stack([np.bincount(inverse, weights=column, minlength=len(order))
                         for column in positive.T], axis=1)
        return order, sums / counts[:, None]
    return order, np.bincount(inverse, weights=positive) / counts


def unit_values(values, units):
    """One value per unit (its patches must agree), units in sorted order."""
    order, first = np.unique(units, return_index=True)
    values = np.asarray(values)
    _, inverse = np.unique(units, return_inverse=True)
    if np.any(values != values[first][inverse]):
        raise ValueError("patches of one test unit disagree on their label or group")
    return values[first]


def schemes_of(config, task):
    """The cell labels of a sweep: its schemes, ``scratch`` once per initialisation."""
    table = ALL_BACKBONES[config.backbone].scheme_table()
    schemes = list(table) if config.schemes is None else list(config.schemes)
    unknown = [s for s in schemes if s not in table]
    if unknown:
        raise ValueError(f"unknown schemes {unknown} for {config.backbone}; "
                         f"choose from {list(table)}")
    labels = []
    for scheme in schemes:
        labels += ([scratch_label(i) for i in config.scratch_inits] if scheme == "scratch"
                   else [scheme])
    return labels


#: What may differ between runs into one sweep directory: which cells they add.
GRID = ("schemes", "fractions", "seeds")


def check_sweep_config(out_dir, config, task, *, extend=False):
    """Record the sweep's configuration in ``out_dir/config.json``, or check that the one
    there is the same (which cells to run aside: a later ``train`` may add a scheme, a
    fraction or a seed to a sweep directory, but never mix two recipes or two tasks).
    ``extend`` also allows a larger cap (epochs or iterations), recorded instead of the old
    one."""
    path = os.path.join(out_dir, "config.json")
    sweep = {key: value for key, value in config.to_json().items() if key not in GRID}
    if sweep["train"].get("max_iterations") is None:    # as sweeps before the option recorded
        sweep["train"] = {k: v for k, v in sweep["train"].items() if k != "max_iterations"}
    if sweep.get("precision") == "float32":              # as sweeps before the option recorded
        del sweep["precision"]
    record = {"task": task.name, "sweep": sweep, "positive_classes":
              None if task.positive_classes is None else list(task.positive_classes),
              "classes": task.classes}
    if task.raw:         # the images' size and channels make the model (sweeps before: 227)
        record["input_shape"] = [int(n) for n in task.x.shape[1:]]
    if task.stratify:
        record["stratified_splits"] = True
    mismatch = (f"{out_dir} holds a different sweep ({path}); use another output directory "
                "or remove it")
    if extend and os.path.exists(path):
        with open(path) as f:
            recorded = json.load(f)
        record = json.loads(json.dumps(record))
        if _without_cap(recorded) != _without_cap(record):
            raise ValueError(mismatch)
        old, new = recorded["sweep"]["train"], record["sweep"]["train"]
        if not _larger_cap(new, old):
            raise ValueError(f"--extend needs a larger cap than the recorded "
                             f"{_cap_text(old)}; got {_cap_text(new)}")
        write_json_atomic(path, record)
        return
    record_or_check(path, record, mismatch=mismatch)


CAP_KEYS = ("epochs", "max_iterations")


def _cap_text(train):
    text = f"--epochs {train['epochs']}"
    if train.get("max_iterations") is not None:
        text += f" --iterations {train['max_iterations']}"
    return text


def _larger_cap(new, old):
    """Whether the cap ``new`` lets every run go further than ``old``: more epochs, or
    more iterations, and neither smaller."""
    def iterations(train):
        value = train.get("max_iterations")
        return float("inf") if value is None else value
    if new["epochs"] < old["epochs"] or iterations(new) < iterations(old):
        return False
    return new["epochs"] > old["epochs"] or iterations(new) > iterations(old)


def _without_cap(record):
    train = {k: v for k, v in record["sweep"]["train"].items() if k not in CAP_KEYS}
    return {**record, "sweep": {**record["sweep"], "train": train}}


def split_cell(groups, fraction, seed, *, strata=None):
    """A cell's training and validation indices, by group.

    20% of the groups are the validation set, the same for every fraction of a seed; the
    fraction subsamples the remaining training groups (nested, at least one group), so
    cells of one seed differ only by the training data added, and a fraction small enough
    trains on a single patient or video.  ``strata`` (the labels): both class by class.
    """
    train_idx, val_idx = split_by_group(groups, validation_fraction=0.2, seed=seed,
                                        strata=strata)
    keep = subsample_groups(groups[train_idx], fraction, seed=seed,
                            strata=None if strata is None else strata[train_idx])
    return train_idx[keep], val_idx


def run_cell(task, config, scheme, fraction, seed, cell_dir, *, verbose=0, extend=False):
    """Train and test one cell; returns its record (also written as ``cell.json``).

    A finished cell is returned as it is, unless ``extend`` and it did not converge within
    a smaller cap than ``config.train`` now gives: then it goes on from its last
    checkpoint to the new cap.
    """
    record = finished_cell(cell_dir, config, extend=extend)
    if record is not None:
        return record
    with distribution_scope():       # several GPUs given to this cell: mirrored over them
        return _train_and_test_cell(task, config, scheme, fraction, seed, cell_dir,
                                    verbose=verbose, extend=extend)


def finished_cell(cell_dir, config, *, extend=False):
    """The record (``cell.json``) of a finished cell, or ``None`` when it still has to run
    (no record yet, or ``extend`` and it stopped at a smaller cap than ``config``'s).
    Every executor decides with this which cells a re-run trains."""
    cell_path = os.path.join(cell_dir, "cell.json")
    if not os.path.exists(cell_path):
        return None
    with open(cell_path) as f:
        record = json.load(f)
    if extend and record.get("status") == "not converged" and \
            record.get("epochs_run", 0) < config.train.epoch_cap(record["n_train"]):
        return None
    return record


def _train_and_test_cell(task, config, scheme, fraction, seed, cell_dir, *, verbose, extend):
    cell_path = os.path.join(cell_dir, "cell.json")
    train_idx, val_idx = split_cell(task.groups, fraction, seed,
                                    strata=task.y if task.stratify else None)
    train_idx = np.sort(train_idx[balanced_indices(task.y[train_idx], seed=seed)])
    model_scheme, init = parse_label(scheme)
    scratch = model_scheme == "scratch"
    model = build_model(config.backbone, classes=task.classes,
                        weights=None if scratch else config.weights, init=init, seed=seed,
                        input_shape=tuple(task.x.shape[1:]) if task.raw else None,
                        precision=config.precision)

    def prepare(images):
        return model.preprocess(np.asarray(images)) if task.raw else images

    x_train, x_val = prepare(task.x[train_idx]), prepare(task.x[val_idx])
    learning_rate, source = cell_learning_rate(config, model, model_scheme, x_train,
                                               task.y[train_idx], cell_dir, seed=seed)
    train_config = dataclasses.replace(config.train, seed=seed, learning_rate=learning_rate,
                                       positive_classes=task.positive_classes)
    run_dir = os.path.join(cell_dir, "run")
    result = train_scheme(model, model_scheme, (x_train, task.y[train_idx]),
                          (x_val, task.y[val_idx]), run_dir=run_dir,
                          config=train_config, verbose=verbose, extend=extend)
    if result.diverged:
        record = {"scheme": scheme, "fraction": fraction, "seed": seed, "status": "diverged",
                  "val_auc": float("nan"), "test_auc": float("nan"),
                  "epochs_run": result.epochs_run,
                  "epochs_cap": train_config.epoch_cap(len(train_idx)),
                  "seconds": result.seconds, "cached": result.cached,
                  "learning_rate": learning_rate, "learning_rate_source": source,
                  "note": "diverged: the loss stopped being finite; set a smaller rate"}
        write_json_atomic(cell_path, record)
        return record
    val_scores = load_best_val_scores(run_dir)
    val_labels = class_labels(task.y[val_idx], task.positive_classes)
    val_auc_ci = list(auc_interval(val_labels, val_scores))
    probabilities = predict_in_chunks(model, prepare(task.x_test),
                                      batch_size=train_config.batch_size)
    units, scores = unit_scores(probabilities, task.test_units, task.positive_classes)
    labels = class_labels(unit_values(task.y_test, task.test_units), task.positive_classes)
    groups = (unit_values(task.test_groups, task.test_units) if task.test_groups is not None
              else units)
    partial = os.path.join(cell_dir, "test_scores.partial.npz")
    np.savez(partial, units=units, scores=scores, labels=labels, groups=groups,
             val_scores=val_scores, val_labels=val_labels)
    os.replace(partial, os.path.join(cell_dir, "test_scores.npz"))
    record = {"scheme": scheme, "fraction": fraction, "seed": seed,
              "val_auc": result.best_val_auc, "val_auc_ci": val_auc_ci,
              "best_epoch": result.best_epoch,
              "epochs_run": result.epochs_run, "seconds": result.seconds, "cached": result.cached,
              "test_auc": auc_of(labels, scores),
              "n_train": int(len(train_idx)), "n_validation": int(len(val_idx)),
              "n_test_units": int(len(units)), "status": result.status,
              "epochs_cap": train_config.epoch_cap(len(train_idx)), "learning_rate": learning_rate,
              "learning_rate_source": source}
    write_json_atomic(cell_path, record)
    return record


def class_labels(labels, positive_classes):
    """Binary labels (in ``positive_classes`` or not); with ``None`` the classes as they are."""
    if positive_classes is None:
        return np.asarray(labels, np.int64)
    return np.isin(labels, positive_classes)


def auc_interval(labels, scores):
    """95% interval of the AUC: DeLong's for binary scores, a bootstrap of the macro AUC
    for class probabilities."""
    if np.ndim(scores) == 2:
        from medkeras.evaluation.multiclass import macro_auc_analysis

        return macro_auc_analysis(labels, scores, n_bootstrap=500).ci
    return delong_auc_interval(labels, scores)


def auc_of(labels, scores):
    """The test AUC (macro one-vs-rest for class probabilities); NaN without two classes."""
    if np.ndim(scores) == 2:
        from medkeras.evaluation.multiclass import macro_auc

        return macro_auc(labels, scores) if len(np.unique(labels)) > 1 else float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) \
        else float("nan")


def cell_learning_rate(config, model, scheme, x, y, cell_dir, *, seed):
    """The base learning rate of a cell and where it comes from.

    Set by the user (``config.train.learning_rate``; for ``scratch``
    ``config.scratch_learning_rate``), else for fine-tuning the backbone's default (the
    paper's recipe), and for ``scratch`` — or fine-tuning with ``learning_rate="auto"``,
    where the default diverges — a learning-rate range test on the cell's training patches
    (:mod:`medkeras.experiment.lrfinder`), kept in ``range_test.json``: scratch gets a rate
    fitted to the task instead of the fine-tuning one.  When the test's loss never fell it
    cannot choose: the backbone's documented rate (``scratch_learning_rate``, or the
    default for fine-tuning) is used, and the source says so.
    """
    from medkeras.experiment.lrfinder import scheme_range_test

    if scheme != "scratch":
        if config.train.learning_rate is None:
            return float(model.default_learning_rate), "the backbone's default"
        if config.train.learning_rate != "auto":
            return float(config.train.learning_rate), "set by the user"
    elif config.scratch_learning_rate is not None:
        return float(config.scratch_learning_rate), "set by the user"
    path = os.path.join(cell_dir, "range_test.json")
    if not os.path.exists(path):
        os.makedirs(cell_dir, exist_ok=True)
        test = scheme_range_test(model, scheme, x, y, batch_size=config.train.batch_size,
                                 steps=config.range_test_steps, seed=seed)
        write_json_atomic(path, test.to_json())
    with open(path) as f:
        chosen = json.load(f)["chosen"]
    if chosen is not None:
        return float(chosen), "learning-rate range test"
    fallback = (model.scratch_learning_rate if scheme == "scratch"
                else model.default_learning_rate)
    return float(fallback), ("the backbone's default: the learning-rate range test's loss "
                             "never fell")


def run_sweep(task, config, out_dir, *, verbose=0, log=print, extend=False, executor=None):
    """Run every missing cell of the sweep; returns the results table (also ``results.csv``).

    ``extend``: also continue the cells that did not converge, from their last checkpoint,
    up to the (larger) epoch cap of ``config``.

    ``executor`` runs the cells: ``None`` (a :class:`SerialExecutor`: one after another in
    this process) or a :class:`medkeras.experiment.distributed.RayExecutor` (cells as Ray
    tasks, several at once, on this machine or a cluster).  Both run each cell with
    :func:`sweep_cell`, so they give the same cells with the same seeds; a cell the Ray
    executor could not finish is a row with ``status`` ``failed`` and its ``error``
    (:func:`failed_cells` lists them; a re-run retries them).

    Fine-tuning cells whose starting weights are unavailable are reported as skipped (and
    retried by the next run); the others run.
    """
    os.makedirs(out_dir, exist_ok=True)
    check_sweep_config(out_dir, config, task, extend=extend)
    write_json_atomic(os.path.join(out_dir, "environment.json"), environment())
    schemes = schemes_of(config, task)
    cells = [(scheme, fraction, seed) for fraction in config.fractions for seed in config.seeds
             for scheme in schemes]
    executor = SerialExecutor() if executor is None else executor
    rows = executor.run_cells(task, config, cells, out_dir, verbose=verbose, log=log,
                              extend=extend)
    table = pd.DataFrame(rows)
    partial = os.path.join(out_dir, "results.partial.csv")
    table.to_csv(partial, index=False)
    os.replace(partial, os.path.join(out_dir, "results.csv"))
    return table


def sweep_cell(task, config, cell, out_dir, *, verbose=0, extend=False):
    """Run one cell ``(scheme, fraction, seed)`` of the sweep in ``out_dir``, as every
    executor does; returns its record (``cell.json``), or a :func:`skipped_cell` row when
    the starting weights of fine-tuning are unavailable.  The cell seeds itself from its
    own seed (:func:`~medkeras.experiment.runner.train_scheme`), so where and after what
    it runs does not change its numbers."""
    import keras
    import medkeras

    scheme, fraction, seed = cell
    cell_dir = os.path.join(out_dir, "cells", cell_name(scheme, fraction, seed))
    try:
        return run_cell(task, config, scheme, fraction, seed, cell_dir, verbose=verbose,
                        extend=extend)
    except medkeras.WeightsUnavailableError as err:
        return skipped_cell(cell, str(err))
    finally:
        keras.backend.clear_session()


class SerialExecutor:
    """The cells one after another in this process (the default executor)."""

    def run_cells(self, task, config, cells, out_dir, *, verbose=0, log=print, extend=False):
        """Every cell's row, in the order of ``cells``.  Once fine-tuning weights turn out
        unavailable, the remaining fine-tuning cells are skipped without trying."""
        from tqdm.auto import tqdm

        rows, unavailable = [], None
        progress = tqdm(cells, desc=f"sweep {task.name}", unit="cell", disable=not log)
        for scheme, fraction, seed in progress:
            progress.set_postfix_str(f"{scheme}, {fraction:g} of the data, seed {seed}")
            if not scheme.startswith("scratch") and unavailable is not None:
                rows.append(skipped_cell((scheme, fraction, seed), unavailable))
                continue
            rows.append(sweep_cell(task, config, (scheme, fraction, seed), out_dir,
                                   verbose=verbose, extend=extend))
            if is_skipped(rows[-1]):
                unavailable = rows[-1]["note"][len(SKIPPED):]
                if log:
                    log(f"fine-tuning cells skipped: {unavailable}")
            elif log:
                progress.write(cell_summary(rows[-1]))
        return rows


def failed_cells(table):
    """The rows of a results table whose cell failed (a Ray executor's cell that failed
    twice), as ``(scheme, fraction, seed, error)``."""
    if "status" not in table:
        return []
    failed = table[table["status"] == "failed"]
    return [(row.scheme, row.fraction, row.seed, row.error) for row in failed.itertuples()]


def cell_summary(record):
    """One line on a finished cell, its status first among its numbers.

    >>> cell_summary({"scheme": "scratch", "fraction": 1.0, "seed": 0, "status": "not converged",
    ...               "val_auc": 0.78, "test_auc": 0.8, "epochs_run": 16, "epochs_cap": 16,
    ...               "seconds": 1800, "learning_rate": 0.003})
    'scratch | 1 | 0: not converged, val AUC 0.780, test AUC 0.800, 16/16 epochs, rate 0.003, 30.0 min'
    >>> cell_summary(failed_cell(("scratch", 1.0, 0), "OSError: disk full"))
    'scratch | 1 | 0: failed: OSError: disk full'
    """
    if record.get("status") == "failed" or is_skipped(record):
        return f"{record['scheme']} | {record['fraction']:g} | {record['seed']}: {record['note']}"
    return (f"{record['scheme']} | {record['fraction']:g} | {record['seed']}: "
            f"{record.get('status', '?')}, val AUC {record.get('val_auc', float('nan')):.3f}, "
            f"test AUC {record.get('test_auc', float('nan')):.3f}, "
            f"{record.get('epochs_run', '?')}/{record.get('epochs_cap', '?')} epochs, "
            f"rate {record.get('learning_rate', float('nan')):.3g}, "
            f"{record.get('seconds', float('nan')) / 60:.1f} min")


#: How the note of a skipped cell begins.
SKIPPED = "skipped: "


def skipped_cell(cell, reason):
    """The row of a cell ``(scheme, fraction, seed)`` not run, and why (nothing on disk)."""
    scheme, fraction, seed = cell
    return {"scheme": scheme, "fraction": fraction, "seed": seed, "val_auc": float("nan"),
            "test_auc": float("nan"), "note": SKIPPED + reason}


def is_skipped(row):
    """Whether a row is a :func:`skipped_cell`'s."""
    return str(row.get("note", "")).startswith(SKIPPED)


def failed_cell(cell, error):
    """The row of a cell ``(scheme, fraction, seed)`` that failed with ``error`` (one line);
    nothing of it is on disk but its checkpoints, so a re-run resumes it."""
    scheme, fraction, seed = cell
    return {"scheme": scheme, "fraction": fraction, "seed": seed, "status": "failed",
            "val_auc": float("nan"), "test_auc": float("nan"), "error": error,
            "note": f"failed: {error}"}


def load_cell_model(sweep_dir, cell):
    """The model of a finished sweep cell, its best weights in.

    ``cell`` has the cell's ``scheme``, ``fraction`` and ``seed`` (a
    :class:`~medkeras.experiment.results.Cell`'s ``key``, or its ``cell.json``).
    """
    from medkeras.experiment.results import SweepResults
    from medkeras.experiment.runner import load_best_weights

    results = SweepResults(sweep_dir)
    found = results.cell(cell["scheme"], cell["fraction"], cell["seed"])
    scheme, init = parse_label(found.scheme)
    sweep = results.config["sweep"]
    shape = results.config.get("input_shape")
    model = build_model(sweep["backbone"], classes=results.config["classes"],
                        weights=None if scheme == "scratch" else sweep["weights"],
                        init=init, seed=found.seed, input_shape=shape and tuple(shape),
                        precision=sweep.get("precision", "float32"))
    load_best_weights(model, found.run_dir)
    return model


def export_cell(sweep_dir, cell, out, *, info, quantize=None, task=None, calibration=256,
                check=2000):
    """A finished cell → ``out/model.keras``, ``out/saved_model`` (preprocessing inside) and
    ``out/info.json`` (``info``: what an application needs to apply the model).

    ``quantize="int8"`` adds ``out/model_int8.tflite`` (:mod:`medkeras.quantize`),
    calibrated on ``calibration`` training patches of ``task`` and checked against the
    float model on up to ``check`` of its test patches (AUC and patches/s of both, recorded
    in ``info.json`` under ``quantized``); the inference commands then use it.
    """
    import shutil

    from medkeras.export import export_saved_model

    if os.path.exists(out) and os.listdir(out):
        raise FileExistsError(f"{out} exists and is not empty")
    model = load_cell_model(sweep_dir, cell)
    # written beside ``out`` and renamed when complete: an interrupted export leaves no
    # half model folder (the next export removes what it left)
    staging = f"{os.path.abspath(out).rstrip(os.sep)}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    model.save(os.path.join(staging, "model.keras"))
    export_saved_model(model, os.path.join(staging, "saved_model"), metadata=info)
    if quantize is not None:
        if quantize != "int8" or task is None:
            raise ValueError(f"quantize must be 'int8' with the sweep's task; Received: "
                             f"quantize={quantize!r}")
        info = {**info, "quantized": quantize_cell(model, task, os.path.join(
            staging, "model_int8.tflite"), calibration=calibration, check=check)}
    write_json_atomic(os.path.join(staging, "info.json"), {"cell": cell, **info})
    if os.path.isdir(out):
        os.rmdir(out)                                        # empty (checked above)
    os.replace(staging, out)
    return out


def quantize_cell(model, task, path, *, calibration=256, check=2000, seed=0):
    """Write ``model`` as int8 TFLite calibrated on training patches of ``task``; returns
    what changed on a sample of its test patches: AUC (patch level) and patches/s of the
    float and the int8 model, and their largest probability difference."""
    import time

    from medkeras.inference import inference_function
    from medkeras.quantize import QuantizedModel, quantize_int8

    def prepare(images):
        return model.preprocess(np.asarray(images)) if task.raw else np.asarray(images)

    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(task.x), min(calibration, len(task.x)), replace=False))
    quantize_int8(model, prepare(task.x[picked]), path)
    tested = np.sort(rng.choice(len(task.y_test), min(check, len(task.y_test)), replace=False))
    x, y = prepare(task.x_test[tested]), task.y_test[tested]
    int8 = QuantizedModel(model, path)
    report = {"format": "int8", "file": os.path.basename(path),
              "calibration_patches": int(len(picked)), "checked_test_patches": int(len(y))}
    outputs = {}
    for name, scorer in (("float32", model), ("int8", int8)):
        infer = inference_function(scorer)           # as the inference commands run it
        infer(x[:64])                                                  # warm up
        start = time.perf_counter()
        outputs[name] = infer(x)
        report[f"{name}_patches_per_s"] = round(len(x) / (time.perf_counter() - start), 1)
        auc = auc_of(class_labels(y, task.positive_classes),        # as a cell's test AUC
                     positive_scores(outputs[name], task.positive_classes))
        report[f"{name}_auc"] = round(float(auc), 4)
    report["max_probability_difference"] = round(
        float(np.abs(outputs["float32"] - outputs["int8"]).max()), 4)
    return report
