"""CIMT: carotid intima-media thickness from B-mode ultrasound (Tajbakhsh et al. 2016, §CIMT).

Application D of Tajbakhsh et al., "Convolutional Neural Networks for Medical Image
Analysis: Full Training or Fine Tuning?", IEEE TMI 35(5), 2016: a 3-class CNN
(background, lumen-intima, media-adventitia) applied to every pixel of a region of interest
on the far wall, the row of maximum response per column, two open snakes, and the IMT as
the mean vertical distance between the interfaces times the pixel size.

* :mod:`apps.cimt.data` — cases (PNG + JSON with the expert's interface points), interface
  rows per column, regions of interest;
* :mod:`apps.cimt.synthetic` — synthetic B-mode images with known interfaces;
* :mod:`apps.cimt.patches` — balanced 3-class training patches of a field of view in mm;
* :mod:`apps.cimt.measure` — dense confidence, column maxima, snakes, thickness, errors,
  and a handcrafted gradient baseline.

>>> from apps.cimt import synthetic_case, roi_from_annotations, gradient_baseline
"""

from apps.cimt.data import (CIMTCase, check_roi, interface_rows, load_case, load_folder,
                            roi_from_annotations)
from apps.cimt.measure import (ConfidenceMaps, InterfaceError, Interfaces, column_maxima,
                               dense_confidence, gradient_baseline, interface_error,
                               interfaces_from_confidence, smooth_interface, thickness_mm)
from apps.cimt.patches import (BACKGROUND, LUMEN_INTIMA, MEDIA_ADVENTITIA, PatchSet,
                               extract_patches, patch_boxes, sample_centres, sample_patches)
from apps.cimt.synthetic import synthetic_case, synthetic_cases

__all__ = ["BACKGROUND", "CIMTCase", "ConfidenceMaps", "InterfaceError", "Interfaces",
           "LUMEN_INTIMA", "MEDIA_ADVENTITIA", "PatchSet", "check_roi", "column_maxima",
           "dense_confidence", "extract_patches", "gradient_baseline", "interface_error",
           "interface_rows", "interfaces_from_confidence", "load_case", "load_folder",
           "patch_boxes", "roi_from_annotations", "sample_centres", "sample_patches",
           "smooth_interface", "synthetic_case", "synthetic_cases", "thickness_mm"]
