"""Command line of the polyp application: ``python -m apps.polyp {demo,candidates,sweep,train,evaluate,export,detect}``.

* ``candidates``: the handcrafted detector's sensitivity and candidates per frame on a split.
* ``sweep``: candidates of every frame (saved, reused on re-runs), augmented patches, every
  scheme × training fraction × seed, then FROC on the test split with the detector's own
  score as the baseline → ``OUT/polyp/report.html`` (and ``OUT/report.html``, patch level).
* ``train``: one scheme.  ``evaluate``: the FROC of a sweep directory again.
* ``export``: a trained cell → ``model.keras``, a SavedModel and ``info.json``.
* ``detect``: an image, a folder of images or a video → detections (CSV and JSON, boxes in
  pixels with probabilities) and pictures with the boxes drawn.
* ``demo``: a small sweep on synthetic frames (part of ``./run demo``).

Data: ``--data FOLDER`` with ``--format kvasir_seg`` (``images/``, ``masks/``) or
``cvc_clinicdb`` (``Original/``, ``Ground Truth/``), or ``--synthetic small|medium``.
"""

from __future__ import annotations

import os
import sys

import pandas as pd

from medkeras.experiment.cli import (add_export_command, add_sweep_and_train_commands,
                                     add_training_options, comma_ints, comma_strings,
                                     read_record, record_experiment, run_command, sweep_then_evaluate)

RECORD = "polyp.json"


def _settings(args):
    from apps.polyp.experiment import PolypSettings
    return PolypSettings(max_candidates=args.max_candidates, frame_width=args.frame_width,
                         train_patches=args.train_patches,
                         test_translations=args.test_translations)


def _source(args):
    if args.data is not None:
        if not os.path.isdir(args.data):
            raise ValueError(f"--data {args.data}: not a folder")
        return {"name": args.format, "folder": os.path.abspath(args.data)}
    return {"name": "synthetic_polyps", "config": args.synthetic}


def _builder(source):
    from medkeras import datasets
    if "folder" in source:
        return datasets.builder(source["name"], manual_dir=source["folder"])
    return datasets.builder(source["name"], config=source["config"])


def _frames_and_candidates(out, source, settings, split):
    """Frames of a split and their candidates (``OUT/candidates_<split>.csv``, reused)."""
    from apps.polyp.experiment import candidate_table, load_frames

    frames = load_frames(_builder(source), split, settings)
    path = os.path.join(out, f"candidates_{split}.csv")
    if os.path.exists(path):
        return frames, pd.read_csv(path, dtype={"frame": str, "group": str})
    table = candidate_table(frames, settings)
    table.to_csv(path + ".partial", index=False)
    os.replace(path + ".partial", path)
    return frames, table


def run_sweep_command(args, *, schemes, fractions, seeds):
    from apps.polyp.experiment import evaluate_sweep, make_task, write_polyp_report

    source, settings = _source(args), _settings(args)
    record_experiment(args.out, RECORD, {"data": source, "settings": settings.to_json()})
    train_frames, train_table = _frames_and_candidates(args.out, source, settings, "train")
    test_frames, test_table = _frames_and_candidates(args.out, source, settings, "test")
    print(f"{len(train_frames)} training frames ({train_table.label.sum()} of "
          f"{len(train_table)} candidates on polyps), {len(test_frames)} test frames "
          f"({len(test_table)} candidates)")
    def evaluate():
        table = evaluate_sweep(args.out, test_frames, test_table, n_bootstrap=1000)
        print(table.to_string(index=False))
        print("polyp report:", write_polyp_report(args.out, table))

    sweep_then_evaluate(args, make_task(train_frames, train_table, test_frames, test_table,
                                        settings),
                        schemes=schemes, fractions=fractions, seeds=seeds, evaluate=evaluate)


def _demo(args):
    args.data, args.synthetic = None, "small"
    run_sweep_command(args, schemes=args.schemes, fractions=(1.0,), seeds=(0,))


