"""A labelled informative / non-informative folder made from a folder of informative frames.

Public polyp datasets (Kvasir-SEG, CVC-ClinicDB) hold informative frames only.
:func:`generate_labelled_folder` pairs each with non-informative twins made from it by
:func:`apps.frames.degrade.degrade` and writes a folder that the ``colonoscopy_frames``
builder reads (:mod:`apps.frames.dataset`)::

    out/
      images/informative/<stem>.jpg              the originals, re-encoded as the twins
      images/non_informative/<stem>_<j>_<kind>.jpg   the twins (PNG for non-JPEG sources)
      labels.csv          path,label,video,kind (colonoscopy_frames reads it)
      degradations.csv    path,source,kind,severity (how each twin was made)
      generation.json     the settings (a resumed run must use the same)

A frame and its twins share the ``video`` (the source file's stem), so splits by group keep
them together.  Originals and twins go through the same decoding and encoding (JPEG at
quality 95 for JPEG sources, PNG otherwise): both classes then carry the same compression
history (a byte copy of a JPEG original beside re-encoded twins would let a CNN tell the
label from double-compression traces), and the file format does not tell the label.  ``severity`` is in its own file because
``colonoscopy_frames`` accepts only the columns ``path,label,video,kind`` in
``labels.csv``.

Reproducible and resumable: everything random about a frame's twins follows from ``seed``
and the frame's file stem (``numpy.random.default_rng([seed, <hash of the stem>, j])``), so
a second run writes identical files; files are written under a temporary name and renamed
(an interrupted run leaves no partial file), files already present are kept, and the CSV
files are written (atomically) at the end.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import numbers
import os
import pathlib
from typing import NamedTuple

import numpy as np

from .degrade import check_kinds, degrade, draw_degradation
from medkeras.io.files import (DatasetFolderError, Problems, image_files, image_header,
                               require_folder)

__all__ = ["GeneratedFolder", "JPEG_QUALITY", "generate_labelled_folder"]

#: Quality of the non-informative twins saved as JPEG (for JPEG sources).
JPEG_QUALITY = 95
_FORMAT_VERSION = 1


class GeneratedFolder(NamedTuple):
    """What :func:`generate_labelled_folder` did.

    ``folder``: the output folder (pass it to ``colonoscopy_frames`` as ``manual_dir``);
    ``informative``, ``non_informative``: frames listed in ``labels.csv``; ``written``:
    image files written by this call; ``kept``: files already present and kept.
    """
    folder: pathlib.Path
    informative: int
    non_informative: int
    written: int
    kept: int


def _stem_key(stem):
    """A stable 64-bit integer of a file stem (Python's ``hash`` changes between runs)."""
    return int.from_bytes(hashlib.sha256(stem.encode("utf-8")).digest()[:8], "little")


def _write_atomically(path, data):
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _csv_bytes(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _read_rgb(path):
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except Exception as err:  # PIL raises many types
        raise DatasetFolderError(f"{path}: unreadable image ({type(err).__name__}: {err})"
                                 ) from None


def _encoded(image, suffix):
    from PIL import Image

    buffer = io.BytesIO()
    if suffix == ".jpg":
        Image.fromarray(image).save(buffer, "JPEG", quality=JPEG_QUALITY)
    else:
        Image.fromarray(image).save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def _check_settings(out_dir, settings):
    path = out_dir / "generation.json"
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read it ({err}); remove it or use another "
                             f"output folder") from None
        if previous != settings:
            raise ValueError(f"{out_dir} was generated with other settings ({previous}); "
                             f"use another output folder or the same settings ({settings})")
    else:
        _write_atomically(path, (json.dumps(settings, indent=2) + "\n").encode("utf-8"))


def generate_labelled_folder(informative_dir, out_dir, *, seed=0, degraded_per_frame=1,
                             kinds=None, progress=True):
    """Write a labelled folder: informative frames and non-informative twins made from them.

    Parameters
    ----------
    informative_dir : path-like
        A folder of informative frames (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.tif``,
        ``.tiff``) directly in it, e.g. Kvasir-SEG's ``images/``.  Hidden files are
        ignored; a sub-folder or another file is an error.
    out_dir : path-like
        Where to write (created if missing; not inside ``informative_dir``).
    seed : int >= 0
        Seed of everything random.
    degraded_per_frame : int >= 1
        Non-informative twins of each frame.  Their kinds are drawn without replacement
        from ``kinds`` (with replacement when more twins than kinds are asked for), their
        severities from :data:`apps.frames.degrade.NON_INFORMATIVE_SEVERITY`.
    kinds : sequence of str, optional
        Degradations to use; default all of :data:`apps.frames.degrade.KINDS`.
    progress : bool
        Show a ``tqdm`` progress bar.

    Returns
    -------
    GeneratedFolder

    Raises
    ------
    ValueError
        (:class:`~medkeras.datasets.DatasetFolderError` for the folder) a missing or empty
        ``informative_dir``, a sub-folder or non-image file in it, an unreadable image
        (named), an ``out_dir`` inside it, bad arguments, or an ``out_dir`` generated
        before with other settings.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from apps.polyp.synthetic import synthetic_frame
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "frames").mkdir()
    >>> Image.fromarray(synthetic_frame(seed=0, shape=(64, 80)).image).save(
    ...     root / "frames" / "a.png")
    >>> done = generate_labelled_folder(root / "frames", root / "out", progress=False)
    >>> done.informative, done.non_informative, done.written
    (1, 1, 2)
    >>> (root / "out" / "labels.csv").read_text().splitlines()[:2]
    ['path,label,video,kind', 'images/informative/a.png,informative,a,']
    """
    from tqdm.auto import tqdm

    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(degraded_per_frame, bool) or not isinstance(degraded_per_frame,
                                                              numbers.Integral) \
            or degraded_per_frame < 1:
        raise ValueError(f"degraded_per_frame must be an integer >= 1, got "
                         f"{degraded_per_frame!r}")
    kinds = check_kinds(kinds)
    source = require_folder(pathlib.Path(informative_dir).expanduser(),
                            "a folder of informative frames").resolve()
    out_dir = pathlib.Path(out_dir).expanduser().resolve()
    if out_dir == source or source in out_dir.parents:
        raise ValueError(f"out_dir {out_dir} must not be inside the informative folder "
                         f"{source}")
    problems = Problems(source)
    frames = image_files(source, problems=problems)
    problems.raise_if_any()
    if not frames:
        raise DatasetFolderError(f"{source}: no images (.jpg, .jpeg, .png, .bmp, .tif, "
                                 f".tiff) in it")
    formats = {}
    for stem, path in frames.items():
        try:
            formats[stem] = image_header(path).format
        except DatasetFolderError as err:
            problems.add(err)
    problems.raise_if_any()

    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, {"format": _FORMAT_VERSION, "seed": int(seed),
                              "degraded_per_frame": int(degraded_per_frame),
                              "kinds": list(kinds)})
    for sub in ("informative", "non_informative"):
        (out_dir / "images" / sub).mkdir(parents=True, exist_ok=True)

    labels, details = [], []
    written = kept = 0
    bar = tqdm(frames.items(), total=len(frames), desc="non-informative twins",
               unit="frame", disable=not progress)
    for stem, path in bar:
        suffix = ".jpg" if formats[stem] == "JPEG" else ".png"
        original = pathlib.PurePosixPath("images", "informative", f"{stem}{suffix}")
        target = out_dir / original
        image = None
        if target.is_file():          # written atomically: a present file is complete
            kept += 1
        else:
            image = _read_rgb(path)
            _write_atomically(target, _encoded(image, target.suffix))
            written += 1
        labels.append((original.as_posix(), "informative", stem, ""))

        key = _stem_key(stem)
        chosen = np.random.default_rng([seed, key, 0]).choice(
            len(kinds), size=degraded_per_frame, replace=degraded_per_frame > len(kinds))
        for j, choice in enumerate(chosen, start=1):
            rng = np.random.default_rng([seed, key, j])
            kind, severity = draw_degradation(rng, kind=kinds[int(choice)])
            twin = pathlib.PurePosixPath("images", "non_informative",
                                         f"{stem}_{j}_{kind}{suffix}")
            if (out_dir / twin).is_file():
                kept += 1
            else:
                if image is None:
                    image = _read_rgb(path)
                    if min(image.shape[:2]) < 16:
                        raise DatasetFolderError(f"{path}: {image.shape[1]}×{image.shape[0]}"
                                                 f" pixels, too small (at least 16×16)")
                # The same generator, after the draws above: what degrade would draw.
                degraded = degrade(image, kind=kind, severity=severity, rng=rng)
                _write_atomically(out_dir / twin, _encoded(degraded.image, suffix))
                written += 1
            labels.append((twin.as_posix(), "non_informative", stem, kind))
            details.append((twin.as_posix(), original.as_posix(), kind, f"{severity:.6f}"))
    bar.close()

    _write_atomically(out_dir / "degradations.csv",
                      _csv_bytes(("path", "source", "kind", "severity"), sorted(details)))
    _write_atomically(out_dir / "labels.csv",
                      _csv_bytes(("path", "label", "video", "kind"), sorted(labels)))
    return GeneratedFolder(out_dir, len(frames), len(details), written, kept)
