"""medkeras.evaluation: ROC/FROC statistics against sklearn, direct formulas and hand cases."""

import time

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score, roc_curve

from medkeras.evaluation import (FROCCurve, bootstrap_p_value, compare_at_operating_points,
                                 delong_auc_variance, delong_test, froc_analysis, froc_compare,
                                 froc_curve, plot_boxplot, plot_froc, plot_roc,
                                 plot_training_curves, roc_analysis, sensitivity_at_fpr,
                                 sensitivity_at_fps)


def binormal(rng, n_pos, n_neg, d):
    """Unit-variance normal scores, positives shifted by ``d``: true AUC = Φ(d / √2)."""
    labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    return labels, rng.standard_normal(n_pos + n_neg) + d * labels


def direct_delong(labels, *score_vectors):
    """DeLong et al. (1988) by the definition: AUCs and covariance, O(n_pos · n_neg)."""
    pos = np.asarray(labels) == 1
    v10, v01, aucs = [], [], []
    for s in score_vectors:
        x, y = s[pos][:, None], s[~pos][None, :]
        psi = (x > y) + 0.5 * (x == y)
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))   # per positive
        v01.append(psi.mean(axis=0))   # per negative
    cov = np.atleast_2d(np.cov(v10)) / pos.sum() + np.atleast_2d(np.cov(v01)) / (~pos).sum()
    return np.array(aucs), cov


