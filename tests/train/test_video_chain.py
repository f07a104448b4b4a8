"""The video recipe in miniature: render camera sequences → train a temporal head a few steps → score
TAE on held-out sequences → export one window to ONNX and OpenVINO → run both through `video`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY_MODEL, make_config, write_config

from depth_anything import load_model
from depth_anything.cli.__main__ import main
from depth_anything.eval.video import evaluate_video, video_model_predictor
from depth_anything.export.verify import compare_with_torch
from depth_anything.inference.runtimes import open_runtime
from depth_anything.inference.video_windows import WINDOW, infer_video_depth
from depth_anything.io import load_image
from depth_anything.transforms import network_input_size

INPUT_SIZE = 42  # the tiny model's network input: a 3×3 patch grid


def _video_depth(out: Path) -> np.ndarray:
    files = list(out.rglob("*.npz"))
    assert len(files) == 1, files
    with np.load(files[0]) as data:
        return data["depth"]


@pytest.mark.slow
def test_render_train_evaluate_export_run(tmp_path: Path) -> None:
    sequences = tmp_path / "sequences"
    assert main(["synth", "--outdir", str(sequences), "--count", "11", "--frames", "6", "--size", "48x40",
                 "--no-progress"]) == 0
    run = tmp_path / "run"
    config = make_config(run, stage="temporal",
                         train=[{"layout": "synthetic-sequences", "root": str(sequences), "split": "train"}],
                         val=[{"layout": "synthetic-sequences", "root": str(sequences), "split": "val"}],
                         optim={"steps": 3, "batch_size": 2}, run={"val_every": 3},
                         loss={"gradient_weight": 0.5})
    config["model"]["config"] = dict(TINY_MODEL, features=32, pretrain_grid=3)  # trained at 42 px
    config["data"].update({"clip_frames": 4, "clip_stride": 2, "size": INPUT_SIZE})
    assert main(["train", "--config", str(write_config(tmp_path / "video.yaml", config))]) == 0
    model = load_model(run / "model.pt", device="cpu")
    assert type(model).__name__ == "VideoDepthAnything" and model.input_spec.input_size == INPUT_SIZE

    report = evaluate_video("video-synthetic", str(sequences), video_model_predictor(model, INPUT_SIZE), "trained")
    means = report.means()
    assert len(report.rows) == 2 and math.isfinite(means["tae"]) and 0 < means["d1"] <= 1

    # one window of 32 frames, exact to PyTorch at two sizes (the frames' own and another)
    height, width = network_input_size(40, 48, INPUT_SIZE, 14)
    graphs = {}
    for size in ((height, width), (56, 42)):
        onnx_file = tmp_path / f"video_{size[0]}x{size[1]}.onnx"
        assert main(["export", "--model", str(run / "model.pt"), "--format", "onnx", "--out", str(onnx_file),
                     "--height", str(size[0]), "--width", str(size[1])]) == 0
        graphs[size] = onnx_file
        parity = compare_with_torch(model, open_runtime("onnxruntime", onnx_file), [size], batch=1)
        assert parity[0].max_error < 1e-4, parity
    ir = tmp_path / "video.xml"
    assert main(["export", "--model", str(run / "model.pt"), "--format", "openvino", "--out", str(ir),
                 "--height", str(height), "--width", str(width), "--window", str(WINDOW)]) == 0
    parity = compare_with_torch(model, open_runtime("openvino", ir), [(height, width)], batch=1)
    assert parity[0].max_error < 1e-4, parity

    # the video command runs the exported windows as it runs the checkpoint (40 frames: two windows)
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    held_out = sorted((sequences / "seq00000" / "image").glob("*.png")) + sorted(
        (sequences / "seq00010" / "image").glob("*.png"))
    frames = []
    for i in range(40):
        image = load_image(held_out[i % len(held_out)])
        frames.append(image)
        (frames_dir / f"{i:04d}.png").write_bytes(held_out[i % len(held_out)].read_bytes())
    with torch.no_grad():
        expected = infer_video_depth(model, frames, INPUT_SIZE)
    span = float(expected.max() - expected.min())
    for backend, graph in (("onnxruntime", graphs[(height, width)]), ("openvino", ir)):
        out = tmp_path / f"out_{backend}"
        assert main(["video", str(frames_dir), "--model", str(graph), "--backend", backend, "--formats", "npz",
                     "--outdir", str(out), "--input-size", str(INPUT_SIZE), "--no-progress"]) == 0
        depth = _video_depth(out)
        assert depth.shape == expected.shape
        assert np.abs(depth - expected).max() / span < 1e-4, backend


def test_streaming_pair_carries_the_cached_states_exactly(tmp_path: Path) -> None:
    """The streaming model exported as two graphs (first frame; later frames with the 8 cached attention
    states in and out) gives PyTorch's streaming depth over 45 frames (the cache full and evicting)."""
    from depth_anything.export.streaming import ExportedStreamingModel, step_path
    from depth_anything.inference.video_windows import StreamingVideoDepth
    from depth_anything.io import save_image
    from depth_anything.models.config import ModelConfig
    from depth_anything.models.video_depth_anything import build_video_model
    from depth_anything.weights import save_checkpoint

    torch.manual_seed(0)
    model = build_video_model(ModelConfig.from_dict(dict(TINY_MODEL, features=32, pretrain_grid=3))).eval()
    for module in model.head.motion_modules:  # motion modules that do something
        torch.nn.init.normal_(module.temporal_transformer.proj_out.weight, std=0.2)
    checkpoint = save_checkpoint(model, tmp_path / "video.pt")
    pair = tmp_path / "stream.onnx"
    assert main(["export", "--model", str(checkpoint), "--format", "onnx", "--streaming", "--out", str(pair),
                 "--height", "42", "--width", "56"]) == 0
    assert step_path(pair).is_file()

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (30, 40, 3), dtype=np.uint8) for _ in range(45)]
    eager, exported = StreamingVideoDepth(model, INPUT_SIZE), StreamingVideoDepth(ExportedStreamingModel(pair), INPUT_SIZE)
    with torch.no_grad():
        expected = np.stack([eager(frame) for frame in frames])
    got = np.stack([exported(frame) for frame in frames])
    assert exported.cached_entries == eager.cached_entries == 42
    span = float(expected.max() - expected.min())
    assert span > 0 and np.abs(got - expected).max() / span < 1e-4

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        save_image(folder / f"{i:03d}.png", frame)
    out = tmp_path / "out"
    assert main(["video", str(folder), "--model", str(pair), "--backend", "onnxruntime", "--streaming",
                 "--formats", "npz", "--outdir", str(out), "--input-size", str(INPUT_SIZE), "--no-progress"]) == 0
    assert np.abs(_video_depth(out) - expected).max() / span < 1e-4
    # the pair runs streaming only (the offline windows need a window graph)
    assert main(["video", str(folder), "--model", str(pair), "--backend", "onnxruntime", "--formats", "npz",
                 "--outdir", str(tmp_path / "refused"), "--no-progress"]) != 0
