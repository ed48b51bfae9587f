"""Reading a user's folder strictly: each problem is a :class:`DatasetFolderError` naming a file.

The builders of :mod:`medkeras.datasets` read folders that users bring (Kvasir-SEG,
CVC-ClinicDB, labelled frames...).  A folder with a missing, unreadable or mismatched file
must stop the preparation with a message saying which file and what is wrong, never yield a
dataset with an example silently dropped or wrong.  These helpers do the checks once, the
same way for every builder:

* :func:`image_files` lists the images of a folder (hidden files are ignored; any other
  file or a sub-folder is an error: it is probably a misplaced example);
* :func:`image_header` opens an image's header only (size, pixel format: cheap, used while
  scanning); :func:`image_value` and :func:`read_mask` decode it fully (used while writing
  the examples, so a truncated file is caught too);
* :func:`read_csv` and :func:`read_json` parse a side file with clear errors;
* :class:`Problems` collects the problems of a scan and raises them together, so that a user
  fixes the whole folder at once rather than one file per run.

>>> problems = Problems("/data/kvasir")
>>> problems.add("images/a.jpg: no mask masks/a.*")
>>> problems.add("masks/b.jpg: no image images/b.*")
>>> problems.raise_if_any()
Traceback (most recent call last):
...
medkeras.io.files.DatasetFolderError: /data/kvasir: 2 problems, nothing was prepared:
  - images/a.jpg: no mask masks/a.*
  - masks/b.jpg: no image images/b.*
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
from typing import NamedTuple

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: Files a folder may hold besides its examples: hidden files and the OS's thumbnails.
IGNORED_NAMES = ("Thumbs.db", "desktop.ini")
#: PIL pixel formats that hold 8-bit colour or grey levels (others: 16-bit, float, ...).
EIGHT_BIT_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr")
#: Stored as they are (no re-encoding) when the file is one of these formats and modes;
#: TensorFlow decodes them to the same pixels as PIL.
PASSTHROUGH = {"JPEG": ("RGB", "L"), "PNG": ("RGB", "L")}
MAX_LISTED_PROBLEMS = 10


class DatasetFolderError(ValueError):
    """A source folder cannot be prepared; the message names the file or folder and why."""


class Problems:
    """The problems found while scanning ``folder``; :meth:`raise_if_any` raises them as one.

    Parameters
    ----------
    folder : path-like
        Named at the start of the message.
    """

    def __init__(self, folder):
        self.folder = folder
        self.messages = []

    def add(self, message):
        self.messages.append(str(message))

    def __bool__(self):
        return bool(self.messages)

    def raise_if_any(self):
        """Raise :class:`DatasetFolderError` listing the problems (the first ten), if any."""
        if not self.messages:
            return
        count = len(self.messages)
        shown = self.messages[:MAX_LISTED_PROBLEMS]
        more = (f"\n  (and {count - len(shown)} more)" if count > len(shown) else "")
        lines = "\n".join(f"  - {message}" for message in shown)
        raise DatasetFolderError(f"{self.folder}: {count} problem{'s' * (count > 1)}, "
                                 f"nothing was prepared:\n{lines}{more}")


def is_ignored(path):
    """Hidden files (``.DS_Store``, ``._x.jpg``) and OS thumbnail caches."""
    return path.name.startswith(".") or path.name in IGNORED_NAMES


def outside(folder, path):
    """True when ``path`` (after following symbolic links) lies outside ``folder``."""
    root = pathlib.Path(folder).resolve()
    resolved = pathlib.Path(path).resolve()
    return resolved != root and root not in resolved.parents


def refuse_links_out_of(folder, paths, problems=None):
    """A :class:`DatasetFolderError` (or problems added) for each of ``paths`` that is a
    symbolic link leading out of ``folder``: data is read only from the folder given, so
    that what was checked and recorded is what was used."""
    own = problems is None
    problems = Problems(folder) if own else problems
    for path in paths:
        if outside(folder, path):
            problems.add(link_out_of(folder, path))
    if own:
        problems.raise_if_any()


def file_identity(path, *, chunk=1 << 20):
    """What identifies a file's content cheaply: its size and a SHA-256 of its first and
    last ``chunk`` bytes (a different video written to the same path differs in both).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> _ = open(path, "wb").write(b"abc")
    >>> file_identity(path)["bytes"]
    3
    """
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        digest.update(f.read(chunk))
        size = os.fstat(f.fileno()).st_size
        if size > chunk:
            f.seek(max(chunk, size - chunk))
            digest.update(f.read(chunk))
    return {"bytes": int(size), "sha256_head_tail": digest.hexdigest()}


def require_folder(path, what):
    """``path`` as a :class:`pathlib.Path` if it is a folder, else :class:`DatasetFolderError`."""
    path = pathlib.Path(path)
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "is missing"
        raise DatasetFolderError(f"{path}: {state} (expected {what})")
    return path


def image_files(folder, *, extensions=IMAGE_EXTENSIONS, problems=None):
    """The image files directly in ``folder``, by stem (file name without extension).

    Parameters
    ----------
    folder : pathlib.Path
    extensions : tuple of str
        Lower-case suffixes accepted (the comparison ignores case).
    problems : Problems, optional
        Where to report a sub-folder, a non-image file or two images with one stem; by
        default they raise at once.

    Returns
    -------
    dict
        ``{stem: path}``, sorted by stem.
    """
    own = problems is None
    problems = Problems(folder) if own else problems
    found = {}
    for path in sorted(pathlib.Path(folder).iterdir()):
        if is_ignored(path):
            continue
        if outside(folder, path):
            problems.add(link_out_of(folder, path))
        elif path.is_dir():
            problems.add(f"{path}: unexpected sub-folder (images must lie directly in {folder})")
        elif path.suffix.lower() not in extensions:
            problems.add(f"{path}: not an image (expected one of {', '.join(extensions)})")
        elif path.stem in found:
            problems.add(f"{path}: two images named {path.stem} ({found[path.stem].name} too)")
        else:
            found[path.stem] = path
    if own:
        problems.raise_if_any()
    return dict(sorted(found.items()))


class ImageHeader(NamedTuple):
    """What an image file says about itself without decoding its pixels."""
    width: int
    height: int
    mode: str
    format: str


def image_header(path):
    """Size and pixel format of an image file (header only: cheap).

    Raises
    ------
    DatasetFolderError
        The file cannot be opened as an image, or holds 16-bit/float pixels.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            header = ImageHeader(image.width, image.height, image.mode, image.format or "")
    except Exception as err:  # PIL raises many types (OSError, SyntaxError, ValueError...)
        raise DatasetFolderError(f"{path}: unreadable image ({type(err).__name__}: {err})"
                                 ) from None
    if header.mode not in EIGHT_BIT_MODES:
        raise DatasetFolderError(f"{path}: pixel format {header.mode!r} is not 8-bit "
                                 f"grey or colour; convert the file to 8 bits")
    if header.width < 1 or header.height < 1:
        raise DatasetFolderError(f"{path}: empty image ({header.width}×{header.height})")
    return header


