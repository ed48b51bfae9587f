"""Several backbones, one question: how deeply to fine-tune each — on one page.

Kandel & Castelli ("How Deeply to Fine-Tune a Convolutional Neural Network: A Case Study
Using a Histopathology Dataset", Appl. Sci. 10(10):3359, 2020) fine-tune three ImageNet
architectures block by block, from the top block alone to the whole network, and compare
accuracy and training time per depth.  A *study* is that design: one ordinary, resumable
sweep directory per backbone (``<out>/<backbone>/``), then this page comparing them:

* per backbone and depth (blocks tuned): test AUC and accuracy, the mean over seeds with a
  95% t-interval over seeds (one seed: the bootstrap interval of its test cases), training
  minutes per run, and whether every run converged;
* figures: AUC against blocks tuned (one line per backbone) and minutes against blocks
  tuned — their "tuning the top blocks saves time" claim, measured;
* each backbone's answer paragraph (:func:`~medkeras.experiment.verdict.sweep_verdict`:
  the best depth and the shallowest not significantly worse).
"""

from __future__ import annotations

import html
import os

import numpy as np
import pandas as pd

__all__ = ["blocks_tuned", "cell_accuracy", "study_rows", "study_summary", "write_study"]


def blocks_tuned(backbone, scheme):
    """How many blocks a scheme trains: ``FT:only <head>`` 1, the next depth 2, …;
    ``scratch`` every block.

    >>> blocks_tuned("squeezenet", "FT:fire9-conv10"), blocks_tuned("squeezenet", "scratch")
    (2, 10)
    """
    from medkeras.experiment.results import parse_label
    from medkeras.models import ALL_BACKBONES

    table = list(ALL_BACKBONES[backbone].scheme_table())
    scheme = parse_label(scheme)[0]
    if scheme not in table:
        raise ValueError(f"unknown scheme {scheme!r} for {backbone}; choose from {table}")
    return len(table) - 1 if scheme == "scratch" else table.index(scheme)


def cell_accuracy(test):
    """Accuracy of a cell's test scores (``test_scores.npz`` arrays): the most probable
    class for class probabilities, a positive score ≥ 0.5 for binary ones."""
    scores, labels = np.asarray(test["scores"]), np.asarray(test["labels"])
    if scores.ndim == 2:
        return float((scores.argmax(axis=1) == labels).mean())
    return float(((scores >= 0.5) == labels.astype(bool)).mean())


def _test_interval(test):
    """95% bootstrap interval of a single cell's test AUC, over its test groups."""
    scores, labels, groups = test["scores"], test["labels"], test["groups"]
    if np.ndim(scores) == 2:
        from medkeras.evaluation.multiclass import macro_auc_analysis

        return macro_auc_analysis(labels.astype(np.int64), scores, groups=groups,
                                  n_bootstrap=500).ci
    from medkeras.evaluation import roc_analysis

    return roc_analysis(labels.astype(bool), scores, groups=groups, n_bootstrap=500).auc_ci


def study_rows(out, backbones):
    """One row per finished cell of every backbone's sweep under ``out``."""
    from medkeras.experiment.results import SweepResults

    rows = []
    for backbone in backbones:
        directory = os.path.join(out, backbone)
        if not os.path.exists(os.path.join(directory, "config.json")):
            continue
        for cell in SweepResults(directory).cells:
            test = cell.test()
            rows.append({"backbone": backbone, "scheme": cell.scheme,
                         "blocks tuned": blocks_tuned(backbone, cell.scheme),
                         "fraction": cell.fraction, "seed": cell.seed,
                         "AUC": cell.record["test_auc"], "accuracy": cell_accuracy(test),
                         "minutes": cell.record["seconds"] / 60, "status": cell.status,
                         "_test": test})
    return rows


def _mean_interval(values):
    from scipy import stats

    values = np.asarray(values, float)
    if len(values) < 2:
        return (np.nan, np.nan)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return (values.mean() - half, values.mean() + half)


