"""Pulmonary embolism detection in CT angiograms: ``python -m apps.pe COMMAND``.

* ``generate``: synthetic CTPA volumes with emboli, written as NIfTI (``<name>_ct``,
  ``_emboli``, ``_lungs``, ``_vessels``, ``<name>.json``): on real anatomy (``--vessels`` a
  CAD-PE-like folder of vessel and lung labels, ``--emboli`` FUMPE-like embolus masks for
  the shapes) or fully synthetic (``--tubes N``: small branching-tube volumes).
* ``candidates``: tobogganing's sensitivity and candidates per volume on a folder.
* ``sweep``: candidates and patches of every volume (the ``ctpa_candidates`` dataset,
  prepared once), every scheme × training fraction × seed, then FROC per volume on the
  test split with the tobogganing score as the baseline, and every pair of models compared
  → ``OUT/pe/report.html``.
* ``detect``: a CT volume (NIfTI or DICOM folder) → detections with mm and scanner
  coordinates and probabilities (CSV, JSON) and a picture of each detection's patches.
* ``demo``, ``train``, ``evaluate``, ``export``, ``report``: as in every application.

Data: ``--data FOLDER`` as ``apps.pe.dataset`` describes (``generate`` writes one), or
``--synthetic small|medium`` (10 or 30 tube volumes, generated into ``OUT/data``).
"""

import sys

from medkeras.experiment.cli import application_main

from .app import PEApplication


def main(argv=None):
    return application_main(PEApplication(), argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
