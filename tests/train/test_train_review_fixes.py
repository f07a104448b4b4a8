"""Resume refuses changed configs, prunes by step, stops on a dataset with no usable sample;
validation's bad samples stay out of the training `skipped` count."""

from __future__ import annotations

import csv
import multiprocessing
from pathlib import Path

import pytest
import torch
from train_helpers import TINY_MODEL, make_config, write_depth_folder

from depth_anything.errors import CheckpointMismatchError, ConfigError, DatasetError
from depth_anything.train.config import config_from_dict
from depth_anything.train.trainer import Trainer


def _config(out: Path, folder: Path, **sections: dict) -> dict:
    base = {"optim": {"steps": 4, "batch_size": 2}, "run": {"checkpoint_every": 1, "keep_checkpoints": 10}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return make_config(out, [{"layout": "folder", "root": str(folder)}], **base)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 4-step run with a checkpoint at every step (copied per test: resuming changes it)."""
    root = tmp_path_factory.mktemp("run")
    data = write_depth_folder(root / "data", 4)
    Trainer(config_from_dict(_config(root / "out", data))).fit()
    return root / "out", data


def _copy(finished_run: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    import shutil

    out, data = finished_run
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "out", data


@pytest.mark.parametrize(("section", "values", "named"), [
    ("optim", {"steps": 6}, "optim.steps: 4 in the checkpoint, 6 now"),
    ("data", {"size": 42}, "data.size: 28 in the checkpoint, 42 now"),
])
def test_resume_with_changed_config_is_refused_naming_the_key(
    finished_run: tuple[Path, Path], tmp_path: Path, section: str, values: dict, named: str
) -> None:
    out, data = _copy(finished_run, tmp_path)
    recorded = (out / "config.yaml").read_text()
    with pytest.raises(ConfigError) as caught:
        Trainer(config_from_dict(_config(out, data, **{section: values})), resume=True)
    assert named in str(caught.value)
    assert (out / "config.yaml").read_text() == recorded  # the record of what ran is untouched


def test_resume_with_only_run_changes_works(finished_run: tuple[Path, Path], tmp_path: Path) -> None:
    out, data = _copy(finished_run, tmp_path)
    cfg = _config(out, data, run={"checkpoint_every": 7, "log_every": 3, "keep_checkpoints": 2, "progress": True},
                  data={"num_workers": 1})  # loader processes cannot change the weights either
    trainer = Trainer(config_from_dict(cfg), resume=True)
    assert trainer.step == 4
    assert trainer.fit().step == 4


def test_resume_from_an_older_checkpoint_never_prunes_the_new_one(
    finished_run: tuple[Path, Path], tmp_path: Path
) -> None:
    out, data = _copy(finished_run, tmp_path)
    checkpoints = out / "checkpoints"
    cfg = config_from_dict(_config(out, data, run={"keep_checkpoints": 1}))
    trainer = Trainer(cfg, resume=checkpoints / "step_0000002.pt")
    assert trainer.step == 2
    assert sorted(p.name for p in checkpoints.glob("step_*.pt")) == ["step_0000001.pt", "step_0000002.pt"]
    written = trainer.save_checkpoint()
    assert written.is_file() and (checkpoints / "latest").read_text() == "step_0000002.pt"
    assert sorted(p.name for p in checkpoints.glob("step_*.pt")) == ["step_0000002.pt"]
    assert Trainer(cfg, resume=True).step == 2


def test_dangling_latest_is_an_error_not_a_fresh_start(finished_run: tuple[Path, Path], tmp_path: Path) -> None:
    out, data = _copy(finished_run, tmp_path)
    (out / "checkpoints" / "latest").write_text("step_0000009.pt")
    with pytest.raises(CheckpointMismatchError, match="step_0000009.pt"):
        Trainer(config_from_dict(_config(out, data)), resume=True)


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
    cfg = _config(tmp_path / "out", data, run={"checkpoint_every": 1000})
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
