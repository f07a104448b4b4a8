"""Flip-consistency confidence: the relative disagreement of hand-made maps, and the built-in model's
prediction of an image against its mirror image's, mirrored back."""

from __future__ import annotations

import numpy as np
import pytest

import depth_anything
from depth_anything.errors import ImageReadError
from depth_anything.inference.confidence import (
    CONFIDENCE_SCALE,
    confidence_from_disagreement,
    confidence_score,
    flip_consistency,
    flip_disagreement,
    iter_results_with_confidence,
    predict_with_confidence,
)


def test_disagreement_is_relative_so_metres_and_disparity_read_the_same():
    depth = np.array([[1.0, 2.0, 4.0]])
    flipped = np.array([[1.1, 2.0, 3.0]])
    expected = [[0.1 / 1.05, 0.0, 1.0 / 3.5]]
    np.testing.assert_allclose(flip_disagreement(depth, flipped), expected, rtol=1e-6)
    np.testing.assert_allclose(flip_disagreement(depth * 1000, flipped * 1000), expected, rtol=1e-6)


def test_invalid_pixels_have_no_confidence_and_agreement_has_full_confidence():
    depth = np.array([[2.0, np.nan, 2.0, 2.0]])
    flipped = np.array([[2.0, 2.0, np.inf, 2.0 * 1.05 / 0.95]])  # last: 10 % apart = twice the scale
    disagreement = flip_disagreement(depth, flipped)
    assert disagreement[0, 0] == 0 and np.isinf(disagreement[0, 1]) and np.isinf(disagreement[0, 2])
    confidence = confidence_from_disagreement(disagreement)
    np.testing.assert_allclose(confidence, [[1.0, 0.0, 0.0, 1 / (1 + 0.1 / CONFIDENCE_SCALE)]], rtol=1e-5)
    assert confidence_score(confidence) == pytest.approx(
        (1.0 + 1 / 3) / 2, rel=1e-5
    )  # invalid pixels left out
    assert confidence_score(np.zeros((2, 2))) == 0.0


def test_near_zero_disparity_does_not_blow_up():
    depth = np.array([[0.0, 1.0, 1.0, 1.0]])  # the sky of a relative model: disparity 0
    flipped = np.array([[1e-6, 1.0, 1.0, 1.0]])
    assert flip_disagreement(depth, flipped)[0, 0] == pytest.approx(
        1e-6 / 0.01, rel=1e-3
    )  # floor: 1 % of median


def test_the_second_map_is_the_mirror_images_prediction_mirrored_back(builtin_predictor, scene_image):
    consistency = predict_with_confidence(builtin_predictor, scene_image)
    np.testing.assert_array_equal(consistency.depth, builtin_predictor.predict_one(scene_image))
    mirrored_back = builtin_predictor.predict_one(np.ascontiguousarray(scene_image[:, ::-1]))[:, ::-1]
    np.testing.assert_allclose(consistency.flipped, mirrored_back, rtol=1e-5, atol=1e-6)
    expected = flip_consistency(consistency.depth, mirrored_back)
    np.testing.assert_allclose(consistency.confidence, expected.confidence, atol=1e-5)
    assert 0 < consistency.score < 1 and consistency.score == pytest.approx(expected.score, abs=1e-5)
    assert consistency.confidence.shape == scene_image.shape[:2]


def test_a_batch_keeps_order_and_names_a_bad_file(builtin_predictor, scene_image, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    other = np.ascontiguousarray(scene_image[::-1])
    pairs = list(iter_results_with_confidence(builtin_predictor, [scene_image, str(bad), other]))
    assert [result.index for result, _ in pairs] == [0, 1, 2]
    assert pairs[1][1] is None and "broken.png" in pairs[1][0].error and pairs[1][0].source == str(bad)
    for (result, consistency), image in zip((pairs[0], pairs[2]), (scene_image, other), strict=True):
        np.testing.assert_array_equal(consistency.depth, builtin_predictor.predict_one(image))
        np.testing.assert_array_equal(result.depth, consistency.depth)
    with pytest.raises(ImageReadError, match="broken.png"):
        predict_with_confidence(builtin_predictor, str(bad))


@pytest.fixture(scope="module")
def builtin_predictor():
    return depth_anything.open_predictor("default", batch_size=4)


@pytest.fixture(scope="module")
def scene_image():
    from depth_anything.data.synthetic import SynthConfig, generate_sample

    return generate_sample(3, 0, SynthConfig(width=64, height=48)).image


def test_predict_writes_the_confidence_picture(builtin_predictor, scene_image, tmp_path):
    from PIL import Image

    from depth_anything.cli.__main__ import main

    Image.fromarray(scene_image).save(tmp_path / "scene.png")
    out = tmp_path / "out"
    assert (
        main(["predict", str(tmp_path / "scene.png"), "--formats", "confidence,npy", "--outdir", str(out)])
        == 0
    )
    picture = np.asarray(Image.open(out / "scene_confidence.png"))
    expected = predict_with_confidence(builtin_predictor, scene_image).confidence
    np.testing.assert_allclose(picture / 255, expected, atol=1 / 255 + 1e-6)
    np.testing.assert_array_equal(np.load(out / "scene.npy"), builtin_predictor.predict_one(scene_image))


def test_an_image_the_network_fails_on_does_not_shift_the_next_images_results():
    """A decoded image whose prediction fails (its mirror fails too) must not leave its mirror's result to
    be taken for the next input's."""
    from depth_anything.inference.predictor import PredictionResult

    class FailsOnNarrowImages:  # stands in for a runtime that refuses some decoded images
        def iter_results(self, images):
            for index, rgb in enumerate(images):
                narrow = rgb.shape[1] < 20
                depth = None if narrow else np.full(rgb.shape[:2], 1.0 + rgb.shape[1], np.float32)
                yield PredictionResult(rgb, depth, "too narrow" if narrow else None, None, index)

    narrow, wide = np.zeros((16, 8, 3), np.uint8), np.zeros((16, 40, 3), np.uint8)
    outcomes = list(iter_results_with_confidence(FailsOnNarrowImages(), [narrow, wide]))
    assert [(r.index, r.error, c is None) for r, c in outcomes] == [(0, "too narrow", True), (1, None, False)]
    assert outcomes[1][0].depth.shape == (16, 40) and outcomes[1][1].score == pytest.approx(1.0)
