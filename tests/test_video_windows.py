"""Offline (windowed) and streaming depth of whole videos with Video Depth Anything: equal to the official
`infer_video_depth` / `infer_video_depth_one` outputs (tests/fixtures/vda, tools/make_vda_fixtures.py),
and the windowing rules checked one by one on a small model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_anything.errors import VideoError
from depth_anything.inference.video_windows import (
    StreamingVideoDepth,
    infer_video_depth,
    iter_streaming_depth,
    iter_video_depth,
    reference_scale_shift,
    video_input_size,
)
from depth_anything.models import ModelConfig
from depth_anything.models.video_depth_anything import VideoDepthAnything, build_video_model
from depth_anything.transforms import InputSpec, resize_depth

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_vda_fixtures", ROOT / "tools" / "make_vda_fixtures.py")
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models run on a few dozen tokens per frame, where a second thread costs more in
    synchronisation than it saves (ten times slower on a busy machine); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def official():
    with np.load(recipe.FIXTURE) as data:
        return {key: data[key] for key in data.files}


def _seeded_vits(metric: bool) -> VideoDepthAnything:
    model = build_video_model("vits", metric=metric, init_weights=False).eval()
    model.load_state_dict(recipe.seeded_state_dict(model.state_dict()), strict=True)
    return model


@pytest.fixture(scope="module")
def tiny():
    """A small relative VDA with random weights, for the rules that need no reference."""
    config = ModelConfig(encoder="tiny", embed_dim=32, depth=4, num_heads=2, layer_indices=(0, 1, 2, 3),
                         features=32, out_channels=(16, 32, 32, 64))
    torch.manual_seed(0)
    model = VideoDepthAnything(config).eval()
    with torch.no_grad():
        model.head.scratch.output_conv2[2].bias.fill_(0.5)  # keep the outputs above the ReLU
    return model


def _clip(frames: int, height: int = 20, width: int = 28, seed: int = 0) -> np.ndarray:
    return recipe.synthetic_clip(frames, height, width, seed)


def _assert_matches(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape and ours.dtype == np.float32
    spread = float(reference.max() - reference.min())
    assert spread > 0.1  # a flat reference would match too easily
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-4 * spread)


# --------------------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("kind", ["relative", "metric"])
def test_offline_matches_official(kind, official):
    settings = recipe.OFFLINE
    clip = _clip(settings["frames"], settings["height"], settings["width"], settings["seed"])
    ours = infer_video_depth(_seeded_vits(kind == "metric"), clip, input_size=settings["input_size"])
    _assert_matches(ours, official[f"offline_{kind}"])


def test_relative_and_metric_references_differ_by_the_alignment(official):
    """The metric reference skips the windows' alignment, so the two may not agree: the first window
    (frames 0 … 23) is the same, the later ones are not."""
    relative, metric = official["offline_relative"], official["offline_metric"]
    np.testing.assert_array_equal(relative[:24], metric[:24])
    assert np.abs(relative[24:] - metric[24:]).max() > 100 * 1e-4 * float(relative.max() - relative.min())


def test_streaming_matches_official(official):
    settings = recipe.STREAMING
    clip = _clip(settings["frames"], settings["height"], settings["width"], settings["seed"])
    ours = np.stack(list(iter_streaming_depth(_seeded_vits(False), clip, input_size=settings["input_size"])))
    _assert_matches(ours, official["streaming"])


# --------------------------------------------------------------------------------------- rules
def test_input_size_rule_for_elongated_frames():
    assert video_input_size(720, 1280, 518) == 518  # 16:9 (1.78) keeps the size
    assert video_input_size(480, 854, 518) == 518  # 1.779 is not above 1.78
    assert video_input_size(1080, 2560, 518) == 392  # int(518·1.777/2.370) = 388 → 28 patches
    assert video_input_size(2560, 1080, 518) == 392  # portrait alike
    assert video_input_size(1080, 2488, 518) == 392  # int() first: 399.57 → 399 → 28.5 → 28 (half to even)
    assert video_input_size(20, 48, 42) == 28  # int(42·1.777/2.4) = 31 → round(2.21) = 2 patches
    assert video_input_size(10, 4000, 518) == 14  # never below one patch


def test_fit_scale_shift_recovers_an_affine_map():
    rng = np.random.RandomState(0)
    prediction = rng.rand(2, 16, 24).astype(np.float32)
    scale, shift = reference_scale_shift(prediction, prediction * 2.5 - 0.25)
    assert scale.dtype == np.float32 and shift.dtype == np.float32  # float32 sums, as the reference
    assert scale == pytest.approx(2.5, abs=1e-3) and shift == pytest.approx(-0.25, abs=1e-3)
    assert reference_scale_shift(np.ones((4, 4), np.float32), rng.rand(4, 4)) == (1.0, 0.0)  # singular: identity


@pytest.mark.parametrize("frames", [1, 5, 22, 23, 24, 33, 44, 45, 46])
def test_every_frame_gets_one_map_at_its_size(tiny, frames):
    depth = infer_video_depth(tiny, _clip(frames), input_size=28)
    assert depth.shape == (frames, 20, 28) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() >= 0


def test_a_short_clip_is_one_window_padded_with_its_last_frame(tiny):
    clip = _clip(5)
    ours = infer_video_depth(tiny, clip, input_size=28)
    padded = np.concatenate([clip, np.repeat(clip[-1:], 27, axis=0)])
    inputs = torch.stack([torch.from_numpy(_prepared(frame)) for frame in padded])[None]
    with torch.no_grad():
        window = resize_depth(tiny(inputs)[0], (20, 28)).numpy()
    np.testing.assert_allclose(ours, window[:5], rtol=0, atol=1e-6)


def _prepared(frame: np.ndarray) -> np.ndarray:
    """The reference's preprocessing, for a 20×28 frame at input_size 28 (→ 28×42), written out."""
    import cv2

    image = cv2.resize(frame.astype(np.float32) / 255.0, (42, 28), interpolation=cv2.INTER_CUBIC)
    image = (image - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    return np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32)


