"""One command line for every application, built from its
:class:`~medkeras.experiment.app.Application` declaration.

``demo, sweep, train, evaluate, export, report`` with the same flags and meanings in every
application, plus the application's own commands (its inference command).  One error
policy: a user mistake (bad input, a file that cannot be read or written, a configuration
error) prints one line ``error: …`` and exits 2, never a traceback.  Building the
parser imports nothing heavy, so ``--help`` answers at once and without TensorFlow, and
TensorFlow's C++ log lines are hidden unless ``TF_CPP_MIN_LOG_LEVEL`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

from medkeras.precision import PRECISIONS

__all__ = ["BACKBONE_NAMES", "DEMO_SCHEMES", "add_precision_option", "application_main",
           "build_parser",
           "comma_floats", "comma_ints", "comma_strings", "quiet_tensorflow", "run_command"]

#: The backbones' command-line names (``medkeras.models.BACKBONES``, without importing it).
BACKBONE_NAMES = ("squeezenet", "alexnet")
#: The schemes of every application's demo.
DEMO_SCHEMES = ("scratch", "FT:only conv10", "FT:conv1-conv10")
#: Exit status of a user mistake (argparse's for a bad command line).
USER_ERROR = 2
#: Exit status of a sweep whose cells partly failed (the others finished).
CELLS_FAILED = 1
#: The epoch cap when only ``--iterations`` is given: the iteration cap decides.
NO_EPOCH_CAP = 100_000


def quiet_tensorflow():
    """Hide TensorFlow's C++ info and warning lines (oneDNN notices, CPU features) unless
    the user chose a level; call before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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


def _rate(text):
    if text == "auto":
        return text
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or auto, got {text!r}")
    return rate


def _schemes(text):
    return "auto" if text.strip() == "auto" else comma_strings(text)


def _add_option(parser, option, default):
    kind = option.type or (type(default) if default is not None else str)
    if kind is bool:
        parser.add_argument(option.flag, dest=option.field, action="store_true",
                            default=default, help=option.help)
        return
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    text = option.help if default is None else f"{option.help} (default {shown})"
    parser.add_argument(option.flag, dest=option.field, type=kind, default=default,
                        choices=option.choices, help=text.replace("%", "%%"))


def _add_data_options(parser, app, *, defaults):
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="your data: a folder (see the application's doc)")
    if app.synthetic:
        source.add_argument("--synthetic", default=app.synthetic[0], choices=app.synthetic,
                            help=f"built-in synthetic data when no --data "
                                 f"(default {app.synthetic[0]})")
    if app.formats:
        parser.add_argument("--format", default=app.formats[0], choices=app.formats,
                            help=f"layout of --data (default {app.formats[0]})")
    for option in app.options:
        _add_option(parser, option, defaults.get(option.field))
    parser.add_argument("--split-seed", type=int, default=defaults.get("seed", 0),
                        help="seed of which patches or crops are drawn (default "
                             f"{defaults.get('seed', 0)})")


def _add_training_options(parser, app, *, epochs, demo=False):
    parser.add_argument("--backbone", default=app.default_backbone, choices=app.backbones,
                        help=f"default {app.default_backbone}")
    parser.add_argument("--weights", default="imagenet",
                        help="starting weights of fine-tuning: imagenet or a file")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"at most this many epochs (default {epochs}, or no epoch cap "
                             "with --iterations)")
    parser.add_argument("--iterations", type=int, default=None, metavar="N",
                        help="at most N training iterations (batches), rounded up to whole "
                             "epochs; the smaller of this and --epochs stops a run (the "
                             "paper's cap is in iterations, so cells with less data run "
                             "more epochs)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--patience", type=int, default=5,
                        help="epochs without a better validation AUC before stopping "
                             "(default 5)")
    parser.add_argument("--learning-rate", type=_rate, default=None,
                        help="base rate of fine-tuning, or auto (a range test on each cell, "
                             "where the backbone's default diverges) (default: the "
                             "backbone's, the paper's recipe)")
    parser.add_argument("--scratch-learning-rate", type=float, default=None,
                        help="base rate of scratch (default: a learning-rate range test on "
                             "each cell's training patches)")
    parser.add_argument("--range-test-steps", type=int, default=30 if demo else 100,
                        help="steps of that range test (default %(default)s)")
    parser.add_argument("--scratch-inits", type=comma_strings, default=(None,),
                        help="initialisations of scratch, e.g. gaussian,xavier,msra (the "
                             "paper's Fig. 10: one scratch cell each; default: the "
                             "backbone's own)")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="bootstrap resamples of the confidence intervals (default 1000)")
    parser.add_argument("--no-evaluate", action="store_true",
                        help="train only; `evaluate` later")
    add_precision_option(parser)


