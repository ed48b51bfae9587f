"""Grouped tensorflow-datasets builders: group-disjoint splits, nested fractions, strict folders.

Every dataset of the applications is a :class:`GroupedBuilder`: a
``tfds.core.GeneratorBasedBuilder`` whose examples each carry a ``group`` (the video,
sequence or patient they come from) and a unique ``key``.  Preparing one

1. scans and validates the source folder (:meth:`GroupedBuilder._scan`), before anything is
   written; a missing, unreadable or mismatched file raises :class:`DatasetFolderError`
   naming it;
2. puts whole groups in ``train`` or ``test`` (:func:`split_groups`: a seeded permutation of
   the sorted group names, the first ``round(TEST_FRACTION × groups)`` to ``test``);
3. writes the examples of each split in that group order (shuffling disabled), so that the
   first *k* groups of a split are a contiguous prefix of it: :func:`fraction_split` turns a
   training fraction into a tfds split string such as ``"train[:137]"`` that holds whole
   groups, and the fractions are nested (the 25% subset contains the 10% subset);
4. records in the dataset's metadata (``builder.info.metadata``) the group order and the
   example counts at group boundaries of each split, and a fingerprint of the source folder,
   so that :func:`builder` prepares again when the folder has changed.

The group permutation depends only on the set of group names, ``TEST_FRACTION`` and
``SPLIT_SEED``: the same folder gives the same splits on every machine.

>>> test, train = split_groups(["p1", "p2", "p3", "p4", "p5"], test_fraction=0.2, seed=0)
>>> len(test), len(train), sorted(test + train) == ["p1", "p2", "p3", "p4", "p5"]
(1, 4, True)
>>> prefix_length([3, 5, 9, 10], 0.5)   # the first 2 of 4 groups end at example 5
5
"""

from __future__ import annotations

import abc
import hashlib
import inspect
import logging
import os
import pathlib
import shutil
from typing import Any, NamedTuple

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from medkeras.data.splits import group_count, group_order
from medkeras.io.files import DatasetFolderError
from medkeras.weights import cache_dir

logger = logging.getLogger(__name__)

#: tfds registers our builders as ``medkeras_<short name>`` (no clash with tfds' catalogue).
PREFIX = "medkeras_"
#: tfds name → builder class: every :class:`GroupedBuilder` subclass registers itself here
#: when its module is imported (an application's ``dataset`` module), so the core never
#: names an application.
REGISTRY = {}


class Record(NamedTuple):
    """One example found by :meth:`GroupedBuilder._scan`.

    ``key``: unique within the dataset (file name or relative path); ``group``: the video,
    sequence or patient; ``payload``: whatever :meth:`GroupedBuilder._example` needs.
    """
    key: str
    group: str
    payload: Any


def split_groups(groups, test_fraction, seed):
    """Whole groups into ``test`` and ``train``, reproducibly.

    The distinct group names are sorted, then permuted with
    ``numpy.random.default_rng(seed)`` (:func:`medkeras.data.splits.group_order`); the first
    ``test_fraction × n`` (:func:`~medkeras.data.splits.group_count`: rounded half up, at
    least one when there are two groups or more and ``test_fraction > 0``, and never all of
    them) go to test, the rest to train: the rule and order of the sweep's validation split.  Both lists keep the permutation order: it is the
    order in which the examples are written, and :func:`fraction_split` takes prefixes of it.

    Parameters
    ----------
    groups : iterable of str
        Group of each example (repeats allowed).
    test_fraction : float in [0, 1)
    seed : int

    Returns
    -------
    test, train : list of str

    >>> split_groups(["a", "b", "a"], test_fraction=0.2, seed=0)[0] in (["a"], ["b"])
    True
    >>> split_groups(["only"], test_fraction=0.2, seed=0)
    ([], ['only'])
    """
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    order = [str(name) for name in group_order(sorted(set(groups)), seed)]
    if len(order) >= 2 and test_fraction > 0:
        n_test = min(group_count(test_fraction, len(order)), len(order) - 1)
    else:
        n_test = 0
    return order[:n_test], order[n_test:]


