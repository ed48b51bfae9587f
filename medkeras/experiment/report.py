"""The sweep report: one HTML page with the table and figures that show which depth of
tuning wins, by how much, and how sure we are.  ``python -m medkeras report DIR`` rebuilds it
from what the sweep left on disk."""

import html
import os

import numpy as np
import pandas as pd

from medkeras.atomic import write_csv_atomic
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
        return _write_html(results, None, [], [], None)

    if config.get("classes", 2) > 2 and config.get("positive_classes", [1]) is None:
        raise ValueError("the patch-level report draws binary ROC curves; this sweep scores "
                         f"{config['classes']} classes one-vs-rest: see its application's "
                         "report")
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
            row[f"sensitivity at {fpr:.0%} FPR [95% CI]"] = f"{sens:.3f} [{lo:.3f}, {hi:.3f}]"
        row.update({"validation AUC": main[scheme]["val_auc"],
                    "status": results.cell(scheme, full, first_seed).status,
                    "minutes": round(main[scheme]["seconds"] / 60, 1)})
        rows.append(row)
    table = pd.DataFrame(rows)
    write_csv_atomic(os.path.join(out_dir, "metrics.csv"), table)

    figures = [("ROC curves on the test set (95% bootstrap bands)",
                plot_roc(analyses, os.path.join(figures_dir, "roc.png"),
                         title=f"{config['task']}: ROC, all data, seed {first_seed}"))]
    curves = {}
    for scheme in main_schemes:
        history = main[scheme]["history"]
        status = results.cell(scheme, full, first_seed).status
        name = scheme if status == "converged" else f"{scheme} ({status})"
        curves[name] = ([h["iterations"] for h in history], [h["val_auc"] for h in history])
    figures.append(("Convergence: validation AUC against training iterations (every run of "
                    "all the data, first seed; a run not converged was still improving when "
                    "the epoch cap stopped it)",
                    plot_training_curves(curves, os.path.join(figures_dir, "convergence.png"),
                                         xlabel="iterations", ylabel="validation AUC",
                                         title="Convergence")))
    fractions = sorted({c["fraction"] for c in cells})
    over_seeds = _over_seeds(results)
    if len(fractions) > 1:
        size_curves = {}
        for scheme in schemes:
            rows_of = over_seeds[over_seeds.scheme == scheme]
            rows_of = rows_of.iloc[np.argsort(rows_of.fraction.astype(float).to_numpy())]
            size_curves[scheme] = (rows_of.fraction.astype(float), rows_of["mean test AUC"],
                                   rows_of["lowest"], rows_of["highest"])
        figures.append(("Test AUC against the fraction of training groups (mean over seeds; "
                        "band: lowest to highest seed)",
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
        write_csv_atomic(os.path.join(out_dir, "comparisons.csv"), comparisons)
    return _write_html(results, table, figures, comparisons, over_seeds)


def _over_seeds(results):
    """Per scheme and training fraction: the test AUC over seeds (mean, sd, range)."""
    rows = []
    for scheme in results.schemes:
        for fraction in results.fractions:
            aucs = np.array([c.record.get("test_auc", np.nan) for c in results.cells
                             if c.scheme == scheme and c.fraction == fraction], float)
            if aucs.size:
                rows.append({"scheme": scheme, "fraction": f"{fraction:g}",
                             "seeds": int(aucs.size),
                             "mean test AUC": float(np.nanmean(aucs)),
                             "sd": float(np.nanstd(aucs, ddof=1)) if aucs.size > 1 else np.nan,
                             "lowest": float(np.nanmin(aucs)),
                             "highest": float(np.nanmax(aucs))})
    return pd.DataFrame(rows, columns=["scheme", "fraction", "seeds", "mean test AUC", "sd",
                                       "lowest", "highest"])


#: What a run's status means, under every table of runs.
RUN_STATUS_NOTE = ("converged: its validation AUC stopped improving for the patience. "
                   "Not converged: the cap stopped the run while its validation AUC was still "
                   "improving; `sweep --extend --epochs N` continues it. Did not learn: "
                   "patience ran out while the training loss was still near chance level "
                   "(a rate too small, or too little patience). Diverged: the loss stopped "
                   "being finite.")


def run_table(results):
    """Every finished run: its cell, status, epochs, rate and time, readable."""
    rows = []
    for c in results.cells + results.diverged:
        r = c.record
        rows.append({"scheme": c.scheme, "fraction": f"{c.fraction:g}", "seed": c.seed,
                     "status": c.status,
                     "epochs run / cap": f"{r.get('epochs_run', '?')} / {r.get('epochs_cap', '?')}",
                     "best epoch": r.get("best_epoch", np.nan),
                     "validation AUC": r.get("val_auc", np.nan),
                     "test AUC": r.get("test_auc", np.nan),
                     "learning rate": f"{r['learning_rate']:.2g} ({r['learning_rate_source']})"
                     if r.get("learning_rate") else "–",
                     "minutes": round(r.get("seconds", np.nan) / 60, 1)})
    return pd.DataFrame(rows)


def _not_run(results):
    """A paragraph naming the cells the sweep skipped, and why."""
    skipped = results.skipped()
    if not skipped:
        return ""
    names = ", ".join(dict.fromkeys(scheme for scheme, _ in skipped))
    reasons = "; ".join(dict.fromkeys(reason for _, reason in skipped))
    return f" <b>Not run:</b> {html.escape(names)}. {html.escape(reasons)}"


def _write_html(results, table, figures, comparisons, over_seeds):
    from medkeras.atomic import write_csv_atomic
    from medkeras.experiment.verdict import sweep_verdict

    out_dir = results.directory
    verdict = sweep_verdict(results)
    page = Page(f"{results.task}: full training or fine-tuning?",
                answer=verdict.html + _not_run(results))
    if verdict.table is not None:
        page.add_table("The schemes compared (all the training data, scores averaged over "
                       "seeds)", verdict.table)
    if table is not None:
        page.add_table("Test set, all training data, first seed", table)
    runs = run_table(results)
    if len(runs):
        write_csv_atomic(os.path.join(out_dir, "runs.csv"), runs)
        page.add_table("Every run", runs, note=RUN_STATUS_NOTE)
    if over_seeds is not None and len(over_seeds) and over_seeds.seeds.max() > 1:
        write_csv_atomic(os.path.join(out_dir, "seeds.csv"), over_seeds)
        page.add_table("Test AUC over seeds", over_seeds)
    for caption, path in figures:
        page.add_figure(caption, path, relative_to=out_dir)
    if len(comparisons):
        page.add_table("Pairwise comparisons (paired bootstrap over cases; DeLong for AUC)",
                       comparisons)
    page.add_configuration(results.config)
    return page.write(os.path.join(out_dir, "report.html"))