def add_precision_option(parser):
    """``--precision float32|bfloat16|auto``: the sweeps' and the core demo's one option."""
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of training and inference; auto: bfloat16 (Keras' "
                             "mixed_bfloat16) on CPUs with native bfloat16 (AVX-512 BF16, AMX) "
                             "and no GPU, else float32 (default auto; recorded in the sweep)")


def _experiment_parser(commands, app, name, help, *, demo=False):
    parser = commands.add_parser(name, help=help)
    defaults = {**app.settings_defaults(), **(app.demo_settings if demo else {})}
    parser.add_argument("--out", default=f"runs/{app.name}-demo" if demo else None,
                        required=not demo, help="the sweep directory (resumable)")
    _add_data_options(parser, app, defaults=defaults)
    _add_training_options(parser, app, epochs=2 if demo else 10, demo=demo)
    parser.set_defaults(default_epochs=2 if demo else 10)
    return parser


#: Named designs of a sweep: which schemes, training fractions and seeds.  ``paper``: every
#: depth × 1, ½, ¼, 1/10 of the groups × 3 seeds (Tajbakhsh et al.'s design);
#: ``quick``: scratch, the shallowest, a middle and the deepest tuning × 1 and ¼ × 2 seeds.
PROTOCOLS = {"paper": {"schemes": None, "fractions": (1.0, 0.5, 0.25, 0.1), "seeds": (0, 1, 2)},
             "quick": {"schemes": "quick", "fractions": (1.0, 0.25), "seeds": (0, 1)}}


def demo_schemes(backbone):
    """The demo's schemes: :data:`DEMO_SCHEMES` for SqueezeNet; for another backbone
    scratch, its shallowest and its deepest fine-tuning."""
    if backbone == "squeezenet":
        return DEMO_SCHEMES
    from medkeras.models import ALL_BACKBONES

    tuned = [s for s in ALL_BACKBONES[backbone].scheme_table() if s != "scratch"]
    return ("scratch", tuned[0], tuned[-1])


