"""Files written whole or not at all: a temporary file, then one rename.

An interrupted run (a kill, a full disk) leaves either the old file or the new one, never
half of one, so every result medkeras writes can be trusted when it exists.
"""

import json
import os

__all__ = ["save_figure_atomic", "write_bytes_atomic", "write_csv_atomic", "write_json_atomic",
           "write_text_atomic"]


def write_text_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path``; its folder is created."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path, data):
    """Write ``data`` (bytes) to ``path``; its folder is created."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)
    return path


def write_json_atomic(path, value):
    """Write ``value`` as indented JSON to ``path``."""
    return write_text_atomic(path, json.dumps(value, indent=2))


def write_csv_atomic(path, table):
    """Write a pandas table to ``path`` as CSV, without its index."""
    return write_text_atomic(path, table.to_csv(index=False))


def save_figure_atomic(fig, path, **savefig_options):
    """``fig.savefig(path, ...)`` through a temporary file: never half a picture."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    root, suffix = os.path.splitext(os.fspath(path))
    partial = f"{root}.partial{suffix}"        # the suffix tells matplotlib the format
    fig.savefig(partial, **savefig_options)
    os.replace(partial, path)
    return path
