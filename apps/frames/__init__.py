"""Frame quality: informative vs non-informative colonoscopy frames (Tajbakhsh et al. 2016,
§C), a plug-in of medkeras.

* :mod:`.app` — :class:`FramesApplication`, the application declared to the core
  (:mod:`medkeras.experiment.app`): data, settings, flags, hooks, and its own commands
  ``generate`` and ``score``; ``python -m apps.frames`` is the core's command line built
  from it;
* :mod:`.settings` — :class:`FrameSettings`: frame size, crops per frame, training-set size;
* :mod:`.experiment` — frames of a split, random crops, the sweep's task, the handcrafted
  baseline's scores and the ROC evaluation (:func:`evaluate_frames`);
* :mod:`.degrade`, :mod:`.generate` — non-informative twins of real frames, made the ways
  they arise in colonoscopy; :mod:`.features` — the handcrafted baseline;
* :mod:`.score` — an exported model on a video, streamed and resumable;
* :mod:`.dataset`, :mod:`.synthetic` — the ``colonoscopy_frames`` and ``synthetic_frames``
  datasets.

Importing the package loads nothing heavy.
"""
