"""CIMT: ``python -m apps.cimt {demo,sweep,train,evaluate,export,report,measure}``.

* ``sweep``: balanced 3-class patches (background, lumen-intima, media-adventitia) of every
  case, every scheme × training fraction × seed, then every model applied densely to the
  test images: each interface's error and the thickness against the expert's tracing, with
  the handcrafted baseline (box plots, Bland-Altman) → ``OUT/cimt/report.html``.
  Re-running resumes.
* ``evaluate``: (re)compute the evaluation of a sweep directory; ``--stride ROWS,COLUMNS``
  overrides the recorded dense-inference stride.
* ``measure``: an image + ROI → thickness, both interfaces, an overlay picture
  (``--model baseline``: the handcrafted method, no CNN).
* ``demo``, ``train``, ``export``, ``report``: as in every application.

Data: ``--data FOLDER`` (``<ID>.png`` + ``<ID>.json``, as in the University of Cyprus IMT
database), or ``--synthetic small|medium``.
"""

import sys

from medkeras.experiment.cli import application_main

from .app import CIMTApplication


def main(argv=None):
    return application_main(CIMTApplication(), argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
