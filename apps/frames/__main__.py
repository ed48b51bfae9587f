"""Command line of the frame-quality application: ``python -m apps.frames {demo,generate,sweep,train,evaluate,export,score}``.

* ``generate``: a folder of real informative frames → a labelled folder with a generated
  non-informative counterpart of each (motion blur, defocus, exposure, specular flooding,
  wall contact, fluid and bubbles, interlacing/compression; the kind recorded), readable
  by ``--data``.
* ``sweep``: random crops of every frame, every scheme × training fraction × seed, then ROC
  on the test split with the handcrafted baseline → ``OUT/frames/report.html`` (and
  ``OUT/report.html``, crop level).
* ``train``: one scheme.  ``evaluate``: the ROC of a sweep directory again.
* ``export``: a trained cell → ``model.keras``, a SavedModel and ``info.json``.
* ``score``: a video → per-frame informativeness (CSV), the quality score (fraction of
  informative frames) and a plot over time; streamed and resumable.
* ``demo``: a small sweep on synthetic frames (part of ``./run demo``).

Data: ``--data FOLDER`` (``informative/`` + ``non_informative/``, or a ``labels.csv`` with
``path,label[,video][,kind]``; see ``apps.frames.dataset``), or ``--synthetic small|medium``.
"""

from __future__ import annotations

import os
import sys

import pandas as pd

from medkeras.experiment.cli import (add_export_command, add_sweep_and_train_commands,
                                     add_training_options, comma_strings, read_record,
                                     record_experiment, run_command, sweep_then_evaluate)

RECORD = "frames.json"


def _settings(args):
    from apps.frames.experiment import FrameSettings
    return FrameSettings(train_crops=args.train_crops, test_crops=args.test_crops,
                         train_patches=args.train_patches)


def _source(args):
    if args.data is not None:
        if not os.path.isdir(args.data):
            raise ValueError(f"--data {args.data}: not a folder")
        return {"name": "colonoscopy_frames", "folder": os.path.abspath(args.data)}
    return {"name": "synthetic_frames", "config": args.synthetic}


def _builder(source):
    from medkeras import datasets
    if "folder" in source:
        return datasets.builder(source["name"], manual_dir=source["folder"])
    return datasets.builder(source["name"], config=source["config"])


def _baseline(out, train_frames, test_frames):
    """The handcrafted baseline's test scores (``OUT/baseline_scores.csv``, reused)."""
    from apps.frames.experiment import baseline_scores

    path = os.path.join(out, "baseline_scores.csv")
    names = [f.name for f in test_frames]
    if os.path.exists(path):
        saved = pd.read_csv(path, dtype={"frame": str})
        if saved.frame.tolist() == names:
            return saved.score.to_numpy()
    scores = baseline_scores(train_frames, test_frames)
    pd.DataFrame({"frame": names, "score": scores}).to_csv(path + ".partial", index=False)
    os.replace(path + ".partial", path)
    return scores


def run_sweep_command(args, *, schemes, fractions, seeds):
    from apps.frames.experiment import evaluate_sweep, load_frames, make_task, write_frames_report

    source, settings = _source(args), _settings(args)
    record_experiment(args.out, RECORD, {"data": source, "settings": settings.to_json()})
    builder = _builder(source)
    train_frames = load_frames(builder, "train", settings)
    test_frames = load_frames(builder, "test", settings)
    informative = sum(f.label for f in train_frames)
    print(f"{len(train_frames)} training frames ({informative} informative), "
          f"{len(test_frames)} test frames ({sum(f.label for f in test_frames)} informative)")
    baseline = _baseline(args.out, train_frames, test_frames)
    task = make_task(train_frames, test_frames, settings)
    del train_frames

    def evaluate():
        table = evaluate_sweep(args.out, test_frames, baseline, n_bootstrap=1000)
        print(table.to_string(index=False))
        print("frames report:", write_frames_report(args.out, table))

    sweep_then_evaluate(args, task, schemes=schemes, fractions=fractions, seeds=seeds,
                        evaluate=evaluate)


