"""Typed training configuration, loaded from YAML and validated before anything is built.

Every section is a dataclass; `load_config` walks the YAML against the field types and fails with a
`ConfigError` naming the file and the dotted key (``optim.lr``) for an unknown key, a wrong type or
an out-of-range value, so a typo costs seconds rather than a cluster allocation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import ConfigError
from ..models.config import MODEL_CONFIGS, TEMPORAL_WINDOW, ModelConfig, model_config
from ..typed_config import build_dataclass

STAGES = ("teacher", "student", "metric", "temporal")


@dataclass
class DataSource:
    """One training or validation dataset, read through `depth_anything.data.datasets.open_dataset`."""

    layout: str
    root: str
    split: str | None = None
    # Pseudo-labeled samples get the top-loss trimming and the feature alignment loss; None means
    # "pseudo-labeled exactly when the layout is 'pseudo'".
    pseudo_labels: bool | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_samples: int | None = None
    # label shards only: drop samples whose flip-consistency quality score (0..1) is below this
    min_quality: float | None = None

    @property
    def is_pseudo(self) -> bool:
        """Whether this source's labels are a teacher's predictions rather than ground truth."""
        return self.layout == "pseudo" if self.pseudo_labels is None else self.pseudo_labels


@dataclass
class ModelSection:
    """Which network to train and where its starting weights come from."""

    encoder: str = "vitl"  # vits | vitb | vitl | vitg (ignored when `config` is given)
    config: dict[str, Any] | None = None  # fields of depth_anything.ModelConfig, e.g. a tiny test model
    max_depth: float | None = None  # metric stage: the head is sigmoid × max_depth
    init: str | None = None  # checkpoint to start from (file with "model" or a bare state dict)
    init_encoder_only: bool = False  # metric stage: take only the encoder of a relative model
    # Frozen reference encoder for feature alignment: "init" = a frozen copy of the encoder the
    # student starts from (DINOv2's weights in the paper), a checkpoint path, or "none".
    feature_reference: str = "init"
    # temporal stage: train only the motion modules, keeping the image head of `init` as it is (VDA trains
    # the whole head; this keeps the per-frame quality and lets a built-in video model ship only its modules)
    motion_modules_only: bool = False


@dataclass
class DataSection:
    """Training/validation data and augmentation."""

    train: list[DataSource] = field(default_factory=list)
    val: list[DataSource] = field(default_factory=list)
    size: int = 518  # shorter side is resized to this, then a size×size crop (a multiple of the model's patch size)
    flip: bool = True
    color_jitter: float = 0.2  # strength of brightness/contrast/saturation jitter; 0 disables
    hue_jitter: float = 0.02
    min_depth: float = 1e-3  # targets below this (metres) are invalid
    num_workers: int = 2
    max_val_samples: int | None = None
    # temporal stage: clips of `clip_frames` consecutive frames (32 as VDA; the position table covers
    # at most 32), starting every `clip_stride` frames of each training sequence
    clip_frames: int = 32
    clip_stride: int = 8


@dataclass
class OptimSection:
    """AdamW with a smaller encoder learning rate, linear warm-up, then poly decay."""

    batch_size: int = 64  # global batch size, split evenly across processes
    steps: int = 160_000
    lr: float = 5e-6  # encoder learning rate
    decoder_lr_scale: float = 10.0  # decoder learning rate = lr × this
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    poly_power: float = 0.9
    grad_clip: float | None = 1.0
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"  # auto: bf16/fp16 on GPU, off on CPU


@dataclass
class LossSection:
    """Loss weights; defaults follow the paper (SSI : gradient = 1 : 2, top 10% ignored)."""

    ssi_weight: float = 1.0
    gradient_weight: float = 2.0
    gradient_scales: int = 4
    trim_fraction: float = 0.1  # on pseudo-labeled samples only
    feature_weight: float = 1.0  # on pseudo-labeled samples only; 0 disables
    feature_margin: float = 0.85
    silog_lambda: float = 0.5
    # temporal stage (VDA's published loss: spatial SSI + 0.5 × gradient per frame, + 10 × TGM per clip)
    temporal_weight: float = 10.0
    temporal_threshold: float = 0.05  # TGM skips pixels whose target changes by more than this × its range


@dataclass
class RunSection:
    """Where outputs go and how often to log, validate and checkpoint."""

    output_dir: str = "runs/train"
    seed: int = 0
    device: str | None = None  # None = cuda when available (per local rank), else cpu
    log_every: int = 10
    val_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    progress: bool = True


@dataclass
class TrainConfig:
    """A whole training run: `stage` picks the losses (teacher/student: relative, metric: SiLog,
    temporal: a Video Depth Anything head on a frozen encoder, trained on clips)."""

    stage: Literal["teacher", "student", "metric", "temporal"] = "teacher"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)
    run: RunSection = field(default_factory=RunSection)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, stored in every checkpoint and re-loadable with `config_from_dict`."""
        return dataclasses.asdict(self)


