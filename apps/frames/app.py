"""The frame-quality application declared to the core (:mod:`medkeras.experiment.app`)."""

from __future__ import annotations

from medkeras.experiment.app import Application, Option

from .settings import FrameSettings

__all__ = ["FramesApplication"]


class FramesApplication(Application):
    """Informative vs non-informative colonoscopy frames (Tajbakhsh et al. 2016, §C).

    Data: ``--data FOLDER`` (``informative/`` + ``non_informative/``, or a ``labels.csv``
    with ``path,label[,video][,kind]``: :mod:`apps.frames.dataset`), or the built-in
    ``synthetic_frames``.  A test split is its frames and the handcrafted baseline's scores.
    """

    name = "frames"
    title = "Frame quality: informative vs non-informative frames"
    classes = ("non_informative", "informative")
    groups = "videos"
    settings_class = FrameSettings
    options = (
        Option("train_crops", "random 227×227 crops per training frame (the paper: 200)"),
        Option("test_crops", "crops averaged per test frame"),
        Option("train_patches", "balanced training crops drawn from all of them"))
    demo_settings = {"train_patches": 400, "train_crops": 20, "test_crops": 5}

    def load_split(self, data, settings, split, *, out):
        from medkeras import datasets

        from . import dataset  # noqa: F401  (registers the builders)
        from .experiment import HeldOutFrames, cached_baseline, load_frames

        if "folder" in data:
            builder = datasets.builder("colonoscopy_frames", manual_dir=data["folder"])
        else:
            builder = datasets.builder("synthetic_frames", config=data["synthetic"])
        frames = load_frames(builder, split, settings)
        if split == "train":
            return frames
        baseline = cached_baseline(out, lambda: load_frames(builder, "train", settings),
                                   frames)
        return HeldOutFrames(frames, baseline)

    def describe(self, train, test):
        return (f"{len(train)} training frames ({sum(f.label for f in train)} informative), "
                f"{len(test.frames)} test frames ({sum(f.label for f in test.frames)} "
                "informative)")

    def make_task(self, train, test, settings):
        from .experiment import make_task

        return make_task(train, test.frames, settings)

    def evaluate(self, results, test, settings, *, out, n_bootstrap):
        from .experiment import evaluate_frames

        return evaluate_frames(results, test, out=out, n_bootstrap=n_bootstrap)

    def add_commands(self, commands):
        from medkeras.experiment.cli import comma_strings

        generate = commands.add_parser(
            "generate", help="informative frames → a labelled folder with generated "
                             "non-informative frames")
        generate.add_argument("informative", help="a folder of informative frames")
        generate.add_argument("--out", required=True)
        generate.add_argument("--seed", type=int, default=0)
        generate.add_argument("--degraded-per-frame", type=int, default=1)
        generate.add_argument("--kinds", type=comma_strings, default=None,
                              help="comma-separated degradations (default: all)")
        generate.set_defaults(run=_generate)

        score = commands.add_parser("score", help="a video → per-frame informativeness and "
                                                  "quality (the inference command)")
        score.add_argument("video")
        score.add_argument("--model", required=True, help="an exported frames model folder")
        score.add_argument("--out", required=True)
        score.add_argument("--every", type=int, default=1, help="score every n-th frame")
        score.add_argument("--threshold", type=float, default=0.5,
                           help="informativeness at which a frame counts as informative")
        score.set_defaults(run=_score)


def _generate(args):
    from .generate import generate_labelled_folder

    generate_labelled_folder(args.informative, args.out, seed=args.seed,
                             degraded_per_frame=args.degraded_per_frame,
                             kinds=args.kinds or None)
    print(f"labelled frames → {args.out} (labels.csv); use it with --data {args.out}")


def _score(args):
    from .score import score_video

    summary = score_video(args.video, model_dir=args.model, out=args.out, every=args.every,
                          threshold=args.threshold)
    print(f"{summary['frames_scored']} frames scored, {summary['informative_frames']} "
          f"informative: quality score {summary['quality_score']:.3f} → {args.out}")
