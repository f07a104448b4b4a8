"""`depth-anything eval` end to end with a tiny random model saved as a checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_anything.cli import eval as eval_cli
from depth_anything.cli.__main__ import SUBCOMMANDS
from depth_anything.errors import ConfigError

H, W = 28, 42


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from depth_anything.models import ModelConfig, build_model
    from depth_anything.weights import save_checkpoint

    torch.manual_seed(0)
    config = ModelConfig(
        encoder="tiny", embed_dim=32, depth=4, num_heads=2, layer_indices=(0, 1, 2, 3),
        features=16, out_channels=(8, 16, 32, 32),
    )
    return save_checkpoint(build_model(config), tmp_path_factory.mktemp("model") / "tiny.pth")


def make_folder(root: Path) -> dict[str, np.ndarray]:
    depths = {}
    for i in range(3):
        rgb = np.random.default_rng(i).integers(0, 255, (H, W, 3), dtype=np.uint8)
        depth = np.linspace(1.0 + i, 5.0 + i, H * W, dtype=np.float32).reshape(H, W)
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "depth").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / f"img{i}.png"), rgb)
        np.save(root / "depth" / f"img{i}.npy", depth)
        depths[f"img{i}"] = depth
    cv2.imwrite(str(root / "images" / "bad.png"), np.zeros((H, W, 3), np.uint8))
    np.save(root / "depth" / "bad.npy", np.ones((H // 2, W), np.float32))  # wrong size
    return depths


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    eval_cli.add_arguments(parser)
    return eval_cli.run(parser.parse_args(argv))


def test_eval_command_writes_report_and_reuses_predictions(tmp_path: Path, checkpoint: Path, capsys) -> None:
    assert SUBCOMMANDS["eval"] == "depth_anything.cli.eval"
    data, preds, out = tmp_path / "data", tmp_path / "preds", tmp_path / "report.json"
    depths = make_folder(data)
    common = ["--benchmark", "folder", "--data", str(data), "--model", str(checkpoint), "--input-size", "28",
              "--device", "cpu", "--no-progress", "--save-predictions", str(preds), "--out", str(out)]
    assert run_cli(common) == 0
    captured = capsys.readouterr()
    assert "| Model | Benchmark | Protocol | Images | Excluded | AbsRel ↓ | δ1 ↑ |" in captured.out
    assert "| tiny | folder | relative (affine) | 3 | 1 |" in captured.out
    assert "bad: ground-truth size (14, 42) differs from image size (28, 42)" in captured.err
    report = json.loads(out.read_text())
    assert report["num_evaluated"] == 3 and report["num_excluded"] == 1
    assert all(np.isfinite(report["metrics"][k]) for k in ("abs_rel", "d1", "silog"))
    assert sorted(p.name for p in preds.glob("*.npy")) == ["img0.npy", "img1.npy", "img2.npy"]  # bad: not inferred

    # Replace the saved predictions by exact disparities: a re-run must use them, not the model.
    for name, depth in depths.items():
        np.save(preds / f"{name}.npy", (1.0 / depth).astype(np.float32))
    assert run_cli([*common, "--max-depth", "100"]) == 0
    report = json.loads(out.read_text())
    assert report["metrics"]["abs_rel"] == pytest.approx(0.0, abs=1e-5)
    assert report["protocol"]["max_depth"] == 100.0

    # Predictions made at another input size are other predictions: that folder is refused.
    other_size = [*common, "--input-size", "42"]
    with pytest.raises(ConfigError, match="input size 28"):
        run_cli(other_size)


def test_eval_command_da2k(tmp_path: Path, checkpoint: Path, capsys) -> None:
    (tmp_path / "images" / "indoor").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images" / "indoor" / "a.jpg"), np.full((H, W, 3), 90, np.uint8))
    pairs = [{"point1": [20, 5], "point2": [2, 30], "closer_point": "point1"}] * 3
    (tmp_path / "annotations.json").write_text(json.dumps({"images/indoor/a.jpg": pairs}))
    out = tmp_path / "da2k.json"
    code = run_cli(["--benchmark", "da2k", "--data", str(tmp_path), "--model", str(checkpoint), "--input-size", "28",
                    "--device", "cpu", "--no-progress", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["total"] == 3 and report["per_scene"]["indoor"]["total"] == 3
    assert report["accuracy"] in (0.0, 1.0)  # the same pair three times: all right or all wrong
    assert "| Model | Pairs | Excluded | Overall | indoor |" in capsys.readouterr().out


def test_eval_command_draws_the_progress_bar_unless_told_not_to(tmp_path: Path, checkpoint: Path, capsys) -> None:
    make_folder(tmp_path)
    common = ["--benchmark", "folder", "--data", str(tmp_path), "--model", str(checkpoint), "--input-size", "28",
              "--device", "cpu", "--batch-size", "2"]
    assert run_cli(common) == 0
    err = capsys.readouterr().err
    assert "eval folder: 100%" in err and "4/4" in err and "excluded=1, scored=3" in err
    assert run_cli([*common, "--no-progress"]) == 0
    assert "eval folder" not in capsys.readouterr().err


def test_prediction_store_keeps_dotted_names_apart(tmp_path: Path) -> None:
    from depth_anything.eval.benchmarks import PredictionStore

    store = PredictionStore(tmp_path / "p", "model", "disparity")
    first, second = "ai_001_001/scene_cam_00/frame.0000", "ai_001_001/scene_cam_00/frame.0001"
    assert store.path(first) != store.path(second)
    store.put(first, np.zeros((2, 2), np.float32))
    store.put(second, np.ones((2, 2), np.float32))
    assert store.get(first).sum() == 0 and store.get(second).sum() == 4
    assert store.path("../../etc/passwd").is_relative_to(tmp_path / "p")


def test_split_file_is_refused_where_no_reader_takes_one(tmp_path: Path, checkpoint: Path) -> None:
    (tmp_path / "list.txt").write_text("a b\n")
    with pytest.raises(ConfigError, match="--split-file"):
        run_cli(["--benchmark", "sintel", "--data", str(tmp_path), "--model", str(checkpoint),
                 "--split-file", str(tmp_path / "list.txt"), "--device", "cpu", "--no-progress"])
