"""The CIMT application declared to the core (:mod:`medkeras.experiment.app`)."""

from __future__ import annotations

import sys

from medkeras.experiment.app import Application, Option

from .settings import CIMTSettings, parse_stride

__all__ = ["CIMTApplication"]


class CIMTApplication(Application):
    """Carotid intima-media thickness from B-mode ultrasound (Tajbakhsh et al. 2016, §D).

    Data: ``--data FOLDER`` (``<ID>.png`` + ``<ID>.json`` with the expert's interface points,
    as in the University of Cyprus IMT database: :mod:`apps.cimt.data`), or the built-in
    ``synthetic_carotid`` cases.  A split is its list of :class:`~apps.cimt.data.CIMTCase`.
    """

    name = "cimt"
    title = "CIMT: interface and thickness errors on held-out images"
    classes = ("background", "lumen_intima", "media_adventitia")
    groups = "patients"
    formats = ()
    settings_class = CIMTSettings
    options = (
        Option("per_class", "training patches per class per case"),
        Option("test_per_class", "test patches per class per case (patch-level report)"),
        Option("fov_mm", "patch field of view, mm"),
        Option("roi_margin_mm", "margin of the region of interest around the far wall, mm"),
        Option("stride", "dense-inference stride: N or ROWS,COLUMNS", type=parse_stride,
               on_evaluate=True))
    demo_settings = {"per_class": 20, "stride": (2, 6)}

    def load_split(self, data, settings, split, *, out):
        from .dataset import load_cases

        return load_cases(**data, split=split)

    def describe(self, train, test):
        return (f"{len(train)} development cases ({len({c.group for c in train})} patients), "
                f"{len(test)} test cases ({len({c.group for c in test})} patients)")

    def make_task(self, train, test, settings):
        from .experiment import make_task

        return make_task(train, test, settings)

    def evaluate(self, results, test, settings, *, out, n_bootstrap):
        from .experiment import evaluate_cimt

        return evaluate_cimt(results, test, settings, out=out, n_bootstrap=n_bootstrap)

    def add_commands(self, commands):
        from medkeras.experiment.cli import comma_ints

        measure = commands.add_parser(
            "measure", help="image + ROI → thickness, interfaces, overlay (the inference "
                            "command)")
        measure.add_argument("image", help="8-bit grey image (PNG, …)")
        measure.add_argument("--model", required=True,
                             help="an exported model folder, or 'baseline' (no CNN)")
        measure.add_argument("--roi", type=comma_ints, help="y0,x0,y1,x1 around the far wall")
        measure.add_argument("--annotations",
                             help="a JSON of the case (ROI from its points, pixel size from "
                                  "it, errors against it)")
        measure.add_argument("--mm-per-pixel", type=float,
                             help="pixel size (or from --annotations)")
        measure.add_argument("--stride", type=parse_stride, default=None,
                             help="dense-inference stride: N or ROWS,COLUMNS (default: the "
                                  "model's)")
        measure.add_argument("--out", required=True, help="output folder")
        measure.set_defaults(run=_measure)


def _measure(args):
    from .measurement import measure_image

    result = measure_image(args.image, model_dir=args.model, roi=args.roi,
                           mm_per_pixel=args.mm_per_pixel, annotations=args.annotations,
                           out=args.out, stride=args.stride)
    print(f"IMT {result['thickness_mm']:.3f} mm over {len(result['columns'])} columns → "
          f"{args.out}")
    for warning in result.get("warnings", ()):
        print(f"warning: {warning}", file=sys.stderr)
