"""Synthetic CT pulmonary angiograms (CTPA) with pulmonary emboli, for development and tests.

**These are synthetic intensities, not real CT.**  No real CTPA intensities were available
to this project, so the PE application (Tajbakhsh et al., IEEE TMI 2016, application B) is
developed on volumes whose *anatomy* is real and whose *grey values* are modelled:

* the pulmonary arteries, veins and lungs come from the vessel and lung labels of real CTPA
  scans (CAD-PE challenge data, González et al., "Computer Aided Detection for Pulmonary
  Embolism Challenge (CAD-PE)", arXiv:2003.13440, 2020);
* the emboli take the 3-D shapes of real emboli, the connected components of the expert
  embolus masks of the FUMPE data set (Masoudi et al., "A new dataset of computed-tomography
  angiography images for computer-aided detection of pulmonary embolism", Scientific Data
  5:180180, 2018), re-scaled to the calibre of the host artery, turned along its axis and
  clipped to its lumen;
* the Hounsfield units (HU) follow published typical values.

A model trained or scored on these volumes says nothing about its performance on real CTPA;
use them to develop, test and demonstrate the pipeline (candidate generation, patches,
training, evaluation), and bring real CTPA with embolus masks for real experiments.
:func:`synthetic_tubes_volume` is a second, fully synthetic generator (a tree of tubes in an
ellipsoidal lung) that needs no data at all: fast, for doctests and unit tests.

Modules (each imports only those above it in this list):

* :mod:`~apps.pe.synthetic.intensity`: the intensity model (HU values and their sources,
  blur, noise, body and texture geometry, memory and time) and the renderer;
* :mod:`~apps.pe.synthetic.emboli`: real embolus shapes (:func:`embolus_shapes`), their
  placing in the arteries (the method, by artery level and embolus kind) and
  :func:`synthesize_ctpa`, the generator on any vessel and lung labels;
* :mod:`~apps.pe.synthetic.tubes`: :func:`synthetic_tubes_volume`;
* :mod:`~apps.pe.synthetic.cadpe`: CAD-PE cases in (the evidence for the label convention,
  :func:`ctpa_case`, cropping and resampling) and files out (:func:`write_case`,
  :func:`generate_folder`, :func:`generate_tubes`), through :mod:`medkeras.io.volumes`.

Conventions: arrays are indexed ``(z, y, x)`` = (slice, row, column); ``spacing`` is
``(z, y, x)`` in mm (as in :mod:`medkeras.io.volumes`).

>>> import numpy as np
>>> case = synthetic_tubes_volume(seed=0)
>>> case.ct.shape, case.ct.dtype, case.emboli.dtype, len(case.emboli_info)
((64, 96, 96), dtype('int16'), dtype('int32'), 2)
>>> bool(case.artery_mask[case.emboli > 0].all())   # every embolus inside an artery
True
>>> bool(-900 < case.ct[case.lung_mask & ~case.artery_mask & ~case.vein_mask].mean() < -780)
True
>>> np.array_equal(case.ct, synthetic_tubes_volume(seed=0).ct)
True
"""

from .cadpe import (GENERATOR_VERSION, case_seed, crop_to_lungs, ctpa_case, generate_folder,
                    generate_tubes, list_cases, load_cadpe_case, resample_labels, write_case)
from .emboli import (ARTERY_LABEL, VEIN_LABEL, Embolus, EmbolusShape, SyntheticCT,
                     embolus_shapes, synthesize_ctpa)
from .intensity import DEFAULT_RANGES
from .tubes import synthetic_tubes_volume

__all__ = [
    "ARTERY_LABEL", "VEIN_LABEL", "GENERATOR_VERSION", "DEFAULT_RANGES",
    "Embolus", "EmbolusShape", "SyntheticCT",
    "embolus_shapes", "synthesize_ctpa", "synthetic_tubes_volume",
    "crop_to_lungs", "resample_labels", "list_cases", "case_seed", "load_cadpe_case",
    "ctpa_case", "write_case", "generate_folder", "generate_tubes",
]
