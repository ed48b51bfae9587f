"""The sweep report: one HTML page with the table and figures that show which depth of
tuning wins, by how much, and how sure we are.  ``python -m medkeras report DIR`` rebuilds it
from what the sweep left on disk."""

import html
import os

import numpy as np
import pandas as pd

from medkeras.evaluation import (compare_at_operating_points, plot_boxplot, plot_roc,
                                 plot_training_curves, roc_analysis)
from medkeras.experiment.page import Page
from medkeras.experiment.results import SweepResults


def write_report(out_dir, *, n_bootstrap=2000):
    """Compute the evaluation of a sweep directory and write ``report.html`` with its figures.

    Returns the path of the report.
    """
    results = SweepResults(out_dir)
    config = results.config
    cells = [{**c.record, "test": c.test(), "history": c.history()} for c in results.cells]
    figures_dir = os.path.join(out_dir, "figures")
    os.makedirs(figures_dir, exist_ok=True)
    if not cells:
        return _write_html(results, None, [], [], "No finished cells yet.")

    schemes = results.schemes
    full = max(c["fraction"] for c in cells)
    first_seed = min(c["seed"] for c in cells)
    main = {c["scheme"]: c for c in cells if c["fraction"] == full and c["seed"] == first_seed}
    main_schemes = [s for s in schemes if s in main]
    labels = main[main_schemes[0]]["test"]["labels"]
    groups = main[main_schemes[0]]["test"]["groups"]
    analyses, rows = {}, []
    for scheme in main_schemes:
        test = main[scheme]["test"]
        if not np.array_equal(test["labels"], labels):
            raise ValueError(f"cell {scheme} was tested on different units")
        analysis = roc_analysis(test["labels"], test["scores"], groups=test["groups"],
                                n_bootstrap=n_bootstrap)
        analyses[scheme] = analysis
        row = {"scheme": scheme, "test AUC": analysis.auc,
               "95% CI": f"[{analysis.auc_ci[0]:.3f}, {analysis.auc_ci[1]:.3f}]"}
        for fpr, (sens, lo, hi) in analysis.sensitivity_at.items():
            row[f"sens @ FPR {fpr:.2f}"] = f"{sens:.3f} [{lo:.3f}, {hi:.3f}]"
        row.update({"val AUC": main[scheme]["val_auc"], "epochs": main[scheme]["epochs_run"],
                    "best epoch": main[scheme]["best_epoch"],
                    "minutes": main[scheme]["seconds"] / 60, "cached": main[scheme]["cached"]})
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(out_dir, "metrics.csv"), index=False)

    figures = [("ROC curves on the test set (95% bootstrap bands)",
                plot_roc(analyses, os.path.join(figures_dir, "roc.png"),
                         title=f"{config['task']}: ROC, all data, seed {first_seed}"))]
    curves = {}
    for scheme in main_schemes:
        history = main[scheme]["history"]
        curves[scheme] = ([h["iterations"] for h in history], [h["val_auc"] for h in history])
    figures.append(("Convergence: validation AUC against training iterations",
                    plot_training_curves(curves, os.path.join(figures_dir, "convergence.png"),
                                         xlabel="iterations", ylabel="validation AUC",
                                         title="Convergence")))
    fractions = sorted({c["fraction"] for c in cells})
    if len(fractions) > 1:
        size_curves = {}
        for scheme in schemes:
            points = [(f, np.nanmean([c["test_auc"] for c in cells
                                      if c["scheme"] == scheme and c["fraction"] == f]))
                      for f in fractions
                      if any(c["scheme"] == scheme and c["fraction"] == f for c in cells)]
            size_curves[scheme] = ([p[0] for p in points], [p[1] for p in points])
        figures.append(("Test AUC against the fraction of training groups (mean over seeds)",
                        plot_training_curves(size_curves, os.path.join(figures_dir, "size.png"),
                                             xlabel="fraction of training groups",
                                             ylabel="test AUC", title="Training-set size",
                                             xscale="log")))
    seeds = sorted({c["seed"] for c in cells})
    if len(seeds) > 1:
        by_scheme = {s: np.array([c["test_auc"] for c in cells
                                  if c["scheme"] == s and c["fraction"] == full]) for s in schemes}
        figures.append(("Test AUC over seeds (box: spread; marker: mean with 95% CI)",
                        plot_boxplot(by_scheme, os.path.join(figures_dir, "seeds.png"),
                                     ylabel="test AUC", title="Seeds")))

    comparisons = pd.DataFrame()
    if len(main_schemes) > 1:
        comparisons = compare_at_operating_points(
            labels, {s: main[s]["test"]["scores"] for s in main_schemes}, groups=groups,
            n_bootstrap=n_bootstrap)
        comparisons.to_csv(os.path.join(out_dir, "comparisons.csv"), index=False)
    verdict = _verdict(analyses, comparisons)
    return _write_html(results, table, figures, comparisons, verdict)


def _verdict(analyses, comparisons):
    """One sentence: the best scheme with its interval, and how it compares with scratch."""
    best = max(analyses, key=lambda s: analyses[s].auc)
    a = analyses[best]
    text = (f"Best scheme: <b>{html.escape(best)}</b>, test AUC {a.auc:.3f} "
            f"(95% CI {a.auc_ci[0]:.3f}–{a.auc_ci[1]:.3f}).")
    scratch = [name for name in analyses if name.startswith("scratch")]
    if scratch and not best.startswith("scratch"):
        rival = max(scratch, key=lambda name: analyses[name].auc)
        s = analyses[rival]
        which = "" if rival == "scratch" else f" ({rival})"
        text += f" Training from scratch{which}: {s.auc:.3f}; difference {a.auc - s.auc:+.3f}"
        pair = comparisons[((comparisons["scheme_a"] == best) & (comparisons["scheme_b"] == rival))
                           | ((comparisons["scheme_a"] == rival) & (comparisons["scheme_b"] == best))]
        if len(pair):
            text += (f" (p = {pair['auc_p_bootstrap'].iloc[0]:.3g} paired bootstrap, "
                     f"{pair['auc_p_delong'].iloc[0]:.3g} DeLong)")
        text += "."
    return text


def _not_run(results):
    """A paragraph naming the cells the sweep skipped, and why."""
    skipped = results.skipped()
    if not skipped:
        return ""
    names = ", ".join(dict.fromkeys(scheme for scheme, _ in skipped))
    reasons = "; ".join(dict.fromkeys(reason for _, reason in skipped))
    return f" <b>Not run:</b> {html.escape(names)}. {html.escape(reasons)}"


def _write_html(results, table, figures, comparisons, verdict):
    out_dir = results.directory
    page = Page(f"{results.task}: full training or fine-tuning?",
                answer=verdict + _not_run(results))
    if table is not None:
        page.add_table("Test set, all training data", table)
    for caption, path in figures:
        page.add_figure(caption, path, relative_to=out_dir)
    if len(comparisons):
        page.add_table("Pairwise comparisons (paired bootstrap over cases; DeLong for AUC)",
                       comparisons)
    page.add_configuration(results.config)
    return page.write(os.path.join(out_dir, "report.html"))