class _DriftingNetwork(torch.nn.Module):
    """Stands in for the network: each call maps the inputs' first channel through another curve, so that
    windows disagree (scale, shift and shape) and the alignment has work to do, clipping included."""

    input_spec = InputSpec(input_size=28)

    def __init__(self, metric: bool) -> None:
        super().__init__()
        self.metric = metric
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # device and dtype, as a model's
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        value = x[0, :, 0]
        return ((value * (0.4 + 0.3 * self.calls) + 0.5 * self.calls) ** 2 * (1 + 0.3 * torch.sin(self.calls * value)))[None]


def _two_pass_reference(model: torch.nn.Module, clip: np.ndarray, metric: bool) -> np.ndarray:
    """The official offline algorithm as it is written there: every window's raw maps first (keyframe
    inputs carried over), then one pass aligning, clipping and blending them; whole clip in memory."""
    keyframes, frames = [0, 12, 24, 25, 26, 27, 28, 29, 30, 31], len(clip)
    padding = (22 - frames % 22) % 22 + 10
    inputs = [torch.from_numpy(_prepared(frame)) for frame in list(clip) + [clip[-1]] * padding]
    raw: list[np.ndarray] = []
    previous = None
    with torch.no_grad():
        for start in range(0, frames, 22):
            window = torch.stack(inputs[start : start + 32])
            if previous is not None:
                window[:10] = previous[keyframes]
            raw += list(resize_depth(model(window[None])[0], (20, 28)).numpy())
            previous = window
    aligned: list[np.ndarray] = []
    references: list[np.ndarray] = []
    for start in range(0, len(raw), 32):
        if start == 0:
            aligned += raw[:32]
            references = [raw[0], raw[12]]
            continue
        scale, shift = (1.0, 0.0) if metric else reference_scale_shift(np.concatenate(raw[start : start + 2]),
                                                                   np.concatenate(references))
        fixed = [np.clip(depth * scale + shift, 0, None) for depth in raw[start : start + 32]]
        pairs = zip(aligned[-8:], fixed[2:10], strict=True)
        aligned[-8:] = [before * (1 - i / 7) + after * (i / 7) for i, (before, after) in enumerate(pairs)]
        aligned += fixed[10:]
        references = [references[0], fixed[12]]
    return np.stack(aligned[:frames])


@pytest.mark.parametrize("metric", [False, True])
def test_windows_equal_the_two_pass_algorithm(metric):
    """Keyframes, the alignment chain (frame 0 and the previous window's aligned keyframe 12), clipping
    at 0 and blending, on windows that disagree much more than a trained network's."""
    clip = _clip(75)  # four windows; the last one mostly padding
    reference = _two_pass_reference(_DriftingNetwork(metric), clip, metric)
    ours = infer_video_depth(_DriftingNetwork(metric), clip, input_size=28)
    if not metric:
        assert (reference == 0).any() and reference.max() > 1  # clipping and real alignment took place
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5 * float(reference.max()))


def test_offline_reads_frames_a_window_ahead_at_most(tiny):
    """Maps come out while the video is read: never more than two windows of frames are held."""
    read = []

    def frames():
        for index, frame in enumerate(_clip(80)):
            read.append(index)
            yield frame

    for produced, _depth in enumerate(iter_video_depth(tiny, frames(), input_size=28), start=1):
        assert len(read) - produced <= 32
    assert produced == 80


def test_frame_of_another_size_is_named(tiny):
    clip = list(_clip(30))
    clip[17] = np.zeros((21, 28, 3), np.uint8)
    with pytest.raises(VideoError, match="frame 17 is 21×28, but the video's frames are 20×28"):
        infer_video_depth(tiny, clip, input_size=28)
    stream = StreamingVideoDepth(tiny, input_size=28)
    stream(clip[0])
    with pytest.raises(VideoError, match="frame 1 is 21×28"):
        stream(clip[17])
    with pytest.raises(VideoError, match="frame 0 is not an H×W×3"):
        infer_video_depth(tiny, [np.zeros((20, 28), np.uint8)], input_size=28)
    with pytest.raises(VideoError, match="no frames"):
        infer_video_depth(tiny, [], input_size=28)


def test_streaming_first_frame_runs_alone_and_reset_starts_over(tiny):
    clip = _clip(14)
    stream = StreamingVideoDepth(tiny, input_size=28)
    first = stream(clip[0])
    inputs = torch.from_numpy(_prepared(clip[0]))[None, None]
    with torch.no_grad():
        alone = resize_depth(tiny(inputs)[0], (20, 28)).numpy()[0]
    np.testing.assert_allclose(first, alone, rtol=0, atol=1e-6)
    later = [stream(frame) for frame in clip[1:]]
    assert stream.frames_seen == 14 and stream.cached_entries == 32 + 13 - (14 - 11)  # eviction from frame 11
    stream.reset()
    np.testing.assert_array_equal(stream(clip[5]), StreamingVideoDepth(tiny, input_size=28)(clip[5]))
    assert not np.array_equal(later[4], StreamingVideoDepth(tiny, input_size=28)(clip[5]))  # the cache mattered
