"""Command-line pieces every application shares: sweep options, the experiment record,
and one error policy (a user mistake prints ``error: …`` and exits 1, never a traceback)."""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["add_training_options", "comma_floats", "comma_ints", "comma_strings",
           "record_experiment", "run_command", "sweep_config"]


def comma_floats(text):
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")


def comma_ints(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}")


def comma_strings(text):
    return tuple(v.strip() for v in text.split(",") if v.strip())


def add_training_options(parser, *, epochs=10):
    """Backbone, starting weights and the recipe's knobs of a sweep or a single run."""
    parser.add_argument("--backbone", default="squeezenet", help="squeezenet or alexnet")
    parser.add_argument("--weights", default="imagenet",
                        help="starting weights of fine-tuning: imagenet or a file")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--patience", type=int, default=5)


def sweep_config(args, *, schemes, fractions, seeds):
    """A :class:`~medkeras.experiment.sweep.SweepConfig` from :func:`add_training_options`."""
    from medkeras.experiment.runner import TrainConfig
    from medkeras.experiment.sweep import SweepConfig

    return SweepConfig(backbone=args.backbone, schemes=schemes, fractions=fractions,
                       seeds=seeds, weights=args.weights,
                       train=TrainConfig(epochs=args.epochs, batch_size=args.batch,
                                         patience=args.patience, tensorboard=False))


def record_experiment(out, name, record):
    """Write ``OUT/<name>`` (the data and settings an application's sweep used), or check
    that a re-run uses the same: cells of two experiments must not mix."""
    from medkeras.experiment.runner import _atomic_json

    record = json.loads(json.dumps(record))
    path = os.path.join(out, name)
    if os.path.exists(path):
        with open(path) as f:
            existing = json.load(f)
        if existing != record:
            raise ValueError(f"{out} holds an experiment with other data or settings ({path}); "
                             "use another --out or remove it")
    os.makedirs(out, exist_ok=True)
    _atomic_json(path, record)


def read_record(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        raise ValueError(f"{directory}: no {name} here; is it this application's sweep "
                         "directory?")
    with open(path) as f:
        return json.load(f)


def run_command(args):
    """Run ``args.run(args)``; user mistakes → ``error: …`` on stderr and exit status 1."""
    import medkeras
    from medkeras.caffe import CaffeModelError
    from medkeras.datasets import DatasetFolderError

    try:
        args.run(args)
    except (medkeras.WeightsUnavailableError, DatasetFolderError, CaffeModelError,
            FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return 0
