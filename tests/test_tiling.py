"""Tiled high-resolution mode: the tile plan covers the image with the asked overlap, blending of
per-tile maps with their own scale and shift gives back one seamless map, and the Predictor runs the
tiles of large images only, in input order, without aligning metric maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import randomize_, tiny_config
from PIL import Image

import depth_anything
from depth_anything import Predictor, build_model
from depth_anything.cli.__main__ import main
from depth_anything.inference.tiling import (
    TileBox,
    Tiling,
    blend_tiles,
    blend_weights,
    plan_tiles,
)
from depth_anything.transforms import InputSpec

# ---------------------------------------------------------------------------------------- the plan


def test_tiling_validates_its_values():
    with pytest.raises(ValueError, match="tile_size .* 13"):
        Tiling(13)
    with pytest.raises(ValueError, match="overlap .* 0.5"):
        Tiling(64, 0.5)
    with pytest.raises(ValueError, match="overlap .* -0.1"):
        Tiling(64, -0.1)
    with pytest.raises(ValueError, match="align"):
        Tiling(64, 0.25, "nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mosaic"):
        Tiling(64, 0.0, "mosaic")
    assert depth_anything.Tiling is Tiling  # the lazy public export


def _starts(spans):
    return sorted(set(spans))


@pytest.mark.parametrize("height, width", [(519, 518), (1000, 777), (200, 300), (4000, 130), (97, 1200)])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.49])
def test_plan_covers_every_pixel_with_the_overlap_and_ends_flush(height, width, overlap):
    tiling = Tiling(128, overlap)
    boxes = plan_tiles(height, width, tiling)
    covered = np.zeros((height, width), np.int32)
    for box in boxes:
        assert 0 <= box.top < box.bottom <= height and 0 <= box.left < box.right <= width
        assert box.height == min(128, height) and box.width == min(128, width)  # full tiles, or the side itself
        covered[box.slices] += 1
    assert (covered > 0).all()
    rows = _starts((b.top, b.bottom) for b in boxes)
    columns = _starts((b.left, b.right) for b in boxes)
    assert len(boxes) == len(rows) * len(columns)
    for spans, length in ((rows, height), (columns, width)):
        assert spans[0][0] == 0 and spans[-1][1] == length  # first at the border, last flush with it
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end - start >= tiling.overlap_pixels  # at least the asked overlap
            assert end - start < 128  # and each tile adds new pixels
    # raster order: row by row, left to right
    assert boxes == sorted(boxes, key=lambda b: (b.top, b.left))


def test_plan_of_an_image_smaller_than_a_tile_is_the_image():
    assert plan_tiles(100, 90, Tiling(128)) == [TileBox(0, 0, 100, 90)]


def test_tile_count_grows_linearly_with_area():
    tiling = Tiling(256, 0.25)
    counts = {k: len(plan_tiles(1000 * k, 1500 * k, tiling)) for k in (1, 2, 4, 8)}
    for k in (2, 4, 8):
        # area ×k²: the count follows within the rounding of a tile row/column per side
        assert 0.75 * k**2 <= counts[k] / counts[1] <= 1.1 * k**2, counts
    assert counts[8] / counts[4] == pytest.approx(4, rel=0.15)


def test_weights_are_positive_and_one_where_a_single_tile_covers():
    height, width = 300, 410
    boxes = plan_tiles(height, width, Tiling(128, 0.25))
    weights = blend_weights(boxes)
    cover = np.zeros((height, width), np.int32)
    for box in boxes:
        cover[box.slices] += 1
    for box, weight in zip(boxes, weights, strict=True):
        assert weight.shape == (box.height, box.width) and weight.min() > 0 and weight.max() <= 1
        alone = cover[box.slices] == 1
        np.testing.assert_array_equal(weight[alone], 1.0)
        assert (weight[~alone] < 1).any()  # ramps inside overlaps


# ---------------------------------------------------------------------------------------- blending


def _smooth_map(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    return (2.0 + np.sin(4 * x) * np.cos(3 * y) + 0.8 * x + 0.5 * y**2).astype(np.float64)


def _cut(truth, boxes, rng, scale=(0.4, 2.5), shift=(-2.0, 2.0)):
    return [rng.uniform(*scale) * truth[b.slices] + rng.uniform(*shift) for b in boxes]


@pytest.mark.parametrize("overlap", [0.1, 0.25, 0.4])
def test_mosaic_alignment_undoes_per_tile_scale_and_shift(overlap):
    truth = _smooth_map(300, 410)
    boxes = plan_tiles(*truth.shape, Tiling(96, overlap, "mosaic"))
    tiles = _cut(truth, boxes, np.random.default_rng(0))
    blended = blend_tiles(tiles, boxes, truth.shape, align="mosaic")
    # the first tile is the reference: its scale and shift carry over to the whole mosaic
    scale, shift = np.polyfit(truth[boxes[0].slices].ravel(), tiles[0].ravel(), 1)
    np.testing.assert_allclose(blended, scale * truth + shift, atol=1e-4 * abs(scale))
    unaligned = blend_tiles(tiles, boxes, truth.shape, align=None)
    assert np.abs(unaligned - (scale * truth + shift)).max() > 0.5  # without alignment it is far off


def test_global_alignment_fits_every_tile_to_the_low_resolution_guide():
    import cv2

    truth = _smooth_map(300, 410)
    low = cv2.resize(truth, (41, 30), interpolation=cv2.INTER_AREA)
    guide = cv2.resize(low, (410, 300), interpolation=cv2.INTER_LINEAR)  # what a whole-image prediction gives
    boxes = plan_tiles(*truth.shape, Tiling(96, 0.25, "global"))
    tiles = _cut(truth, boxes, np.random.default_rng(1))
    blended = blend_tiles(tiles, boxes, truth.shape, align="global", guide=guide)
    assert np.abs(blended - truth).max() < 0.02 * np.ptp(truth)  # the guide's scale, the tiles' detail
    assert np.abs(blended - truth).max() < 0.5 * np.abs(guide - truth).max()  # sharper than the guide


def test_global_alignment_does_not_drift_across_many_tiles():
    truth = _smooth_map(200, 2000)  # one long row of tiles
    rng = np.random.default_rng(2)
    boxes = plan_tiles(*truth.shape, Tiling(64, 0.25, "mosaic"))
    # small non-affine errors per tile: chained fits pass them on from tile to tile
    tiles = [t + 0.03 * rng.standard_normal() * (truth[b.slices] - truth[b.slices].mean()) ** 2
             for t, b in zip(_cut(truth, boxes, rng, (1.0, 1.0), (0.0, 0.0)), boxes, strict=True)]
    guided = np.abs(blend_tiles(tiles, boxes, truth.shape, align="global", guide=truth) - truth).max()
    chained = np.abs(blend_tiles(tiles, boxes, truth.shape, align="mosaic") - truth).max()
    assert len(boxes) > 100
    assert guided < 0.002 * np.ptp(truth)  # every tile tied to the same reference
    assert chained > 10 * guided  # chained fits pass each tile's error on to the next


def test_blend_has_no_seams_where_tiles_disagree():
    """Tiles that disagree by constant offsets (what alignment leaves over) cross-fade in the overlap:
    the error changes by a fraction of the offsets per pixel, not by a jump at a tile border."""
    truth = _smooth_map(300, 410)
    boxes = plan_tiles(*truth.shape, Tiling(128, 0.25))
    offsets = np.random.default_rng(3).permutation(np.linspace(-1.0, 1.0, len(boxes)))
    tiles = [truth[b.slices] + offset for b, offset in zip(boxes, offsets, strict=True)]
    error = blend_tiles(tiles, boxes, truth.shape, align=None) - truth
    steps = max(np.abs(np.diff(error, axis=0)).max(), np.abs(np.diff(error, axis=1)).max())
    smallest_gap = 2.0 / (len(boxes) - 1)  # any two tiles' offsets differ by at least this
    # a ramp over the ≥ 32-pixel overlap moves by ≤ 2/32 per pixel; a hard cut jumps by ≥ one gap (0.18)
    assert steps < 0.1 < smallest_gap
    assert np.abs(error).max() <= 1.0 + 1e-6  # a convex blend of the tiles


# ---------------------------------------------------------------------------------------- the Predictor


class CountingRuntime:
    """Runs a torch model (or maps the input itself) and records each batch's size and shape."""

    name = "counting"
    normalized_input = True

    def __init__(self, inner=None, spec: InputSpec | None = None, offset_per_call: float = 0.0) -> None:
        self.inner = inner
        self.input_spec = spec if spec is not None else inner.input_spec
        self.offset_per_call = offset_per_call
        self.batches: list[tuple[int, ...]] = []

    def run(self, batch: np.ndarray) -> torch.Tensor:
        offset = self.offset_per_call * len(self.batches)
        self.batches.append(batch.shape)
        if self.inner is not None:
            return self.inner.run(batch) + offset
        return torch.from_numpy(batch[:, 0].astype(np.float32)) + 5.0 + offset  # the normalised red channel