def _decoded(path, data):
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        image.load()  # the whole file: catches truncated and corrupt data
    except Exception as err:
        raise DatasetFolderError(f"{path}: unreadable image ({type(err).__name__}: {err})"
                                 ) from None
    return image


def image_value(path):
    """An image as a value for ``tfds.features.Image(shape=(None, None, 3))``, fully checked.

    The whole file is decoded (a truncated or corrupt file raises here, naming it).  An 8-bit
    RGB or grey JPEG or PNG is then returned as the file's own bytes, stored as they are
    (no re-encoding loss; TensorFlow decodes them to the same pixels, grey to RGB);
    anything else (TIFF, BMP, palette, CMYK, with alpha) converted to RGB and encoded as
    PNG (lossless).

    Returns
    -------
    bytes
        JPEG or PNG.
    """
    data = pathlib.Path(path).read_bytes()
    image = _decoded(path, data)
    if image.mode in PASSTHROUGH.get(image.format, ()):
        return data
    return png_bytes(np.asarray(image.convert("RGB")))


def read_mask(path, threshold=128):
    """A mask file as a boolean array: grey level (ITU-R 601 luma of RGB) ≥ ``threshold``.

    JPEG masks (Kvasir-SEG) are not exactly binary: compression rings around the edges; the
    threshold at the middle grey level removes the ringing.

    Returns
    -------
    (H, W) bool ndarray
    """
    image = _decoded(path, pathlib.Path(path).read_bytes())
    return np.asarray(image.convert("L")) >= threshold


