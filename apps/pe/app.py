"""The PE application declared to the core (:mod:`medkeras.experiment.app`)."""

from __future__ import annotations

import os

from medkeras.experiment.app import Application, Option

from .settings import REPRESENTATIONS, PESettings

__all__ = ["PEApplication", "SYNTHETIC_VOLUMES"]

#: The built-in synthetic sets: how many tube volumes each holds
#: (:func:`apps.pe.synthetic.generate_tubes`, seeds 0, 1, …, written to ``<sweep>/data``).
SYNTHETIC_VOLUMES = {"small": 10, "medium": 30}


class PEApplication(Application):
    """Pulmonary emboli in CT pulmonary angiograms (Tajbakhsh et al. 2016, §B).

    Data: ``--data FOLDER`` of CT volumes with embolus masks (the layout of
    :mod:`apps.pe.dataset`; ``generate`` writes one), or ``--synthetic small|medium``: 10 or
    30 tube volumes generated into ``<sweep>/data``.  Either becomes the
    ``ctpa_candidates`` dataset (tobogganing candidates and their patches, prepared once);
    a split is its volumes (:class:`~apps.pe.experiment.VolumeCandidates`).
    """

    name = "pe"
    title = "Pulmonary embolism: FROC on held-out volumes"
    classes = ("not embolus", "embolus")
    groups = "patients"
    formats = ()
    synthetic = tuple(SYNTHETIC_VOLUMES)
    settings_class = PESettings
    options = (
        Option("representation", "patch planes: vessel-aligned (cross-section and "
                                 "longitudinal) or standard (axial, coronal, sagittal)",
               choices=REPRESENTATIONS),
        Option("max_candidates", "per volume, the best by tobogganing score, at most 300 "
                                 "(the prepared ones)"),
        Option("test_translations", "average over all 54 patches of a test candidate "
                                    "instead of the 18 untranslated ones"),
        Option("train_patches", "balanced training patches"))
    demo_settings = {"train_patches": 400, "max_candidates": 20}

    def load_split(self, data, settings, split, *, out):
        from medkeras import datasets

        from . import dataset  # noqa: F401  (registers the builder)
        from .experiment import load_volumes

        if "folder" in data:
            folder = data["folder"]
        else:
            from .synthetic import generate_tubes

            folder = os.path.join(os.path.abspath(out), "data")
            generate_tubes(folder, SYNTHETIC_VOLUMES[data["synthetic"]])
        builder = datasets.builder("ctpa_candidates", manual_dir=folder,
                                   config=settings.representation)
        return load_volumes(builder, split, max_candidates=settings.max_candidates)

    def describe(self, train, test):
        lines = []
        for split, volumes in (("training", train), ("test", test)):
            n = sum(len(v.labels) for v in volumes)
            hits = sum(int(v.labels.sum()) for v in volumes)
            found = sum(len(set(v.embolus[v.embolus > 0])) for v in volumes)
            emboli = sum(v.emboli for v in volumes)
            lines.append(f"{len(volumes)} {split} volumes: {emboli} emboli, {found} hit by a "
                         f"candidate; {n} candidates ({hits} on emboli)")
        return "\n".join(lines)

    def make_task(self, train, test, settings):
        from .experiment import make_task

        return make_task(train, test, settings)

    def evaluate(self, results, test, settings, *, out, n_bootstrap):
        from .experiment import evaluate_pe

        return evaluate_pe(results, test, out=out, n_bootstrap=n_bootstrap,
                           test_translations=settings.test_translations)

    def add_commands(self, commands):
        from medkeras.experiment.cli import comma_strings

        generate = commands.add_parser("generate", help="synthetic CTPA volumes with emboli")
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

        candidates = commands.add_parser("candidates",
                                         help="tobogganing's sensitivity on a folder")
        candidates.add_argument("--data", required=True)
        candidates.add_argument("--max-candidates", type=int, default=None)
        candidates.set_defaults(run=_candidates)

        detect = commands.add_parser("detect", help="a CT volume → detections and pictures "
                                                    "(the inference command)")
        detect.add_argument("volume", help="a NIfTI file or a DICOM series folder")
        detect.add_argument("--model", required=True, help="an exported PE model folder")
        detect.add_argument("--out", required=True)
        detect.add_argument("--lungs", default=None, help="a lung mask on the CT's grid")
        detect.add_argument("--threshold", type=float, default=0.5)
        detect.set_defaults(run=_detect)


def _generate(args):
    from .synthetic import generate_folder, generate_tubes

    if args.tubes:
        generate_tubes(args.out, args.tubes, seed=args.seed)
        print(f"{args.tubes} synthetic tube volumes → {args.out}")
        return
    if args.vessels is None:
        raise ValueError("generate needs --vessels (a CAD-PE-like folder) or --tubes N")
    options = {"crop": args.crop}
    if args.spacing is not None:
        options["target_spacing"] = args.spacing
    written = generate_folder(args.vessels, args.emboli, args.out, cases=args.cases,
                              seed=args.seed, **options)
    print(f"{len(written)} synthetic CTPA volumes on real anatomy → {args.out}")


def _candidates(args):
    import time

    from .candidates import candidate_hits, detect_candidates
    from .cases import read_case
    from .dataset import case_files

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
    from .detect import detect

    table = detect(args.volume, model_dir=args.model, out=args.out, lungs=args.lungs,
                   threshold=args.threshold)
    print(f"{int(table.detected.sum())} detections of {len(table)} candidates → {args.out}")