def quick_schemes(backbone):
    """scratch, the shallowest, a middle and the deepest fine-tuning of a backbone."""
    from medkeras.models import ALL_BACKBONES

    tuned = [s for s in ALL_BACKBONES[backbone].scheme_table() if s != "scratch"]
    return ("scratch", tuned[0], tuned[len(tuned) // 2], tuned[-1])


def _grid_options(parser, app, *, schemes):
    parser.add_argument("--protocol", choices=tuple(PROTOCOLS), default=None,
                        help="a named design: paper (every depth × fractions 1,0.5,0.25,0.1 "
                             "× seeds 0,1,2) or quick (4 depths × 1,0.25 × 2 seeds); "
                             "--schemes, --fractions, --seeds override its parts")
    parser.add_argument("--schemes", type=_schemes, default=None,
                        help='comma-separated, e.g. "scratch,FT:only conv10"; "auto": tune '
                             "one block deeper while the validation AUC rises beyond its "
                             "interval (default: "
                             + (", ".join(schemes) if schemes else "all of the backbone's")
                             + ")")
    parser.add_argument("--fractions", type=comma_floats, default=None,
                        help=f"training fractions of the {app.groups}, e.g. 1,0.5,0.25 (a "
                             "small enough fraction trains on a single one; default 1)")
    parser.add_argument("--seeds", type=comma_ints, default=None, help="default 0")
    parser.add_argument("--extend", action="store_true",
                        help="also continue the runs that did not converge, from their last "
                             "checkpoint, up to a larger --epochs")


def _executor_options(parser):
    parser.add_argument("--executor", choices=("serial", "ray"), default="serial",
                        help="serial: the cells one after another in this process; ray: "
                             "each cell a Ray task, as many at once as the machine or the "
                             "cluster holds (pip install medkeras[ray]; same cells, seeds "
                             "and resume) (default serial)")
    parser.add_argument("--address", default=None,
                        help="with --executor ray: the Ray cluster to join (auto, "
                             "host:6379, ray://host:10001); --out must then be on a "
                             "filesystem every node shares (default: a local Ray for this "
                             "machine)")
    parser.add_argument("--cpus-per-cell", type=float, default=None,
                        help="with --executor ray: CPUs each cell declares, and its "
                             "TensorFlow threads (default 1)")
    parser.add_argument("--gpus-per-cell", type=float, default=None,
                        help="with --executor ray: GPUs each cell declares; more than one "
                             "trains the cell on them all (MirroredStrategy) (default 0)")


def _executor(args):
    """The executor of a sweep's cells from its flags: ``None`` (serial) or a
    :class:`~medkeras.experiment.distributed.RayExecutor`; a missing Ray is reported here,
    before any data is loaded."""
    ray_flags = {"--address": getattr(args, "address", None),
                 "--cpus-per-cell": getattr(args, "cpus_per_cell", None),
                 "--gpus-per-cell": getattr(args, "gpus_per_cell", None)}
    if getattr(args, "executor", "serial") == "serial":
        given = [flag for flag, value in ray_flags.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} apply to --executor ray; Received: "
                             "--executor serial")
        return None
    from medkeras.experiment.distributed import RayExecutor, import_ray

    import_ray()
    return RayExecutor(address=args.address,
                       cpus_per_cell=1 if args.cpus_per_cell is None else args.cpus_per_cell,
                       gpus_per_cell=0 if args.gpus_per_cell is None else args.gpus_per_cell)


def _grid(args):
    """(schemes, fractions, seeds) of a sweep: its flags, else its protocol's, else all
    schemes, fraction 1, seed 0."""
    preset = PROTOCOLS.get(args.protocol, {"schemes": None, "fractions": (1.0,),
                                           "seeds": (0,)})
    schemes = args.schemes if args.schemes is not None else preset["schemes"]
    if schemes == "quick":
        schemes = quick_schemes(args.backbone)
    return (schemes, args.fractions if args.fractions is not None else preset["fractions"],
            args.seeds if args.seeds is not None else preset["seeds"])


def _run_experiment(app, args, *, schemes, fractions, seeds, extend=False):
    from medkeras.experiment.app import data_source, run_experiment
    from medkeras.experiment.runner import TrainConfig
    from medkeras.experiment.sweep import SweepConfig

    data = data_source(app, folder=args.data, format=getattr(args, "format", None),
                       synthetic=getattr(args, "synthetic", None))
    if "folder" in data:
        out, folder = os.path.realpath(args.out), os.path.realpath(data["folder"])
        if os.path.commonpath([out, folder]) == folder:
            raise ValueError(f"--out {args.out} lies inside --data {args.data}: the results "
                             "would be read as data; choose an output folder outside it")
    settings = app.make_settings(**{o.field: getattr(args, o.field) for o in app.options},
                                 seed=args.split_seed)
    executor = _executor(args)
    auto = schemes == "auto"
    config = SweepConfig(backbone=args.backbone, schemes=None if auto else schemes,
                         fractions=fractions, seeds=seeds, weights=args.weights,
                         scratch_learning_rate=args.scratch_learning_rate,
                         scratch_inits=args.scratch_inits,
                         range_test_steps=args.range_test_steps,
                         precision=args.precision,
                         train=TrainConfig(epochs=_epoch_cap(args), batch_size=args.batch,
                                           patience=args.patience, tensorboard=False,
                                           learning_rate=args.learning_rate,
                                           max_iterations=args.iterations))
    run_experiment(app, data, settings, config, args.out, auto_depth=auto, extend=extend,
                   evaluate=not args.no_evaluate, n_bootstrap=args.bootstrap,
                   executor=executor)


def _epoch_cap(args):
    """--epochs, else no epoch cap when --iterations caps the runs, else the default."""
    if args.epochs is not None:
        return args.epochs
    return NO_EPOCH_CAP if args.iterations is not None else args.default_epochs


def _evaluate(app, args):
    from medkeras.experiment.app import evaluate_experiment

    overrides = {o.field: getattr(args, o.field) for o in app.options
                 if o.on_evaluate and getattr(args, o.field) is not None}
    evaluate_experiment(app, args.directory, overrides=overrides, n_bootstrap=args.bootstrap)


def _export(app, args):
    from medkeras.experiment.app import read_record, recorded_settings
    from medkeras.experiment.sweep import export_cell

    record = read_record(args.directory, app.record_name)
    cell = {"scheme": args.scheme, "fraction": args.fraction, "seed": args.seed}
    task = None
    if args.quantize is not None:            # calibration and check need the sweep's patches
        settings = recorded_settings(app, args.directory, record)
        task = app.make_task(app.load_split(record["data"], settings, "train",
                                            out=args.directory),
                             app.load_split(record["data"], settings, "test",
                                            out=args.directory), settings)
    export_cell(args.directory, cell, args.out, info={
        "application": app.name, "settings": record["settings"],
        "classes": list(app.class_names(args.directory))}, quantize=args.quantize, task=task,
        calibration=args.calibration)
    print(f"exported {args.scheme} (fraction {args.fraction:g}, seed {args.seed}) → {args.out}")
    if task is not None:
        from medkeras.io.files import read_json

        check = read_json(os.path.join(args.out, "info.json"))["quantized"]
        print(f"int8 on {check['checked_test_patches']} test patches: AUC "
              f"{check['int8_auc']:.4f} (float32 {check['float32_auc']:.4f}), "
              f"{check['int8_patches_per_s']:.0f} patches/s (float32 "
              f"{check['float32_patches_per_s']:.0f}), largest probability difference "
              f"{check['max_probability_difference']:.4f}")
        change = check["int8_auc"] - check["float32_auc"]
        if not abs(change) <= 0.01:
            print(f"warning: int8 changes the test AUC by {change:+.4f}: its scores lose the "
                  "ranking of the float model's here; deploy the float model (model.keras) "
                  "or calibrate on more patches (--calibration)", file=sys.stderr)


def _report(args):
    from medkeras.experiment.report import write_report

    print("patch-level report:", write_report(args.directory, n_bootstrap=args.bootstrap))


def _sweep(app, args):
    schemes, fractions, seeds = _grid(args)
    _run_experiment(app, args, schemes=schemes, fractions=fractions, seeds=seeds,
                    extend=args.extend)


def _study(app, args):
    """Every backbone of ``--backbones``: its own sweep directory ``OUT/<backbone>``, then
    the page comparing them (:mod:`medkeras.experiment.study`)."""
    import copy

    from medkeras.experiment.study import write_study

    unknown = [b for b in args.backbones if b not in app.backbones]
    if unknown or not args.backbones:
        raise ValueError(f"--backbones must name backbones of {list(app.backbones)}; "
                         f"Received: {','.join(args.backbones) or 'none'}")
    for backbone in args.backbones:
        run = copy.copy(args)
        run.backbone, run.out = backbone, os.path.join(args.out, backbone)
        if args.schemes is None and args.protocol is None:
            run.schemes = study_schemes(backbone, scratch=args.scratch, depths=args.depths)
        print(f"— {backbone} → {run.out}")
        _sweep(app, run)
    print("study:", write_study(args.out, args.backbones))


def study_schemes(backbone, *, scratch=False, depths=None):
    """The fine-tuning depths of a backbone, shallow to deep (and ``scratch`` first): all,
    or ``depths`` of them evenly spaced from the head alone to the whole network.

    >>> study_schemes("squeezenet", scratch=True, depths=3)
    ('scratch', 'FT:only conv10', 'FT:fire6-conv10', 'FT:conv1-conv10')
    """
    import numpy as np

    from medkeras.models import ALL_BACKBONES

    tuned = [s for s in ALL_BACKBONES[backbone].scheme_table() if s != "scratch"]
    if depths is not None:
        if depths < 1:
            raise ValueError(f"--depths must be at least 1; Received: {depths}")
        picks = np.unique(np.round(np.linspace(0, len(tuned) - 1, depths)).astype(int))
        tuned = [tuned[i] for i in picks]
    return (("scratch",) if scratch else ()) + tuple(tuned)


def build_parser(app, *, description=None):
    """The whole command line of ``app``."""
    package = type(app).__module__.rpartition(".")[0]        # apps.x or medkeras.apps.x
    run_as_module = os.path.basename(sys.argv[0]) in ("__main__.py", "-m", "-c")
    parser = argparse.ArgumentParser(prog=f"python -m {package}" if run_as_module
                                     else f"medkeras-{app.name}", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = _experiment_parser(commands, app, "demo", "a small sweep on built-in synthetic "
                                                     "data (part of ./run demo)", demo=True)
    demo.add_argument("--schemes", type=_schemes, default=None,
                      help=f"default: {', '.join(DEMO_SCHEMES)} (SqueezeNet); scratch, the "
                           "shallowest and the deepest fine-tuning of another backbone")
    demo.set_defaults(run=lambda a: _run_experiment(
        app, a, schemes=a.schemes or demo_schemes(a.backbone), fractions=(1.0,), seeds=(0,)))

    sweep = _experiment_parser(commands, app, "sweep", "every scheme × fraction × seed, then "
                                                       "the evaluation")
    _grid_options(sweep, app, schemes=None)
    _executor_options(sweep)
    sweep.set_defaults(run=lambda a: _sweep(app, a))

    train = _experiment_parser(commands, app, "train", "train one cell (into a new or an "
                                                       "existing sweep directory)")
    train.add_argument("--scheme", required=True, help='e.g. scratch, "FT:conv1-conv10"')
    train.add_argument("--fraction", type=float, default=1.0)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=lambda a: _run_experiment(app, a, schemes=(a.scheme,),
                                                     fractions=(a.fraction,), seeds=(a.seed,)))

    study = _experiment_parser(commands, app, "study", "several backbones fine-tuned block by "
                                                       "block, compared on one page (Kandel & "
                                                       "Castelli 2020)")
    _grid_options(study, app, schemes=("every fine-tuning depth of each backbone",))
    _executor_options(study)
    study.add_argument("--backbones", type=comma_strings, required=True,
                       help="comma-separated, e.g. " + ",".join(app.backbones[:3]))
    study.add_argument("--scratch", action="store_true",
                       help="also train each backbone from scratch")
    study.add_argument("--depths", type=int, default=None, metavar="N",
                       help="N fine-tuning depths per backbone, evenly spaced from the head "
                            "alone to the whole network (default: every block)")
    study.set_defaults(run=lambda a: _study(app, a))

    evaluate = commands.add_parser("evaluate", help="evaluate a sweep directory again")
    evaluate.add_argument("directory")
    evaluate.add_argument("--bootstrap", type=int, default=1000)
    for option in app.options:
        if option.on_evaluate:
            _add_option(evaluate, option, None)
    evaluate.set_defaults(run=lambda a: _evaluate(app, a))

    export = commands.add_parser("export", help="a trained cell → model.keras + SavedModel")
    export.add_argument("directory", help="the sweep directory")
    export.add_argument("--scheme", required=True)
    export.add_argument("--fraction", type=float, default=1.0)
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--out", required=True)
    export.add_argument("--quantize", choices=("int8",), default=None,
                        help="also an int8 TFLite model (calibrated on training patches, "
                             "checked on test patches), which detect/score/measure/predict "
                             "then use")
    export.add_argument("--calibration", type=int, default=256,
                        help="training patches of the int8 calibration (default 256)")
    export.set_defaults(run=lambda a: _export(app, a))

    report = commands.add_parser("report", help="rebuild the patch-level report of a sweep "
                                                "directory")
    report.add_argument("directory")
    report.add_argument("--bootstrap", type=int, default=1000)
    report.set_defaults(run=_report)

    app.add_commands(commands)
    return parser


def application_main(app, argv=None, *, description=None):
    """``main()`` of an application's command line."""
    quiet_tensorflow()
    return run_command(build_parser(app, description=description).parse_args(argv))


def _print_error(message):
    """``error: message`` on stderr, through tqdm: its write() clears an open progress
    bar's line first, so the message starts a line of its own."""
    from tqdm import tqdm

    tqdm.write(f"error: {message}", file=sys.stderr)


def run_command(args):
    """Run ``args.run(args)``; user mistakes → ``error: …`` on stderr and exit status 2
    (argparse's status for a bad command line).

    ``--out`` is checked first (:func:`medkeras.io.outputs.check_output`; ``args.out_kind``
    says ``file`` where the output is one file).  Caught: our own errors (unavailable
    weights, a bad dataset folder or caffemodel; all ``ValueError``s), any ``OSError`` (missing, unreadable or unwritable files and folders,
    a bad gzip), ``EOFError`` (a truncated compressed file) and decoding errors
    (``UnicodeDecodeError`` and ``json.JSONDecodeError`` are ``ValueError``s).  Cells of a
    sweep that failed (``--executor ray``, after a retry) → ``error: …`` and exit status 1,
    once the others are finished and evaluated.
    """
    from medkeras.experiment.distributed import CellsFailedError
    from medkeras.io.outputs import check_output

    try:
        if getattr(args, "out", None) is not None:          # before any work
            check_output(args.out, kind=getattr(args, "out_kind", "folder"))
        args.run(args)
    except (OSError, EOFError, ValueError) as err:   # WeightsUnavailableError is an OSError;
        #                                              DatasetFolderError, CaffeModelError
        #                                              are ValueErrors
        message = str(err)
        if isinstance(err, OSError) and err.filename and str(err.filename) not in message:
            message = f"{err.filename}: {message}"
        _print_error(message or type(err).__name__)
        return USER_ERROR
    except CellsFailedError as err:
        _print_error(str(err))
        return CELLS_FAILED
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return 0
