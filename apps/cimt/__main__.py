"""Command line of the CIMT application: ``python -m apps.cimt {demo,sweep,train,evaluate,measure,export}``.

* ``sweep``: every scheme × training fraction × seed on your cases (``--data FOLDER``) or
  synthetic ones, then the CIMT evaluation (interface and thickness errors on the test
  split, box plots, Bland-Altman) → ``OUT/cimt/report.html``, and the patch-level report
  → ``OUT/report.html``.  Re-running resumes.
* ``train``: one scheme (a sweep of one cell).
* ``evaluate``: (re)compute the evaluation of a sweep directory.
* ``export``: a trained cell → ``model.keras``, a SavedModel and ``cimt.json``.
* ``measure``: an image + ROI → thickness, both interfaces, an overlay picture.
* ``demo``: a small sweep on synthetic images (part of ``./run demo``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULT_SCHEMES = ("scratch", "FT:only conv10", "FT:fire9-conv10", "FT:conv1-conv10")


def _pair(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}")
    return values[0] if len(values) == 1 else values


def _floats(text):
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")


def _ints(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}")


def _settings(args):
    from apps.cimt.experiment import CIMTSettings
    return CIMTSettings(fov_mm=args.fov_mm, per_class=args.per_class,
                        test_per_class=args.test_per_class, roi_margin_mm=args.roi_margin_mm,
                        stride=args.stride, seed=args.split_seed)


def _data_source(args):
    if args.data is not None:
        if not os.path.isdir(args.data):
            raise ValueError(f"--data {args.data}: not a folder")
        return {"folder": os.path.abspath(args.data)}
    return {"synthetic": args.synthetic}


def _load_split(source, split):
    from apps.cimt.dataset import load_cases
    return load_cases(**source, split=split)


def _record(out, source, settings, train_cases, test_cases):
    """``cimt.json``: where the cases came from, the settings and the split; a re-run
    with other ones is refused (the sweep's cells would mix two experiments)."""
    from medkeras.experiment.runner import _atomic_json

    record = {"data": source, "settings": settings.to_json(),
              "train_cases": [c.case_id for c in train_cases],
              "test_cases": [c.case_id for c in test_cases]}
    path = os.path.join(out, "cimt.json")
    if os.path.exists(path):
        with open(path) as f:
            existing = json.load(f)
        if existing != record:
            raise ValueError(f"{out} holds a CIMT sweep with other data or settings ({path}); "
                             "use another --out or remove it")
    os.makedirs(out, exist_ok=True)
    _atomic_json(path, record)


def run_sweep_command(args, *, schemes, fractions, seeds):
    from apps.cimt.experiment import evaluate_sweep, make_task, write_cimt_report
    from medkeras.experiment.report import write_report
    from medkeras.experiment.runner import TrainConfig
    from medkeras.experiment.sweep import SweepConfig, run_sweep

    source, settings = _data_source(args), _settings(args)
    train_cases, test_cases = _load_split(source, "train"), _load_split(source, "test")
    print(f"{len(train_cases)} development cases ({len({c.group for c in train_cases})} "
          f"patients), {len(test_cases)} test cases "
          f"({len({c.group for c in test_cases})} patients)")
    _record(args.out, source, settings, train_cases, test_cases)
    task = make_task(train_cases, test_cases, settings)
    config = SweepConfig(backbone=args.backbone, schemes=schemes, fractions=fractions,
                         seeds=seeds, weights=args.weights,
                         train=TrainConfig(epochs=args.epochs, batch_size=args.batch,
                                           patience=args.patience, tensorboard=False))
    run_sweep(task, config, args.out)
    print("patch-level report:", write_report(args.out, n_bootstrap=1000))
    if not args.no_evaluate:
        evaluate_sweep(args.out, test_cases, settings)
        print("CIMT report:", write_cimt_report(args.out, n_bootstrap=1000))


def _sweep(args):
    run_sweep_command(args, schemes=args.schemes, fractions=args.fractions, seeds=args.seeds)


def _train(args):
    run_sweep_command(args, schemes=(args.scheme,), fractions=(1.0,), seeds=(args.seed,))


def _read_record(directory):
    path = os.path.join(directory, "cimt.json")
    if not os.path.exists(path):
        raise ValueError(f"{directory}: no cimt.json here; is it a CIMT sweep directory?")
    with open(path) as f:
        return json.load(f)


def _evaluate(args):
    from apps.cimt.experiment import CIMTSettings, evaluate_sweep, write_cimt_report

    record = _read_record(args.directory)
    settings = CIMTSettings(**record["settings"])
    if args.stride is not None:
        settings.stride = CIMTSettings(stride=args.stride).stride
    test_cases = _load_split(record["data"], "test")
    evaluate_sweep(args.directory, test_cases, settings)
    print("CIMT report:", write_cimt_report(args.directory))


def _export(args):
    from apps.cimt.experiment import load_cell_model
    from medkeras.export import export_saved_model

    record = _read_record(args.directory)
    cell = {"scheme": args.scheme, "fraction": args.fraction, "seed": args.seed}
    model = load_cell_model(args.directory, cell)
    if os.path.exists(args.out) and os.listdir(args.out):
        raise FileExistsError(f"{args.out} exists and is not empty")
    os.makedirs(args.out, exist_ok=True)
    model.save(os.path.join(args.out, "model.keras"))
    export_saved_model(model, os.path.join(args.out, "saved_model"))
    with open(os.path.join(args.out, "cimt.json"), "w") as f:
        json.dump({"settings": record["settings"], "cell": cell,
                   "classes": ["background", "lumen_intima", "media_adventitia"]}, f, indent=1)
    print(f"exported {args.scheme} (fraction {args.fraction:g}, seed {args.seed}) → {args.out}")


def _measure(args):
    from apps.cimt.measurement import measure_image
    result = measure_image(args.image, model_dir=args.model, roi=args.roi,
                           mm_per_pixel=args.mm_per_pixel, annotations=args.annotations,
                           out=args.out, stride=args.stride)
    print(f"IMT {result['thickness_mm']:.3f} mm over {len(result['columns'])} columns → "
          f"{args.out}")


def _demo(args):
    args.data, args.synthetic = None, "small"
    run_sweep_command(args, schemes=args.schemes, fractions=(1.0,), seeds=(0,))


def _add_experiment_options(p, *, epochs=10, per_class=100, stride=(1, 1)):
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", help="folder of cases (<ID>.png + <ID>.json)")
    source.add_argument("--synthetic", default="small", choices=("small", "medium"),
                        help="built-in synthetic cases when no --data (default small)")
    p.add_argument("--backbone", default="squeezenet", help="squeezenet or alexnet")
    p.add_argument("--weights", default="imagenet",
                   help="starting weights of fine-tuning: imagenet or a file")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--per-class", type=int, default=per_class,
                   help="training patches per class per case")
    p.add_argument("--test-per-class", type=int, default=30)
    p.add_argument("--fov-mm", type=float, default=3.0, help="patch field of view, mm")
    p.add_argument("--roi-margin-mm", type=float, default=1.0)
    p.add_argument("--stride", type=_pair, default=stride,
                   help="dense-inference stride: N or ROWS,COLUMNS (default %(default)s)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of patch sampling")
    p.add_argument("--no-evaluate", action="store_true", help="train only")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m apps.cimt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="a small sweep on synthetic images")
    demo.add_argument("--out", default="runs/cimt-demo")
    demo.add_argument("--schemes", type=lambda t: tuple(t.split(",")),
                      default=("scratch", "FT:only conv10", "FT:conv1-conv10"))
    _add_experiment_options(demo, epochs=2, per_class=20, stride=(2, 6))
    demo.set_defaults(run=_demo)

    sweep = sub.add_parser("sweep", help="every scheme × fraction × seed, then the evaluation")
    sweep.add_argument("--out", required=True)
    sweep.add_argument("--schemes", type=lambda t: tuple(t.split(",")), default=DEFAULT_SCHEMES,
                       help="comma-separated (default: %(default)s)")
    sweep.add_argument("--fractions", type=_floats, default=(1.0,),
                       help="training fractions of the patients, e.g. 1,0.5,0.25,0.01 "
                            "(a fraction this small trains on a single patient)")
    sweep.add_argument("--seeds", type=_ints, default=(0,))
    _add_experiment_options(sweep)
    sweep.set_defaults(run=_sweep)

    train = sub.add_parser("train", help="train one scheme")
    train.add_argument("--out", required=True)
    train.add_argument("--scheme", required=True, help='e.g. scratch, "FT:conv1-conv10"')
    train.add_argument("--seed", type=int, default=0)
    _add_experiment_options(train)
    train.set_defaults(run=_train)

    evaluate = sub.add_parser("evaluate", help="(re)evaluate a sweep directory")
    evaluate.add_argument("directory")
    evaluate.add_argument("--stride", type=_pair, default=None,
                          help="override the recorded dense-inference stride")
    evaluate.set_defaults(run=_evaluate)

    export = sub.add_parser("export", help="a trained cell → model.keras + SavedModel")
    export.add_argument("directory", help="the sweep directory")
    export.add_argument("--scheme", required=True)
    export.add_argument("--fraction", type=float, default=1.0)
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--out", required=True)
    export.set_defaults(run=_export)

    measure = sub.add_parser("measure", help="image + ROI → thickness, interfaces, overlay")
    measure.add_argument("image", help="8-bit grey image (PNG, …)")
    measure.add_argument("--model", required=True,
                         help="an exported model folder, or 'baseline' (no CNN)")
    measure.add_argument("--roi", type=_pair, help="y0,x0,y1,x1 around the far wall")
    measure.add_argument("--annotations",
                         help="a JSON of the case (ROI from its points, pixel size from it, "
                              "errors against it)")
    measure.add_argument("--mm-per-pixel", type=float, help="pixel size (or from --annotations)")
    measure.add_argument("--stride", type=_pair, default=None)
    measure.add_argument("--out", required=True, help="output folder")
    measure.set_defaults(run=_measure)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    import medkeras
    from medkeras.datasets import DatasetFolderError
    try:
        args.run(args)
    except (medkeras.WeightsUnavailableError, DatasetFolderError, FileNotFoundError,
            FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
