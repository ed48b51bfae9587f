"""Balanced sets and patient/video-level splits, as index arrays.

Patches from one patient or video are strongly correlated, so Tajbakhsh et al. (2016) never
put a patient or video on both sides of a split, and they study how performance varies with
the amount of training data by training on fractions of it.  All functions take plain label
or group arrays (any sortable values: ints, strings), return sorted ``int64`` indices into
them, and are reproducible for a given ``seed``.
"""

import numbers

import numpy as np


def _check_1d(values, name):
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {values.shape}")
    return values


def _check_seed(seed):
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def balanced_indices(labels, *, seed=0, max_per_class=None):
    """Indices of a class-balanced subset: majority classes down-sampled to the minority.

    Every class keeps ``min(count of the rarest class, max_per_class)`` samples chosen at
    random without replacement; a class with exactly that many keeps all of them.  The
    paper balances its training sets this way (its "stratified" sets).

    Parameters
    ----------
    labels : (n,) array
        Class of each sample.
    seed : int
    max_per_class : int, optional
        Also cap every class at this many samples.

    Returns
    -------
    (k · classes,) int64, sorted
    """
    labels = _check_1d(labels, "labels")
    seed = _check_seed(seed)
    if max_per_class is not None and (not isinstance(max_per_class, numbers.Integral)
                                      or max_per_class < 1):
        raise ValueError(f"max_per_class must be a positive integer, got {max_per_class!r}")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    keep = counts.min() if max_per_class is None else min(counts.min(), max_per_class)
    rng = np.random.default_rng(seed)
    chosen = []
    for index in range(len(classes)):
        members = np.flatnonzero(inverse == index)
        chosen.append(members if len(members) == keep
                      else rng.choice(members, keep, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def group_order(names, seed):
    """The distinct group names, sorted, then permuted by ``default_rng(seed)``: the one
    order from which every split takes whole groups (test split of a dataset, validation
    split and training fractions of a sweep), the same on every machine.

    >>> group_order(["b", "a", "c", "a"], 0).tolist() == group_order(["c", "b", "a"], 0).tolist()
    True
    """
    names = np.asarray(names if isinstance(names, np.ndarray) else list(names))
    order, _ = _shuffled_groups(names, seed)
    return np.unique(names)[order]


def group_count(fraction, n_groups, *, at_least=1):
    """How many of ``n_groups`` groups a fraction takes: rounded half up, at least
    ``at_least``.  One rule for test splits, validation splits and training fractions.

    >>> group_count(0.25, 10), group_count(0.2, 5), group_count(0.01, 16)
    (3, 1, 1)
    """
    # round(…, 9) first: 0.3 × 10 is 3.0000000000000004 in floating point.
    return max(int(np.floor(round(fraction * n_groups, 9) + 0.5)), at_least)


def _shuffled_groups(groups, seed):
    unique, inverse = np.unique(groups, return_inverse=True)
    return np.random.default_rng(seed).permutation(len(unique)), inverse.ravel()


def _strata_of_groups(inverse, n_groups, strata):
    """Each group's stratum: the most frequent stratum label of its samples (ties: the
    smallest)."""
    _, codes = np.unique(_check_1d(strata, "strata"), return_inverse=True)
    codes = codes.ravel()
    if len(codes) != len(inverse):
        raise ValueError("strata must have one label per sample")
    counts = np.zeros((n_groups, codes.max() + 1), np.int64)
    np.add.at(counts, (inverse, codes), 1)
    return counts.argmax(axis=1)


def _take_groups(groups, seed, strata, count_of):
    """A boolean per sample: in one of the groups taken.  ``count_of(n)`` groups are taken
    from the seeded order of all ``n`` groups, or, with ``strata``, from each stratum's
    own seeded order of its groups."""
    order, inverse = _shuffled_groups(groups, seed)
    if strata is None:
        return np.isin(inverse, order[:count_of(len(order))])
    group_stratum = _strata_of_groups(inverse, len(order), strata)
    taken = []
    for stratum in np.unique(group_stratum):
        members = order[np.isin(order, np.flatnonzero(group_stratum == stratum))]
        taken += members[:count_of(len(members))].tolist()
    return np.isin(inverse, taken)


def split_by_group(groups, *, validation_fraction=0.2, seed=0, strata=None):
    """Split samples into training and validation with no group on both sides.

    ``round(validation_fraction · number of groups)`` groups (halves rounded up; at least
    one, and at least one left for training) go to validation, chosen at random; the
    fraction is of groups (patients, videos), not of samples.  With ``strata`` (a label
    per sample, e.g. the class) the groups are split stratum by stratum (a group belongs to
    its most frequent label; a stratum of one group stays in training), so that every class
    of single-class groups (patients of one diagnosis) reaches both sides.

    Parameters
    ----------
    groups : (n,) array
        Group (patient, video) of each sample; at least two distinct groups.
    validation_fraction : float in (0, 1)
    seed : int
    strata : (n,) array, optional

    Returns
    -------
    train_idx, val_idx : int64 arrays, sorted, disjoint, covering ``0..n-1``
    """
    groups = _check_1d(groups, "groups")
    seed = _check_seed(seed)
    if not isinstance(validation_fraction, numbers.Real) or not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    if len(np.unique(groups)) < 2:
        raise ValueError(f"split_by_group needs at least 2 groups, got {len(np.unique(groups))}")
    in_validation = _take_groups(
        groups, seed, strata,
        lambda n: min(group_count(validation_fraction, n), n - 1) if n > 1 else 0)
    return (np.flatnonzero(~in_validation).astype(np.int64),
            np.flatnonzero(in_validation).astype(np.int64))


def subsample_groups(groups, fraction, *, seed=0, strata=None):
    """Indices of the samples of a random subset of the groups, nested across fractions.

    Takes ``round(fraction · number of groups)`` groups (halves rounded up, at least one).
    For a given ``seed`` the groups are drawn from one fixed random order, so the subsets are
    nested: the 25% subset lies inside the 50% subset, which lies inside the 100% one.  Training
    curves over fractions (e.g. 1, 0.5, 0.25, 0.1, 0.01 of the videos or patients) then
    differ only by the data added.

    To subsample a training split: ``train_idx[subsample_groups(groups[train_idx], 0.25)]``.
    With ``strata`` (a label per sample) the fraction is taken of each stratum's groups (a
    group belongs to its most frequent label), so that every class keeps a group.

    Parameters
    ----------
    groups : (n,) array
        Group (patient, video) of each sample.
    fraction : float in (0, 1]
    seed : int
    strata : (n,) array, optional

    Returns
    -------
    int64 array, sorted
    """
    groups = _check_1d(groups, "groups")
    seed = _check_seed(seed)
    if not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    taken = _take_groups(groups, seed, strata, lambda n: group_count(fraction, n))
    return np.flatnonzero(taken).astype(np.int64)


def class_balanced_sample(labels, total, *, seed=0, classes=(0, 1)):
    """Indices of up to ``total`` samples, an equal share from each class, sorted.

    Each class gives ``total // len(classes)`` samples drawn without replacement (all of
    them when it has fewer), in the order of ``classes`` from one generator seeded with
    ``seed``: how the applications draw their balanced training patches from all the
    augmented ones (the paper's 100,000 balanced patches).

    >>> class_balanced_sample([0, 0, 0, 0, 1, 1, 1], 4, seed=0).tolist()
    [2, 3, 4, 6]
    """
    labels = _check_1d(labels, "labels")
    seed = _check_seed(seed)
    if not isinstance(total, numbers.Integral) or total < len(classes):
        raise ValueError(f"total must be an integer >= {len(classes)}, got {total!r}")
    rng = np.random.default_rng(seed)
    share = int(total) // len(classes)
    chosen = [rng.choice(np.flatnonzero(labels == c), min(share, int((labels == c).sum())),
                         replace=False) for c in classes]
    return np.sort(np.concatenate(chosen)).astype(np.int64)
