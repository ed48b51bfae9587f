"""Your own labelled images: a folder per class, a ``labels.csv``, or BreakHis.

Three layouts, read strictly (every problem names its file; nothing is dropped without
being listed):

* **class folders**: ``<data>/<class>/<image>``; an image may lie one folder deeper,
  ``<data>/<class>/<group>/<image>``, and that folder is its group (patient, slide, video);
  an image directly in its class folder is a group of its own;
* **labels.csv**: ``path,label[,group]``, paths relative to the file's folder;
* **BreakHis** (Spanhol et al., IEEE TBME 63(7), 2016): file names such as
  ``SOB_M_DC-14-2523-400-001.png`` give the class (``B`` benign, ``M`` malignant), the
  tumour type, the patient (``14-2523``: the group) and the magnification (``400``); an
  optional magnification filter keeps one.

Images: PNG, JPEG, TIFF or BMP, 8- or 16-bit, grey or colour, any size, read by
:func:`medkeras.io.images.read_image`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

import numpy as np

from medkeras.io.files import (IMAGE_EXTENSIONS, Problems, is_ignored, link_out_of, outside,
                               read_csv, require_folder)

__all__ = ["LAYOUTS", "LabelledImages", "breakhis_name", "read_labelled"]

LAYOUTS = ("folders", "csv", "breakhis")
BREAKHIS = re.compile(r"SOB_(?P<kind>[BM])_(?P<type>[A-Z]+)-(?P<patient>\d+-\w+?)-"
                      r"(?P<magnification>\d+)-(?P<index>\d+)$")


@dataclasses.dataclass
class LabelledImages:
    """``paths`` with integer ``labels`` into ``classes`` and their ``groups``; ``left_out``
    lists what was seen and not used, with why (``(path, reason)``)."""
    paths: list
    labels: np.ndarray
    classes: tuple
    groups: np.ndarray
    left_out: list = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.paths)

    def counts(self):
        """Images per class, by class name."""
        return {name: int((self.labels == i).sum()) for i, name in enumerate(self.classes)}


def breakhis_name(path):
    """The parts of a BreakHis file name, or ``None``.

    >>> breakhis_name("SOB_M_DC-14-2523-400-001.png")["patient"]
    '14-2523'
    >>> breakhis_name("SOB_B_TA-14-16184CD-100-012.png")["magnification"]
    '100'
    """
    match = BREAKHIS.match(pathlib.Path(path).stem)
    return match.groupdict() if match else None


def read_labelled(folder, *, layout=None, magnification=None):
    """The labelled images of ``folder`` (see the module's documentation).

    Parameters
    ----------
    folder : path-like
    layout : {"folders", "csv", "breakhis"} or None
        None: ``csv`` when the folder holds a ``labels.csv``, else ``breakhis`` when every
        image is named like BreakHis's, else ``folders``.
    magnification : str or int, optional
        BreakHis only: keep this magnification (``40``, ``100``, ``200``, ``400``).

    Returns
    -------
    LabelledImages

    Raises
    ------
    DatasetFolderError
        Listing every problem: unknown files, missing images, fewer than two classes.
    """
    folder = require_folder(folder, "labelled images: one folder per class, or labels.csv")
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}; Received: layout={layout!r}")
    if magnification is not None and layout not in (None, "breakhis"):
        raise ValueError("magnification filters BreakHis images only")
    if layout is None:
        layout = "csv" if (folder / "labels.csv").is_file() else (
            "breakhis" if _all_breakhis(folder) else "folders")
    problems = Problems(folder)
    if layout == "csv":
        entries = _from_csv(folder, problems)
    elif layout == "breakhis":
        entries = _from_breakhis(folder, problems)
    else:
        entries = _from_class_folders(folder, problems)
    left_out = []
    if magnification is not None:
        wanted = str(magnification)
        kept = [e for e in entries if e[3] == wanted]
        left_out = [(str(e[0]), f"magnification {e[3]}, not {wanted}") for e in entries
                    if e[3] != wanted]
        entries = kept
    classes = tuple(sorted({label for _, label, _, _ in entries}))
    if len(classes) < 2 and not problems:
        problems.add(f"{len(classes)} class{'es' * (len(classes) != 1)} found "
                     f"({', '.join(classes) or 'none'}): at least two are needed")
    problems.raise_if_any()
    entries.sort(key=lambda e: str(e[0]))
    return LabelledImages(paths=[e[0] for e in entries],
                          labels=np.array([classes.index(e[1]) for e in entries], np.int64),
                          classes=classes, groups=np.array([e[2] for e in entries]),
                          left_out=left_out)


def _images_under(folder, problems, *, depth, root):
    """Image files under ``folder`` down to ``depth`` folders; anything else a problem."""
    found = []
    for path in sorted(folder.iterdir()):
        if is_ignored(path):
            continue
        if outside(root, path):
            problems.add(link_out_of(root, path))
        elif path.is_dir():
            if depth > 0:
                found += _images_under(path, problems, depth=depth - 1, root=root)
            else:
                problems.add(f"{path}: a folder too deep (images lie in <class>/ or "
                             "<class>/<group>/)")
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append(path)
        else:
            problems.add(f"{path}: not an image (expected one of {', '.join(IMAGE_EXTENSIONS)})")
    return found


def _from_class_folders(folder, problems):
    entries = []
    for class_folder in sorted(p for p in folder.iterdir() if not is_ignored(p)):
        if not class_folder.is_dir():
            problems.add(f"{class_folder}: a file beside the class folders (expected "
                         "<class>/<image>, or a labels.csv)")
            continue
        images = _images_under(class_folder, problems, depth=1, root=folder)
        if not images:
            problems.add(f"{class_folder}: no images in this class folder")
        for path in images:
            group = (path.parent.relative_to(folder).as_posix() if path.parent != class_folder
                     else path.relative_to(folder).as_posix())
            entries.append((path, class_folder.name, group, None))
    return entries


def _from_csv(folder, problems):
    table = folder / "labels.csv"
    entries, seen = [], {}
    for line, row in read_csv(table, required=("path", "label"), optional=("group",)):
        path = (folder / row["path"]).resolve()
        where = f"{table}, line {line}"
        if folder.resolve() not in path.parents:
            problems.add(f"{where}: {row['path']} lies outside {folder}")
        elif not path.is_file():
            problems.add(f"{where}: no file {row['path']}")
        elif path.suffix.lower() not in IMAGE_EXTENSIONS:
            problems.add(f"{where}: {row['path']} is not an image")
        elif path in seen:
            problems.add(f"{where}: {row['path']} is listed twice (line {seen[path]} too)")
        else:
            seen[path] = line
            entries.append((path, row["label"], row.get("group") or row["path"], None))
    return entries


def _all_breakhis(folder):
    names = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS]
    return bool(names) and all(breakhis_name(p) for p in names)


def _from_breakhis(folder, problems):
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not is_ignored(p)):
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue                               # BreakHis ships text files beside its images
        if outside(folder, path):
            problems.add(link_out_of(folder, path))
            continue
        parts = breakhis_name(path)
        if parts is None:
            problems.add(f"{path}: not a BreakHis name (SOB_<B|M>_<type>-<patient>-<mag>-<n>)")
            continue
        label = "malignant" if parts["kind"] == "M" else "benign"
        entries.append((path, label, parts["patient"], parts["magnification"]))
    return entries
