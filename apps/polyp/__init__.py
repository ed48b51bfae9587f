"""Polyp detection in colonoscopy frames (Tajbakhsh et al. 2016, §A), a plug-in of medkeras.

* :mod:`.app` — :class:`PolypApplication`, the application declared to the core
  (:mod:`medkeras.experiment.app`): data, settings, flags, hooks and its own commands;
  ``python -m apps.polyp`` (:mod:`.__main__`) is the core's command line built from it;
* :mod:`.settings` — :class:`PolypSettings`: candidates per frame, working width,
  augmentation, training-set size;
* :mod:`.candidates` — the handcrafted candidate detector and the hit criterion;
* :mod:`.experiment` — frames, candidate tables, patches, the sweep's task and the FROC
  evaluation (:func:`evaluate_polyp`);
* :mod:`.detect` — an exported model on an image, a folder or a video;
* :mod:`.dataset`, :mod:`.synthetic` — the ``kvasir_seg``, ``cvc_clinicdb`` and
  ``synthetic_polyps`` datasets.

Importing the package loads nothing heavy; the names below are imported on first use.
"""

import importlib

_LAZY = {"PolypApplication": ".app", "PolypSettings": ".settings"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
