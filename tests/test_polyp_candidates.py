"""apps.polyp.candidates: handcrafted polyp candidates on synthetic colonoscopy frames."""

import numpy as np
import pytest
from scipy import ndimage

from apps.polyp.candidates import (Candidates, candidate_hits, colour_edges,
                                   detect_candidates, evaluate_candidates, field_of_view,
                                   glare_mask, polyp_labels, polyps_hit, vote_maps)

# --------------------------------------------------------------------------- helpers

#: Planted polyps: centre row, centre col, semi-axes (rows, cols), in a 240 × 320 frame.
POLYPS = ((80, 90, 26, 20), (150, 220, 18, 24), (170, 80, 14, 14))
SPECULAR = (60, 250, 5)


def synthetic_frame(seed=0, shape=(240, 320), polyps=POLYPS):
    """A colonoscopy-like frame and the masks of its polyps.

    Reddish mucosa (vignetted light, blotches, fine texture, noise) in an octagonal field of
    view on black; each polyp a lit dome with a shadowed rim; a dark fold curving across
    the frame (through the first polyp); a white specular highlight.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(float)
    light = 1 - 0.35 * ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / ((h / 2) ** 2 + (w / 2) ** 2)
    grey = (140 * light + 25 * ndimage.gaussian_filter(rng.normal(size=shape), 12)
            + 4 * ndimage.gaussian_filter(rng.normal(size=shape), 1.0))
    masks = []
    for row, col, ry, rx in polyps:
        rho = np.sqrt(((yy - row) / ry) ** 2 + ((xx - col) / rx) ** 2)
        dome = np.sqrt(np.clip(1 - rho ** 2, 0, 1))           # lit from the scope ...
        shadow = np.exp(-((rho - 1.15) / 0.12) ** 2)          # ... a shadow around it
        grey += 45 * dome - 30 * shadow
        masks.append(rho < 1)
    grey -= 35 * np.exp(-((yy - (0.25 * h + 0.0015 * (xx - w / 2) ** 2)) / 3.0) ** 2)
    frame = np.stack([grey * 1.15, grey * 0.55, grey * 0.45], axis=2)
    sr, sc, radius = SPECULAR
    frame[(yy - sr) ** 2 + (xx - sc) ** 2 < radius ** 2] = 255
    octagon = np.minimum(yy, h - 1 - yy) + np.minimum(xx, w - 1 - xx) > 0.11 * (h + w)
    frame = np.clip(frame + rng.normal(scale=1.5, size=frame.shape), 0, 255).astype(np.uint8)
    frame[~octagon] = rng.integers(0, 6, size=(int((~octagon).sum()), 3))
    return frame, masks


def iou(box, other):
    inter = (max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
             * max(0.0, min(box[3], other[3]) - max(box[1], other[1])))
    def area(b):
        return (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area(box) + area(other) - inter)


@pytest.fixture(scope="module")
def frame():
    return synthetic_frame(seed=0)


@pytest.fixture(scope="module")
def found(frame):
    return detect_candidates(frame[0], work_size=320, max_candidates=10)


# --------------------------------------------------------------------------- detection


def test_every_planted_polyp_is_hit_by_a_top_candidate(frame, found):
    _, masks = frame
    for mask in masks:
        hits = candidate_hits(found, mask)
        assert (hits[:5] > 0).any()
    labels = sum((k + 1) * m for k, m in enumerate(masks))
    assert polyps_hit(found.centres[:3], labels).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_other_noise_draws(seed):
    image, masks = synthetic_frame(seed=seed)
    found = detect_candidates(image, work_size=320, max_candidates=10)
    assert all((candidate_hits(found, m)[:5] > 0).any() for m in masks)


def test_candidates_are_well_formed_and_bounded(frame, found):
    image = frame[0]
    assert isinstance(found, Candidates)
    n = len(found.scores)
    assert 3 <= n <= 10
    assert found.centres.shape == (n, 2) and found.boxes.shape == (n, 4)
    assert found.radii.shape == (n,)
    assert np.all(np.diff(found.scores) <= 0)
    assert np.all((found.scores >= 0) & (found.scores <= 1))
    y0, x0, y1, x1 = found.boxes.T
    assert np.all((0 <= y0) & (y0 < y1) & (y1 <= image.shape[0]))
    assert np.all((0 <= x0) & (x0 < x1) & (x1 <= image.shape[1]))
    # every candidate lies in the field of view, none on the black corners
    rows, cols = np.round(found.centres).astype(int).T
    assert field_of_view(image, margin=0)[rows, cols].all()
    assert len(detect_candidates(image, work_size=320, max_candidates=2).scores) == 2


def test_the_box_encloses_the_polyp(frame, found):
    _, masks = frame
    for (row, col, ry, rx), mask in zip(POLYPS, masks):
        first = np.flatnonzero(candidate_hits(found, mask) > 0)[0]
        truth = (row - ry, col - rx, row + ry + 1, col + rx + 1)
        assert iou(found.boxes[first], truth) > 0.6


def test_no_candidate_on_the_highlight_or_the_fold(frame, found):
    rows, cols = found.centres.T
    sr, sc, radius = SPECULAR
    assert np.all(np.hypot(rows - sr, cols - sc) > 2 * radius)
    h, w = frame[0].shape[:2]
    rows, cols = found.centres[:3].T
    fold = 0.25 * h + 0.0015 * (cols - w / 2) ** 2
    assert np.all(np.abs(rows - fold) > 4)


def test_coordinates_map_back_from_the_working_size(frame, found):
    """A frame twice as large, worked on at the same size: the same places, doubled."""
    image, _ = frame
    big = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    scaled = detect_candidates(big, work_size=320, max_candidates=10)
    assert np.allclose(scaled.centres, 2 * found.centres + 0.5)
    assert np.allclose(scaled.boxes, 2 * found.boxes)
    assert np.allclose(scaled.radii, 2 * found.radii)
    assert np.allclose(scaled.scores, found.scores)


def test_a_featureless_frame_has_no_candidates():
    flat = np.full((120, 160, 3), (150, 80, 70), np.uint8)
    found = detect_candidates(flat, work_size=160)
    assert found.centres.shape == (0, 2) and found.boxes.shape == (0, 4)
    assert found.scores.shape == (0,)


def test_voting_towards_the_brighter_side():
    """A dark disc (a lumen) gets no candidate by default; both-way voting finds it."""
    image = np.full((160, 160, 3), (170, 90, 80), np.uint8)
    yy, xx = np.mgrid[:160, :160]
    image[(yy - 80) ** 2 + (xx - 80) ** 2 < 30 ** 2] = (40, 15, 10)
    bright = detect_candidates(image, work_size=160)
    assert np.all(np.hypot(*(bright.centres - 80).T) > 30)
    assert np.all(bright.scores < 0.2)
    both = detect_candidates(image, work_size=160, dark_weight=1.0)
    assert np.hypot(*(both.centres[0] - 80)) < 6 and both.scores[0] > 0.8


# --------------------------------------------------------------------------- steps


def test_field_of_view_drops_black_corners_and_green_overlay():
    image, _ = synthetic_frame(seed=0)
    image = image.copy()
    image[200:232, 40:90] = (0, 190, 148)  # a scope-position thumbnail
    fov = field_of_view(image, margin=0)
    assert not fov[0, 0] and not fov[-1, -1] and fov[120, 160]
    assert not fov[200:232, 40:90].any()
    # the dark lumen inside the frame stays in
    dark = image.copy()
    dark[100:140, 140:180] = 0
    assert field_of_view(dark, margin=0)[120, 160]
    assert field_of_view(dark, margin=3).sum() < field_of_view(dark, margin=0).sum()


def test_glare_mask_marks_the_highlight(frame):
    glare = glare_mask(frame[0])
    sr, sc, _ = SPECULAR
    assert glare[sr, sc] and glare[sr, sc + 6]
    assert glare.mean() < 0.01


def test_colour_edges_of_a_disc_point_outwards_to_the_darker_side():
    image = np.full((100, 100, 3), 60, np.uint8)
    yy, xx = np.mgrid[:100, :100]
    image[(yy - 50) ** 2 + (xx - 50) ** 2 < 20 ** 2] = 160
    edges = colour_edges(image)
    dist = np.hypot(edges.rows - 50, edges.cols - 50)
    assert len(dist) > 100 and np.all(np.abs(dist - 20) < 2)
    outward = np.stack([edges.rows - 50, edges.cols - 50], 1) / dist[:, None]
    # the normal points up the gradient: towards the bright inside
    assert np.all(np.sum(edges.normals * outward, axis=1) < -0.9)


def test_vote_maps_peak_at_the_centre_of_a_circle():
    image = np.full((120, 120, 3), 60, np.uint8)
    yy, xx = np.mgrid[:120, :120]
    image[(yy - 60) ** 2 + (xx - 40) ** 2 < 25 ** 2] = 160
    maps = vote_maps(colour_edges(image), (120, 120), (25.0,))
    (score, size), = maps
    row, col = np.unravel_index(np.argmax(score), score.shape)
    assert abs((row + 0.5) * size - 60) < size + 1 and abs((col + 0.5) * size - 40) < size + 1
    assert score.max() > 0.8


# --------------------------------------------------------------------------- evaluation


def test_hits_and_polyps_hit():
    mask = np.zeros((100, 120), bool)
    mask[5:15, 5:15] = True
    mask[30:45, 30:50] = True
    mask[99, 0] = True                      # JPEG speck: 1 pixel < 0.01% of 12000
    centres = np.array([[10.0, 10.0], [20.0, 20.0], [40.2, 44.6], [100.0, 5.0]])
    hits = candidate_hits(centres, mask)
    assert hits.dtype == np.int64 and (hits > 0).tolist() == [True, False, True, False]
    assert hits.tolist() == [1, 0, 2, 0]
    assert polyps_hit(centres, mask).tolist() == [True, True]
    assert polyps_hit(centres, mask, min_fraction=0).tolist() == [True, True, False]
    assert polyps_hit(centres[1:2], mask).tolist() == [False, False]
    labels = np.zeros((100, 120), np.int32)
    labels[5:15, 5:15], labels[30:45, 30:50] = 2, 1
    assert polyps_hit(centres[:1], labels).tolist() == [False, True]
    assert polyps_hit(np.zeros((0, 2)), mask[..., None]).tolist() == [False, False]
    found = Candidates(centres, np.zeros((4, 4)), np.ones(4), np.ones(4))
    assert (candidate_hits(found, labels) > 0).tolist() == [True, False, True, False]
    # the dataset builder's mask feature: (H, W, 1) uint8, 1 = polyp: components again
    feature = mask[..., None].astype(np.uint8)
    assert polyps_hit(centres[:1], feature).tolist() == [True, False]
    assert candidate_hits(found, feature).tolist() == [1, 0, 2, 0]
    assert candidate_hits(centres, labels).tolist() == [2, 0, 1, 0]
    assert candidate_hits(centres, mask, min_fraction=0.05).tolist() == [0, 0, 0, 0]
    numbered, count = polyp_labels(mask)
    assert count == 2 and set(np.unique(numbered)) == {0, 1, 2}
    assert polyp_labels(mask, min_fraction=0)[1] == 3
    assert polyp_labels(labels)[0] is not None and polyp_labels(labels)[1] == 2


def test_evaluate_candidates_counts():
    mask = np.zeros((40, 40), bool)
    mask[5:15, 5:15] = True
    mask[25:35, 25:35] = True
    image = np.zeros((40, 40, 3), np.uint8)
    fixed = {0: [[30, 30], [1, 1], [10, 10]], 1: [[1, 1]]}
    calls = iter([0, 1])

    def detector(_):
        centres = np.array(fixed[next(calls)], float)
        n = len(centres)
        return Candidates(centres, np.zeros((n, 4)), np.linspace(1, 0, n), np.ones(n))

    result = evaluate_candidates([(image, mask), (image, mask)], detector=detector,
                                 limits=(1, 3))
    assert result["frames"] == 2 and result["polyps"] == 4
    assert result[1] == {"sensitivity": 0.25, "candidates_per_frame": 1.0,
                         "frames_all_hit": 0.0}
    assert result[3]["sensitivity"] == 0.5 and result[3]["candidates_per_frame"] == 2.0
    assert result[3]["frames_all_hit"] == 0.5
    assert result["seconds_per_frame"] >= 0


def test_evaluate_candidates_with_the_detector():
    frames = [synthetic_frame(seed=s) for s in (3, 4)]
    pairs = [(image, sum((k + 1) * m for k, m in enumerate(masks)).astype(np.int32))
             for image, masks in frames]
    result = evaluate_candidates(pairs, limits=(5,), work_size=320)
    assert result["polyps"] == 6 and result[5]["sensitivity"] == 1.0
    assert result[5]["candidates_per_frame"] == 5


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("image, message", [
    ([[0]], "numpy array"),
    (np.zeros((32, 32), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((32, 32, 4), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((32, 32, 3), np.float32), "uint8"),
    (np.zeros((8, 32, 3), np.uint8), "at least 16"),
])
def test_bad_frames(image, message):
    with pytest.raises(ValueError, match=message):
        detect_candidates(image)
    with pytest.raises(ValueError, match=message):
        field_of_view(image)


@pytest.mark.parametrize("options, message", [
    ({"scales": ()}, "scales"),
    ({"scales": (1.0, 10.0)}, "scales"),
    ({"scales": 5}, "scales"),
    ({"max_candidates": 0}, "max_candidates"),
    ({"max_candidates": 2.5}, "max_candidates"),
    ({"work_size": 8}, "work_size"),
    ({"min_score": -1}, "min_score"),
    ({"nms_radius": float("nan")}, "nms_radius"),
    ({"band": 1.0}, "band"),
    ({"dark_weight": 2}, "dark_weight"),
    ({"edge_low": 5, "edge_high": 2}, "edge_low"),
    ({"edge_sigma": 0}, "edge_sigma"),
    ({"min_edge_length": 0}, "min_edge_length"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        detect_candidates(np.zeros((32, 32, 3), np.uint8), **options)


def test_bad_evaluation_inputs():
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        candidate_hits(np.zeros(3), np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="mask"):
        candidate_hits(np.zeros((1, 2)), np.zeros((5, 5), float))
    with pytest.raises(ValueError, match="min_fraction"):
        candidate_hits(np.zeros((1, 2)), np.zeros((5, 5), bool), min_fraction=-1)
    with pytest.raises(ValueError, match="mask"):
        polyps_hit(np.zeros((1, 2)), np.zeros(5, bool))
    with pytest.raises(ValueError, match="mask"):
        polyps_hit(np.zeros((1, 2)), -np.ones((5, 5), int))
    with pytest.raises(ValueError, match="no frames"):
        evaluate_candidates([])
    with pytest.raises(ValueError, match="options"):
        evaluate_candidates([], detector=lambda image: None, work_size=256)
    with pytest.raises(ValueError, match="limit"):
        evaluate_candidates([], limits=(0,))
    with pytest.raises(ValueError, match="valid"):
        colour_edges(np.zeros((20, 20, 3)), np.ones((10, 10), bool))