# --------------------------------------------------------------------------- AUC and DeLong


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_auc_equals_sklearn_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 150)
    for scores in (rng.standard_normal(150) + labels,              # continuous
                   np.round(rng.standard_normal(150) + labels, 0)):  # heavy ties
        r = roc_analysis(labels, scores, n_bootstrap=50, seed=seed)
        assert r.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        fpr, tpr, _ = roc_curve(labels, scores)
        np.testing.assert_array_equal(r.fpr, fpr)
        np.testing.assert_array_equal(r.tpr, tpr)
        assert r.auc_ci[0] <= r.auc <= r.auc_ci[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_variance_matches_direct_structural_components(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 80)
    scores = np.round(rng.standard_normal(80) + 0.8 * labels, 1)   # ties within and across
    _, cov = direct_delong(labels, scores)
    assert delong_auc_variance(labels, scores) == pytest.approx(cov[0, 0], rel=1e-10)

    other = np.round(scores + rng.standard_normal(80), 1)
    aucs, cov = direct_delong(labels, scores, other)
    z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    t = delong_test(labels, scores, other)
    assert (t.auc_a, t.auc_b) == pytest.approx(tuple(aucs), abs=1e-12)
    assert t.z == pytest.approx(z, rel=1e-9)
    assert t.p == pytest.approx(2 * scipy.stats.norm.sf(abs(z)), rel=1e-9)


def test_delong_test_hand_case():
    # positives are the first two cases, negatives the last two.
    labels = [1, 1, 0, 0]
    a = [3.0, 1.0, 2.0, 0.0]   # V10 = [1, .5], V01 = [.5, 1], AUC .75
    b = [3.0, 0.5, 1.0, 2.0]   # V10 = [1, 0],  V01 = [.5, .5], AUC .5
    # S10: var_a .125, var_b .5, cov .25;  S01: var_a .125, var_b 0, cov 0
    # var(A_a − A_b) = (.125 + .5 − .5) / 2 + (.125 + 0 − 0) / 2 = .125
    auc_a, auc_b, z, p = delong_test(labels, a, b)
    assert (auc_a, auc_b) == (0.75, 0.5)
    assert z == pytest.approx(0.25 / np.sqrt(0.125))
    assert p == pytest.approx(0.4795001221869535)
    assert delong_auc_variance(labels, a) == pytest.approx(0.125)


def test_delong_test_identical_scores_gives_p_one():
    rng = np.random.default_rng(5)
    labels, scores = binormal(rng, 30, 40, 1.0)
    t = delong_test(labels, scores, scores.copy())
    assert t.z == 0.0 and t.p == 1.0 and t.auc_a == t.auc_b


# --------------------------------------------------------------------------- coverage


def test_bootstrap_and_delong_intervals_cover_the_true_auc():
    d = 1.0
    true_auc = scipy.stats.norm.cdf(d / np.sqrt(2))   # 0.760
    rng = np.random.default_rng(2016)
    boot_hits = delong_hits = 0
    boot_width = delong_width = 0.0
    n_sim = 200
    for i in range(n_sim):
        labels, scores = binormal(rng, 40, 40, d)
        r = roc_analysis(labels, scores, n_bootstrap=500, fprs=(0.1,), band_points=2, seed=i)
        boot_hits += r.auc_ci[0] <= true_auc <= r.auc_ci[1]
        delong_hits += r.auc_ci_delong[0] <= true_auc <= r.auc_ci_delong[1]
        boot_width += (r.auc_ci[1] - r.auc_ci[0]) / n_sim
        delong_width += (r.auc_ci_delong[1] - r.auc_ci_delong[0]) / n_sim
    assert boot_hits >= 0.90 * n_sim
    assert delong_hits >= 0.90 * n_sim
    # … at the right width: the standard error is about 0.053 here, so a 95% interval is
    # about 0.21 wide (a 90% one would be 0.17, a 99% one 0.27).
    assert 0.19 < boot_width < 0.23
    assert 0.19 < delong_width < 0.23


# --------------------------------------------------------------------------- groups


def test_grouped_bootstrap_resamples_groups_not_cases():
    rng = np.random.default_rng(7)
    labels, scores = binormal(rng, 20, 20, 1.0)
    copies = 6
    labels_rep, scores_rep = np.repeat(labels, copies), np.repeat(scores, copies)
    groups = np.repeat(np.arange(40), copies)   # every group holds identical copies

    by_case = roc_analysis(labels_rep, scores_rep, n_bootstrap=1000, seed=0)
    by_group = roc_analysis(labels_rep, scores_rep, groups=groups, n_bootstrap=1000, seed=0)
    single = roc_analysis(labels, scores, n_bootstrap=1000, seed=0)
    width = {k: r.auc_ci[1] - r.auc_ci[0] for k, r in
             {"case": by_case, "group": by_group, "single": single}.items()}

    assert by_group.n_groups == 40 and by_case.n_groups is None
    assert by_group.auc == by_case.auc == single.auc
    # copies make the case-level interval ~√6 too narrow; resampling groups undoes that
    assert width["group"] > 1.8 * width["case"]
    assert 0.75 < width["group"] / width["single"] < 1.35


# --------------------------------------------------------------------------- sensitivity at FPR


def test_sensitivity_at_fpr_hand_cases():
    # tie between a positive and a negative at 0.5 → diagonal from (0, .5) to (.5, 1)
    labels, scores = [1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]
    assert sensitivity_at_fpr(labels, scores, 0.25) == pytest.approx(0.75)
    np.testing.assert_allclose(sensitivity_at_fpr(labels, scores, [0.0, 0.5, 1.0]),
                               [0.5, 1.0, 1.0])

    # vertical segment at FPR 0.2 (one negative at 0.7, then a positive at 0.4):
    # vertices (0, 0) (0, 2/3) (.2, 2/3) (.2, 1) (.4, 1) …
    labels = [1, 1, 1, 0, 0, 0, 0, 0]
    scores = [0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1, 0.05]
    np.testing.assert_allclose(sensitivity_at_fpr(labels, scores, [0.1, 0.2, 0.3]),
                               [2 / 3, 1.0, 1.0])


def test_sensitivity_at_fpr_tolerates_rounding():
    # 100 negatives; a positive just below the 29th highest: FPR 29/100 reaches it,
    # although 0.29 * 100 = 28.999999999999996 in floating point.
    labels = np.r_[1, 1, np.zeros(100, int)]
    scores = np.r_[200.0, 71.5, np.arange(1.0, 101.0)]
    assert 0.29 * 100 < 29
    assert sensitivity_at_fpr(labels, scores, 0.29) == 1.0
    assert sensitivity_at_fpr(labels, scores, 0.28) == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sensitivity_at_fpr_equals_best_threshold_without_ties(seed):
    rng = np.random.default_rng(seed)
    labels, scores = binormal(rng, 57, 83, 1.2)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    for f in (0.05, 0.1, 0.15, 0.2, 0.5):
        # without ties the interpolated curve is a step function
        assert sensitivity_at_fpr(labels, scores, f) == pytest.approx(tpr[fpr <= f].max())
    r = roc_analysis(labels, scores, n_bootstrap=300, seed=seed)
    for f, (s, lo, hi) in r.sensitivity_at.items():
        assert s == sensitivity_at_fpr(labels, scores, f)
        assert lo <= s <= hi
    assert np.all(r.band.lower <= r.band.upper)
    assert r.band.fpr.shape == r.band.lower.shape == (101,)


def test_roc_analysis_is_deterministic_under_seed():
    rng = np.random.default_rng(3)
    labels, scores = binormal(rng, 50, 50, 1.0)
    a, b = (roc_analysis(labels, scores, n_bootstrap=300, seed=11) for _ in range(2))
    c = roc_analysis(labels, scores, n_bootstrap=300, seed=12)
    assert a.auc_ci == b.auc_ci and a.sensitivity_at == b.sensitivity_at
    np.testing.assert_array_equal(a.band.lower, b.band.lower)
    assert a.auc_ci != c.auc_ci


def test_roc_analysis_speed():
    rng = np.random.default_rng(0)
    labels, scores = binormal(rng, 500, 500, 1.0)
    start = time.process_time()
    roc_analysis(labels, scores, n_bootstrap=2000)
    assert time.process_time() - start < 2.5   # ≈ 0.25 s; a loop over resamples is ≫


# --------------------------------------------------------------------------- FROC

# Ground truth: A has 2 lesions, B 1, C none, D 1 (and no candidate at all).
HAND_LESIONS = {"A": 2, "B": 1, "C": 0, "D": 1}
HAND_CASES = ["A", "A", "A", "A", "B", "B", "B", "C"]
HAND_SCORES = [0.9, 0.7, 0.6, 0.4, 0.8, 0.5, 0.55, 0.65]
HAND_LESION_IDS = [0, 0, -1, 1, -1, -1, 0, -1]   # A/0 hit twice (0.9 and 0.7)


def test_froc_curve_hand_case():
    c = froc_curve(HAND_CASES, HAND_SCORES, HAND_LESION_IDS, HAND_LESIONS)
    assert (c.n_lesions, c.n_cases) == (4, 4)   # C and D count as cases, D's lesion as a lesion
    # threshold: +inf  .9    .8    .65   .6    .55   .5    .4      (.7 is A/0 again: no step)
    # detected:   0    A0    A0    A0    A0    +B0   B0    +A1     (D0 is never detected)
    # FPs:        0    0     B.8   C.65  A.6   3     B.5   4       (divided by 4 cases)
    np.testing.assert_allclose(c.thresholds, [np.inf, .9, .8, .65, .6, .55, .5, .4])
    np.testing.assert_allclose(c.sensitivity, [0, 1, 1, 1, 1, 2, 2, 3] / np.float64(4))
    np.testing.assert_allclose(c.fps_per_case, [0, 0, 1, 2, 3, 3, 4, 4] / np.float64(4))


def test_froc_ties_form_one_step():
    c = froc_curve(["a", "a", "b"], [0.7, 0.7, 0.3], [0, -1, 0], {"a": 1, "b": 1})
    np.testing.assert_allclose(c.thresholds, [np.inf, 0.7, 0.3])
    np.testing.assert_allclose(c.sensitivity, [0, 0.5, 1])
    np.testing.assert_allclose(c.fps_per_case, [0, 0.5, 0.5])
    # the tied lesion comes only with its false positive
    assert sensitivity_at_fps(c, (0, 0.49, 0.5)) == {0.0: 0.0, 0.49: 0.0, 0.5: 1.0}


def test_sensitivity_at_fps_hand_case():
    c = froc_curve(HAND_CASES, HAND_SCORES, HAND_LESION_IDS, HAND_LESIONS)
    # highest sensitivity with at most f FPs per case
    assert sensitivity_at_fps(c, (0, 0.1, 0.5, 0.74, 0.75, 1, 3)) == {
        0.0: 0.25, 0.1: 0.25, 0.5: 0.25, 0.74: 0.25, 0.75: 0.5, 1.0: 0.75, 3.0: 0.75}


def test_froc_bootstrap_resamples_cases_without_candidates():
    # A: one FP at .5, its lesion found at .3.  C: no lesion, no candidate.
    # Resamples {A, C}: sens at 0.5 FP/case = 1;  {A, A}: 1 FP/case → 0;  {C, C}: no lesion.
    with pytest.warns(RuntimeWarning, match="no lesion"):
        r = froc_analysis(["A", "A"], [0.5, 0.3], [-1, 0], {"A": 1, "C": 0}, fps=(0.5,),
                          n_bootstrap=400, seed=1)
    assert r.sensitivity_at[0.5] == (1.0, 0.0, 1.0)

    # B has a lesion and no candidate: resamples {A, A} → 1, {A, B} → .5, {B, B} → 0
    r = froc_analysis(["A"], [0.9], [0], {"A": 1, "B": 1}, fps=(0.0,), n_bootstrap=400, seed=1)
    assert r.sensitivity_at[0.0] == (0.5, 0.0, 1.0)


def froc_data(rng, n_cases, *, lesion_shift, n_fp=3):
    lesions = {f"case{i}": int(rng.integers(0, 3)) for i in range(n_cases)}
    cases, lesion_ids = [], []
    for case, k in lesions.items():
        for lesion in range(k):
            if rng.random() < 0.85:                    # some lesions are never proposed
                hits = int(rng.integers(1, 3))         # some are proposed twice
                cases += [case] * hits
                lesion_ids += [lesion] * hits
        fp = int(rng.poisson(n_fp))
        cases += [case] * fp
        lesion_ids += [-1] * fp
    lesion_ids = np.asarray(lesion_ids)
    scores = rng.standard_normal(len(cases)) + lesion_shift * (lesion_ids >= 0)
    return np.asarray(cases), scores, lesion_ids, lesions


def test_froc_analysis_point_estimates_and_intervals():
    rng = np.random.default_rng(0)
    cases, scores, lesion_ids, lesions = froc_data(rng, 150, lesion_shift=1.5)
    r = froc_analysis(cases, scores, lesion_ids, lesions, n_bootstrap=500, seed=3)
    point = sensitivity_at_fps(r.curve, (0.1, 0.5, 1, 2, 3))
    assert {f: v[0] for f, v in r.sensitivity_at.items()} == point
    for s, lo, hi in r.sensitivity_at.values():
        assert lo <= s <= hi and hi - lo < 0.3
    assert np.all(r.band.lower <= r.band.upper)
    again = froc_analysis(cases, scores, lesion_ids, lesions, n_bootstrap=500, seed=3)
    assert again.sensitivity_at == r.sensitivity_at


def test_froc_grouped_bootstrap_is_wider_with_copied_cases():
    rng = np.random.default_rng(1)
    cases, scores, lesion_ids, lesions = froc_data(rng, 40, lesion_shift=1.0)
    copies = 5
    rep = lambda c, k: f"{c}#{k}"   # noqa: E731
    cases_rep = np.concatenate([[rep(c, k) for c in cases] for k in range(copies)])
    lesions_rep = {rep(c, k): n for k in range(copies) for c, n in lesions.items()}
    groups = {rep(c, k): c for k in range(copies) for c in lesions}
    args = (cases_rep, np.tile(scores, copies), np.tile(lesion_ids, copies), lesions_rep)
    by_case = froc_analysis(*args, fps=(1.0,), n_bootstrap=800, seed=0)
    by_group = froc_analysis(*args, fps=(1.0,), groups=groups, n_bootstrap=800, seed=0)
    (s1, lo1, hi1), (s2, lo2, hi2) = by_case.sensitivity_at[1.0], by_group.sensitivity_at[1.0]
    assert s1 == s2 and by_group.n_groups == 40
    assert hi2 - lo2 > 1.6 * (hi1 - lo1)


# --------------------------------------------------------------------------- comparisons


def test_bootstrap_p_value():
    assert bootstrap_p_value(np.zeros(99)) == 1.0
    assert bootstrap_p_value(np.full(99, 0.1)) == pytest.approx(2 / 100)
    np.testing.assert_allclose(bootstrap_p_value(np.c_[np.full(99, -1.0), np.r_[-np.ones(9),
                                                                                np.ones(90)]]),
                               [2 / 100, 2 * 10 / 100])


def test_compare_at_operating_points():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 300)
    good = labels * 2.5 + rng.standard_normal(300)
    poor = labels * 0.3 + rng.standard_normal(300)
    table = compare_at_operating_points(labels, {"good": good, "poor": poor, "copy": good.copy()},
                                        n_bootstrap=500, seed=0)
    assert isinstance(table, pd.DataFrame) and len(table) == 3 * 3   # pairs × FPRs
    assert list(table.fpr[:3]) == [0.1, 0.15, 0.2]

    better = table[(table.scheme_a == "good") & (table.scheme_b == "poor")]
    assert (better.difference > 0.3).all() and (better.p_value < 0.05).all()
    assert (better.ci_low > 0).all() and (better.auc_p_delong < 0.05).all()
    assert (better.auc_p_bootstrap < 0.05).all()
    expected = [sensitivity_at_fpr(labels, good, f) for f in (0.1, 0.15, 0.2)]
    np.testing.assert_allclose(better.sensitivity_a, expected)

    same = table[(table.scheme_a == "good") & (table.scheme_b == "copy")]
    assert (same.difference == 0).all() and (same.p_value == 1).all()
    assert (same.ci_low == 0).all() and (same.ci_high == 0).all()
    assert (same.auc_p_delong == 1).all() and (same.auc_p_bootstrap == 1).all()

    # swapping the order of schemes flips the sign of the difference only
    swapped = compare_at_operating_points(labels, {"poor": poor, "good": good},
                                          n_bootstrap=500, seed=0)
    np.testing.assert_allclose(swapped.difference, -better.difference.to_numpy())


