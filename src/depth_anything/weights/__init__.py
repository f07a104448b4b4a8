"""Weights by name or path: `load_model`, the registry of published and built-in names, the cache and
hub download, and checkpoint files.

Resolution order of `load_model(name_or_path)`: an existing file (or transformers folder), then a
built-in model shipped in the package, then the local cache folder (`$DEPTH_ANYTHING_CACHE`, default
`~/.cache/depth_anything`), then a download with `huggingface_hub` into that cache. Every failure says
which file is needed, where to put it, and where it comes from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..builtin import builtin_file
from ..errors import CheckpointMismatchError, WeightsNotFoundError
from ..models import DepthAnything, ModelConfig, build_model, default_input_spec
from ..models.convert import (
    config_from_transformers,
    infer_config,
    is_transformers_state_dict,
    to_official_checked,
    transformers_to_official,
)
from ..runtime import resolve_device, resolve_dtype
from ..transforms import InputSpec
from .cache import CACHE_ENV, cache_dir, cached_path, is_cached, resolve_weights
from .files import read_checkpoint, save_checkpoint, save_safetensors, save_transformers
from .registry import (
    DEFAULT_METRIC_MODEL,
    DEFAULT_MODEL,
    METRIC_MAX_DEPTH,
    PUBLISHED_WEIGHTS,
    PublishedWeights,
)


def builtin_path(spec: PublishedWeights) -> Path:
    """The file of a built-in model inside the installed package (`builtin.BUILTIN_DIR`)."""
    return builtin_file(spec.filename)


def locate_weights(name_or_path: str | os.PathLike, cache: str | os.PathLike | None = None) -> tuple[Path, PublishedWeights | None]:
    """The file behind a name or path, and its registry entry when it is a name.

    An existing path always wins, even when it is named like a published file.
    """
    path = Path(name_or_path)
    if path.exists():
        return path, None
    spec = PUBLISHED_WEIGHTS.get(str(name_or_path))
    if spec is not None and spec.builtin:
        file = builtin_path(spec)
        if not file.is_file():
            raise WeightsNotFoundError(f"built-in model {spec.name!r}: {file} is missing from the installed package")
        return file, spec
    return resolve_weights(str(name_or_path), cache), spec


def weights_identity(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """What identifies a model's weights without reading them: the name or path as given, and the
    resolved file with its size and modification time (so a retrained file at the same path differs).
    Used to refuse mixing outputs of two models (saved predictions, pseudo-labels)."""
    file: Path | None = Path(name_or_path)
    if file.is_dir():  # a transformers folder
        file = file / "model.safetensors"
    elif not file.is_file():  # a name: its built-in file, or its file in the cache, if there
        spec = PUBLISHED_WEIGHTS.get(str(name_or_path))
        if spec is None:
            file = None
        else:
            file = builtin_path(spec) if spec.builtin else cached_path(spec, cache_dir())
    stat = file.stat() if file is not None and file.is_file() else None
    return {
        "model": str(name_or_path),
        "model_file": str(file.resolve()) if stat is not None and file is not None else None,
        "model_bytes": stat.st_size if stat is not None else None,
        "model_mtime_ns": stat.st_mtime_ns if stat is not None else None,
    }


def load_state_dict_checked(model: DepthAnything, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load that explains size mismatches and missing or extra keys in words, naming `source`."""
    missing, unexpected = model.load_state_dict(to_official_checked(model.state_dict(), state, source), strict=False)
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{source} does not fit: missing keys {missing[:5]}{'…' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}"
        )


def _guess_from_filename(path: Path) -> tuple[float | None, int]:
    """Kind hints that the weights cannot tell: metric range and V1 layout, from official file names."""
    name = path.name.lower()
    for dataset, depth in METRIC_MAX_DEPTH.items():
        if f"metric_{dataset}" in name:
            return depth, 2
    if re.search(r"depth_anything_vit[sblg]14", str(path).lower()):
        return None, 1
    return None, 2


def _input_spec(meta: Mapping[str, Any], config: ModelConfig) -> InputSpec:
    """The stored spec when the file has one (kind kept in step with the config), else the config's default."""
    if "input_spec" not in meta:
        return default_input_spec(config)
    spec = InputSpec.from_dict(dict(meta["input_spec"]))
    output = "metric" if config.is_metric else "disparity"
    return replace(spec, output=output, max_depth=config.max_depth)


def load_model(
    name_or_path: str | os.PathLike = DEFAULT_MODEL,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    max_depth: float | None = None,
    version: int | None = None,
    cache: str | os.PathLike | None = None,
) -> DepthAnything:
    """A model with weights, in eval mode, moved once to `device` (default: cuda → mps → cpu).

    `name_or_path` is a file (official .pth, this project's checkpoint, .safetensors), a transformers
    folder (config.json + model.safetensors), or a name from `PUBLISHED_WEIGHTS`: "default" (the small
    built-in relative model, also what no argument gives), "default-metric" (its indoor metric sibling),
    "vits", "metric-hypersim-vitl", "hf-vitb", "v1-vitl", ... `max_depth`/`version` override what the name
    or file name implies (a metric or V1 file under another name needs them). The model's
    `input_spec` is the one stored with the weights (or the published one).
    """
    path, spec = locate_weights(name_or_path, cache)
    state, meta = read_checkpoint(path)
    if "model_config" in meta:
        config = ModelConfig.from_dict(meta["model_config"])
        if max_depth is not None:
            config = replace(config, max_depth=max_depth)
    elif "transformers_config" in meta:
        config = config_from_transformers(meta["transformers_config"])
    else:
        if is_transformers_state_dict(state):
            state = transformers_to_official(state)
        guessed_depth, guessed_version = (spec.max_depth, spec.version) if spec else _guess_from_filename(path)
        config = infer_config(state, max_depth if max_depth is not None else guessed_depth, version or guessed_version)
    model = build_model(config, init_weights=False)
    model.input_spec = _input_spec(meta, config)
    load_state_dict_checked(model, state, str(path))  # copying into the parameters casts fp16 files
    return model.to(device=resolve_device(device), dtype=resolve_dtype(dtype)).eval()


__all__ = [
    "CACHE_ENV", "DEFAULT_METRIC_MODEL", "DEFAULT_MODEL", "PUBLISHED_WEIGHTS", "PublishedWeights",
    "builtin_path", "cache_dir", "cached_path", "is_cached", "load_model", "load_state_dict_checked", "locate_weights",
    "read_checkpoint", "resolve_weights", "save_checkpoint", "save_safetensors", "save_transformers", "weights_identity",
]
