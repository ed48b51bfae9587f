"""Polyp detection: ``python -m apps.polyp {demo,sweep,train,evaluate,export,report,candidates,detect}``.

* ``candidates``: the handcrafted detector's sensitivity and candidates per frame on a split.
* ``sweep``: candidates of every frame (saved, reused on re-runs), augmented patches, every
  scheme × training fraction × seed, then FROC on the test split with the detector's own
  score as the baseline, and every pair of models compared → ``OUT/polyp/report.html``.
* ``detect``: an image, a folder of images or a video → detections (CSV and JSON, boxes in
  pixels with probabilities) and pictures with the boxes drawn.
* ``demo``, ``train``, ``evaluate``, ``export``, ``report``: as in every application.

Data: ``--data FOLDER`` with ``--format kvasir_seg`` (``images/``, ``masks/``) or
``cvc_clinicdb`` (``Original/``, ``Ground Truth/``), or ``--synthetic small|medium``.
"""

import sys

from medkeras.experiment.cli import application_main

from .app import PolypApplication


def main(argv=None):
    return application_main(PolypApplication(), argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
