"""Polyp ``detect`` seconds per frame, float32 and int8 exports, vs the network alone.

Frames: the first ``--frames`` Kvasir-SEG images from ``../shared`` when present, else
synthetic frames of the polyp demo's size.  Models: SqueezeNet with random weights (the
timing does not depend on them) exported as ``apps.polyp`` expects, once as float32 and
once with an int8 TFLite file (``export --quantize int8``), both with the application's
default settings.  The baseline is the network alone (float32, the forward pass every
inference path uses: :func:`medkeras.inference.inference_function`, XLA-compiled) on as many
patches as ``detect`` scored, already in memory: what scoring would cost with nothing else
to do; Keras' ``predict_on_batch`` (no XLA) is shown beside it.  Each variant runs ``--rounds`` times, interleaved; the median is shown.

    python bench/bench_detect.py [--frames 20] [--rounds 3]
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                      # apps/ of this checkout
KVASIR = ROOT.parent / "shared" / "data" / "kvasir-seg" / "images"


def frames_folder(folder, count):
    """``count`` frames in ``folder``: Kvasir's when available, else synthetic noise."""
    from PIL import Image

    folder.mkdir()
    if KVASIR.is_dir():
        for path in sorted(KVASIR.glob("*.jpg"))[:count]:
            (folder / path.name).write_bytes(path.read_bytes())
        return "Kvasir-SEG"
    rng = np.random.default_rng(0)
    for k in range(count):
        image = rng.integers(0, 256, (288, 352, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"frame{k:03d}.jpg")
    return "synthetic"


def export_folders(root):
    """A float32 and an int8 polyp export of one random-weight SqueezeNet."""
    import medkeras
    from apps.polyp.settings import PolypSettings
    from medkeras.quantize import quantize_int8

    model = medkeras.SqueezeNet(classes=2)
    info = {"application": "polyp", "settings": PolypSettings().to_json(),
            "classes": ["negative", "polyp"],
            "cell": {"scheme": "scratch", "fraction": 1.0, "seed": 0}}
    folders = {}
    for kind in ("float32", "int8"):
        folder = root / kind
        folder.mkdir()
        model.save(folder / "model.keras")
        record = dict(info)
        if kind == "int8":
            calibration = medkeras.preprocess_input(np.random.default_rng(1).uniform(
                0, 255, (32, 227, 227, 3)).astype(np.float32))
            quantize_int8(model, calibration, folder / "model_int8.tflite")
            record["quantized"] = {"format": "int8", "file": "model_int8.tflite"}
        (folder / "info.json").write_text(json.dumps(record))
        folders[kind] = folder
    return model, folders


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import pandas as pd

    from timing import interleaved_seconds

    from apps.polyp.detect import detect
    from apps.polyp.experiment import augmented_boxes
    from apps.polyp.settings import PolypSettings

    root = pathlib.Path(tempfile.mkdtemp())
    source = frames_folder(root / "frames", args.frames)
    model, folders = export_folders(root)
    settings = PolypSettings()
    per_candidate = len(augmented_boxes(pd.DataFrame([[0, 0, 10, 10]],
                                                     columns=["y0", "x0", "y1", "x1"]),
                                        settings, translations=settings.test_translations)[0])

    def run_detect(kind):
        def run():
            out = pathlib.Path(tempfile.mkdtemp(dir=root))
            detect(root / "frames", model_dir=folders[kind], out=out, progress=False)
            return len(pd.read_csv(out / "detections.csv"))
        return run

    candidates = run_detect("float32")()                                  # warm up
    run_detect("int8")()
    patches = candidates * per_candidate
    in_memory = np.random.default_rng(2).uniform(-100, 100, (min(patches, 256), 227, 227, 3)
                                                 ).astype(np.float32)

    from medkeras.inference import inference_function

    def network_alone(infer):
        def run():
            for start in range(0, patches, len(in_memory)):
                infer(in_memory[:min(len(in_memory), patches - start)])
        run()                                                            # warm up
        return run

    variants = {"network alone (float32, patches in memory)":
                network_alone(inference_function(model)),
                "network alone, Keras predict_on_batch": network_alone(model.predict_on_batch),
                "detect, float32 export": run_detect("float32"),
                "detect, int8 export": run_detect("int8")}
    seconds = interleaved_seconds(variants, args.rounds)
    print(f"polyp detect on {args.frames} {source} frames: {candidates} candidates, "
          f"{per_candidate} patches each ({patches} patches), {os.cpu_count()} CPUs, "
          f"median of {args.rounds} interleaved rounds")
    base = np.median(seconds["network alone (float32, patches in memory)"])
    for name, values in seconds.items():
        per_frame = np.median(values) / args.frames
        print(f"{name:44s} {per_frame:6.3f} s per frame  {np.median(values) / base:5.2f}× "
              "the network alone")


if __name__ == "__main__":
    main()
