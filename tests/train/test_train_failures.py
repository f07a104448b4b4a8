"""Bad samples are skipped and counted (training's, not validation's), a dataset with none usable stops the
run, NaN stops it by name; metric fine-tuning starts from an encoder, a student aligns to a frozen copy at
the deepest layer its head reads."""

from __future__ import annotations

import csv
import logging
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY_MODEL, make_config, write_depth_folder

from depth_anything.errors import ConfigError, DatasetError
from depth_anything.train.config import config_from_dict, model_config_from
from depth_anything.train.trainer import Trainer, TrainingDivergedError


def test_unreadable_and_unlabeled_samples_are_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = write_depth_folder(tmp_path / "data", 6)
    (data / "images" / "02.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    (data / "depth" / "04.npy").unlink()
    cfg = config_from_dict(make_config(tmp_path / "out", [{"layout": "folder", "root": str(data)}],
                                       optim={"steps": 6, "batch_size": 2}))
    with caplog.at_level(logging.WARNING, logger="depth_anything"):
        result = Trainer(cfg).fit()
    assert result.step == 6 and result.final_model is not None and result.final_model.is_file()
    err = caplog.text  # the library logs each skipped sample; the command line shows the log on stderr
    assert "02.png" in err and "not a readable image" in err
    assert "04" in err and "needs a depth label" in err
    # 6 steps of 2 from 6 samples = 2 epochs: each bad sample was met twice
    assert result.skipped == 4
    with (tmp_path / "out" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["skipped"] == "4" and all(np.isfinite(float(r["loss"])) for r in rows)


def test_nan_loss_stops_naming_step_and_samples_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    data = write_depth_folder(tmp_path / "data", 6)
    cfg = config_from_dict(make_config(
        tmp_path / "out", [{"layout": "folder", "root": str(data)}],
        optim={"steps": 5, "batch_size": 2, "lr": 1e30, "grad_clip": None, "warmup_steps": 0},
        run={"checkpoint_every": 1},
    ))
    trainer = Trainer(cfg)
    with pytest.raises(TrainingDivergedError) as caught:
        trainer.fit()
    message = str(caught.value)
    assert "step 2" in message and "step_0000001.pt" in message
    names = {f"{i:02d}" for i in range(6)}
    named = [n for n in names if n in message.split("samples in the batch:")[1].split(";")[0]]
    assert len(named) >= 1
    checkpoints = tmp_path / "out" / "checkpoints"
    assert (checkpoints / "latest").read_text() == "step_0000001.pt"
    assert sorted(p.name for p in checkpoints.glob("step_*.pt")) == ["step_0000001.pt"]
    assert torch.load(checkpoints / "step_0000001.pt", weights_only=True)["step"] == 1
    assert not (tmp_path / "out" / "model.pt").exists()
    with pytest.raises(ConfigError, match="resume=True"):  # a new run may not overwrite this one by accident
        Trainer(cfg)


def test_metric_stage_starts_from_a_relative_encoder(tmp_path: Path) -> None:
    import depth_anything
    from depth_anything.weights import save_checkpoint

    data = write_depth_folder(tmp_path / "data", 6)
    relative_cfg = config_from_dict(make_config(tmp_path / "rel", [{"layout": "folder", "root": str(data)}]))
    relative = depth_anything.build_model(model_config_from(relative_cfg.model))
    with torch.no_grad():
        for p in relative.parameters():
            p.add_(0.01)
    save_checkpoint(relative, tmp_path / "relative.pt")
    cfg = make_config(tmp_path / "out", [{"layout": "folder", "root": str(data)}],
                      val=[{"layout": "folder", "root": str(data)}], stage="metric",
                      optim={"steps": 4, "batch_size": 2})
    cfg["model"].update(max_depth=20.0, init=str(tmp_path / "relative.pt"), init_encoder_only=True)
    trainer = Trainer(config_from_dict(cfg))
    start = trainer.model.state_dict()
    encoder = {k: v for k, v in relative.state_dict().items() if k.startswith("pretrained.")}
    assert all(torch.equal(start[k], v) for k, v in encoder.items())
    head = [k for k in start if k.startswith("depth_head.")]
    assert not all(torch.equal(start[k], relative.state_dict()[k]) for k in head)  # the head is new
    group_lrs = [g["lr"] for g in trainer.optimizer.param_groups]
    assert group_lrs[1] == pytest.approx(10 * group_lrs[0])  # decoder lr = 10 × encoder lr
    result = trainer.fit()
    history = result.history
    assert all(np.isfinite(row["silog"]) for row in history) and len(history) == 4
    model = depth_anything.load_model(result.final_model, device="cpu")
    assert model.config.max_depth == 20.0
    with torch.no_grad():
        depth = model(torch.zeros(1, 3, 28, 28))
    assert float(depth.min()) > 0 and float(depth.max()) < 20.0



def test_student_starts_from_a_bare_dinov2_encoder_and_aligns_to_a_frozen_copy(tmp_path: Path) -> None:
    import depth_anything

    data = write_depth_folder(tmp_path / "data", 6)
    source = [{"layout": "folder", "root": str(data), "pseudo_labels": True}]
    cfg = config_from_dict(make_config(tmp_path / "out", source, stage="student",
                                       optim={"steps": 3, "batch_size": 2}, loss={"feature_margin": 1.1}))
    torch.manual_seed(123)
    dinov2 = depth_anything.build_model(model_config_from(cfg.model)).pretrained.state_dict()
    torch.save(dinov2, tmp_path / "dinov2_tiny.pth")  # DINOv2's own key layout: no "pretrained." prefix
    cfg.model.init, cfg.model.init_encoder_only = str(tmp_path / "dinov2_tiny.pth"), True
    trainer = Trainer(cfg)
    assert trainer.reference is not None
    assert all(torch.equal(trainer.model.pretrained.state_dict()[k], v) for k, v in dinov2.items())
    assert all(torch.equal(trainer.reference.state_dict()[k], v) for k, v in dinov2.items())
    result = trainer.fit()
    # margin above 1: every token counts; zero while student = reference, positive once it moves
    features = [row["feature"] for row in result.history]
    assert abs(features[0]) < 1e-5 and features[-1] > features[1] > 1e-5
    assert all(torch.equal(trainer.reference.state_dict()[k], v) for k, v in dinov2.items())  # frozen
    assert not all(torch.equal(trainer.model.pretrained.state_dict()[k], v) for k, v in dinov2.items())


def _train_in_child(cfg: dict, queue: multiprocessing.Queue) -> None:
    import torch

    torch.set_num_threads(1)
    try:
        Trainer(config_from_dict(cfg)).fit()
        queue.put(("finished", ""))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        queue.put((type(exc).__name__, str(exc)))


def test_a_dataset_without_any_usable_sample_stops_with_an_error(tmp_path: Path) -> None:
    data = write_depth_folder(tmp_path / "data", 4)
    for depth in (data / "depth").glob("*.npy"):
        depth.unlink()
    cfg = make_config(tmp_path / "out", [{"layout": "folder", "root": str(data)}], optim={"steps": 4, "batch_size": 2},
                      run={"checkpoint_every": 1000})
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_train_in_child, args=(cfg, queue))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("training on a dataset without usable samples did not stop")
    kind, message = queue.get(timeout=5)
    assert kind == DatasetError.__name__
    assert "no usable training sample" in message and "needs a depth label" in message and "00" in message


def test_validation_errors_are_not_counted_as_training_skips(tmp_path: Path) -> None:
    train = write_depth_folder(tmp_path / "train", 4)
    val = write_depth_folder(tmp_path / "val", 4)
    (val / "depth" / "01.npy").unlink()
    cfg = make_config(tmp_path / "out", [{"layout": "folder", "root": str(train)}],
                      val=[{"layout": "folder", "root": str(val)}],
                      optim={"steps": 2, "batch_size": 2}, run={"val_every": 1})
    result = Trainer(config_from_dict(cfg)).fit()
    assert result.skipped == 0
    with (tmp_path / "out" / "metrics.csv").open(newline="") as handle:
        assert [row["skipped"] for row in csv.DictReader(handle)] == ["0", "0"]
    with (tmp_path / "out" / "val.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["skipped"] for row in rows] == ["1", "1"] and [row["samples"] for row in rows] == ["3", "3"]


def test_student_and_reference_align_the_deepest_layer_the_head_reads(tmp_path: Path, synth_root: Path) -> None:
    """With layer_indices not in ascending order, the student's feature is still the deepest block's
    (the one the reference encoder is read at), not simply the last one listed."""
    from depth_anything.models import build_model
    from depth_anything.train.config import model_config_from
    from depth_anything.train.setup import TrainForward, feature_layer

    model_cfg = {**TINY_MODEL, "layer_indices": [3, 0, 1, 2]}
    cfg = config_from_dict(make_config(tmp_path / "out", [{"layout": "synthetic", "root": str(synth_root)}],
                                       model={"config": model_cfg}))
    torch.manual_seed(0)
    model = build_model(model_config_from(cfg.model)).eval()
    image = torch.rand(2, 3, 28, 28)
    _, feature = TrainForward(model)(image)
    assert feature_layer(model) == 3
    assert torch.equal(feature, model.pretrained.get_intermediate_layers(image, [3])[0][0])
