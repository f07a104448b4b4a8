"""What resuming checks: a changed configuration is refused naming the key (only the run section may
change), an older checkpoint never prunes the newer one, and a dangling `latest` is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import make_config, write_depth_folder

from depth_anything.errors import CheckpointMismatchError, ConfigError
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