def png_bytes(array, compress_level=1):
    """``array`` (``uint8``, (H, W) or (H, W, C)) as PNG bytes, for a tfds ``Image`` feature.

    PIL at compression level 1 writes 3× faster than tfds' own encoder (TensorFlow's
    ``encode_png``) and the file decodes faster too; masks stay a few kB.
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, "PNG",
                                                       compress_level=compress_level)
    return buffer.getvalue()


def read_csv(path, *, required, optional=()):
    """Rows of a CSV file with a header line, as dicts of stripped strings.

    Parameters
    ----------
    path : pathlib.Path
    required, optional : sequence of str
        Column names; other columns are an error (probably a typo of one of these).

    Returns
    -------
    list of (line number, dict)
        Line numbers count from 1 at the header, as an editor shows them.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [name.strip() for name in (reader.fieldnames or [])]
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DatasetFolderError(f"{path}: cannot read it ({type(err).__name__}: {err})"
                                 ) from None
    missing = [name for name in required if name not in columns]
    unknown = [name for name in columns if name not in (*required, *optional)]
    if missing or unknown:
        raise DatasetFolderError(
            f"{path}: the header must name the columns {','.join(required)}"
            + (f" (optionally {','.join(optional)})" if optional else "")
            + f"; found {','.join(columns) or 'none'}")
    result = []
    for line, row in rows:
        if None in row:  # more fields than columns
            raise DatasetFolderError(f"{path}, line {line}: more fields than columns")
        values = {name.strip(): (value or "").strip() for name, value in row.items()}
        if any(values.get(name, "") == "" for name in required):
            raise DatasetFolderError(f"{path}, line {line}: empty "
                                     f"{', '.join(n for n in required if not values.get(n))}")
        result.append((line, values))
    return result


def read_group_table(path, names, *, group_column="group", noun="case", complete=False,
                     problems=None):
    """``{name: group}`` from a table ``name,<group_column>`` (a patient per case).

    Every row must name one of ``names`` (a file name is matched by its stem too), once: a
    typo would leave a case in a group of its own and could split a patient across the
    training and test splits.  ``complete``: every one of ``names`` must be listed.
    ``noun`` names what a row lists ("case", "frame") in messages.  Problems go to
    ``problems`` (default: raised at once, together).
    """
    own = problems is None
    problems = Problems(path) if own else problems
    groups = {}
    for line, row in read_csv(path, required=("name", group_column)):
        name = row["name"]
        key = name if name in names else pathlib.PurePath(name).stem
        if key not in names:
            problems.add(f"{path}, line {line}: {name!r} is not a {noun} of "
                         f"{pathlib.Path(path).parent}")
        elif key in groups:
            problems.add(f"{path}, line {line}: {name!r} is listed twice")
        else:
            groups[key] = row[group_column]
    missing = [name for name in names if name not in groups]
    if complete and missing:
        problems.add(f"{path}: no {group_column} for {len(missing)} {noun}(s): "
                     f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if own:
        problems.raise_if_any()
    return groups


def link_out_of(folder, path):
    """The problem of ``path``, a symbolic link leading out of ``folder`` (:func:`outside`
    says which are): data is read only from the folder given, so that what was checked and
    recorded is what was used."""
    return (f"{path}: a symbolic link to {pathlib.Path(path).resolve()}, outside {folder}; "
            "copy the file into the folder instead")


def read_json(path):
    """The parsed content of a JSON file, or :class:`DatasetFolderError` naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetFolderError(f"{path}: cannot read it as JSON ({err})") from None
