"""Score a colonoscopy video's frames for informativeness with an exported model.

Every ``every``-th frame is resized to the model's working size, its random crops (the
same positions for every frame, as at test time) go through the CNN and the frame's
informativeness is the mean probability.  The video is streamed: frames are decoded and
scored a few at a time, and each scored frame is appended to the CSV at once, so memory does
not depend on the video's length and an interrupted run resumes where it stopped.

Written to ``OUT``:

* ``informativeness.csv``: ``frame`` (index), ``time_s``, ``informativeness`` (0–1),
  ``informative`` (informativeness ≥ threshold);
* ``summary.json``: the quality score (the fraction of informative frames), the numbers
  of frames, the threshold, the model and its settings;
* ``informativeness.png``: informativeness over time, with the threshold and a running
  mean.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pandas as pd

from medkeras.inference import inference_function

__all__ = ["score_video"]

COLUMNS = ["frame", "time_s", "informativeness", "informative"]


def _done(csv_path):
    """Rows already scored by an interrupted run (an empty table if none)."""
    if not csv_path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    table = pd.read_csv(csv_path)
    if list(table.columns) != COLUMNS:
        raise ValueError(f"{csv_path} exists and is not a scoring of this tool; use another "
                         "--out or remove it")
    return table


def _score_chunk(model, images, offsets):
    from .experiment import frame_crops

    crops = np.concatenate([frame_crops(image, offsets) for image in images])
    probabilities = inference_function(model)(crops)[:, 1]
    return probabilities.reshape(len(images), len(offsets)).mean(axis=1)


def score_video(video, *, model_dir, out, every=1, threshold=0.5, chunk=8, progress=True):
    """Score ``video``'s frames; returns the summary (also ``OUT/summary.json``)."""
    from tqdm.auto import tqdm

    from .experiment import crop_offsets, resize_frame
    from .settings import FrameSettings
    from medkeras.atomic import write_json_atomic
    from medkeras.checks import integer_at_least
    from medkeras.data.prefetch import prefetched
    from medkeras.export import load_exported
    from medkeras.io.files import file_identity
    from medkeras.io.video import is_video, iter_frames, video_info

    every, chunk = integer_at_least(every, "every"), integer_at_least(chunk, "chunk")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
    if not (os.path.isfile(video) and is_video(video)):
        raise ValueError(f"{video}: not a video file")
    model, info = load_exported(model_dir, application="frames", settings=FrameSettings)
    settings = info["settings"]
    offsets = crop_offsets(settings.test_crops, settings, [settings.seed, 1, 0])
    count, fps = video_info(video)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "informativeness.csv"
    from medkeras.experiment.runner import record_or_check
    record_or_check(str(out / "scoring.json"),
                    {"video": os.path.abspath(video), "video_content": file_identity(video),
                     "model": os.path.abspath(model_dir),
                     "model_content": file_identity(os.path.join(model_dir, "model.keras")),
                     "every": every, "threshold": threshold},
                    mismatch=f"{out} holds the scoring of another video, model or options; "
                             "use another --out or remove it")
    done = _done(csv_path)
    start = int(done.frame.max()) + 1 if len(done) else 0
    if not len(done):
        pd.DataFrame(columns=COLUMNS).to_csv(csv_path, index=False)
    total = len(range(0, count, every)) if count else None
    bar = tqdm(total=total, initial=len(done), desc="score", unit="frame",
               disable=not progress)
    batch_index, batch_images = [], []

    def flush():
        scores = _score_chunk(model, batch_images, offsets)
        rows = pd.DataFrame({
            "frame": batch_index,
            "time_s": np.round(np.array(batch_index) / fps, 3) if fps else np.nan,
            "informativeness": np.round(scores, 4),
            "informative": scores >= threshold})
        rows.to_csv(csv_path, mode="a", header=False, index=False)
        bar.update(len(batch_index))
        batch_index.clear()
        batch_images.clear()

    frames = ((name, resize_frame(image, settings))       # decoded while the last scores
              for _, name, image in iter_frames(video, every=every, start=start))
    for name, image in prefetched(frames, depth=chunk):
        batch_index.append(int(name[len("frame"):]))
        batch_images.append(image)
        if len(batch_images) == chunk:
            flush()
    if batch_images:
        flush()
    bar.close()
    table = pd.read_csv(csv_path)
    summary = {"video": str(video), "model": str(model_dir), "threshold": threshold,
               "every": every, "frames_scored": int(len(table)),
               "informative_frames": int(table.informative.sum()),
               "quality_score": float(table.informative.mean()) if len(table) else float("nan"),
               "mean_informativeness": float(table.informativeness.mean())
               if len(table) else float("nan"),
               "frames_per_second": fps, "settings": settings.to_json()}
    write_json_atomic(out / "summary.json", summary)
    plot_informativeness(table, out / "informativeness.png", threshold=threshold,
                         title=f"{os.path.basename(video)}: quality score "
                               f"{summary['quality_score']:.2f}")
    return summary


def plot_informativeness(table, path, *, threshold=0.5, title=""):
    """Informativeness of each frame over time, the threshold and a running mean."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medkeras.atomic import save_figure_atomic

    x = table.time_s if table.time_s.notna().all() else table.frame
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.plot(x, table.informativeness, lw=0.6, color="0.6", label="frame")
    window = max(1, len(table) // 50)
    ax.plot(x, table.informativeness.rolling(window, center=True, min_periods=1).mean(),
            lw=1.6, color="tab:blue", label=f"running mean ({window} frames)")
    ax.axhline(threshold, color="tab:red", ls="--", lw=1, label="threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)" if x is table.time_s else "frame")
    ax.set_ylabel("informativeness")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=120)
    plt.close(fig)
