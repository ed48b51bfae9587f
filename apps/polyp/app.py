"""The polyp application declared to the core (:mod:`medkeras.experiment.app`)."""

from __future__ import annotations

from medkeras.experiment.app import Application, Option

from .settings import PolypSettings

__all__ = ["PolypApplication"]


def _builder(data):
    """The dataset builder of ``data`` (``{"folder", "format"}`` or ``{"synthetic"}``)."""
    from medkeras import datasets

    from . import dataset  # noqa: F401  (registers the builders)

    if "folder" in data:
        return datasets.builder(data["format"], manual_dir=data["folder"])
    return datasets.builder("synthetic_polyps", config=data["synthetic"])


class PolypApplication(Application):
    """Polyp detection in colonoscopy frames (Tajbakhsh et al. 2016, §A).

    Data: ``--data FOLDER`` in the layout of ``--format kvasir_seg`` (``images/``,
    ``masks/``) or ``cvc_clinicdb`` (``Original/``, ``Ground Truth/``):
    :mod:`apps.polyp.dataset`; or the built-in ``synthetic_polyps``.  A split is its frames
    and their candidates (:class:`apps.polyp.experiment.PolypSplit`), the candidates kept
    in the sweep directory as ``candidates_<split>.csv``.
    """

    name = "polyp"
    title = "Polyp detection: FROC on held-out frames"
    classes = ("not polyp", "polyp")
    groups = "videos"
    formats = ("kvasir_seg", "cvc_clinicdb")
    settings_class = PolypSettings
    options = (
        Option("max_candidates", "per frame"),
        Option("frame_width", "frames are resized to this width"),
        Option("train_patches", "balanced training patches (the paper: 100000)"),
        Option("test_translations", "average over all 216 patches of a candidate instead "
                                    "of 24"))
    demo_settings = {"train_patches": 400, "max_candidates": 10}

    def load_split(self, data, settings, split, *, out):
        from .experiment import PolypSplit, cached_candidates, load_frames

        frames = load_frames(_builder(data), split, settings)
        return PolypSplit(frames, cached_candidates(out, split, frames, settings))

    def describe(self, train, test):
        return (f"{len(train.frames)} training frames ({train.table.label.sum()} of "
                f"{len(train.table)} candidates on polyps), {len(test.frames)} test frames "
                f"({len(test.table)} candidates)")

    def make_task(self, train, test, settings):
        from .experiment import make_task

        return make_task(train.frames, train.table, test.frames, test.table, settings)

    def evaluate(self, results, test, settings, *, out, n_bootstrap):
        from .experiment import evaluate_polyp

        return evaluate_polyp(results, test, out=out, n_bootstrap=n_bootstrap)

    def add_commands(self, commands):
        from medkeras.experiment.cli import comma_ints

        defaults = self.settings_defaults()
        candidates = commands.add_parser("candidates",
                                         help="the detector's sensitivity on a split")
        source = candidates.add_mutually_exclusive_group()
        source.add_argument("--data", help="a folder of frames with polyp masks")
        source.add_argument("--synthetic", default=self.synthetic[0], choices=self.synthetic,
                            help="built-in synthetic frames when no --data (default "
                                 f"{self.synthetic[0]})")
        candidates.add_argument("--format", default=self.formats[0], choices=self.formats,
                                help=f"layout of --data (default {self.formats[0]})")
        candidates.add_argument("--max-candidates", type=int,
                                default=defaults["max_candidates"],
                                help=f"per frame (default {defaults['max_candidates']})")
        candidates.add_argument("--frame-width", type=int, default=defaults["frame_width"],
                                help="frames are resized to this width (default "
                                     f"{defaults['frame_width']})")
        candidates.add_argument("--split", default="test",
                                help="train or test (default test)")
        candidates.add_argument("--limits", type=comma_ints, default=(5, 10, 20, 30),
                                help="candidates-per-frame operating points (default "
                                     "5,10,20,30)")
        candidates.set_defaults(run=lambda args: _candidates(self, args))

        detect = commands.add_parser("detect", help="image, folder or video → detections, "
                                                    "pictures (the inference command)")
        detect.add_argument("input", help="an image, a folder of images, or a video file")
        detect.add_argument("--model", required=True, help="an exported polyp model folder")
        detect.add_argument("--out", required=True)
        detect.add_argument("--threshold", type=float, default=0.5,
                            help="probability at which a candidate is drawn (default 0.5)")
        detect.add_argument("--every", type=int, default=1, help="video: every n-th frame")
        detect.set_defaults(run=_detect)


def _candidates(app, args):
    from medkeras.experiment.app import data_source

    from .candidates import evaluate_candidates
    from .experiment import load_frames

    data = data_source(app, folder=args.data, format=args.format, synthetic=args.synthetic)
    settings = app.make_settings(max_candidates=args.max_candidates,
                                 frame_width=args.frame_width)
    frames = load_frames(_builder(data), args.split, settings)
    result = evaluate_candidates(((f.image, f.labels) for f in frames), limits=args.limits)
    print(f"{result['frames']} frames, {result['polyps']} polyps, "
          f"{result['seconds_per_frame']:.2f} s per frame")
    for k in sorted(set(args.limits)):
        r = result[k]
        print(f"  ≤{k} per frame: sensitivity {r['sensitivity']:.3f}, "
              f"{r['candidates_per_frame']:.1f} candidates per frame")


def _detect(args):
    from .detect import detect

    written = detect(args.input, model_dir=args.model, out=args.out, threshold=args.threshold,
                     every=args.every)
    print(f"{written} frames → {args.out}/detections.csv, detections.json, pictures/")
