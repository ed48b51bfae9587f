"""Command line of the PE application: ``python -m apps.pe {demo,generate,candidates,sweep,train,evaluate,export,detect}``.

* ``generate``: synthetic CTPA volumes with emboli, written as NIfTI (``<name>_ct``,
  ``_emboli``, ``_lungs``, ``_vessels``, ``<name>.json``): on real anatomy (``--vessels`` a
  CAD-PE-like folder of vessel and lung labels, ``--emboli`` FUMPE-like embolus masks for
  the shapes) or fully synthetic (``--tubes N``: small branching-tube volumes).
* ``candidates``: tobogganing's sensitivity and candidates per volume on a folder.
* ``sweep``: candidates and patches of every volume (the ``ctpa_candidates`` dataset,
  prepared once), every scheme × training fraction × seed, then FROC per volume on the
  test split with the tobogganing score as the baseline → ``OUT/pe/report.html``.
* ``train``: one scheme.  ``evaluate``: the FROC of a sweep directory again.
* ``export``: a trained cell → ``model.keras``, a SavedModel and ``info.json``.
* ``detect``: a CT volume (NIfTI or DICOM folder) → detections with mm and scanner
  coordinates and probabilities (CSV, JSON) and a picture of each detection's patches.
* ``demo``: generate a few tube volumes and run a small sweep (part of ``./run demo``).

Data: ``--data FOLDER`` as ``apps.pe.dataset`` describes (``generate`` writes one).
"""

from __future__ import annotations

import os
import sys

from medkeras.experiment.cli import (add_export_command, add_sweep_and_train_commands,
                                     add_training_options, comma_strings, read_record,
                                     record_experiment, run_command, sweep_then_evaluate)

RECORD = "pe.json"


def _settings(args):
    from apps.pe.experiment import PESettings
    return PESettings(representation=args.representation, max_candidates=args.max_candidates,
                      train_patches=args.train_patches, test_translations=args.test_translations)


def _builder(folder, settings):
    from medkeras import datasets

    if folder is None or not os.path.isdir(folder):
        raise ValueError(f"--data {folder}: not a folder (python -m apps.pe generate writes one)")
    return datasets.builder("ctpa_candidates", manual_dir=os.path.abspath(folder),
                            config=settings.representation)


def run_sweep_command(args, *, schemes, fractions, seeds):
    from apps.pe.experiment import evaluate_sweep, load_volumes, make_task, write_pe_report

    settings = _settings(args)
    record_experiment(args.out, RECORD, {"data": os.path.abspath(args.data),
                                         "settings": settings.to_json()})
    builder = _builder(args.data, settings)
    train = load_volumes(builder, "train", max_candidates=settings.max_candidates)
    test = load_volumes(builder, "test", max_candidates=settings.max_candidates)
    for split, volumes in (("training", train), ("test", test)):
        n = sum(len(v.labels) for v in volumes)
        hits = sum(int(v.labels.sum()) for v in volumes)
        found = sum(len(set(v.embolus[v.embolus > 0])) for v in volumes)
        emboli = sum(v.emboli for v in volumes)
        print(f"{len(volumes)} {split} volumes: {emboli} emboli, {found} hit by a candidate; "
              f"{n} candidates ({hits} on emboli)")
    task = make_task(train, test, settings)
    del train

    def evaluate():
        table = evaluate_sweep(args.out, test, n_bootstrap=1000)
        print(table.to_string(index=False))
        print("PE report:", write_pe_report(args.out, table))

    sweep_then_evaluate(args, task, schemes=schemes, fractions=fractions, seeds=seeds,
                        evaluate=evaluate)


def generate_tubes(out, n, *, seed=0, shape=(64, 96, 96)):
    """``n`` fully synthetic tube volumes (:func:`apps.pe.synthetic.synthetic_tubes_volume`)
    written to ``out`` (existing ones kept)."""
    import warnings

    from apps.pe.synthetic import synthetic_tubes_volume, write_case

    for i in range(n):
        name = f"tubes{i:03d}"
        if not os.path.exists(os.path.join(out, f"{name}.json")):
            with warnings.catch_warnings():     # "placed 3 of 4 emboli": fine for a demo
                warnings.simplefilter("ignore", RuntimeWarning)
                case = synthetic_tubes_volume(seed=seed + i, shape=shape, n_emboli=(2, 4))
            write_case(case, out, name)


def _demo(args):
    args.data = os.path.join(args.out, "data")
    generate_tubes(args.data, args.volumes)
    run_sweep_command(args, schemes=args.schemes, fractions=(1.0,), seeds=(0,))


def _evaluate(args):
    from apps.pe.experiment import PESettings, evaluate_sweep, load_volumes, write_pe_report

    record = read_record(args.directory, RECORD)
    settings = PESettings(**record["settings"])
    test = load_volumes(_builder(record["data"], settings), "test",
                        max_candidates=settings.max_candidates)
    table = evaluate_sweep(args.directory, test)
    print(table.to_string(index=False))
    print("PE report:", write_pe_report(args.directory, table))