def _demo(args):
    args.data, args.synthetic = None, "small"
    run_sweep_command(args, schemes=args.schemes, fractions=(1.0,), seeds=(0,))


def _evaluate(args):
    from apps.frames.experiment import (FrameSettings, evaluate_sweep, load_frames,
                                        write_frames_report)

    record = read_record(args.directory, RECORD)
    settings = FrameSettings(**record["settings"])
    builder = _builder(record["data"])
    test_frames = load_frames(builder, "test", settings)
    path = os.path.join(args.directory, "baseline_scores.csv")
    saved = pd.read_csv(path, dtype={"frame": str}) if os.path.exists(path) else None
    if saved is not None and saved.frame.tolist() == [f.name for f in test_frames]:
        baseline = saved.score.to_numpy()
    else:
        baseline = _baseline(args.directory, load_frames(builder, "train", settings),
                             test_frames)
    table = evaluate_sweep(args.directory, test_frames, baseline)
    print(table.to_string(index=False))
    print("frames report:", write_frames_report(args.directory, table))


def _generate(args):
    from apps.frames.generate import generate_labelled_folder

    kinds = args.kinds if args.kinds else None
    generate_labelled_folder(args.informative, args.out, seed=args.seed,
                             degraded_per_frame=args.degraded_per_frame, kinds=kinds)
    print(f"labelled frames → {args.out} (labels.csv); use it with --data {args.out}")


def _score(args):
    from apps.frames.score import score_video

    summary = score_video(args.video, model_dir=args.model, out=args.out, every=args.every,
                          threshold=args.threshold)
    print(f"{summary['frames_scored']} frames scored, {summary['informative_frames']} "
          f"informative: quality score {summary['quality_score']:.3f} → {args.out}")


def _add_data_options(p):
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", help="a folder of labelled frames")
    source.add_argument("--synthetic", default="small", choices=("small", "medium"),
                        help="built-in synthetic frames when no --data (default small)")
    p.add_argument("--train-crops", type=int, default=200,
                   help="random 227×227 crops per training frame (the paper: 200)")
    p.add_argument("--test-crops", type=int, default=20,
                   help="crops averaged per test frame (default 20)")
    p.add_argument("--train-patches", type=int, default=4000,
                   help="balanced training crops drawn from all of them (default 4000)")


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="python -m apps.frames", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="a small sweep on synthetic frames")
    demo.add_argument("--out", default="runs/frames-demo")
    demo.add_argument("--schemes", type=comma_strings,
                      default=("scratch", "FT:only conv10", "FT:conv1-conv10"))
    _add_data_options(demo)
    add_training_options(demo, epochs=2)
    demo.set_defaults(run=_demo, train_patches=400, train_crops=20, test_crops=5)

    generate = sub.add_parser("generate", help="informative frames → a labelled folder with "
                                               "generated non-informative frames")
    generate.add_argument("informative", help="a folder of informative frames")
    generate.add_argument("--out", required=True)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--degraded-per-frame", type=int, default=1)
    generate.add_argument("--kinds", type=comma_strings, default=None,
                          help="comma-separated degradations (default: all)")
    generate.set_defaults(run=_generate)

    def add_options(p):
        _add_data_options(p)
        add_training_options(p)

    add_sweep_and_train_commands(sub, add_options=add_options,
                                 run_sweep_command=run_sweep_command, groups="videos")

    evaluate = sub.add_parser("evaluate", help="ROC of a sweep directory again")
    evaluate.add_argument("directory")
    evaluate.set_defaults(run=_evaluate)

    add_export_command(sub, application="frames", record_name=RECORD,
                       classes=("non_informative", "informative"))

    score = sub.add_parser("score", help="a video → per-frame informativeness and quality")
    score.add_argument("video")
    score.add_argument("--model", required=True, help="an exported frames model folder")
    score.add_argument("--out", required=True)
    score.add_argument("--every", type=int, default=1, help="score every n-th frame")
    score.add_argument("--threshold", type=float, default=0.5,
                       help="informativeness at which a frame counts as informative")
    score.set_defaults(run=_score)
    return parser


def main(argv=None):
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
