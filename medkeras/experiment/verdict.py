"""The answer of a sweep, in one paragraph a clinician-researcher can read.

Which depth to use and why: the best scheme; the *shallowest* depth of fine-tuning not
significantly worse than the best (paired DeLong tests over the test cases, or a paired
bootstrap of the macro one-vs-rest AUC when the classes are not merged into a positive one;
Holm's correction across the schemes compared) and the training time it saves; how training from
scratch compares; how much each loses with less training data; and "inconclusive" — with
what to run — when a compared run did not converge or the evidence does not separate them.

A scheme's test score of a case is the mean over the seeds of its cells at the largest
training fraction (an ensemble of the seeds); its time is the mean over those cells.

References: DeLong et al., Biometrics 44(3), 1988; Holm, Scand. J. Statist. 6(2), 1979.
"""

from __future__ import annotations

import dataclasses
import html

import numpy as np

__all__ = ["Verdict", "holm", "sweep_verdict"]

ALPHA = 0.05


def holm(p_values):
    """Holm's step-down adjusted p-values (family-wise error), in the input order.

    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


@dataclasses.dataclass
class Verdict:
    """The paragraph (``html``), whether it is ``conclusive``, and the numbers behind it."""
    html: str
    conclusive: bool
    best: str = None
    recommended: str = None
    table: object = None        # per scheme: AUC, p vs best (Holm), status, minutes


def _minutes(cells):
    return float(np.mean([c.record.get("seconds", np.nan) for c in cells])) / 60


def _scheme_scores(cells, units):
    return np.mean([c.scores_for(units) for c in cells], axis=0)


def _labels(test):
    """A cell's test labels: binary (bool), or class indices when its scores are class
    probabilities (a task without merged positive classes)."""
    labels = test["labels"]
    return labels.astype(np.int64) if np.ndim(test["scores"]) == 2 else labels.astype(bool)


def _has_two_classes(labels):
    return len(np.unique(labels)) > 1


def _auc(labels, scores):
    """Binary ROC AUC, or the macro one-vs-rest AUC of class probabilities."""
    if np.ndim(scores) == 2:
        from medkeras.evaluation.multiclass import macro_auc

        return macro_auc(labels, scores)
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def _paired_p(labels, scores_a, scores_b):
    """p of equal AUCs on the same cases: DeLong's test, or for class probabilities a
    paired bootstrap of the macro AUC."""
    if np.ndim(scores_a) == 2:
        from medkeras.evaluation.multiclass import paired_macro_auc_test

        return paired_macro_auc_test(labels, scores_a, scores_b, n_bootstrap=1000)
    from medkeras.evaluation import delong_test

    return delong_test(labels, scores_a, scores_b).p


def sweep_verdict(results):
    """The :class:`Verdict` of a :class:`~medkeras.experiment.results.SweepResults`."""
    import pandas as pd

    if not results.cells:
        text = "No finished cells yet."
        if results.diverged:
            text = (f"Every finished run diverged ({', '.join(c.label for c in results.diverged)}"
                    "): set a smaller learning rate.")
        return Verdict(html.escape(text), conclusive=False)
    full = max(results.fractions)
    by_scheme = {s: [c for c in results.cells if c.scheme == s and c.fraction == full]
                 for s in results.schemes}
    by_scheme = {s: cells for s, cells in by_scheme.items() if cells}
    first = next(iter(by_scheme.values()))[0].test()
    units, labels = first["units"], _labels(first)
    if not _has_two_classes(labels):
        return Verdict("The test set has a single class: no AUC, no verdict.",
                       conclusive=False)
    scores = {s: _scheme_scores(cells, units) for s, cells in by_scheme.items()}
    aucs = {s: _auc(labels, v) for s, v in scores.items()}
    best = max(aucs, key=aucs.get)
    others = [s for s in scores if s != best]
    raw = [_paired_p(labels, scores[best], scores[s]) for s in others]
    adjusted = dict(zip(others, holm(raw) if raw else []))
    status = {s: next((c.status for c in cells if c.status != "converged"), "converged")
              for s, cells in by_scheme.items()}
    seeds = sorted({c.seed for cells in by_scheme.values() for c in cells})
    rows = [{"scheme": s, "test AUC (mean of seeds)": aucs[s],
             ("p vs best (paired bootstrap, Holm)" if np.ndim(scores[best]) == 2
              else "p vs best (DeLong, Holm)"): adjusted.get(s, float("nan")),
             "runs": len(by_scheme[s]),
             "status": status[s],
             "minutes per run": round(_minutes(by_scheme[s]), 1)} for s in scores]

    def name(s):
        return f"<b>{html.escape(s)}</b>"

    n_cases = len(units)
    parts = [f"On {n_cases} test cases ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}, "
             f"{full:g} of the training data), the best scheme is {name(best)} "
             f"(AUC {aucs[best]:.3f})."]
    fine_tuning = [s for s in scores if not s.startswith("scratch")]
    # The scheme order is shallow → deep: the first not worse than the best is the answer.
    recommended = next((s for s in fine_tuning
                        if s == best or adjusted.get(s, 0.0) >= ALPHA), None)
    if recommended is not None and recommended != best:
        saved = _minutes(by_scheme[best]) - _minutes(by_scheme[recommended])
        parts.append(
            f"The shallowest fine-tuning not significantly worse is {name(recommended)} "
            f"(AUC {aucs[recommended]:.3f}, p = {adjusted[recommended]:.2g} after Holm's "
            f"correction)" + (f", and it trains in {saved:.1f} fewer minutes per run"
                              if saved > 0 else "") + ": use it.")
    elif recommended == best and not best.startswith("scratch"):
        deeper_worse = [s for s in fine_tuning if s != best]
        parts.append(f"Every shallower depth is significantly worse: use {name(best)}."
                     if deeper_worse and fine_tuning.index(best) > 0 else f"Use {name(best)}.")
    scratch = [s for s in scores if s.startswith("scratch")]
    if scratch and not best.startswith("scratch"):
        rival = max(scratch, key=aucs.get)
        verdict = ("significantly worse" if adjusted[rival] < ALPHA
                   else "not significantly different")
        parts.append(f"Training from scratch ({html.escape(rival)}: AUC {aucs[rival]:.3f}) "
                     f"is {verdict} (p = {adjusted[rival]:.2g}).")
    elif best.startswith("scratch") and fine_tuning:
        rival = max(fine_tuning, key=aucs.get)
        parts.append(f"Fine-tuning ({html.escape(rival)}: AUC {aucs[rival]:.3f}) is "
                     + ("significantly worse" if adjusted[rival] < ALPHA
                        else "not significantly different") + f" (p = {adjusted[rival]:.2g}).")
    robustness = _robustness(results)
    if robustness:
        parts.append(robustness)
    diverged = sorted({c.label for c in results.diverged})
    if diverged:
        parts.append(f"{', '.join(map(html.escape, diverged))} diverged (the loss stopped "
                     "being finite) and could not be compared: give it a smaller rate "
                     "(<code>--scratch-learning-rate</code> or <code>--learning-rate</code>).")
    capped = [s for s in scores if status.get(s) == "not converged"]
    unlearned = [s for s in scores if status.get(s) == "did not learn"]
    blocked = capped + unlearned + diverged
    close = [s for s in others if adjusted[s] >= ALPHA]
    conclusive = not blocked
    if unlearned:
        parts.insert(0, (
            f"<b>Inconclusive:</b> {', '.join(map(html.escape, unlearned))} did not learn: "
            "its training loss stayed near chance level (it never left the plateau every "
            "network starts on) when its validation AUC stopped improving, so it was not "
            "compared at its best; train it again in a new directory with a larger rate "
            "(<code>--scratch-learning-rate</code>, or <code>--learning-rate</code> for "
            "fine-tuning) or more <code>--patience</code>."))
    if capped:
        parts.insert(0, (
            f"<b>Inconclusive:</b> {', '.join(map(html.escape, capped))} did not converge "
            "(still improving when the epoch cap stopped it), so the ranking below may "
            "change; run <code>sweep --extend --epochs N</code> with a larger N on the same "
            "directory."))
    if blocked:
        parts.insert(len([p for p in (capped, unlearned) if p]), "As the runs stand:")
    elif close and len(seeds) < 2:
        parts.append(f"The evidence does not separate {name(best)} from "
                     f"{', '.join(map(html.escape, close))}; more seeds "
                     "(<code>--seeds 0,1,2</code>) or more test cases would.")
    return Verdict(" ".join(parts), conclusive=conclusive, best=best,
                   recommended=recommended, table=pd.DataFrame(rows))


def _robustness(results):
    """One sentence: each scheme's AUC at the smallest fraction against the largest; a
    scheme with an unconverged run at either fraction is marked, and never called the
    steadiest."""
    fractions = results.fractions
    if len(fractions) < 2:
        return ""
    large, small = fractions[0], fractions[-1]
    drops, unconverged = {}, set()
    for scheme in results.schemes:
        aucs = {}
        for fraction in (large, small):
            cells = [c for c in results.cells if c.scheme == scheme and c.fraction == fraction]
            if not cells:
                break
            test = cells[0].test()
            labels = _labels(test)
            if not _has_two_classes(labels):
                break
            aucs[fraction] = _auc(labels, _scheme_scores(cells, test["units"]))
            if any(c.status != "converged" for c in cells):
                unconverged.add(scheme)
        if len(aucs) == 2:
            drops[scheme] = aucs[large] - aucs[small]
    if not drops:
        return ""
    listed = "; ".join(f"{html.escape(s)} {d:+.3f}"
                       + (" (a run did not converge)" if s in unconverged else "")
                       for s, d in drops.items())
    text = f"With {small:g} instead of {large:g} of the training data, the AUC drops by: {listed}"
    settled = {s: d for s, d in drops.items() if s not in unconverged}
    if settled:
        text += f" (least: {html.escape(min(settled, key=settled.get))})"
    text += "."
    if unconverged & set(drops):
        text += (" The drops of runs that did not converge may change with "
                 "<code>sweep --extend</code>.")
    return text
