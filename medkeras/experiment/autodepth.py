"""Automatic tuning depth: the paper's practical advice as a procedure.

Tajbakhsh et al. (2016) recommend starting by fine-tuning the last layer and then tuning
deeper, one layer at a time, for as long as performance improves.  Here "improves" means
the validation AUC exceeds the upper end of the 95% DeLong interval of the best depth so
far; the first depth that does not is where the search stops.
"""

import os

from medkeras.atomic import write_json_atomic
from medkeras.experiment.results import cell_name
from medkeras.experiment.sweep import check_sweep_config, run_cell
from medkeras.models import ALL_BACKBONES


def choose_depth(task, config, out_dir, *, seed=0, log=print):
    """Fine-tune ever deeper while the validation AUC improves beyond its interval.

    Cells are ordinary sweep cells (``out_dir/cells``), so the search resumes after an
    interruption and its cells feed :func:`medkeras.experiment.report.write_report`.

    Returns
    -------
    dict
        ``chosen`` (scheme), ``curve`` (per depth tried: scheme, val AUC and interval,
        test AUC) and ``reason``; also written to ``out_dir/auto_depth.json``.
    """
    os.makedirs(out_dir, exist_ok=True)
    check_sweep_config(out_dir, config, task)
    schemes = [s for s in ALL_BACKBONES[config.backbone].scheme_table() if s != "scratch"]
    curve, best, reason = [], None, "every depth improved: deepest tuning chosen"
    for scheme in schemes:
        record = run_cell(task, config, scheme, 1.0, seed,
                          os.path.join(out_dir, "cells", cell_name(scheme, 1.0, seed)))
        curve.append({key: record[key] for key in ("scheme", "val_auc", "val_auc_ci",
                                                   "test_auc")})
        if log:
            low, high = record["val_auc_ci"]
            log(f"{scheme}: validation AUC {record['val_auc']:.3f} [{low:.3f}, {high:.3f}]")
        if best is None:
            best = record
        elif record["val_auc"] > best["val_auc_ci"][1]:
            best = record
        else:
            reason = (f"{scheme} (validation AUC {record['val_auc']:.3f}) did not exceed the "
                      f"interval of {best['scheme']} (upper bound {best['val_auc_ci'][1]:.3f})")
            break
    result = {"chosen": best["scheme"], "reason": reason, "curve": curve}
    write_json_atomic(os.path.join(out_dir, "auto_depth.json"), result)
    _plot_curve(result, os.path.join(out_dir, "figures", "auto_depth.png"))
    return result


def _plot_curve(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medkeras.atomic import save_figure_atomic

    os.makedirs(os.path.dirname(path), exist_ok=True)
    names = [point["scheme"] for point in result["curve"]]
    aucs = [point["val_auc"] for point in result["curve"]]
    errors = [[a - p["val_auc_ci"][0] for a, p in zip(aucs, result["curve"])],
              [p["val_auc_ci"][1] - a for a, p in zip(aucs, result["curve"])]]
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(names) + 2), 3.5))
    ax.errorbar(range(len(names)), aucs, yerr=errors, fmt="o-", capsize=4)
    chosen = names.index(result["chosen"])
    ax.plot([chosen], [aucs[chosen]], "r*", markersize=14, label=f"chosen: {result['chosen']}")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("validation AUC (95% CI)")
    ax.set_title("Automatic tuning depth")
    ax.legend()
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=120)
    plt.close(fig)
    return path