@pytest.fixture(scope="module")
def model():
    return randomize_(build_model(tiny_config()), seed=21).eval()


def _random(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_predictor_tiles_large_images_in_batches_and_keeps_order(model, tmp_path):
    from depth_anything.inference import TorchRuntime

    runtime = CountingRuntime(TorchRuntime(model))
    tiling = Tiling(28, 0.25)
    big, small = _random((60, 90)), _random((28, 60), seed=1)  # network inputs 28×42 and 28×56
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    predictor = Predictor(runtime, input_size=28, batch_size=5, tiling=tiling, prefetch=False)
    results = list(predictor.iter_results([big, tmp_path / "bad.png", small, big[:, ::-1]]))
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert results[1].error is not None and "bad.png" in results[1].error
    assert [r.depth.shape for r in results if r.ok] == [(60, 90), (28, 60), (60, 90)]
    assert all(np.isfinite(r.depth).all() for r in results if r.ok)
    tiles = len(plan_tiles(60, 90, tiling))
    assert tiles == 12
    tile_batches = [shape[0] for shape in runtime.batches if shape[2:] == (28, 28)]
    assert tile_batches == [5, 5, 2] * 2  # each big image's tiles, batch_size at a time
    # the whole-image runs: the two big images share a batch, the small one runs alone
    assert sorted(shape[0] for shape in runtime.batches if shape[2:] != (28, 28)) == [1, 2]


def test_images_not_larger_than_a_tile_run_as_without_tiling(model):
    image = _random((50, 80))
    plain = Predictor(model, input_size=28).predict_one(image)
    runtime = CountingRuntime(Predictor(model).runtime)
    tiled = Predictor(runtime, input_size=28, tiling=Tiling(50)).predict_one(image)
    np.testing.assert_array_equal(tiled, plain)
    assert len(runtime.batches) == 1


def _gradient_image(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    red = 40 + 160 * (x / width) * (0.5 + 0.5 * y / height)
    return np.dstack([red, np.full_like(red, 90), np.full_like(red, 150)]).astype(np.uint8)


def test_relative_tiles_are_aligned_to_the_whole_image_prediction():
    """Each runtime call adds its own offset (as a relative model's per-tile shift): aligned tiles come
    back on the first call's (the whole image's) scale."""
    image = _gradient_image(90, 130)
    spec = InputSpec(input_size=32, size_multiple=16)
    whole = Predictor(CountingRuntime(spec=spec), batch_size=1).predict_one(image)
    runtime = CountingRuntime(spec=spec, offset_per_call=3.0)
    tiled = Predictor(runtime, batch_size=1, tiling=Tiling(32, 0.25)).predict_one(image)
    assert len(runtime.batches) == 1 + len(plan_tiles(90, 130, Tiling(32, 0.25)))
    assert np.abs(tiled - whole).max() < 0.05 * np.ptp(whole)  # the offsets of up to 3 × 20 are gone


def test_metric_tiles_are_not_aligned():
    image = _gradient_image(90, 130)
    spec = InputSpec(input_size=32, size_multiple=16, output="metric", max_depth=20.0)
    runtime = CountingRuntime(spec=spec, offset_per_call=3.0)
    tiling = Tiling(32, 0.25)
    tiled = Predictor(runtime, batch_size=1, tiling=tiling).predict_one(image)
    boxes = plan_tiles(90, 130, tiling)
    # a pixel covered only by tile k keeps that call's offset 3·(k + 1): metres are taken as they come
    whole = Predictor(CountingRuntime(spec=spec), batch_size=1).predict_one(image)
    for k in (0, len(boxes) - 1):
        corner = (boxes[k].top, boxes[k].left) if k == 0 else (boxes[k].bottom - 1, boxes[k].right - 1)
        assert tiled[corner] - whole[corner] == pytest.approx(3.0 * (k + 1), abs=0.5)


def test_predictor_refuses_tiles_below_the_patch_size():
    spec = InputSpec(input_size=32, size_multiple=16)
    with pytest.raises(ValueError, match="tile_size 14 .* patch size 16"):
        Predictor(CountingRuntime(spec=spec), tiling=Tiling(14))


# ---------------------------------------------------------------------------------------- command line


def test_cli_predict_tile_writes_full_size_outputs(tmp_path, capsys, monkeypatch):
    import depth_anything.inference.predictor as predictor_module

    planned = []
    monkeypatch.setattr(predictor_module, "plan_tiles", lambda h, w, t: planned.append((h, w, t)) or plan_tiles(h, w, t))
    Image.fromarray(_random((200, 300))).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    code = main(["predict", str(tmp_path / "photo.png"), "--random-weights", "vitc", "--tile", "128",
                 "--tile-overlap", "0.3", "--outdir", str(out), "--formats", "npy,color", "--device", "cpu"])
    assert code == 0
    depth = np.load(out / "photo.npy")
    assert depth.shape == (200, 300) and np.isfinite(depth).all()
    assert (out / "photo_depth.png").is_file()
    assert planned == [(200, 300, Tiling(128, 0.3))]  # the flags reached the Predictor
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path / "photo.png"), "--tile-overlap", "0.5"])
    assert "argument --tile-overlap: must be in [0, 0.5)" in capsys.readouterr().err