def _generate(args):
    if args.tubes:
        generate_tubes(args.out, args.tubes, seed=args.seed)
        print(f"{args.tubes} synthetic tube volumes → {args.out}")
        return
    if args.vessels is None:
        raise ValueError("generate needs --vessels (a CAD-PE-like folder) or --tubes N")
    from apps.pe.synthetic import generate_folder

    options = {"crop": args.crop}
    if args.spacing is not None:
        options["target_spacing"] = args.spacing
    written = generate_folder(args.vessels, args.emboli, args.out, cases=args.cases,
                              seed=args.seed, **options)
    print(f"{len(written)} synthetic CTPA volumes on real anatomy → {args.out}")


def _candidates(args):
    import time

    from apps.pe.candidates import candidate_hits, detect_candidates
    from apps.pe.dataset import case_files
    from apps.pe.experiment import read_case

    rows = []
    for name, files in case_files(args.data).items():
        start = time.perf_counter()
        ct, emboli, count, lungs = read_case(files["ct"], files["emboli"], files["lungs"])
        found = detect_candidates(ct.array, ct.spacing, lung_mask=lungs,
                                  max_candidates=args.max_candidates)
        hits = candidate_hits(found, emboli)
        rows.append((name, count, len(set(hits[hits > 0])), len(hits),
                     time.perf_counter() - start))
        print(f"{name}: {rows[-1][2]}/{count} emboli hit, {len(hits)} candidates, "
              f"{rows[-1][4]:.1f} s")
    emboli = sum(r[1] for r in rows)
    hit = sum(r[2] for r in rows)
    print(f"{len(rows)} volumes: sensitivity {hit}/{emboli} = {hit / max(emboli, 1):.3f}, "
          f"{sum(r[3] for r in rows) / len(rows):.1f} candidates per volume, "
          f"{sum(r[4] for r in rows) / len(rows):.1f} s per volume")


def _detect(args):
    from apps.pe.detect import detect
    table = detect(args.volume, model_dir=args.model, out=args.out, lungs=args.lungs,
                   threshold=args.threshold)
    print(f"{int(table.detected.sum())} detections of {len(table)} candidates → {args.out}")


def _add_data_options(p, *, data=True):
    if data:
        p.add_argument("--data", required=True, help="a folder of CT volumes with emboli")
    p.add_argument("--representation", default="vessel_aligned",
                   choices=("vessel_aligned", "standard"))
    p.add_argument("--max-candidates", type=int, default=300,
                   help="per volume, the best by tobogganing score (at most 300, the "
                        "prepared ones)")
    p.add_argument("--test-translations", action="store_true",
                   help="average over all 54 patches of a test candidate (default: the 18 "
                        "untranslated ones)")
    p.add_argument("--train-patches", type=int, default=4000,
                   help="balanced training patches (default 4000)")


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="python -m apps.pe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="a small sweep on synthetic tube volumes")
    demo.add_argument("--out", default="runs/pe-demo")
    demo.add_argument("--volumes", type=int, default=10)
    demo.add_argument("--schemes", type=comma_strings,
                      default=("scratch", "FT:only conv10", "FT:conv1-conv10"))
    _add_data_options(demo, data=False)
    add_training_options(demo, epochs=2)
    demo.set_defaults(run=_demo, train_patches=400, max_candidates=20)

    generate = sub.add_parser("generate", help="synthetic CTPA volumes with emboli")
    generate.add_argument("--out", required=True)
    generate.add_argument("--vessels", help="CAD-PE-like vessel and lung labels")
    generate.add_argument("--emboli", help="FUMPE-like embolus masks (their shapes)")
    generate.add_argument("--cases", type=comma_strings, default=None,
                          help="case ids of --vessels (default: all)")
    generate.add_argument("--tubes", type=int, default=0,
                          help="instead: N fully synthetic tube volumes")
    generate.add_argument("--crop", action="store_true", help="crop to the lungs")
    generate.add_argument("--spacing", type=float, default=None,
                          help="resample to this isotropic spacing (mm)")
    generate.add_argument("--seed", type=int, default=0)
    generate.set_defaults(run=_generate)

    candidates = sub.add_parser("candidates", help="tobogganing's sensitivity on a folder")
    candidates.add_argument("--data", required=True)
    candidates.add_argument("--max-candidates", type=int, default=None)
    candidates.set_defaults(run=_candidates)

    def add_options(p):
        _add_data_options(p)
        add_training_options(p)

    add_sweep_and_train_commands(sub, add_options=add_options,
                                 run_sweep_command=run_sweep_command, groups="patients")

    evaluate = sub.add_parser("evaluate", help="FROC of a sweep directory again")
    evaluate.add_argument("directory")
    evaluate.set_defaults(run=_evaluate)

    add_export_command(sub, application="pe", record_name=RECORD,
                       classes=("not embolus", "embolus"))

    detect = sub.add_parser("detect", help="a CT volume → detections and pictures")
    detect.add_argument("volume", help="a NIfTI file or a DICOM series folder")
    detect.add_argument("--model", required=True, help="an exported PE model folder")
    detect.add_argument("--out", required=True)
    detect.add_argument("--lungs", default=None, help="a lung mask on the CT's grid")
    detect.add_argument("--threshold", type=float, default=0.5)
    detect.set_defaults(run=_detect)
    return parser


def main(argv=None):
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
