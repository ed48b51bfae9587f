"""One-vs-rest AUC, macro AUC, intervals and the paired test, against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sklearn_confusion
from sklearn.metrics import roc_auc_score

from medkeras.evaluation.multiclass import (confusion_matrix, macro_auc, macro_auc_analysis,
                                            one_vs_rest_aucs, paired_macro_auc_test)


def _problem(n=150, k=3, seed=0, signal=0.4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    p[np.arange(n), labels] += signal
    return labels, np.round(p / p.sum(axis=1, keepdims=True), 2)   # rounding makes ties


def test_one_vs_rest_and_macro_equal_sklearn_with_ties_and_weights():
    labels, p = _problem()
    np.testing.assert_allclose(one_vs_rest_aucs(labels, p),
                               [roc_auc_score(labels == k, p[:, k]) for k in range(3)])
    exact = p / p.sum(axis=1, keepdims=True)        # sklearn wants rows summing to 1
    assert macro_auc(labels, exact) == pytest.approx(
        roc_auc_score(labels, exact, multi_class="ovr", average="macro"))
    weights = np.random.default_rng(1).integers(0, 4, len(labels))
    np.testing.assert_allclose(
        one_vs_rest_aucs(labels, p, weights=weights),
        [roc_auc_score(labels == k, p[:, k], sample_weight=weights) for k in range(3)])


def test_an_absent_class_is_left_out_of_the_mean():
    labels, p = _problem(k=4)
    keep = labels != 2
    aucs = one_vs_rest_aucs(labels[keep], p[keep])
    assert np.isnan(aucs[2]) and np.isfinite(np.delete(aucs, 2)).all()
    assert macro_auc(labels[keep], p[keep]) == pytest.approx(np.nanmean(aucs))
    with pytest.raises(ValueError, match="at least two classes"):
        macro_auc(np.zeros(5, int), p[:5])


def test_intervals_contain_the_estimate_and_narrow_with_more_cases():
    small = macro_auc_analysis(*_problem(n=60), n_bootstrap=300)
    large = macro_auc_analysis(*_problem(n=600), n_bootstrap=300)
    for result in (small, large):
        assert result.ci[0] <= result.auc <= result.ci[1]
        assert (result.per_class_ci[:, 0] <= result.per_class).all()
        assert (result.per_class <= result.per_class_ci[:, 1]).all()
    assert large.ci[1] - large.ci[0] < small.ci[1] - small.ci[0]
    labels, p = _problem(n=60)
    groups = np.arange(60) // 3
    grouped = macro_auc_analysis(labels, p, groups=groups, n_bootstrap=300)
    assert grouped.auc == small.auc and grouped.ci != small.ci


def test_paired_test_tells_a_better_model_from_itself():
    labels, good = _problem(n=200, signal=0.6)
    _, noise = _problem(n=200, signal=0.0, seed=5)
    assert paired_macro_auc_test(labels, good, good, n_bootstrap=200) == 1.0
    assert paired_macro_auc_test(labels, good, noise, n_bootstrap=200) < 0.01


def test_confusion_matrix_is_sklearns_of_the_arg_max():
    labels, p = _problem()
    np.testing.assert_array_equal(confusion_matrix(labels, p),
                                  sklearn_confusion(labels, p.argmax(axis=1)))


def test_bad_input():
    labels, p = _problem()
    with pytest.raises(ValueError, match="Received: shape"):
        macro_auc(labels, p[:, 0])
    with pytest.raises(ValueError, match="class indices"):
        macro_auc(labels + 3, p)
    with pytest.raises(ValueError, match="one class index per case"):
        macro_auc(labels[:-1], p)
