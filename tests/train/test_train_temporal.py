"""The temporal stage: VDA's loss, clip-consistent augmentation, mixed image/video batches, a head that
starts as the image model, validation with TAE, bit-identical resume after SIGKILL, and torchrun."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY_MODEL, make_config, run_cli, train_killed_at, write_config

from depth_anything.data.augment import TrainTransform
from depth_anything.data.datasets import DepthSample
from depth_anything.errors import ConfigError
from depth_anything.train.checkpoints import weights_digest
from depth_anything.train.config import config_from_dict
from depth_anything.train.losses import temporal_gradient_matching_loss
from depth_anything.train.setup import open_relu
from depth_anything.train.temporal import ClipDataset, build_temporal_model, collate_clips

CLIP = 4


@pytest.fixture(scope="session")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """11 rendered camera sequences of 6 frames at 40×32 (9 train, 2 held out), written once."""
    from depth_anything.data.synthetic import SynthConfig
    from depth_anything.data.synthetic.sequence import write_sequences

    root = tmp_path_factory.mktemp("sequences")
    write_sequences(root, 11, 6, seed=3, config=SynthConfig(width=40, height=32))
    return root


def _temporal_config(out: Path, sequences: Path, images: Path | None = None, **sections: dict) -> dict:
    train = [{"layout": "synthetic-sequences", "root": str(sequences), "split": "train"}]
    if images is not None:  # single-frame clips mixed in: 18 clips + 6 images
        train.append({"layout": "synthetic", "root": str(images), "split": "train", "max_samples": 6})
    config = make_config(out, train=train, val=[{"layout": "synthetic-sequences", "root": str(sequences),
                                                 "split": "val"}], stage="temporal")
    config["model"]["config"]["features"] = 32  # motion modules of width 32 and 32 (GroupNorm of 32 groups)
    # 42 px: a 3×3 patch grid, so even a single image's deepest map (2×2) has more than one value per group
    config["data"].update({"clip_frames": CLIP, "clip_stride": 2, "size": 42})
    config["loss"] = {"gradient_weight": 0.5}
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


# ----------------------------------------------------------------------------------- the loss
def test_temporal_gradient_matching_is_affine_invariant_and_sees_flicker() -> None:
    generator = torch.Generator().manual_seed(0)
    target = 1.0 + torch.rand(2, 5, 12, 12, generator=generator)
    target = target + 0.001 * torch.arange(5).view(1, 5, 1, 1)  # slow change over time
    mask = torch.ones_like(target, dtype=torch.bool)
    # one scale and shift for the whole clip: nothing to pay
    assert temporal_gradient_matching_loss(3.0 * target + 2.0, target, mask).abs().max() < 1e-5
    # a prediction whose scale changes from frame to frame (flicker) pays, although each frame is right
    # up to its own scale and shift (which the spatial loss cannot see)
    flicker = target * (1.0 + 0.2 * (torch.arange(5) % 2)).view(1, 5, 1, 1)
    assert (temporal_gradient_matching_loss(flicker, target, mask) > 0.05).all()
    # pixels whose target jumps (beyond 5% of the frame's range) are not held to the previous frame
    jump = target.clone()
    jump[:, 3:, :6] += 10.0
    assert temporal_gradient_matching_loss(jump, jump, mask).abs().max() < 1e-5
    assert temporal_gradient_matching_loss(flicker[:, :1], target[:, :1], mask[:, :1]).eq(0).all()  # images


# ----------------------------------------------------------------------------------- the data
class _StillSequence:
    """A source of clips whose frames are all one picture: what the augmentation does shows directly."""

    name = "still"

    def __init__(self, frames: int) -> None:
        rng = np.random.default_rng(1)
        self.image = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
        self.depth = (1.0 + rng.random((40, 48))).astype(np.float32)
        self.items = list(range(8))
        self.frames = frames

    def describe(self, local: int) -> str:
        return f"clip {local}"

    def samples(self, local: int) -> tuple[str, list[DepthSample]]:
        return f"clip{local}", [DepthSample(f"f{t}", self.image, self.depth) for t in range(self.frames)]


def test_one_crop_flip_and_jitter_per_clip() -> None:
    transform = TrainTransform(size=28, flip=True, color_jitter=0.4, hue_jitter=0.05)
    dataset = ClipDataset([_StillSequence(CLIP)], transform, seed=0)
    clips = [dataset[(0, index)] for index in range(8)]
    for clip in clips:  # every frame of a clip transformed alike
        assert clip["image"].shape == (CLIP, 3, 28, 28)
        assert all(torch.equal(clip["image"][t], clip["image"][0]) for t in range(CLIP))
        assert all(torch.equal(clip["target"][t], clip["target"][0]) for t in range(CLIP))
    # ... and the clips differ from each other (the augmentation is on)
    assert len({clip["image"][0].sum().item() for clip in clips}) == len(clips)
    assert torch.equal(dataset[(0, 3)]["image"], clips[3]["image"])  # a pure function of (seed, epoch, index)


def test_mixed_batches_group_clips_and_single_frame_images() -> None:
    transform = TrainTransform(size=28)
    items = [ClipDataset([_StillSequence(frames)], transform)[(0, 0)] for frames in (1, CLIP, 1)]
    items.append({"error": "still: clip 9: unreadable", "index": 9})
    batch = collate_clips(items)
    assert [group.shape[:2] for group in batch["image"]] == [(1, CLIP), (2, 1)]  # longest clips first
    assert batch["size"] == 3 and batch["names"] == ["clip0"] * 3 and batch["errors"] == ["still: clip 9: unreadable"]


def test_clips_from_a_vda_benchmark_layout(tmp_path: Path, sequences: Path) -> None:
    """A folder as VDA's extraction scripts write it (here Bonn's: 16-bit depth / 5000) trains as clips."""
    import json

    import cv2

    from depth_anything.train.temporal import build_clip_dataset

    rng = np.random.default_rng(0)
    entries = []
    for t in range(6):
        image, depth = f"scene/rgb/{t:04d}.png", f"scene/depth/{t:04d}.png"
        (tmp_path / image).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / depth).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / image), rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
        cv2.imwrite(str(tmp_path / depth), rng.integers(5000, 20000, (30, 40), dtype=np.uint16))
        entries.append({"image": image, "gt_depth": depth, "factor": 5000.0})
    (tmp_path / "bonn_video.json").write_text(json.dumps({"bonn": [{"scene": entries}]}))
    config = config_from_dict(_temporal_config(tmp_path / "run", sequences, data={"clip_stride": 1}))
    config.data.train = [type(config.data.train[0])(layout="vda-bonn", root=str(tmp_path))]
    dataset = build_clip_dataset(config, config.data.train, "data.train", train=True)
    assert len(dataset) == 3  # clips starting at frames 0, 1 and 2 of 6
    clip = dataset[(0, 2)]
    assert clip["name"] == "scene[2:6]" and clip["image"].shape == (CLIP, 3, 42, 42)
    assert bool(clip["valid"].all()) and float(clip["target"].max()) <= 1.0  # disparity of 1-4 m


def test_temporal_config_errors_name_the_key(tmp_path: Path, sequences: Path, synth_root: Path) -> None:
    def error(config: dict) -> str:
        with pytest.raises(ConfigError) as caught:
            from depth_anything.train.trainer import Trainer

            Trainer(config_from_dict(config))
        return str(caught.value)

    too_long = _temporal_config(tmp_path / "a", sequences, data={"clip_frames": 33})
    assert "data.clip_frames" in error(too_long) and "32" in error(too_long)
    images_only = _temporal_config(tmp_path / "b", sequences)
    images_only["data"]["train"] = [{"layout": "synthetic", "root": str(synth_root), "split": "train"}]
    assert "data.train" in error(images_only)
    image_val = _temporal_config(tmp_path / "c", sequences)
    image_val["data"]["val"] = [{"layout": "synthetic", "root": str(synth_root), "split": "val"}]
    assert "data.val[0]" in error(image_val)


# ----------------------------------------------------------------------------------- the network
def test_head_starts_as_the_image_model_with_a_frozen_encoder(tmp_path: Path, sequences: Path) -> None:
    from depth_anything.models import build_model
    from depth_anything.models.config import ModelConfig
    from depth_anything.weights import save_checkpoint

    values = dict(TINY_MODEL, features=32)
    torch.manual_seed(0)
    image_model = build_model(ModelConfig.from_dict(values)).eval()
    with torch.no_grad():  # a head whose output is not flat, so equality means something
        for parameter in image_model.depth_head.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    open_relu(image_model)
    init = save_checkpoint(image_model, tmp_path / "image.pt")
    config = config_from_dict(_temporal_config(tmp_path / "run", sequences, model={"init": str(init)}))
    video = build_temporal_model(config).eval()
    clip = torch.randn(1, CLIP, 3, 28, 28)
    with torch.no_grad():
        per_frame = image_model(clip[0])
        temporal = video(clip)[0]
    assert per_frame.abs().max() > 0 and torch.allclose(temporal, per_frame, atol=1e-6)
    assert not any(p.requires_grad for p in video.pretrained.parameters())
    assert all(p.requires_grad for p in video.head.motion_modules.parameters())
    assert any(p.requires_grad for n, p in video.head.named_parameters() if not n.startswith("motion_modules."))
    config.model.motion_modules_only = True
    trainable = {n for n, p in build_temporal_model(config).named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("head.motion_modules.") for n in trainable)


# ----------------------------------------------------------------------------------- training
def test_temporal_stage_resumes_bit_identically_after_sigkill(tmp_path: Path, sequences: Path, synth_root: Path) -> None:
    def config(name: str) -> Path:
        cfg = _temporal_config(tmp_path / name, sequences, synth_root, optim={"steps": 6, "batch_size": 3},
                               data={"num_workers": 1}, run={"checkpoint_every": 2, "val_every": 3})
        return write_config(tmp_path / f"{name}.yaml", cfg)

    straight = run_cli("train", "--config", str(config("straight")))
    assert straight.returncode == 0, straight.stderr[-3000:]
    crashed = train_killed_at(config("crashed"), step=3)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    resumed = run_cli("train", "--config", str(config("crashed")), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "at step 2" in resumed.stderr

    final_a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["model"]
    final_b = torch.load(tmp_path / "crashed" / "model.pt", weights_only=True)["model"]
    assert final_a.keys() == final_b.keys() and all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    assert _rows(tmp_path / "crashed" / "metrics.csv") == _rows(tmp_path / "straight" / "metrics.csv")
    assert _rows(tmp_path / "crashed" / "val.csv") == _rows(tmp_path / "straight" / "val.csv")

    rows = _rows(tmp_path / "straight" / "metrics.csv")
    assert all(float(row["temporal"]) >= 0 and float(row["ssi"]) > 0 for row in rows)
    validation = _rows(tmp_path / "straight" / "val.csv")
    assert [row["step"] for row in validation] == ["3", "6"]
    assert all(math.isfinite(float(row["tae"])) and 0 < float(row["d1"]) <= 1 for row in validation)
    assert all(row["samples"] == "2" for row in validation)  # the two held-out sequences
    # the head trained, the encoder stayed as it was built (frozen)
    torch.manual_seed(0)
    start = build_temporal_model(config_from_dict(_temporal_config(tmp_path / "x", sequences))).state_dict()
    assert all(torch.equal(final_a[k], start[k]) for k in final_a if k.startswith("pretrained."))
    assert not all(torch.equal(final_a[k], start[k]) for k in final_a if ".motion_modules." in k)


def test_temporal_stage_under_torchrun_keeps_replicas_identical(tmp_path: Path, sequences: Path, synth_root: Path) -> None:
    out = tmp_path / "run"
    cfg = _temporal_config(out, sequences, synth_root, optim={"steps": 2, "batch_size": 4},
                           run={"checkpoint_every": 2, "val_every": 2})
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
               "-m", "depth_anything.cli", "train", "--config", str(write_config(tmp_path / "ddp.yaml", cfg))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = torch.load(out / "checkpoints" / "step_0000002.pt", weights_only=True)
    digests = checkpoint["replica_digests"]
    assert len(digests) == 2 and digests[0] == digests[1] == weights_digest(checkpoint["model"])
    assert _rows(out / "val.csv")[0]["samples"] == "2"  # one held-out sequence per rank, summed
