"""Training configs: every shipped YAML validates; bad keys and types fail before training, by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import make_config, write_config

from depth_anything.cli.__main__ import main
from depth_anything.errors import ConfigError
from depth_anything.train.config import load_config, model_config_from

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_validate(path: Path) -> None:
    config = load_config(path)
    assert config.data.size % model_config_from(config.model).patch_size == 0 and config.data.train
    if path.stem.startswith(("teacher", "student", "metric")):  # full scale: the paper's settings
        assert config.data.size == 518 and config.optim.lr == 5e-6 and config.optim.decoder_lr_scale == 10
        assert config.optim.batch_size == {"teacher": 64, "student": 192, "metric": 32}[config.stage]
        assert config.model.encoder == {"teacher": "vitg"}.get(config.stage, config.model.encoder)
    if config.stage == "metric":
        assert config.model.max_depth and config.model.init_encoder_only and config.loss.silog_lambda == 0.5
    elif config.stage == "temporal":  # VDA's published loss weights and window
        assert (config.loss.ssi_weight, config.loss.gradient_weight, config.loss.temporal_weight) == (1.0, 0.5, 10.0)
        assert config.data.clip_frames == 32
    else:
        assert (config.loss.ssi_weight, config.loss.gradient_weight) == (1.0, 2.0)


def test_shipped_configs_cover_every_stage_and_scale() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"teacher_vitg", "student_vits", "student_vitb", "student_vitl", "metric_hypersim_vitl",
            "mini_teacher", "mini_student", "mini_metric"} <= names


@pytest.mark.parametrize(
    "section, values, key",
    [
        ("optim", {"lrr": 1e-4}, "optim.lrr"),
        ("optim", {"steps": "many"}, "optim.steps"),
        ("optim", {"steps": 2.5}, "optim.steps"),
        ("optim", {"betas": [0.9]}, "optim.betas"),
        ("optim", {"amp": "fp8"}, "optim.amp"),
        ("run", {"progress": "yes"}, "run.progress"),
        ("loss", {"trim_fraction": 1.5}, "loss.trim_fraction"),
        ("data", {"size": 30}, "data.size"),
        ("model", {"config": {"embed_dim": "wide"}}, "model.config.embed_dim"),
        ("model", {"config": {"embed_dims": 32}}, "model.config.embed_dims"),
        ("model", {"max_depth": 20.0}, "model.max_depth"),  # a relative stage has no metric head
    ],
)
def test_bad_keys_and_types_name_the_key(tmp_path: Path, section: str, values: dict, key: str) -> None:
    config = make_config(tmp_path / "out", [{"layout": "folder", "root": str(tmp_path)}])
    config.setdefault(section, {}).update(values)
    path = write_config(tmp_path / "bad.yaml", config)
    with pytest.raises(ConfigError, match=rf"{path}.*'{key}'"):
        load_config(path)


def test_bad_key_inside_a_dataset_entry(tmp_path: Path) -> None:
    config = make_config(tmp_path / "out", [{"layout": "folder", "rooot": "x"}])
    with pytest.raises(ConfigError, match=r"'data\.train\[0\]\.rooot'"):
        load_config(write_config(tmp_path / "bad.yaml", config))


def test_metric_stage_needs_max_depth(tmp_path: Path) -> None:
    config = make_config(tmp_path / "out", [{"layout": "folder", "root": "x"}], stage="metric")
    with pytest.raises(ConfigError, match="'model.max_depth'"):
        load_config(write_config(tmp_path / "bad.yaml", config))


def test_numbers_written_the_yaml_1_1_way_and_overrides(tmp_path: Path) -> None:
    config = make_config(tmp_path / "out", [{"layout": "folder", "root": "x"}])
    path = write_config(tmp_path / "ok.yaml", config)
    path.write_text(path.read_text().replace("lr: 0.0001", "lr: 5e-6"))  # PyYAML reads this as a string
    loaded = load_config(path, ["optim.steps=9", "loss.feature_margin=0.5"])
    assert loaded.optim.lr == 5e-6 and loaded.optim.steps == 9 and loaded.loss.feature_margin == 0.5
    with pytest.raises(ConfigError, match="'optim.stepz'"):
        load_config(path, ["optim.stepz=9"])


def test_cli_rejects_a_bad_config_before_training_starts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    config = make_config(out, [{"layout": "folder", "root": str(tmp_path)}])
    config["optim"]["warmup"] = 100
    assert main(["train", "--config", str(write_config(tmp_path / "bad.yaml", config))]) == 2
    assert "unknown key 'optim.warmup'" in capsys.readouterr().err
    assert not out.exists()  # nothing was built or written