def test_compare_with_groups_runs_and_keeps_point_estimates():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 120)
    a, b = labels + rng.standard_normal(120), labels + 1.5 * rng.standard_normal(120)
    plain = compare_at_operating_points(labels, {"a": a, "b": b}, n_bootstrap=300)
    grouped = compare_at_operating_points(labels, {"a": a, "b": b}, n_bootstrap=300,
                                          groups=np.arange(120) // 4)
    np.testing.assert_array_equal(plain.difference, grouped.difference)
    assert not np.array_equal(plain.ci_low, grouped.ci_low)


def test_froc_compare():
    rng = np.random.default_rng(2)
    cases, scores, lesion_ids, lesions = froc_data(rng, 150, lesion_shift=2.5)
    poor = rng.standard_normal(len(scores))    # the same candidates scored at random
    table = froc_compare({"good": (cases, scores, lesion_ids), "poor": (cases, poor, lesion_ids),
                          "copy": (cases, scores.copy(), lesion_ids)}, lesions,
                         fps=(0.5, 1.0), n_bootstrap=500, seed=0)
    assert len(table) == 3 * 2
    better = table[(table.scheme_a == "good") & (table.scheme_b == "poor")]
    assert (better.difference > 0.2).all() and (better.p_value < 0.05).all()
    curve = froc_curve(cases, scores, lesion_ids, lesions)
    assert list(better.sensitivity_a) == list(sensitivity_at_fps(curve, (0.5, 1.0)).values())
    same = table[(table.scheme_a == "good") & (table.scheme_b == "copy")]
    assert (same.difference == 0).all() and (same.p_value == 1).all()


# --------------------------------------------------------------------------- plots


def assert_png_with_content(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].var() > 1e-3       # not a blank canvas


def test_plots_write_png_files(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    rocs = {name: roc_analysis(labels, labels * d + rng.standard_normal(200), n_bootstrap=200)
            for name, d in (("FT:conv1-fc8", 2.0), ("scratch", 1.0))}
    out = plot_roc(rocs, tmp_path / "roc.png", title="ROC")
    assert out == tmp_path / "roc.png"
    assert_png_with_content(out)

    cases, scores, lesion_ids, lesions = froc_data(rng, 60, lesion_shift=1.5)
    frocs = {"with band": froc_analysis(cases, scores, lesion_ids, lesions, n_bootstrap=200),
             "curve only": froc_curve(cases, -scores, lesion_ids, lesions)}
    assert_png_with_content(plot_froc(frocs, tmp_path / "froc.png", title="FROC", fps_max=3))

    errors = {"scratch": rng.gamma(2, 20, 50), "FT:fc8": rng.gamma(2, 12, 50)}
    assert_png_with_content(plot_boxplot(errors, tmp_path / "sub" / "box.png",
                                         ylabel="Error (µm)", title="CIMT"))

    iters = np.arange(0, 5000, 250)
    curves = {"scratch": (iters, 0.9 - 0.4 * np.exp(-iters / 2000)),
              "fine-tuned": (iters, 0.95 - 0.2 * np.exp(-iters / 500),
                             0.93 - 0.2 * np.exp(-iters / 500), 0.97 - 0.2 * np.exp(-iters / 500))}
    assert_png_with_content(plot_training_curves(curves, tmp_path / "auc.png",
                                                 xlabel="Iterations", ylabel="Validation AUC",
                                                 title="Convergence"))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("labels,scores,match", [
    ([1, 1, 1], [0.1, 0.2, 0.3], "single class"),
    ([0, 0, 0], [0.1, 0.2, 0.3], "single class"),
    ([0, 1, 1], [0.1, 0.2], "different lengths"),
    ([0, 1, 1], [0.1, np.nan, 0.3], "NaN"),
    ([0, 1, 2], [0.1, 0.2, 0.3], "binary"),
    ([0, 1, np.nan], [0.1, 0.2, 0.3], "binary"),
    ([0, 1, 1], [[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]], "1-D"),
])
def test_bad_binary_input_raises(labels, scores, match):
    for call in (lambda: roc_analysis(labels, scores, n_bootstrap=10),
                 lambda: sensitivity_at_fpr(labels, scores, 0.1),
                 lambda: delong_auc_variance(labels, scores),
                 lambda: compare_at_operating_points(labels, {"a": scores, "b": scores})):
        with pytest.raises(ValueError, match=match):
            call()


def test_bad_options_raise():
    labels, scores = [0, 1, 0, 1], [0.1, 0.8, 0.3, 0.6]
    with pytest.raises(ValueError, match="groups"):
        roc_analysis(labels, scores, groups=[0, 1])
    with pytest.raises(ValueError, match="confidence"):
        roc_analysis(labels, scores, confidence=95)
    with pytest.raises(ValueError, match="n_bootstrap"):
        roc_analysis(labels, scores, n_bootstrap=0)
    with pytest.raises(ValueError, match="fprs"):
        roc_analysis(labels, scores, fprs=(0.1, 1.5))
    with pytest.raises(ValueError, match="scores_b"):
        delong_test(labels, scores, [0.1, 0.2])
    with pytest.raises(ValueError, match="at least two"):
        compare_at_operating_points(labels, {"a": scores})
    with pytest.raises(ValueError, match="different lengths"):
        compare_at_operating_points(labels, {"a": scores, "b": scores[:3]})
    with pytest.raises(ValueError, match=r"\.png"):
        plot_boxplot({"a": [1.0, 2.0]}, "box.pdf")
    with pytest.raises(ValueError, match="finite"):
        plot_boxplot({"a": [1.0, np.nan]}, "box.png")


@pytest.mark.parametrize("args,match", [
    ((["A", "Z"], [0.5, 0.4], [0, -1], {"A": 1}), "missing from lesions_per_case"),
    ((["A", "A"], [0.5, 0.4], [0, 1], {"A": 1}), "2 distinct lesions"),
    ((["A"], [0.5], [-1], {"A": 0}), "no lesion"),
    ((["A"], [0.5], [-2], {"A": 1}), "-1"),
    ((["A", "A"], [0.5], [0, -1], {"A": 1}), "different lengths"),
    ((["A"], [np.nan], [0], {"A": 1}), "NaN"),
    ((["A"], [0.5], [0], {"A": -1}), "non-negative"),
    ((["A"], [0.5], [0], {}), "non-empty"),
])
def test_bad_froc_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        froc_curve(*args)
    with pytest.raises(ValueError, match=match):
        froc_analysis(*args, n_bootstrap=10)


def test_froc_groups_must_cover_every_case():
    with pytest.raises(ValueError, match="groups lacks"):
        froc_analysis(["A"], [0.5], [0], {"A": 1, "B": 0}, groups={"A": "p1"}, n_bootstrap=10)
    with pytest.raises(ValueError, match="FROCCurve"):
        sensitivity_at_fps({"fps": [0]})
    assert isinstance(froc_curve([], [], [], {"A": 1}), FROCCurve)


def test_bland_altman_limits_by_hand_and_plot(tmp_path):
    from medkeras.evaluation import bland_altman, plot_bland_altman

    measured = np.array([0.70, 0.82, 0.91, 0.64, 1.10])
    reference = np.array([0.72, 0.80, 0.95, 0.60, 1.00])
    d = measured - reference                       # 0.02 ... by hand: mean and sd (n − 1)
    mean = d.sum() / 5
    sd = np.sqrt(((d - mean) ** 2).sum() / 4)
    assert bland_altman(measured, reference) == pytest.approx(
        (mean, mean - 1.96 * sd, mean + 1.96 * sd))
    path = plot_bland_altman({"a": (measured, reference), "b": (reference, measured)},
                             tmp_path / "ba.png", units="mm")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="same length"):
        bland_altman([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        bland_altman([1.0, np.nan], [1.0, 2.0])
