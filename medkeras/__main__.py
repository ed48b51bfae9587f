"""Command line: ``medkeras {demo,report,convert} ...`` (or ``python -m medkeras``)."""

import argparse
import os
import sys

from medkeras.experiment.cli import BACKBONE_NAMES, add_precision_option


def _demo(args):
    from medkeras.demo import DemoConfig, run_demo
    run_demo(DemoConfig(out=args.out, patches=args.patches, epochs=args.epochs,
                        batch=args.batch, seed=args.seed, precision=args.precision))


def _report(args):
    from medkeras.experiment.report import write_report
    print(write_report(args.directory))


def _convert(args):
    from medkeras.caffe import read_caffemodel
    from medkeras.models import BACKBONES
    model_class = BACKBONES[args.model]
    if os.path.exists(args.output) and not args.force:
        raise FileExistsError(f"{args.output} exists (use --force to overwrite)")
    net = read_caffemodel(args.caffemodel)
    head = next(spec.caffe_name for spec in model_class.caffe_specs
                if spec.keras_name == model_class.tunable_layers[-1])
    classes = int(net.by_name()[head].blobs[0].shape[0]) if head in net.by_name() else 1000
    model = model_class(classes=classes, weights=args.caffemodel)
    model.save_weights(args.output)
    print(f"{args.caffemodel} ({net.format}) → {args.output}: {model_class.__name__}, "
          f"{classes} classes")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="medkeras", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fine-tuning vs scratch on built-in synthetic patches")
    demo.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    demo.add_argument("--patches", type=int, default=160, help="number of patches (default 160)")
    demo.add_argument("--epochs", type=int, default=3)
    demo.add_argument("--batch", type=int, default=16)
    demo.add_argument("--seed", type=int, default=0)
    add_precision_option(demo)
    demo.set_defaults(run=_demo)
    report = sub.add_parser("report", help="rebuild the HTML report of a sweep directory")
    report.add_argument("directory")
    report.set_defaults(run=_report)
    convert = sub.add_parser("convert", help="a .caffemodel → Keras .weights.h5")
    convert.add_argument("caffemodel")
    convert.add_argument("output", help="a .weights.h5 path")
    convert.add_argument("--model", default="alexnet", choices=BACKBONE_NAMES)
    convert.add_argument("--force", action="store_true")
    convert.set_defaults(run=_convert)
    args = parser.parse_args(argv)
    from medkeras.experiment.cli import quiet_tensorflow, run_command

    quiet_tensorflow()
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
