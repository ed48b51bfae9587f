"""Output paths checked before any work: a run that cannot write its result fails at once.

A detection over a whole CT that finds at the end that ``--out`` is a file, or a read-only
folder, has wasted its minutes; :func:`check_output` says so before anything is read.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> check_output(os.path.join(folder, "new", "deeper"))        # creatable: fine
>>> open(os.path.join(folder, "a_file"), "w").close()
>>> check_output(os.path.join(folder, "a_file"))
Traceback (most recent call last):
...
NotADirectoryError: ...a_file: is a file, not a folder; the output must be a folder (give a new or an existing folder)
"""

from __future__ import annotations

import os

__all__ = ["OUTPUT_KINDS", "check_output"]

OUTPUT_KINDS = ("folder", "file")


def check_output(path, *, kind="folder"):
    """Raise an ``OSError`` naming ``path`` unless the output can be written there.

    Parameters
    ----------
    path : path-like
    kind : {"folder", "file"}
        ``folder``: ``path`` is an existing writable folder, or can be created (its nearest
        existing parent is a writable folder).  ``file``: ``path`` is not a folder and its
        folder exists or can be created, writable.
    """
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"kind must be one of {OUTPUT_KINDS}; Received: kind={kind!r}")
    path = os.path.abspath(os.fspath(path))
    if kind == "folder" and os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"{path}: is a file, not a folder; the output must be a "
                                 "folder (give a new or an existing folder)")
    if kind == "file" and os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder; give the path of the file to write")
    folder = path if kind == "folder" else os.path.dirname(path)
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise NotADirectoryError(f"{path}: cannot be created, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: cannot write in {existing} (no write permission, or "
                              "a read-only file system); choose another output")
