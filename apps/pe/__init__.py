"""Pulmonary embolism detection in CT pulmonary angiograms (Tajbakhsh et al. 2016, §B).

Tobogganing candidates → vessel-aligned patches → CNN → FROC per volume, as a plug-in of
the one application contract (:mod:`medkeras.experiment.app`):

* :mod:`~apps.pe.app`: :class:`~apps.pe.app.PEApplication`, the declaration (settings,
  flags, data, hooks and the commands ``generate``, ``candidates``, ``detect``);
  :mod:`~apps.pe.__main__` its command line;
* :mod:`~apps.pe.settings`: :class:`~apps.pe.settings.PESettings`, validated once;
* :mod:`~medkeras.io.volumes`: CT volumes and masks (NIfTI, DICOM) with their geometry;
* :mod:`~apps.pe.candidates`: tobogganing candidates and their hits on emboli;
* :mod:`~apps.pe.patches`: vessel-aligned and standard patches of a candidate;
* :mod:`~apps.pe.cases`: a case read, its candidates and stored patches, the patches per
  candidate and the channels of a representation;
* :mod:`~apps.pe.dataset`: the ``ctpa_candidates`` dataset (the folder layout);
* :mod:`~apps.pe.experiment`: the sweep's task and the evaluation (FROC, comparisons);
* :mod:`~apps.pe.detect`: inference on a CT volume with an exported model;
* :mod:`~apps.pe.synthetic`: synthetic CTPA (on real anatomy, or tubes) for development.

Importing this package loads nothing heavy.
"""
