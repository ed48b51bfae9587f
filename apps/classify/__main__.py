"""Your own images: ``python -m apps.classify {demo,sweep,train,evaluate,export,report,predict,generate}``.

* ``sweep --data FOLDER``: which depth of fine-tuning (or scratch) for your labelled images,
  block by block on a modern backbone (``--backbone mobilenet_v2``, ``resnet50``,
  ``vgg16`` …; Kandel & Castelli, Appl. Sci. 2020) → ``OUT/classify/report.html``.
* ``export`` a trained cell, then ``predict FOLDER|IMAGE --model EXPORTED --out probs.csv``.
* ``generate``: the built-in synthetic H&E-like set as class folders (not real tissue).
* ``demo``, ``train``, ``evaluate``, ``report``: as in every application.

Data (``--data FOLDER``): one subfolder per class (``<class>/<image>``, or
``<class>/<group>/<image>`` where the folder is the group: patient, slide), or a
``labels.csv`` with ``path,label[,group]``, or BreakHis's folders (patient and
magnification from the file names; ``--magnification 400``).  PNG, JPEG, TIFF or BMP,
8- or 16-bit, grey or colour, any size.  PatchCamelyon through tensorflow-datasets:
``--format patch_camelyon --data ~/tensorflow_datasets --max-images 20000`` (downloaded
there once, online).  Without ``--data``: ``--synthetic small|medium``.
"""

import sys

from medkeras.experiment.cli import application_main

from .app import ClassifyApplication


def main(argv=None):
    return application_main(ClassifyApplication(), argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
