"""Frame quality: ``python -m apps.frames {demo,sweep,train,evaluate,export,report,generate,score}``.

* ``generate``: real informative frames → a labelled folder with a generated
  non-informative twin of each (motion blur, defocus, exposure, specular flooding, wall
  contact, fluid and bubbles, interlacing/compression; the kind recorded), for ``--data``.
* ``sweep``: random crops of every frame, every scheme × training fraction × seed, then ROC
  on the test split with the handcrafted baseline → ``OUT/frames/report.html``.
* ``score``: a video → per-frame informativeness (CSV), the quality score (fraction of
  informative frames) and a plot over time; streamed and resumable.
* ``demo``, ``train``, ``evaluate``, ``export``, ``report``: as in every application.

Data: ``--data FOLDER`` (``informative/`` + ``non_informative/``, or ``labels.csv`` with
``path,label[,video][,kind]``), or ``--synthetic small|medium``.
"""

import sys

from medkeras.experiment.cli import application_main

from .app import FramesApplication


def main(argv=None):
    return application_main(FramesApplication(), argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
