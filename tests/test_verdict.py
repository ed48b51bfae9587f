"""The answer paragraph: Holm against statsmodels-free hand computation, the shallowest depth
not worse than the best, and "inconclusive" when a compared run did not converge."""

import json

import numpy as np
import pytest

from medkeras.experiment.results import SweepResults, cell_name
from medkeras.experiment.verdict import holm, sweep_verdict


def test_holm_matches_the_hand_computed_step_down():
    # p sorted: 0.01 (×3 = 0.03), 0.03 (×2 = 0.06), 0.04 (×1 = 0.04 → max with 0.06).
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([0.6, 0.9]) == [1.0, 1.0]


def _sweep(tmp_path, cells, *, n=200, seed=0):
    """A sweep directory with cells whose scores are the labels plus noise of a given size."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    (tmp_path / "config.json").write_text(json.dumps({
        "task": "t", "sweep": {"backbone": "squeezenet", "scratch_inits": [None],
                               "train": {"patience": 2}}}))
    for scheme, fraction, cell_seed, noise, status, seconds in cells:
        folder = tmp_path / "cells" / cell_name(scheme, fraction, cell_seed)
        (folder / "run").mkdir(parents=True)
        scores = labels + rng.normal(scale=noise, size=n)
        np.savez(folder / "test_scores.npz", units=np.arange(n), scores=scores, labels=labels,
                 groups=np.arange(n))
        (folder / "cell.json").write_text(json.dumps({
            "scheme": scheme, "fraction": fraction, "seed": cell_seed, "status": status,
            "seconds": seconds}))
    return SweepResults(tmp_path)


def test_the_shallowest_depth_not_worse_than_the_best_is_recommended(tmp_path):
    results = _sweep(tmp_path, [
        ("scratch", 1.0, 0, 3.0, "converged", 600),
        ("FT:only conv10", 1.0, 0, 2.0, "converged", 60),        # clearly worse
        ("FT:fire8-conv10", 1.0, 0, 0.52, "converged", 120),     # as good as the best
        ("FT:conv1-conv10", 1.0, 0, 0.5, "converged", 600)])
    verdict = sweep_verdict(results)
    assert verdict.conclusive
    assert verdict.best in ("FT:fire8-conv10", "FT:conv1-conv10")
    assert verdict.recommended == "FT:fire8-conv10"
    assert "use <b>FT:fire8-conv10</b>" in verdict.html
    assert "from scratch" in verdict.html and "significantly worse" in verdict.html
    table = verdict.table.set_index("scheme")
    assert table.loc["FT:only conv10", "p vs best (DeLong, Holm)"] < 0.05


def test_an_unconverged_rival_makes_the_verdict_inconclusive(tmp_path):
    results = _sweep(tmp_path, [
        ("scratch", 1.0, 0, 3.0, "not converged", 600),
        ("FT:conv1-conv10", 1.0, 0, 0.5, "converged", 600)])
    verdict = sweep_verdict(results)
    assert not verdict.conclusive
    assert "Inconclusive" in verdict.html and "scratch" in verdict.html
    assert "--extend" in verdict.html


def test_less_data_is_reported_per_scheme(tmp_path):
    results = _sweep(tmp_path, [
        ("scratch", 1.0, 0, 1.0, "converged", 60), ("scratch", 0.25, 0, 3.0, "converged", 60),
        ("FT:conv1-conv10", 1.0, 0, 0.5, "converged", 60),
        ("FT:conv1-conv10", 0.25, 0, 0.6, "converged", 60)])
    text = sweep_verdict(results).html
    assert "0.25 instead of 1" in text and "least: FT:conv1-conv10" in text


def test_a_cell_without_a_recorded_status_is_judged_by_its_history(tmp_path):
    _sweep(tmp_path, [("scratch", 1.0, 0, 1.0, None, 60)])
    (tmp_path / "cells" / cell_name("scratch", 1.0, 0) / "run" / "result.json").write_text(
        json.dumps({"history": [{"val_auc": v} for v in (0.6, 0.7, 0.8)], "best_epoch": 2,
                    "epochs_run": 3}))
    assert SweepResults(tmp_path).cells[0].status == "not converged"   # best at the last epoch


def test_a_diverged_run_is_listed_never_compared(tmp_path):
    results = _sweep(tmp_path, [("FT:conv1-conv10", 1.0, 0, 0.5, "converged", 60)])
    folder = tmp_path / "cells" / cell_name("scratch", 1.0, 0)
    folder.mkdir(parents=True)
    (folder / "cell.json").write_text(json.dumps({
        "scheme": "scratch", "fraction": 1.0, "seed": 0, "status": "diverged"}))
    results = SweepResults(tmp_path)
    assert [c.scheme for c in results.cells] == ["FT:conv1-conv10"]
    assert [c.scheme for c in results.diverged] == ["scratch"]
    verdict = sweep_verdict(results)
    assert "scratch | 1 | 0 diverged" in verdict.html and not verdict.conclusive


def test_an_unconverged_run_is_marked_in_the_less_data_sentence(tmp_path):
    results = _sweep(tmp_path, [
        ("scratch", 1.0, 0, 1.0, "converged", 60), ("scratch", 0.25, 0, 3.0, "converged", 60),
        ("FT:conv1-conv10", 1.0, 0, 0.5, "converged", 60),
        ("FT:conv1-conv10", 0.25, 0, 0.6, "not converged", 60)])
    text = sweep_verdict(results).html
    assert "FT:conv1-conv10 " in text and "(a run did not converge)" in text
    # The steadiest claim is left to converged schemes only.
    assert "least: FT:conv1-conv10" not in text and "least: scratch" in text
    assert "sweep --extend" in text


def test_a_run_stopped_on_the_chance_plateau_did_not_learn_and_blocks_the_verdict(tmp_path):
    from medkeras.experiment.runner import TrainResult

    def result(losses, stopped_early=True):
        return TrainResult(scheme="scratch", best_val_auc=0.6, best_epoch=1,
                           epochs_run=len(losses), seconds=1.0, cached=False,
                           history=[{"loss": v} for v in losses], stopped_early=stopped_early,
                           chance_loss=float(np.log(3)))
    # CIMT from scratch at 3e-3, measured: patience ran out with the loss still near ln 3.
    assert result([1.0979, 1.0953, 1.0927, 1.0874, 1.0778]).status == "did not learn"
    assert result([1.0979, 0.9, 0.7]).status == "converged"
    assert result([1.0979, 1.09], stopped_early=False).status == "not converged"
    results = _sweep(tmp_path, [
        ("scratch", 1.0, 0, 3.0, "did not learn", 600),
        ("FT:conv1-conv10", 1.0, 0, 0.5, "converged", 600)])
    verdict = sweep_verdict(results)
    assert not verdict.conclusive
    assert "did not learn" in verdict.html and "--scratch-learning-rate" in verdict.html
    assert verdict.table.set_index("scheme").loc["scratch", "status"] == "did not learn"