def prefix_length(group_ends, fraction):
    """Examples in the first ``fraction × groups`` groups
    (:func:`~medkeras.data.splits.group_count`: rounded half up, at least one group), the
    rule of the sweep's training fractions.

    Parameters
    ----------
    group_ends : sequence of int
        Cumulative example count at the end of each group, in split order.
    fraction : float in (0, 1]

    >>> prefix_length([2, 4, 6, 8, 10, 12, 14, 16, 18, 20], 0.3)   # 3 groups, not 4
    6
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if not group_ends:
        raise ValueError("the split has no groups")
    k = min(len(group_ends), group_count(fraction, len(group_ends)))
    return int(group_ends[k - 1])


def folder_fingerprint(folder):
    """SHA-256 of every file's relative path, size and modification time under ``folder``.

    Cheap (no file is read) and changes when a file is added, removed, renamed or
    rewritten.  ``None`` (builders that make their own data) has a fixed fingerprint.
    """
    digest = hashlib.sha256()
    if folder is None:
        return digest.hexdigest()
    folder = pathlib.Path(folder)
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = pathlib.Path(root, name)
            stat = path.stat()
            digest.update(f"{path.relative_to(folder).as_posix()}\0{stat.st_size}\0"
                          f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class GroupedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A tfds builder whose examples carry a ``group`` and a ``key``; splits are by group.

    Subclasses implement :meth:`_features`, :meth:`_scan` and :meth:`_example`, and set the
    usual ``VERSION``, ``RELEASE_NOTES`` and ``MANUAL_DOWNLOAD_INSTRUCTIONS``, optionally
    ``DESCRIPTION`` (default: the class docstring), ``HOMEPAGE``, ``CITATION`` and
    ``SUPERVISED_KEYS`` (for ``as_supervised=True``).  The tfds name is
    ``medkeras_<snake_case of the class name>`` unless the class sets ``name``;
    :func:`builder` and :func:`load` take the name without the prefix.

    Attributes
    ----------
    TEST_FRACTION : float
        Fraction of the groups that go to the ``test`` split (:func:`split_groups`).
    SPLIT_SEED : int
        Seed of the group permutation.
    NEEDS_FOLDER : bool
        False for builders that generate their data (``_scan`` then gets ``None``).

    Notes
    -----
    Preparation goes through tfds' temporary "incomplete" directory, which is deleted when
    anything raises: a folder that fails validation, in :meth:`_scan` or while an example
    is decoded, never leaves a dataset behind.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Pass the folder holding the dataset as manual_dir."
    TEST_FRACTION = 0.2
    SPLIT_SEED = 0
    NEEDS_FOLDER = True
    DESCRIPTION = None
    HOMEPAGE = None
    CITATION = None
    SUPERVISED_KEYS = None
    #: A builder whose examples have exactly the features (and supervised keys) of another,
    #: e.g. a synthetic stand-in for a real data set, names it here instead of repeating them.
    SAME_FEATURES_AS = None

    def __init_subclass__(cls, **kwargs):
        like = cls.__dict__.get("SAME_FEATURES_AS")
        if like is not None:
            cls._features = like._features
            cls.SUPERVISED_KEYS = like.SUPERVISED_KEYS
        if not cls.__dict__.get("name"):
            cls.name = PREFIX + tfds.core.naming.camelcase_to_snakecase(cls.__name__)
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            REGISTRY[cls.name] = cls

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        """The file that defines the builder (tfds reads its checksums file beside it).

        tfds 4.9.10's own look-up imports the ``importlib_resources`` backport, which it
        declares only for Python < 3.9 and etils ≥ 1.15 no longer brings: without this,
        preparing fails with ``No module named 'importlib_resources'``.
        """
        try:
            return epath.Path(inspect.getfile(cls))
        except (TypeError, OSError):  # defined interactively: no file (tfds does the same)
            return None

    # -- what subclasses implement -------------------------------------------------------

    @abc.abstractmethod
    def _features(self) -> dict:
        """The tfds features of an example, without ``group`` and ``key`` (the base adds them)."""

    @abc.abstractmethod
    def _scan(self, folder: pathlib.Path | None) -> list[Record]:
        """List and validate every example of ``folder`` (``None``: generated data).

        Raise :class:`DatasetFolderError` naming the file on anything missing, unreadable or
        mismatched: this runs before anything is written.
        """

    @abc.abstractmethod
    def _example(self, payload) -> dict:
        """The feature values of one example (without ``group`` and ``key``)."""

    # -- tfds ----------------------------------------------------------------------------

    def _info(self):
        features = dict(self._features())
        reserved = {"group", "key"} & set(features)
        if reserved:
            raise TypeError(f"{type(self).__name__}._features must not define "
                            f"{sorted(reserved)}: GroupedBuilder adds them")
        features.update(group=tfds.features.Text(), key=tfds.features.Text())
        description = self.DESCRIPTION or inspect.cleandoc(type(self).__doc__ or self.name)
        return tfds.core.DatasetInfo(
            builder=self, description=description,
            features=tfds.features.FeaturesDict(features),
            supervised_keys=self.SUPERVISED_KEYS, homepage=self.HOMEPAGE,
            citation=self.CITATION, metadata=tfds.core.MetadataDict(),
            disable_shuffling=True)

    def _source_folder(self, dl_manager):
        if not self.NEEDS_FOLDER:
            return None
        try:
            folder = dl_manager.manual_dir
        except (AssertionError, ValueError) as err:  # tfds: missing or empty manual dir
            raise DatasetFolderError(f"{self.name}: no source folder: {err}") from None
        return pathlib.Path(os.fspath(folder)).resolve()

    def _split_generators(self, dl_manager):
        folder = self._source_folder(dl_manager)
        metadata = self.info.metadata  # (loads a lazily read copy before it is replaced)
        metadata.clear()
        fingerprint = folder_fingerprint(folder)
        records = list(self._scan(folder))
        if not records:
            raise DatasetFolderError(f"{folder}: no examples found for {self.name}")
        seen = {}
        for record in records:
            if not isinstance(record.key, str) or not isinstance(record.group, str) \
                    or not record.key or not record.group:
                raise TypeError(f"{self.name}: keys and groups must be non-empty strings, "
                                f"got {record.key!r}, {record.group!r}")
            if record.key in seen:
                raise DatasetFolderError(f"{folder}: two examples with the key {record.key!r}")
            seen[record.key] = record
        test, train = split_groups([r.group for r in records], self.TEST_FRACTION,
                                   self.SPLIT_SEED)
        by_group = {}
        for record in sorted(records, key=lambda r: r.key):
            by_group.setdefault(record.group, []).append(record)
        splits, ordered = {}, {}
        for split, groups in (("train", train), ("test", test)):
            if not groups:
                continue
            ordered[split] = [r for g in groups for r in by_group[g]]
            ends = np.cumsum([len(by_group[g]) for g in groups]).tolist()
            splits[split] = {"groups": list(groups), "group_ends": ends}
        metadata.update({
            "source": {"folder": None if folder is None else str(folder),
                       "fingerprint": fingerprint},
            "split_rule": {"test_fraction": self.TEST_FRACTION, "seed": self.SPLIT_SEED,
                           "by": "group"},
            "splits": splits,
        })
        return {split: self._generate_examples(records)
                for split, records in ordered.items()}

    def _generate_examples(self, records):
        for rank, record in enumerate(records):
            try:
                example = self._example(record.payload)
            except DatasetFolderError:
                raise
            except Exception as err:
                raise DatasetFolderError(f"{self.name}: example {record.key!r} cannot be "
                                         f"prepared ({type(err).__name__}: {err})") from err
            # Shuffling is disabled: examples are written in this (group permutation) order.
            yield f"{rank:06d}/{record.key}", {**example, "group": record.group,
                                               "key": record.key}


# -- entry points --------------------------------------------------------------------------


def default_data_dir():
    """Where :func:`builder` prepares datasets: ``<medkeras cache>/datasets``.

    The cache is :func:`medkeras.weights.cache_dir` (``$MEDKERAS_HOME``, else
    ``$KERAS_HOME/models/medkeras``).
    """
    return os.path.join(cache_dir(), "datasets")


def builder_class(name):
    """The registered :class:`GroupedBuilder` subclass of a short name (``"kvasir_seg"``).

    Builders register themselves when their module is imported: the applications' dataset
    modules (``import apps.polyp.dataset``) and yours.

    >>> builder_class("no_such_dataset")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown dataset 'no_such_dataset'; registered: ...
    """
    short = name[len(PREFIX):] if name.startswith(PREFIX) else name
    try:
        return REGISTRY[PREFIX + short]
    except KeyError:
        known = ", ".join(sorted(n[len(PREFIX):] for n in REGISTRY)) or "none"
        raise ValueError(f"unknown dataset {name!r}; registered: {known} (a builder registers "
                         "itself when its module is imported, e.g. import "
                         "apps.polyp.dataset)") from None


def _is_prepared(tfds_builder):
    return (tfds_builder.data_path / "dataset_info.json").exists()


def builder(name, *, manual_dir=None, data_dir=None, config=None, **kwargs):
    """The prepared builder of a dataset: prepared on first use, again if its folder changed.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY` (``"kvasir_seg"``...); the tfds name
        (``"medkeras_kvasir_seg"``) is accepted too.
    manual_dir : path-like, optional
        The folder holding the dataset, as you have it (nothing is downloaded).  Needed the
        first time; afterwards the recorded folder is used.
    data_dir : path-like, optional
        Where prepared datasets live; default :func:`default_data_dir`.
    config : str or tfds.core.BuilderConfig, optional
        For builders with configurations.
    **kwargs
        Passed to the builder's constructor (e.g. ``version``).

    Returns
    -------
    GroupedBuilder
        Prepared: call ``.as_dataset(split=...)``, ``.info``, :func:`fraction_split`.

    Raises
    ------
    DatasetFolderError
        The folder is missing, or fails validation (the message names the file), or a
        builder needing a folder is used with none given and nothing prepared.

    Notes
    -----
    A prepared dataset records the folder it came from and a fingerprint of it (relative
    paths, sizes and modification times).  When the folder given (or, with none given, the
    recorded one, if it still exists) differs or has changed, the prepared version is
    deleted and prepared again, and one line is logged saying so.
    """
    cls = builder_class(name)
    data_dir = os.fspath(data_dir) if data_dir is not None else default_data_dir()
    folder = None
    if manual_dir is not None:
        folder = pathlib.Path(manual_dir).expanduser().resolve()
        if not folder.is_dir():
            state = "is not a folder" if folder.exists() else "is missing"
            raise DatasetFolderError(f"{folder}: {state} (the {cls.name[len(PREFIX):]} "
                                     f"source folder)")

    def make():
        return cls(data_dir=data_dir, config=config, **kwargs)

    prepared = make()
    if _is_prepared(prepared):
        source = dict(prepared.info.metadata or {}).get("source", {})
        recorded = source.get("folder")
        if folder is None and recorded is not None and pathlib.Path(recorded).is_dir():
            folder = pathlib.Path(recorded)
        if not cls.NEEDS_FOLDER or folder is None:
            return prepared
        changed = []
        if str(folder) != recorded:
            changed.append(f"folder {recorded} → {folder}")
        elif folder_fingerprint(folder) != source.get("fingerprint"):
            changed.append(f"files in {folder} changed")
        if not changed:
            return prepared
        logger.warning("%s: %s since it was prepared; preparing it again in %s",
                       cls.name[len(PREFIX):], changed[0], prepared.data_path)
        shutil.rmtree(os.fspath(prepared.data_path))
        prepared = make()
    elif cls.NEEDS_FOLDER and folder is None:
        instructions = inspect.cleandoc(cls.MANUAL_DOWNLOAD_INSTRUCTIONS or "")
        raise DatasetFolderError(
            f"{cls.name[len(PREFIX):]} is not prepared in {data_dir}: pass the folder holding "
            f"it, e.g. builder({cls.name[len(PREFIX):]!r}, manual_dir='/path/to/folder').\n"
            f"{instructions}")
    remove_incomplete(prepared)
    prepared.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=None if folder is None else os.fspath(folder), try_download_gcs=False))
    return prepared


def remove_incomplete(prepared):
    """Delete what an interrupted preparation left: tfds writes into
    ``incomplete.<random>_<version>/`` beside the version folder and renames it when done,
    so a killed run leaves that folder (tens of MB) behind; one log line says so."""
    parent = pathlib.Path(os.fspath(prepared.data_path)).parent
    if not parent.is_dir():
        return
    for leftover in sorted(parent.glob(f"{tfds.core.constants.INCOMPLETE_PREFIX}*")):
        if leftover.is_dir():
            logger.warning("%s: removing %s, left by an interrupted preparation",
                           prepared.name, leftover)
            shutil.rmtree(leftover, ignore_errors=True)


def load(name, *, split="train", manual_dir=None, data_dir=None, config=None,
         as_supervised=False, **kwargs):
    """``builder(name, ...).as_dataset(split=split, ...)``: a ``tf.data.Dataset`` of a split.

    ``split`` is any tfds split string: ``"train"``, ``"test"``, ``"train+test"``, or a
    group-exact training fraction from :func:`fraction_split`.  ``kwargs`` go to
    ``as_dataset`` (``batch_size``, ``shuffle_files``, ``decoders``, ``read_config``).
    """
    return builder(name, manual_dir=manual_dir, data_dir=data_dir, config=config).as_dataset(
        split=split, as_supervised=as_supervised, **kwargs)


def fraction_split(builder, fraction, *, split="train"):
    """The tfds split string holding the first ``fraction × groups`` groups of a split
    (rounded half up, at least one: :func:`~medkeras.data.splits.group_count`).

    The group order is the seeded permutation of :func:`split_groups` recorded when the
    dataset was prepared, and the examples are stored in that order, so the subsets are
    whole groups, nested across fractions (the 0.25 subset contains the 0.1 subset) and the
    same on every machine.  At least one group is always included.

    Parameters
    ----------
    builder : GroupedBuilder
        Prepared (from :func:`builder`).
    fraction : float in (0, 1]
    split : str
        ``"train"`` or ``"test"``.

    Returns
    -------
    str
        E.g. ``"train[:137]"``, for ``builder.as_dataset(split=...)`` or ``tfds.load``.
    """
    splits = dict(builder.info.metadata or {}).get("splits", {})
    if split not in splits:
        raise ValueError(f"{builder.name} has no group record for split {split!r} "
                         f"(has: {', '.join(splits) or 'none; is it prepared?'})")
    return f"{split}[:{prefix_length(splits[split]['group_ends'], fraction)}]"
