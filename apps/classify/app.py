"""Your own labelled images, declared to the core (:mod:`medkeras.experiment.app`)."""

from __future__ import annotations

import json
import os

from medkeras.experiment.app import Application, Option

from .settings import ClassifySettings

__all__ = ["ClassifyApplication", "BACKBONES"]

#: ``--backbone`` choices: every backbone of ``medkeras.models.ALL_BACKBONES`` (the
#: ``keras.applications`` ones first), named here so that ``--help`` loads no TensorFlow.
BACKBONES = ("mobilenet_v2", "efficientnet_b0", "resnet50", "densenet121", "inception_v3",
             "vgg16", "vgg19", "squeezenet", "alexnet")
#: Where a sweep keeps its data's class names and what was left out of it.
CLASSES_FILE = "classes.json"


class ClassifyApplication(Application):
    """Two or more classes of images, from a folder per class, a ``labels.csv`` or
    BreakHis (:mod:`medkeras.data.labelled`), or the built-in synthetic H&E set
    (:mod:`apps.classify.synthetic`).  An image is a test unit; its group (patient,
    slide) keeps it on one side of every split."""

    name = "classify"
    title = "Your images: which depth of fine-tuning?"
    classes = ()            # the data's: see class_names
    groups = "groups"
    formats = ("auto", "folders", "csv", "breakhis", "patch_camelyon")
    synthetic = ("small", "medium")
    settings_class = ClassifySettings
    options = (
        Option("size", "images are resized to SIZE × SIZE pixels"),
        Option("channels", "3: colour (grey repeated), 1: grey", type=int, choices=(1, 3)),
        Option("test_fraction", "fraction of each class's groups held out for the test",
               type=float),
        Option("positive", "two classes: the class whose probability is the score (default: "
                           "the second in sorted order)", type=str),
        Option("magnification", "BreakHis: keep one magnification (40, 100, 200, 400)",
               type=str),
        Option("max_images", "patch_camelyon: the first N images of each of its splits",
               type=int))
    demo_settings = {"size": 32}
    backbones = BACKBONES
    default_backbone = "mobilenet_v2"

    def load_split(self, data, settings, split, *, out):
        from medkeras.atomic import write_json_atomic

        from .data import load_images

        images = load_images(data, settings, split)
        if split == "train":
            write_json_atomic(os.path.join(out, CLASSES_FILE), {
                "classes": list(images.classes),
                "left_out": [list(entry) for entry in images.left_out]})
        return images

    def describe(self, train, test):
        def counts(split):
            return ", ".join(f"{name} {int((split.labels == i).sum())}"
                             for i, name in enumerate(split.classes))
        text = (f"{len(train.labels)} development images in {len(set(train.groups))} groups "
                f"({counts(train)}); {len(test.labels)} test images in "
                f"{len(set(test.groups))} groups ({counts(test)})")
        if train.left_out:
            text += f"; {len(train.left_out)} files left out (listed in the report)"
        return text

    def make_task(self, train, test, settings):
        from .experiment import make_task

        return make_task(train, test, settings)

    def evaluate(self, results, test, settings, *, out, n_bootstrap):
        from .experiment import evaluate_classify

        return evaluate_classify(results, test, settings, out=out, n_bootstrap=n_bootstrap)

    def class_names(self, directory):
        path = os.path.join(directory, CLASSES_FILE)
        if not os.path.exists(path):
            raise ValueError(f"{directory}: no {CLASSES_FILE}; is it a classify sweep?")
        with open(path) as f:
            return tuple(json.load(f)["classes"])

    def add_commands(self, commands):
        predict = commands.add_parser(
            "predict", help="an exported model on a folder or an image → class "
                            "probabilities (CSV) (the inference command)")
        predict.add_argument("images", help="an image, or a folder (searched at any depth)")
        predict.add_argument("--model", required=True, help="an exported classify model folder")
        predict.add_argument("--out", required=True, help="the CSV file to write")
        predict.add_argument("--batch", type=int, default=32)
        predict.set_defaults(run=_predict, out_kind="file")

        generate = commands.add_parser(
            "generate", help="write the built-in synthetic H&E set as class folders")
        generate.add_argument("--out", required=True)
        generate.add_argument("--synthetic", default="small", choices=self.synthetic)
        generate.set_defaults(run=_generate)


def _predict(args):
    from .predict import predict_images

    table = predict_images(args.images, model_dir=args.model, out=args.out,
                           batch_size=args.batch)
    counts = table.predicted.value_counts().to_dict()
    print(f"{len(table)} images: " + ", ".join(f"{n} {name}" for name, n in counts.items())
          + f" → {args.out}")


def _generate(args):
    from .synthetic import write_synthetic_folder

    if os.path.exists(args.out) and os.listdir(args.out):
        raise FileExistsError(f"{args.out} exists and is not empty")
    write_synthetic_folder(args.out, args.synthetic)
    print(f"synthetic H&E-like images (not real tissue) → {args.out}; use it with "
          f"--data {args.out}")
