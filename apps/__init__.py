"""The medkeras applications, each a plug-in of :mod:`medkeras.experiment.app`: its domain
(data, candidates, patches, evaluation) and one ``Application`` subclass; the core gives it
the experiment pipeline and the command line.  ``polyp``, ``frames``, ``pe``, ``cimt``; in
a checkout ``python -m apps.<name>``, installed ``medkeras.apps.<name>`` and
``medkeras-<name>``."""
