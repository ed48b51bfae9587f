"""The one reading layer: every file a user brings is read here, strictly.

* :mod:`~medkeras.io.files`: folders, side tables (CSV, JSON), image headers, masks, and
  :class:`~medkeras.io.files.DatasetFolderError`, the error that names a bad file;
* :mod:`~medkeras.io.images`: image files (bit depth, size limits, truncation);
* :mod:`~medkeras.io.video`: frames of an image, a folder or a video (identity by content,
  frame count checked against what was decoded);
* :mod:`~medkeras.io.volumes`: CT volumes and masks, NIfTI and DICOM (spacing consistent
  with the affine, finite voxels);
* :mod:`~medkeras.io.outputs`: output folders checked before any work.

Builders, training, evaluation and every inference command read through these modules, so
a file that one path refuses no other path accepts silently.
"""
