"""`load_model`: a network with weights from a name or path, resolved by `weights.resolve`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from ..errors import CheckpointMismatchError
from ..models import DepthAnything, ModelConfig, build_model, default_input_spec
from ..models.convert import (
    config_from_transformers,
    infer_config,
    infer_video_config,
    is_transformers_state_dict,
    is_video_state_dict,
    to_official_checked,
)
from ..runtime import resolve_device, resolve_dtype
from ..transforms import InputSpec
from .files import read_checkpoint
from .registry import DEFAULT_MODEL, METRIC
from .resolver import ResolvedModel, resolve

if TYPE_CHECKING:
    from ..models.video_depth_anything import VideoDepthAnything


def weights_identity(name_or_path: str | os.PathLike | None) -> dict[str, Any]:
    """What identifies a model's weights without reading them: the name or path as given, and the
    resolved file with its size and modification time (so a retrained file at the same path differs).
    Used to refuse mixing outputs of two models (saved predictions, pseudo-labels)."""
    resolved = resolve(name_or_path)
    file = resolved.path / "model.safetensors" if resolved.path.is_dir() else resolved.path  # a transformers folder
    stat = file.stat() if file.is_file() else None
    return {
        "model": resolved.request,
        "model_file": str(file.resolve()) if stat is not None else None,
        "model_bytes": stat.st_size if stat is not None else None,
        "model_mtime_ns": stat.st_mtime_ns if stat is not None else None,
    }


def load_state_dict_checked(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """The one place weights enter a network: transformers keys converted to the official layout, a
    checkpoint of another size refused naming both sizes, missing or extra keys named in words."""
    missing, unexpected = model.load_state_dict(to_official_checked(model.state_dict(), state, source), strict=False)
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{source} does not fit: missing keys {missing[:5]}{'…' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}"
        )


def _input_spec(meta: Mapping[str, Any], config: ModelConfig) -> InputSpec:
    """The stored spec when the file has one (kind kept in step with the config), else the config's default."""
    if "input_spec" not in meta:
        return default_input_spec(config)
    spec = InputSpec.from_dict(dict(meta["input_spec"]))
    output = "metric" if config.is_metric else "disparity"
    return replace(spec, output=output, max_depth=config.max_depth)


def load_model(
    name_or_path: str | os.PathLike | ResolvedModel = DEFAULT_MODEL,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    max_depth: float | None = None,
    version: int | None = None,
    cache: str | os.PathLike | None = None,
) -> DepthAnything | VideoDepthAnything:
    """A model with weights, in eval mode, moved once to `device` (default: cuda → mps → cpu).

    `name_or_path` is a file (official .pth, this project's checkpoint, .safetensors), a transformers
    folder (config.json + model.safetensors), or a name from the registry (`weights.REGISTRY`): "default"
    (the small built-in relative model, also what no argument gives), "default-metric" (its indoor metric
    sibling), "vits", "metric-hypersim-vitl", "hf-vitb", "v1-vitl", "video-vits", ... `max_depth`/`version`
    override what the name or file name implies (a metric or V1 file under another name needs them). The
    model's `input_spec` is the one stored with the weights (or the published one). A Video Depth Anything
    file (recognised by its temporal head) gives a `VideoDepthAnything`, whose `forward` maps clips
    (B, T, 3, H, W) to depth (B, T, H, W).
    """
    resolved = name_or_path if isinstance(name_or_path, ResolvedModel) else None
    if resolved is None or not resolved.available:
        resolved = resolve(resolved.request if resolved else name_or_path, download=True, cache=cache)  # type: ignore[arg-type]
    state, meta = read_checkpoint(resolved.path)
    if resolved.entry is not None and resolved.entry.base is not None:
        state = _with_base_weights(state, resolved.entry.base)
    video, entry = is_video_state_dict(state), resolved.entry
    if entry is not None and entry.video != video:
        raise CheckpointMismatchError(
            f"{resolved.path} holds a {'Video Depth Anything' if video else 'Depth Anything image'} model, but "
            f"{entry.name!r} is a {entry.family} model"
        )
    if video:
        return _load_video_model(resolved, state, meta, max_depth).to(device=resolve_device(device),
                                                                       dtype=resolve_dtype(dtype)).eval()
    if "model_config" in meta:
        config = ModelConfig.from_dict(meta["model_config"])
        if max_depth is not None:
            config = replace(config, max_depth=max_depth)
    elif "transformers_config" in meta:
        config = config_from_transformers(meta["transformers_config"])
    else:
        if is_transformers_state_dict(state):
            from ..models.convert import transformers_to_official

            state = transformers_to_official(state)
        guessed_depth, guessed_version = (entry.max_depth, entry.version) if entry is not None else (None, 2)
        config = infer_config(state, max_depth if max_depth is not None else guessed_depth, version or guessed_version)
    model = build_model(config, init_weights=False)
    model.input_spec = _input_spec(meta, config)
    load_state_dict_checked(model, state, str(resolved.path))  # copying into the parameters casts fp16 files
    return model.to(device=resolve_device(device), dtype=resolve_dtype(dtype)).eval()


def _with_base_weights(state: Mapping[str, torch.Tensor], base: str) -> dict[str, torch.Tensor]:
    """A built-in temporal model's weights completed with its base model's encoder and image head (the
    base's `depth_head.*` is the temporal head's `head.*`); the file's own tensors come last and win."""
    shared, _ = read_checkpoint(resolve(base, download=True).path)
    renamed = {("head." + key.removeprefix("depth_head.") if key.startswith("depth_head.") else key): value
               for key, value in shared.items()}
    return {**renamed, **state}


def _load_video_model(resolved: ResolvedModel, state: Mapping[str, torch.Tensor], meta: Mapping[str, Any],
                      max_depth: float | None) -> VideoDepthAnything:
    """A Video Depth Anything network from its state dict; metric when the name, file name or `max_depth` says so
    (relative and metric files share one layout)."""
    from ..models.video_depth_anything import build_video_model

    if "model_config" in meta:
        config = ModelConfig.from_dict(meta["model_config"])
    else:
        metric = max_depth is not None or (resolved.entry is not None and resolved.entry.kind == METRIC)
        config = infer_video_config(state, metric)
    if max_depth is not None:
        config = replace(config, max_depth=max_depth)
    model = build_video_model(config, init_weights=False)
    model.input_spec = _input_spec(meta, config)
    load_state_dict_checked(model, state, str(resolved.path))
    return model


__all__ = ["load_model", "load_state_dict_checked", "weights_identity"]
