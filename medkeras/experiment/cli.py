"""Command-line pieces every application shares: sweep options, the experiment record,
and one error policy (a user mistake prints ``error: …`` and exits 1, never a traceback)."""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["add_export_command", "add_training_options", "comma_floats", "comma_ints",
           "comma_strings", "read_record", "record_experiment", "run_command", "sweep_config"]


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
    from medkeras.experiment.runner import record_or_check

    path = os.path.join(out, name)
    os.makedirs(out, exist_ok=True)
    record_or_check(path, record, mismatch=f"{out} holds an experiment with other data or "
                    f"settings ({path}); use another --out or remove it")


def read_record(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        raise ValueError(f"{directory}: no {name} here; is it this application's sweep "
                         "directory?")
    with open(path) as f:
        return json.load(f)


def add_sweep_and_train_commands(sub, *, add_options, run_sweep_command, groups):
    """The ``sweep`` (every scheme × fraction × seed) and ``train`` (one scheme) subcommands
    every application has: both call ``run_sweep_command(args, schemes=, fractions=,
    seeds=)``; ``add_options(parser)`` adds the application's data and training options,
    ``groups`` names what fractions count (``"videos"``, ``"patients"``)."""
    sweep = sub.add_parser("sweep", help="every scheme × fraction × seed, then the evaluation")
    sweep.add_argument("--out", required=True)
    sweep.add_argument("--schemes", type=comma_strings, default=None,
                       help='comma-separated, e.g. "scratch,FT:only conv10" (default: all of '
                            "the backbone's: scratch and every depth of fine-tuning)")
    sweep.add_argument("--fractions", type=comma_floats, default=(1.0,),
                       help=f"training fractions of the {groups}, e.g. 1,0.5,0.25 (a small "
                            f"enough fraction trains on a single one)")
    sweep.add_argument("--seeds", type=comma_ints, default=(0,))
    add_options(sweep)
    sweep.set_defaults(run=lambda args: run_sweep_command(
        args, schemes=args.schemes, fractions=args.fractions, seeds=args.seeds))

    train = sub.add_parser("train", help="train one scheme")
    train.add_argument("--out", required=True)
    train.add_argument("--scheme", required=True, help='e.g. scratch, "FT:conv1-conv10"')
    train.add_argument("--seed", type=int, default=0)
    add_options(train)
    train.set_defaults(run=lambda args: run_sweep_command(
        args, schemes=(args.scheme,), fractions=(1.0,), seeds=(args.seed,)))
    return sweep, train


def sweep_then_evaluate(args, task, *, schemes, fractions, seeds, evaluate):
    """What every application's sweep does once its data are a task: run the sweep into
    ``args.out`` (resumable), free the patches, write the patch-level report, then call
    ``evaluate()``, the application's own evaluation (FROC, ROC of frames, CIMT errors)."""
    from medkeras.experiment.report import write_report
    from medkeras.experiment.sweep import run_sweep

    run_sweep(task, sweep_config(args, schemes=schemes, fractions=fractions, seeds=seeds),
              args.out)
    del task
    try:
        print("patch-level report:", write_report(args.out, n_bootstrap=1000))
    except ValueError as err:        # e.g. test patches of one class in a tiny demo
        print(f"patch-level report skipped: {err}")
    evaluate()


def add_export_command(sub, *, application, record_name, classes):
    """The ``export DIR --scheme S [--fraction F] [--seed N] --out OUT`` subcommand: a finished
    cell → ``model.keras``, a SavedModel and ``info.json`` carrying the application's name,
    the settings of its experiment record ``record_name`` and the class names
    (:func:`medkeras.experiment.sweep.export_cell`)."""
    export = sub.add_parser("export", help="a trained cell → model.keras + SavedModel")
    export.add_argument("directory", help="the sweep directory")
    export.add_argument("--scheme", required=True)
    export.add_argument("--fraction", type=float, default=1.0)
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--out", required=True)

    def run(args):
        from medkeras.experiment.sweep import export_cell

        record = read_record(args.directory, record_name)
        cell = {"scheme": args.scheme, "fraction": args.fraction, "seed": args.seed}
        export_cell(args.directory, cell, args.out, info={
            "application": application, "settings": record["settings"],
            "classes": list(classes)})
        print(f"exported {args.scheme} (fraction {args.fraction:g}, seed {args.seed}) → "
              f"{args.out}")

    export.set_defaults(run=run)


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
