"""The one reader (and the owner of the layout) of a sweep directory.

A sweep directory (:func:`medkeras.experiment.sweep.run_sweep`) holds ``config.json``,
``results.csv`` and one folder per cell under ``cells/``, named by :func:`cell_name`; a cell
is finished when its ``cell.json`` exists (written last), and ``test_scores.npz`` holds one
score per test unit (candidate, frame), ``run/result.json`` its training history.  Nothing
but this module reads that layout: applications and reports ask :class:`SweepResults`.

>>> cell_name("FT:only conv10", 0.5, 1)
'ft-only-conv10__f0.5__s1'
>>> cell_label("FT:only conv10", 0.5, 1)
'FT:only conv10 | 0.5 | 1'
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np

__all__ = ["Cell", "SweepResults", "cell_label", "cell_name", "parse_label", "scratch_label"]


def cell_name(scheme, fraction, seed):
    """The folder of a cell under ``cells/``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", scheme).strip("-").lower()
    return f"{slug}__f{fraction:g}__s{seed}"


def cell_label(scheme, fraction, seed):
    """A cell's name in tables and plots: ``"scheme | fraction | seed"``."""
    return f"{scheme} | {fraction:g} | {seed}"


def scratch_label(init):
    """The cell label of ``scratch`` with a given initialisation (``None``: the default)."""
    return "scratch" if init is None else f"scratch ({init})"


def parse_label(label):
    """A cell label → (the model's scheme, the scratch initialisation or None)."""
    if label.startswith("scratch (") and label.endswith(")"):
        return "scratch", label[len("scratch ("):-1]
    return label, None


@dataclasses.dataclass(frozen=True)
class Cell:
    """A finished cell: its record (``cell.json``) and where its files are."""
    scheme: str
    fraction: float
    seed: int
    record: dict
    directory: str

    @property
    def label(self):
        return cell_label(self.scheme, self.fraction, self.seed)

    @property
    def key(self):
        """What identifies a cell: ``{"scheme", "fraction", "seed"}``."""
        return {"scheme": self.scheme, "fraction": self.fraction, "seed": self.seed}

    @property
    def run_dir(self):
        return os.path.join(self.directory, "run")

    @property
    def status(self):
        """``"converged"`` (stopped by patience) or ``"not converged"`` (stopped by the epoch
        cap while still improving).  Cells of older sweeps, which did not record it, are
        judged by their history: converged when the best epoch is ``patience`` epochs or
        more before the last."""
        if self.record.get("status"):
            return self.record["status"]
        try:
            with open(os.path.join(self.run_dir, "result.json")) as f:
                result = json.load(f)
        except OSError:
            return "unknown"
        if "stopped_early" in result:
            return "converged" if result["stopped_early"] else "not converged"
        patience = self.record["patience"]
        waited = result["epochs_run"] - 1 - result["best_epoch"]
        return "converged" if waited >= patience else "not converged"

    def test(self):
        """The arrays of ``test_scores.npz``: ``units``, ``scores``, ``labels``, ``groups``,
        ``val_scores``, ``val_labels``."""
        with np.load(os.path.join(self.directory, "test_scores.npz")) as saved:
            return {key: saved[key] for key in saved.files}

    def history(self):
        """Per epoch: ``epoch``, ``iterations``, ``loss``, ``val_auc``."""
        with open(os.path.join(self.run_dir, "result.json")) as f:
            return json.load(f)["history"]

    def scores_for(self, units):
        """The cell's test scores in the order of ``units``; a ``ValueError`` when the cell
        was not tested on every one of them (a sweep run on other data)."""
        test = self.test()
        by_unit = dict(zip(test["units"].tolist(), test["scores"].tolist()))
        units = np.asarray(units).tolist()
        missing = [u for u in units if u not in by_unit]
        if missing:
            raise ValueError(f"cell {self.label} has no test score for {len(missing)} of "
                             f"{len(units)} test units (e.g. {missing[0]!r}); was the sweep "
                             "run on other data?")
        return np.array([by_unit[u] for u in units], float)


class SweepResults:
    """What a sweep directory holds: its configuration, finished cells and skipped ones.

    ``cells`` (the finished cells with test scores; ``diverged``: those whose training
    diverged) are in report order: scratch (each initialisation), then shallow to deep
    tuning, larger training fractions first, then seeds.
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        path = os.path.join(self.directory, "config.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{self.directory} is not a sweep directory (no "
                                    "config.json)")
        with open(path) as f:
            self.config = json.load(f)
        finished = self._finished_cells()
        #: Every finished cell, in report order, with its scores.
        self.cells = [c for c in finished if c.status != "diverged"]
        #: Cells whose training diverged (no scores): listed, never compared.
        self.diverged = [c for c in finished if c.status == "diverged"]

    @property
    def task(self):
        return self.config["task"]

    @property
    def backbone(self):
        return self.config["sweep"]["backbone"]

    def scheme_order(self):
        """Every cell label a sweep of this backbone can have, scratch first, shallow to
        deep."""
        from medkeras.models import ALL_BACKBONES

        labels = [scratch_label(i) for i in self.config["sweep"]["scratch_inits"]]
        return labels + [s for s in ALL_BACKBONES[self.backbone].scheme_table() if s != "scratch"]

    def _finished_cells(self):
        cells = []
        root = os.path.join(self.directory, "cells")
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else ():
            path = os.path.join(root, name, "cell.json")
            if os.path.exists(path):
                with open(path) as f:
                    record = json.load(f)
                record.setdefault("patience", self.config.get("sweep", {}).get(
                    "train", {}).get("patience", 5))
                cells.append(Cell(record["scheme"], float(record["fraction"]),
                                  int(record["seed"]), record, os.path.dirname(path)))
        order = self.scheme_order()
        rank = {label: i for i, label in enumerate(order)}
        return sorted(cells, key=lambda c: (rank.get(c.scheme, len(order)), -c.fraction,
                                            c.seed))

    @property
    def schemes(self):
        """The schemes of the finished cells, in report order."""
        return list(dict.fromkeys(c.scheme for c in self.cells))

    @property
    def fractions(self):
        return sorted({c.fraction for c in self.cells}, reverse=True)

    @property
    def seeds(self):
        return sorted({c.seed for c in self.cells})

    def cell(self, scheme, fraction, seed):
        """One finished cell, or a ``ValueError`` naming what there is."""
        for c in self.cells:
            if (c.scheme, c.fraction, c.seed) == (scheme, float(fraction), int(seed)):
                return c
        have = ", ".join(c.label for c in self.cells) or "none"
        raise ValueError(f"{self.directory} has no finished cell {scheme!r} (fraction "
                         f"{fraction:g}, seed {seed}); finished: {have}")

    def scores_by_label(self, units):
        """``{cell label: test scores in the order of units}`` of every finished cell."""
        return {c.label: c.scores_for(units) for c in self.cells}

    def skipped(self):
        """``[(scheme, reason)]`` of the cells the last sweep run skipped (``results.csv``)."""
        import pandas as pd

        path = os.path.join(self.directory, "results.csv")
        if not os.path.exists(path):
            return []
        table = pd.read_csv(path)
        if "note" not in table:
            return []
        notes = table["note"].fillna("")
        return [(s, n[len("skipped: "):]) for s, n in zip(table["scheme"], notes)
                if n.startswith("skipped")]