def _positive(key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"key '{key}': must be {'≥ 0' if allow_zero else '> 0'}, got {value}")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Cross-field checks that types alone cannot express."""
    if not cfg.data.train:
        raise ConfigError("key 'data.train': at least one training dataset is required")
    # (dotted key, must it be > 0 rather than ≥ 0)
    bounded = (
        ("optim.batch_size", True), ("optim.steps", True), ("optim.lr", True), ("optim.decoder_lr_scale", True),
        ("run.log_every", True), ("run.val_every", True), ("run.checkpoint_every", True),
        ("run.keep_checkpoints", True), ("loss.gradient_scales", True),
        ("optim.warmup_steps", False), ("optim.weight_decay", False), ("data.num_workers", False),
        ("loss.ssi_weight", False), ("loss.gradient_weight", False), ("loss.feature_weight", False),
        ("data.clip_frames", True), ("data.clip_stride", True), ("loss.temporal_weight", False),
        ("loss.temporal_threshold", True),
    )
    for key, strictly in bounded:
        section, name = key.split(".")
        _positive(key, getattr(getattr(cfg, section), name), allow_zero=not strictly)
    for section in ("train", "val"):
        for i, source in enumerate(getattr(cfg.data, section)):
            if source.min_quality is not None and not 0.0 <= source.min_quality <= 1.0:
                raise ConfigError(f"key 'data.{section}[{i}].min_quality': must be in [0, 1], got {source.min_quality}")
    if not 0.0 <= cfg.loss.trim_fraction < 1.0:
        raise ConfigError(f"key 'loss.trim_fraction': must be in [0, 1), got {cfg.loss.trim_fraction}")
    if cfg.optim.grad_clip is not None:
        _positive("optim.grad_clip", cfg.optim.grad_clip)
    if cfg.stage == "metric":
        if cfg.model.max_depth is None:
            raise ConfigError("key 'model.max_depth': required for the metric stage (e.g. 20 indoors, 80 outdoors)")
        _positive("model.max_depth", cfg.model.max_depth)
    elif cfg.model.max_depth is not None:
        raise ConfigError(f"key 'model.max_depth': only the metric stage has a metric head (stage is {cfg.stage!r})")
    if cfg.model.motion_modules_only and cfg.stage != "temporal":
        raise ConfigError(f"key 'model.motion_modules_only': only the temporal stage has motion modules (stage is "
                          f"{cfg.stage!r})")
    if cfg.stage == "temporal" and cfg.data.clip_frames > TEMPORAL_WINDOW:
        raise ConfigError(f"key 'data.clip_frames': the temporal head's position table covers {TEMPORAL_WINDOW} "
                          f"frames, got {cfg.data.clip_frames}")
    if cfg.model.config is None and cfg.model.encoder not in MODEL_CONFIGS:
        raise ConfigError(f"key 'model.encoder': expected one of {', '.join(MODEL_CONFIGS)}, got {cfg.model.encoder!r}")
    patch = model_config_from(cfg.model).patch_size  # the model's own patch size (14 for the published ones)
    if cfg.data.size % patch:
        raise ConfigError(f"key 'data.size': must be a multiple of {patch} (the ViT patch size), got {cfg.data.size}")
    return cfg


def model_config_from(section: ModelSection) -> Any:
    """The `depth_anything.ModelConfig` a model section describes (type-checked field by field)."""
    if section.config is None:
        return model_config(section.encoder, section.max_depth)
    values = dict(section.config)
    if section.max_depth is not None:
        values["max_depth"] = section.max_depth
    try:
        return build_dataclass(ModelConfig, values, "model.config")
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"key 'model.config': {exc}") from None


def config_from_dict(data: Any, source: str = "config") -> TrainConfig:
    """Build and validate a `TrainConfig` from plain data; errors are prefixed with `source`."""
    try:
        return validate(build_dataclass(TrainConfig, data, ""))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML training config; `overrides` are ``dotted.key=yaml-value`` strings applied on top."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        data = {}
    for item in overrides or []:
        apply_override(data, item, str(path))
    return config_from_dict(data, str(path))


def apply_override(data: dict[str, Any], item: str, source: str = "override") -> None:
    """Set ``a.b.c=value`` in nested `data` (the value is parsed as YAML)."""
    if "=" not in item:
        raise ConfigError(f"{source}: override {item!r} must look like key.path=value")
    dotted, raw = item.split("=", 1)
    keys = dotted.strip().split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: override {dotted!r}: '{key}' is not a section")
    node[keys[-1]] = yaml.safe_load(raw)
