"""Command line of the CIMT application: ``python -m apps.cimt {demo,sweep,train,evaluate,measure,export}``.

* ``sweep``: every scheme × training fraction × seed on your cases (``--data FOLDER``) or
  synthetic ones, then the CIMT evaluation (interface and thickness errors on the test
  split, box plots, Bland-Altman) → ``OUT/cimt/report.html``, and the patch-level report
  → ``OUT/report.html``.  Re-running resumes.
* ``train``: one scheme (a sweep of one cell).
* ``evaluate``: (re)compute the evaluation of a sweep directory.
* ``export``: a trained cell → ``model.keras``, a SavedModel and ``info.json``.
* ``measure``: an image + ROI → thickness, both interfaces, an overlay picture.
* ``demo``: a small sweep on synthetic images (part of ``./run demo``).
"""

from __future__ import annotations

import argparse
import os
import sys

from medkeras.experiment.cli import (add_export_command, add_sweep_and_train_commands,
                                     add_training_options, comma_ints, comma_strings,
                                     read_record, record_experiment, run_command, sweep_then_evaluate)


def _pair(text):
    values = comma_ints(text)
    return values[0] if len(values) == 1 else values


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


def run_sweep_command(args, *, schemes, fractions, seeds):
    from apps.cimt.experiment import evaluate_sweep, make_task, write_cimt_report

    source, settings = _data_source(args), _settings(args)
    train_cases, test_cases = _load_split(source, "train"), _load_split(source, "test")
    print(f"{len(train_cases)} development cases ({len({c.group for c in train_cases})} "
          f"patients), {len(test_cases)} test cases "
          f"({len({c.group for c in test_cases})} patients)")
    record_experiment(args.out, "cimt.json", {
        "data": source, "settings": settings.to_json(),
        "train_cases": [c.case_id for c in train_cases],
        "test_cases": [c.case_id for c in test_cases]})
    def evaluate():
        if not args.no_evaluate:
            evaluate_sweep(args.out, test_cases, settings)
            print("CIMT report:", write_cimt_report(args.out, n_bootstrap=1000))

    sweep_then_evaluate(args, make_task(train_cases, test_cases, settings), schemes=schemes,
                        fractions=fractions, seeds=seeds, evaluate=evaluate)


def _evaluate(args):
    from apps.cimt.experiment import CIMTSettings, evaluate_sweep, write_cimt_report

    record = read_record(args.directory, "cimt.json")
    settings = CIMTSettings(**record["settings"])
    if args.stride is not None:
        settings.stride = CIMTSettings(stride=args.stride).stride
    test_cases = _load_split(record["data"], "test")
    evaluate_sweep(args.directory, test_cases, settings)
    print("CIMT report:", write_cimt_report(args.directory))


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
    add_training_options(p, epochs=epochs)
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
    demo.add_argument("--schemes", type=comma_strings,
                      default=("scratch", "FT:only conv10", "FT:conv1-conv10"))
    _add_experiment_options(demo, epochs=2, per_class=20, stride=(2, 6))
    demo.set_defaults(run=_demo)

    add_sweep_and_train_commands(sub, add_options=_add_experiment_options,
                                 run_sweep_command=run_sweep_command, groups="patients")

    evaluate = sub.add_parser("evaluate", help="(re)evaluate a sweep directory")
    evaluate.add_argument("directory")
    evaluate.add_argument("--stride", type=_pair, default=None,
                          help="override the recorded dense-inference stride")
    evaluate.set_defaults(run=_evaluate)

    add_export_command(sub, application="cimt", record_name="cimt.json",
                       classes=("background", "lumen_intima", "media_adventitia"))

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
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
