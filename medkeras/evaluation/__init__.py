"""Evaluation of Tajbakhsh et al. (2016): ROC and FROC analysis with confidence intervals,
pairwise comparison of schemes, and figures.

* :func:`roc_analysis` — ROC curve, AUC with bootstrap (case or group level) and DeLong
  intervals, sensitivity at fixed FPRs, a bootstrap band; :func:`delong_test`,
  :func:`delong_auc_variance`, :func:`delong_auc_interval`, :func:`sensitivity_at_fpr`.
* :func:`froc_curve`, :func:`froc_analysis`, :func:`sensitivity_at_fps` — lesion detection.
* :func:`compare_at_operating_points`, :func:`froc_compare` — every pair of schemes, paired
  bootstrap p-values (the paper's Tables S1–S3).
* :func:`plot_roc`, :func:`plot_froc`, :func:`plot_boxplot`, :func:`plot_training_curves`,
  :func:`plot_bland_altman` (with :func:`bland_altman`'s bias and limits of agreement).
"""

from medkeras.evaluation.compare import (bootstrap_p_value, compare_at_operating_points,
                                         froc_compare)
from medkeras.evaluation.froc import (FROCBand, FROCCurve, FROCResult, froc_analysis,
                                      froc_curve, sensitivity_at_fps)
from medkeras.evaluation.plots import (bland_altman, plot_bland_altman, plot_boxplot,
                                       plot_froc, plot_roc, plot_training_curves)
from medkeras.evaluation.roc import (DeLongTest, ROCBand, ROCResult, delong_auc_interval,
                                     delong_auc_variance, delong_test, roc_analysis,
                                     sensitivity_at_fpr)

__all__ = ["bland_altman", "plot_bland_altman", "DeLongTest", "FROCBand", "FROCCurve", "FROCResult", "ROCBand", "ROCResult",
           "bootstrap_p_value", "compare_at_operating_points", "delong_auc_interval",
           "delong_auc_variance",
           "delong_test", "froc_analysis", "froc_compare", "froc_curve", "plot_boxplot",
           "plot_froc", "plot_roc", "plot_training_curves", "roc_analysis",
           "sensitivity_at_fpr", "sensitivity_at_fps"]
