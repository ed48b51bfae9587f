"""Your own labelled images on modern backbones: block-wise fine-tuning (Kandel & Castelli,
"How Deeply to Fine-Tune a Convolutional Neural Network", Appl. Sci. 10(10):3359, 2020), a
plug-in of medkeras.

* :mod:`.app` — :class:`ClassifyApplication`, the declaration: data, settings, flags,
  hooks, and its commands ``predict`` and ``generate``;
* :mod:`.settings` — :class:`ClassifySettings`: image size, channels, test fraction,
  positive class, BreakHis magnification;
* :mod:`.data` — the labelled folder → stratified group-wise test split → resized images;
* :mod:`.experiment` — the sweep's task and the evaluation (macro / per-class AUC,
  accuracy, confusion matrix, ROC);
* :mod:`.predict` — an exported model on a folder or an image → a CSV of probabilities;
* :mod:`.synthetic` — a synthetic H&E-like set (two tissue classes, stain variation) for
  the demo and tests.

Importing the package loads nothing heavy.
"""
