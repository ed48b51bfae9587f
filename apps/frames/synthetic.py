"""Synthetic colonoscopy frames labelled informative / non-informative, for demos and tests.

Informative frames are drawn by :func:`apps.polyp.synthetic.synthetic_frame` (a caricature of
colonoscopy, with 0 to 2 polyps); each is paired with a non-informative twin made from it
by :func:`apps.frames.degrade.degrade` (kind cycling through the kinds so that every kind
is present in a small set, severity drawn from the kind's clearly non-informative range).
A frame and its twin form one group, a "video": splitting by group never puts a frame in
training and its degraded twin in testing.  Nothing is downloaded.

Like the polyp frames they come from, these are for demonstrations and tests only: a
model's scores on them say nothing about its performance on real colonoscopy.

>>> frames = synthetic_labelled_frames(4, seed=0, shape=(64, 80))
>>> [(f.label, f.kind, f.video) for f in frames]   # doctest: +NORMALIZE_WHITESPACE
[(1, '', 'video0000'), (0, 'motion_blur', 'video0000'),
 (1, '', 'video0001'), (0, 'defocus', 'video0001')]
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import numpy as np

from .degrade import check_kinds, degrade

__all__ = ["LabelledFrame", "frame_seed", "pair_kind", "synthetic_labelled_frames",
           "synthetic_pair"]


class LabelledFrame(NamedTuple):
    """A labelled frame.

    ``image``: ``(H, W, 3)`` ``uint8`` RGB; ``label``: 1 informative, 0 non-informative;
    ``kind``: how it was degraded (``""`` for an informative frame); ``video``: its group;
    ``severity``: of the degradation (``None`` for an informative frame); ``name``: unique,
    ``"<video>/informative"`` or ``"<video>/<kind>"``.
    """
    image: np.ndarray
    label: int
    kind: str
    video: str
    severity: float | None
    name: str


def _check_integer(value, what, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def frame_seed(seed, index):
    """The :func:`~apps.polyp.synthetic.synthetic_frame` seed of pair ``index`` of ``seed``.

    Drawn from ``numpy.random.SeedSequence([seed, index])``, so that sets made with
    different seeds share no frame.

    >>> frame_seed(0, 1) == frame_seed(0, 1) != frame_seed(1, 0)
    True
    """
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def pair_kind(index, kinds=None):
    """The degradation of pair ``index``: ``kinds[index % len(kinds)]`` (default all kinds).

    >>> pair_kind(0), pair_kind(9), pair_kind(3, ["defocus", "wall_contact"])
    ('motion_blur', 'defocus', 'wall_contact')
    """
    kinds = check_kinds(kinds)
    return kinds[_check_integer(index, "index") % len(kinds)]


@functools.lru_cache(maxsize=4)
def _pair(index, seed, shape, kinds):
    from ..polyp.synthetic import synthetic_frame

    video = f"video{index:04d}"
    image = synthetic_frame(seed=frame_seed(seed, index), shape=shape).image
    kind = pair_kind(index, kinds)
    degraded = degrade(image, kind=kind, rng=np.random.default_rng([seed, index, 1]))
    for array in (image, degraded.image):
        array.setflags(write=False)   # cached: shared between calls
    return (LabelledFrame(image, 1, "", video, None, f"{video}/informative"),
            LabelledFrame(degraded.image, 0, kind, video, degraded.severity,
                          f"{video}/{kind}"))


def synthetic_pair(index, *, seed=0, shape=(288, 352), kinds=None):
    """Pair ``index`` of a synthetic set: an informative frame and its degraded twin.

    Parameters
    ----------
    index : int >= 0
        The pair (its video is ``f"video{index:04d}"``).
    seed : int >= 0
        Seed of the set.
    shape : (int, int)
        ``(H, W)`` of the frames, at least 32×32.
    kinds : sequence of str, optional
        Degradations used, in turn (pair ``i`` gets ``kinds[i % len(kinds)]``); default
        all of :data:`apps.frames.degrade.KINDS`.

    Returns
    -------
    informative, non_informative : LabelledFrame
        Read-only images (copy them to modify).
    """
    index = _check_integer(index, "index")
    seed = _check_integer(seed, "seed")
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (height, width), got {shape!r}") from None
    if len(shape) != 2:
        raise ValueError(f"shape must be (height, width), got {shape!r}")
    return _pair(index, seed, shape, check_kinds(kinds))


def synthetic_labelled_frames(n, *, seed=0, shape=(288, 352), kinds=None):
    """``n`` synthetic labelled frames, half informative, half their degraded twins.

    Parameters
    ----------
    n : int
        Number of frames, even and at least 2: ``n / 2`` pairs (videos).
    seed : int >= 0
        Everything follows from it: the same arguments give the same pixels.
    shape : (int, int)
        ``(H, W)`` of the frames, at least 32×32; default 288×352.
    kinds : sequence of str, optional
        Degradations used, in turn; default all of :data:`apps.frames.degrade.KINDS`.

    Returns
    -------
    list of LabelledFrame
        In pair order: informative frame of video 0, its twin, informative frame of
        video 1, ...

    Raises
    ------
    ValueError
        ``n`` odd or < 2, a bad seed, shape or kind.
    """
    n = _check_integer(n, "n", minimum=2)
    if n % 2:
        raise ValueError(f"n must be even (informative frames and their degraded twins), "
                         f"got {n}")
    frames = []
    for index in range(n // 2):
        frames.extend(synthetic_pair(index, seed=seed, shape=shape, kinds=kinds))
    return frames
