"""The built-in video model `default-video`: only its motion modules are shipped; the encoder and image head
are the built-in `default`'s, read from that model's file."""

from __future__ import annotations

import torch

from depth_anything import load_model
from depth_anything.weights.files import read_checkpoint
from depth_anything.weights.registry import REGISTRY, builtin_dir, builtin_names


def test_default_video_ships_only_its_motion_modules() -> None:
    entry = REGISTRY["default-video"]
    assert entry.builtin and entry.video and entry.base == "default" and entry.encoder == "vitc"
    file = builtin_dir() / entry.filename
    stored, meta = read_checkpoint(file)
    assert stored and all(key.startswith("head.motion_modules.") for key in stored)
    assert file.stat().st_size < 3e6  # the wheel holds the shared weights once
    assert meta["model_config"]["encoder"] == "vitc"
    assert "default-video" not in builtin_names() and builtin_names()[0] == "default"  # image models only


def test_default_video_loads_as_default_plus_trained_motion_modules() -> None:
    video = load_model("default-video", device="cpu")
    image = load_model("default", device="cpu")
    assert type(video).__name__ == "VideoDepthAnything" and video.input_spec.input_size == 128
    video_state, image_state = video.state_dict(), image.state_dict()
    for key, value in image_state.items():
        twin = "head." + key[len("depth_head."):] if key.startswith("depth_head.") else key
        assert torch.equal(video_state[twin], value), key
    projections = [m.temporal_transformer.proj_out.weight for m in video.head.motion_modules]
    assert all(p.abs().max() > 0 for p in projections)  # trained: no longer VDA's zero start
    clip = torch.rand(1, 4, 3, 128, 160)
    with torch.no_grad():
        depth = video(clip)
    assert depth.shape == (1, 4, 128, 160) and torch.isfinite(depth).all()
    # the temporal head changes the per-frame prediction (it is not the image model in disguise)
    with torch.no_grad():
        assert not torch.allclose(depth[0], image(clip[0]), atol=1e-4)


def test_commands_route_default_video_to_the_temporal_path(tmp_path) -> None:
    """`predict` refuses it with what to run instead; `video` runs it through the windows at 128 px."""
    import numpy as np
    import pytest

    from depth_anything import open_predictor
    from depth_anything.cli.__main__ import main
    from depth_anything.errors import ConfigError

    with pytest.raises(ConfigError, match="video model"):
        open_predictor("default-video")
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    from depth_anything.io import save_image

    for i in range(3):
        save_image(frames / f"{i:03d}.png", rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    assert main(["video", str(frames), "--model", "default-video", "--formats", "npz", "--outdir",
                 str(tmp_path / "out"), "--no-progress"]) == 0
    with np.load(next((tmp_path / "out").rglob("*.npz"))) as data:
        assert data["depth"].shape == (3, 48, 64)
