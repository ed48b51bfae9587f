"""Kvasir-SEG frames → a two-class folder for ``apps.classify``: polyp-centred crops vs
polyp-free crops, grouped by frame (``labels.csv`` with ``path,label,group``).

    python examples/kvasir_crops.py ../shared/data/kvasir-seg OUT [--frames 300] [--size 128]

For each frame: one square crop centred on its first polyp box (the box's longer side
× 1.25), and one square crop of the same size elsewhere whose mask holds less than 1% polyp
pixels (tried at 200 seeded positions, then at half the size; frames without such a place
give no negative).
Both crops of a frame share its group, so a frame never lies on both sides of a split.
"""

import argparse
import csv
import json
import os

import numpy as np
from PIL import Image


def crops(folder, out, *, frames=300, size=128, seed=0):
    boxes = json.load(open(os.path.join(folder, "bboxes.json")))
    names = sorted(boxes)[:frames]
    rng = np.random.default_rng(seed)
    rows = []
    for name in names:
        image = np.asarray(Image.open(os.path.join(folder, "images", name + ".jpg")).convert("RGB"))
        mask = np.asarray(Image.open(os.path.join(folder, "masks", name + ".jpg")).convert("L")) >= 128
        box = boxes[name]["bbox"][0]
        side = int(max(box["xmax"] - box["xmin"], box["ymax"] - box["ymin"]) * 1.25)
        side = min(side, *image.shape[:2])
        cy, cx = (box["ymin"] + box["ymax"]) // 2, (box["xmin"] + box["xmax"]) // 2
        y0 = int(np.clip(cy - side // 2, 0, image.shape[0] - side))
        x0 = int(np.clip(cx - side // 2, 0, image.shape[1] - side))
        found = [("polyp", y0, x0, side)]
        for tried in (side, side // 2):           # the same size, else half of it
            for _ in range(200):
                y = rng.integers(0, image.shape[0] - tried + 1)
                x = rng.integers(0, image.shape[1] - tried + 1)
                if mask[y:y + tried, x:x + tried].mean() < 0.01:
                    found.append(("no_polyp", int(y), int(x), tried))
                    break
            if len(found) == 2:
                break
        for label, y, x, side in found:
            path = os.path.join(label, f"{name}.png")
            os.makedirs(os.path.join(out, label), exist_ok=True)
            Image.fromarray(image[y:y + side, x:x + side]).resize((size, size), Image.BILINEAR) \
                .save(os.path.join(out, path))
            rows.append({"path": path, "label": label, "group": name})
    with open(os.path.join(out, "labels.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, ["path", "label", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kvasir")
    parser.add_argument("out")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    rows = crops(args.kvasir, args.out, frames=args.frames, size=args.size)
    counts = {label: sum(r["label"] == label for r in rows) for label in ("polyp", "no_polyp")}
    print(f"{len(rows)} crops ({counts}) of {args.frames} frames → {args.out}/labels.csv")