def _evaluate(args):
    from apps.polyp.experiment import PolypSettings, evaluate_sweep, write_polyp_report

    record = read_record(args.directory, RECORD)
    settings = PolypSettings(**record["settings"])
    frames, table = _frames_and_candidates(args.directory, record["data"], settings, "test")
    result = evaluate_sweep(args.directory, frames, table)
    print(result.to_string(index=False))
    print("polyp report:", write_polyp_report(args.directory, result))


def _candidates(args):
    from apps.polyp.candidates import evaluate_candidates
    from apps.polyp.experiment import load_frames

    settings = _settings(args)
    frames = load_frames(_builder(_source(args)), args.split, settings)
    result = evaluate_candidates(((f.image, f.labels) for f in frames), limits=args.limits)
    print(f"{result['frames']} frames, {result['polyps']} polyps, "
          f"{result['seconds_per_frame']:.2f} s per frame")
    for k in sorted(args.limits):
        r = result[k]
        print(f"  ≤{k} per frame: sensitivity {r['sensitivity']:.3f}, "
              f"{r['candidates_per_frame']:.1f} candidates per frame")


def _detect(args):
    from apps.polyp.detect import detect
    written = detect(args.input, model_dir=args.model, out=args.out, threshold=args.threshold,
                     every=args.every)
    print(f"{written} frames → {args.out}/detections.csv, detections.json, pictures/")


def _add_data_options(p):
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", help="a folder of frames with polyp masks")
    source.add_argument("--synthetic", default="small", choices=("small", "medium"),
                        help="built-in synthetic frames when no --data (default small)")
    p.add_argument("--format", default="kvasir_seg", choices=("kvasir_seg", "cvc_clinicdb"),
                   help="layout of --data (default kvasir_seg)")
    p.add_argument("--max-candidates", type=int, default=20, help="per frame (default 20)")
    p.add_argument("--frame-width", type=int, default=512,
                   help="frames are resized to this width (default 512)")
    p.add_argument("--train-patches", type=int, default=4000,
                   help="balanced training patches (the paper: 100000; default 4000)")
    p.add_argument("--test-translations", action="store_true",
                   help="average over all 216 patches of a candidate (default 24)")


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="python -m apps.polyp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="a small sweep on synthetic frames")
    demo.add_argument("--out", default="runs/polyp-demo")
    demo.add_argument("--schemes", type=comma_strings,
                      default=("scratch", "FT:only conv10", "FT:conv1-conv10"))
    _add_data_options(demo)
    add_training_options(demo, epochs=2)
    demo.set_defaults(run=_demo, train_patches=400, max_candidates=10)

    candidates = sub.add_parser("candidates", help="the detector's sensitivity on a split")
    candidates.add_argument("--split", default="test", help="train or test (default test)")
    candidates.add_argument("--limits", type=comma_ints, default=(5, 10, 20, 30),
                            help="candidates-per-frame operating points")
    _add_data_options(candidates)
    candidates.set_defaults(run=_candidates)

    def add_options(p):
        _add_data_options(p)
        add_training_options(p)

    add_sweep_and_train_commands(sub, add_options=add_options,
                                 run_sweep_command=run_sweep_command, groups="videos")

    evaluate = sub.add_parser("evaluate", help="FROC of a sweep directory again")
    evaluate.add_argument("directory")
    evaluate.set_defaults(run=_evaluate)

    add_export_command(sub, application="polyp", record_name=RECORD,
                       classes=("not polyp", "polyp"))

    detect = sub.add_parser("detect", help="image, folder or video → detections, pictures")
    detect.add_argument("input", help="an image, a folder of images, or a video file")
    detect.add_argument("--model", required=True, help="an exported polyp model folder")
    detect.add_argument("--out", required=True)
    detect.add_argument("--threshold", type=float, default=0.5,
                        help="probability at which a candidate is drawn (default 0.5)")
    detect.add_argument("--every", type=int, default=1, help="video: every n-th frame")
    detect.set_defaults(run=_detect)
    return parser


def main(argv=None):
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