def study_summary(rows):
    """Per backbone and scheme (largest training fraction): mean AUC and accuracy over
    seeds with 95% intervals, minutes per run, runs, and their status."""
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows)
    table = table[table.fraction == table.groupby("backbone").fraction.transform("max")]
    summary = []
    for (backbone, scheme), cells in table.groupby(["backbone", "scheme"], sort=False):
        if len(cells) > 1:
            low, high = _mean_interval(cells.AUC)
            over = "seeds"
        else:
            low, high = _test_interval(cells["_test"].iloc[0])
            over = "test cases"
        acc_low, acc_high = _mean_interval(cells.accuracy)
        bad = [s for s in cells.status if s != "converged"]
        summary.append({
            "backbone": backbone, "scheme": scheme,
            "blocks tuned": int(cells["blocks tuned"].iloc[0]),
            "AUC": cells.AUC.mean(), "AUC 95% CI": f"[{low:.3f}, {high:.3f}] over {over}",
            "accuracy": cells.accuracy.mean(),
            "accuracy 95% CI": ("" if np.isnan(acc_low) else f"[{acc_low:.3f}, {acc_high:.3f}]"),
            "minutes per run": round(float(cells.minutes.mean()), 1), "runs": len(cells),
            "status": bad[0] if bad else "converged"})
    return (pd.DataFrame(summary)
            .sort_values(["backbone", "blocks tuned"], kind="stable").reset_index(drop=True))


def _plot_by_depth(summary, column, path, ylabel, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medkeras.atomic import save_figure_atomic

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for backbone, rows in summary.groupby("backbone", sort=False):
        tuned = rows[~rows.scheme.str.startswith("scratch")]
        ax.plot(tuned["blocks tuned"], tuned[column], marker="o", label=backbone)
        scratch = rows[rows.scheme.str.startswith("scratch")]
        if len(scratch):
            ax.scatter(scratch["blocks tuned"], scratch[column], marker="x", s=60,
                       color=ax.lines[-1].get_color(), label=f"{backbone} from scratch")
    ax.set_xlabel("blocks tuned (1 = the new head only)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
    return path


def write_study(out, backbones, *, title="How deeply to fine-tune each backbone"):
    """``out/study.html`` (and ``study.csv``, ``study_runs.csv``) comparing the sweeps of
    ``backbones`` under ``out``; returns its path."""
    from medkeras.atomic import write_csv_atomic
    from medkeras.experiment.page import Page
    from medkeras.experiment.results import SweepResults
    from medkeras.experiment.verdict import sweep_verdict

    rows = study_rows(out, backbones)
    summary = study_summary(rows)
    answers = []
    for backbone in backbones:
        directory = os.path.join(out, backbone)
        if not os.path.exists(os.path.join(directory, "config.json")):
            answers.append(f"<b>{html.escape(backbone)}</b>: no finished run yet.")
            continue
        answers.append(f"<b>{html.escape(backbone)}</b>: "
                       f"{sweep_verdict(SweepResults(directory)).html}")
    best = []
    for backbone, group in (summary.groupby("backbone", sort=False) if len(summary) else []):
        top = group.loc[group.AUC.idxmax()]
        blocks = int(top["blocks tuned"])
        best.append(f"{html.escape(backbone)}: {html.escape(top.scheme)} ({blocks} "
                    f"block{'s' * (blocks != 1)}, AUC {top.AUC:.3f}, "
                    f"{top['minutes per run']:.1f} min per run)")
    answer = ("Best depth per backbone — " + "; ".join(best) + "."
              if best else "No finished runs yet.")
    page = Page(title, answer=answer + "</p><p>" + "</p><p>".join(answers))
    page.add_text("The design", (
        "Each backbone is fine-tuned block by block, from its new head alone to the whole "
        "network (Kandel & Castelli, Appl. Sci. 10(10):3359, 2020), in its own resumable "
        "sweep directory below this one. Intervals: a 95% t-interval over seeds, or with "
        "one seed the bootstrap interval over the test cases."))
    if len(summary):
        write_csv_atomic(os.path.join(out, "study.csv"), summary)
        runs = pd.DataFrame([{k: v for k, v in r.items() if k != "_test"} for r in rows])
        write_csv_atomic(os.path.join(out, "study_runs.csv"), runs)
        page.add_table("AUC, accuracy and time by depth (largest training fraction)", summary)
        figures = os.path.join(out, "figures")
        page.add_figure("Test AUC by depth", _plot_by_depth(
            summary, "AUC", os.path.join(figures, "auc_by_depth.png"), "test AUC",
            "Test AUC by blocks tuned (mean over seeds)"), relative_to=out)
        page.add_figure("Training time by depth", _plot_by_depth(
            summary, "minutes per run", os.path.join(figures, "minutes_by_depth.png"),
            "minutes per run", "Training time by blocks tuned"), relative_to=out)
    return page.write(os.path.join(out, "study.html"))
