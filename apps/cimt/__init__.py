"""CIMT: carotid intima-media thickness from B-mode ultrasound (Tajbakhsh et al. 2016, §CIMT).

Application D of Tajbakhsh et al., "Convolutional Neural Networks for Medical Image
Analysis: Full Training or Fine Tuning?", IEEE TMI 35(5), 2016: a 3-class CNN
(background, lumen-intima, media-adventitia) applied to every pixel of a region of interest
on the far wall, the row of maximum response per column, two open snakes, and the IMT as
the mean vertical distance between the interfaces times the pixel size.

The application is a plug-in of the core's one pipeline and command line
(:mod:`medkeras.experiment.app`, :mod:`medkeras.experiment.cli`):

* :mod:`apps.cimt.app` — :class:`~apps.cimt.app.CIMTApplication`, the declaration (classes,
  options, data, task, evaluation, the ``measure`` command);
* :mod:`apps.cimt.settings` — :class:`~apps.cimt.settings.CIMTSettings` (field of view,
  patches per case, ROI margin, dense stride) and the stride parser;
* :mod:`apps.cimt.data` — cases (PNG + JSON with the expert's interface points), interface
  rows per column, regions of interest;
* :mod:`apps.cimt.dataset` — the ``carotid_imt`` and ``synthetic_carotid`` dataset builders;
* :mod:`apps.cimt.synthetic` — synthetic B-mode images with known interfaces;
* :mod:`apps.cimt.patches` — balanced 3-class training patches of a field of view in mm;
* :mod:`apps.cimt.measure` — dense confidence, column maxima, snakes, thickness, errors,
  and a handcrafted gradient baseline;
* :mod:`apps.cimt.experiment` — the sweep's task and the evaluation of every trained model;
* :mod:`apps.cimt.measurement` — one image measured with an exported model (``measure``).

The names below are imported on first use (importing :mod:`apps.cimt` stays light):

>>> from apps.cimt import synthetic_case, roi_from_annotations, gradient_baseline
"""

import importlib

_EXPORTS = {
    "data": ("CIMTCase", "check_roi", "interface_rows", "load_case", "load_folder",
             "roi_from_annotations"),
    "measure": ("ConfidenceMaps", "InterfaceError", "Interfaces", "column_maxima",
                "dense_confidence", "gradient_baseline", "interface_error",
                "interfaces_from_confidence", "smooth_interface", "thickness_mm"),
    "patches": ("BACKGROUND", "LUMEN_INTIMA", "MEDIA_ADVENTITIA", "PatchSet",
                "extract_patches", "patch_boxes", "sample_centres", "sample_patches"),
    "synthetic": ("synthetic_case", "synthetic_cases"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
