"""Reading and writing weight files: official .pth, this project's checkpoints (weights + model config +
input spec), safetensors with the same metadata, and transformers folders."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointMismatchError, WeightsNotFoundError
from ..io import atomic_write, atomic_write_text
from ..models import DepthAnything
from ..models.convert import (
    StateDict,
    is_transformers_state_dict,
    official_to_transformers,
    transformers_config,
)
from ..transforms import InputSpec

# keys of this project's checkpoints (and of a safetensors file's metadata)
MODEL_CONFIG_KEY = "model_config"
INPUT_SPEC_KEY = "input_spec"
ENCODING_KEY = "weight_encoding"
# int8 storage: weight matrices and kernels as int8 with one fp16 scale per output channel (row)
INT8_ENCODING = "int8-per-row"
SCALE_SUFFIX = ".__scale__"
INT8_MIN_SIZE = 1024  # smaller tensors (biases, norms, LayerScale) stay fp16


def quantize_rows(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weight tensors → int8 with a per-row fp16 scale (absmax / 127); the rest fp16. Halves fp16 storage."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if value.is_floating_point() and value.ndim >= 2 and value.numel() >= INT8_MIN_SIZE:
            rows = value.float().reshape(value.shape[0], -1)
            scale = (rows.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
            out[key] = torch.round(rows / scale[:, None]).clamp(-127, 127).to(torch.int8).reshape(value.shape)
            out[key + SCALE_SUFFIX] = scale.to(torch.float16)
        else:
            out[key] = value.to(torch.float16) if value.is_floating_point() else value
    return out


def dequantize_rows(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of `quantize_rows`: float32 tensors."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(SCALE_SUFFIX):
            continue
        scale = state.get(key + SCALE_SUFFIX)
        if scale is not None:  # one float32 buffer per tensor, scaled in place (fresh pages cost start-up time)
            rows = value.float().reshape(value.shape[0], -1)
            out[key] = rows.mul_(scale.float()[:, None]).reshape(value.shape)
        else:
            out[key] = value.float() if value.is_floating_point() else value
    return out


def checkpoint_keys(path: str | os.PathLike) -> list[str]:
    """The tensor names of a checkpoint file without reading its tensors (safetensors' header; a .pth
    through a memory map), to tell what a file is before loading it once. Wrappers and DDP's `module.`
    prefix are removed as `read_checkpoint` does."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                return [key.removeprefix("module.") for key in handle.keys()]
        raw: Any = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - an old (non-zip) .pth cannot be mapped: read it as a whole
        raw = read_checkpoint(path)[0]
    raw = _unwrapped(raw)
    return [str(key).removeprefix("module.") for key in raw] if isinstance(raw, Mapping) else []


def _unwrapped(raw: Any) -> Any:
    """A checkpoint's state dict without a {"model": ...} or {"state_dict": ...} wrapper."""
    for wrapper in ("model", "state_dict"):
        if isinstance(raw, Mapping) and isinstance(raw.get(wrapper), Mapping):
            return raw[wrapper]
    return raw


def read_checkpoint(path: str | os.PathLike) -> tuple[StateDict, dict[str, Any]]:
    """Tensors and metadata of a checkpoint file (.pth/.pt/.bin or .safetensors) or transformers folder.

    Metadata holds `model_config` and `input_spec` (this project's checkpoints and safetensors files)
    or `transformers_config` (config.json). Wrappers such as {"model": ...} / {"state_dict": ...} and
    DDP's `module.` prefix are removed.
    """
    path = Path(path)
    if path.is_dir():
        candidates = [path / "model.safetensors", path / "pytorch_model.bin"]
        found = next((f for f in candidates if f.is_file()), None)
        if found is None:
            raise WeightsNotFoundError(f"folder {path} holds neither model.safetensors nor pytorch_model.bin")
        path = found
    if not path.is_file():
        raise WeightsNotFoundError(f"checkpoint file {path} does not exist")
    meta: dict[str, Any] = {}
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            from safetensors.torch import load_file

            raw: Any = load_file(str(path))
            with safe_open(str(path), framework="pt") as handle:
                stored = handle.metadata() or {}
            for key in (MODEL_CONFIG_KEY, INPUT_SPEC_KEY):
                if key in stored:
                    meta[key] = json.loads(stored[key])
            if stored.get(ENCODING_KEY) == INT8_ENCODING:
                raw = dequantize_rows(raw)
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointMismatchError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    for key in (MODEL_CONFIG_KEY, INPUT_SPEC_KEY):
        if isinstance(raw, Mapping) and isinstance(raw.get(key), Mapping):
            meta[key] = dict(raw[key])
    raw = _unwrapped(raw)
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointMismatchError(f"{path}: expected a state dict of tensors, found {type(raw).__name__}")
    state = {k.removeprefix("module."): v for k, v in raw.items()}
    config_file = path.parent / "config.json"
    if is_transformers_state_dict(state) and config_file.is_file():
        meta["transformers_config"] = json.loads(config_file.read_text())
    return state, meta


def checkpoint_payload(model: DepthAnything, input_spec: InputSpec | None = None) -> dict[str, Any]:
    """What a checkpoint stores besides training state: weights, model config and input spec."""
    spec = input_spec or model.input_spec
    return {"model": model.state_dict(), MODEL_CONFIG_KEY: model.config.to_dict(), INPUT_SPEC_KEY: spec.to_dict()}


def save_checkpoint(model: DepthAnything, path: str | os.PathLike, input_spec: InputSpec | None = None) -> Path:
    """Save weights with their configuration and input spec, so `load_model(path)` rebuilds any size and
    prepares images as the weights expect (atomic write)."""
    payload = checkpoint_payload(model, input_spec)
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def save_safetensors(
    model: DepthAnything, path: str | os.PathLike, input_spec: InputSpec | None = None,
    dtype: torch.dtype | str | None = None, only: str | None = None,
) -> Path:
    """Weights as safetensors with config and spec as metadata; `dtype` casts them (e.g. torch.float16),
    or "int8" stores weight matrices as int8 with per-row scales (read back as float32 by `read_checkpoint`).
    `only` keeps the keys that start with it (a built-in model whose other weights another file holds)."""
    from safetensors.torch import save_file

    payload = checkpoint_payload(model, input_spec)
    if only is not None:
        payload["model"] = {key: value for key, value in payload["model"].items() if key.startswith(only)}
    metadata = {key: json.dumps(payload[key]) for key in (MODEL_CONFIG_KEY, INPUT_SPEC_KEY)}
    if dtype == "int8":
        state = {k: v.contiguous() for k, v in quantize_rows(payload["model"]).items()}
        metadata[ENCODING_KEY] = INT8_ENCODING
    else:
        state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
                 for k, v in payload["model"].items()}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))


def save_transformers(model: DepthAnything, folder: str | os.PathLike) -> Path:
    """Write a transformers-format folder (config.json + model.safetensors) for `model`."""
    from safetensors.torch import save_file

    folder = Path(folder)
    state = {k: v.contiguous() for k, v in official_to_transformers(model.state_dict()).items()}
    atomic_write(folder / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    atomic_write_text(folder / "config.json", json.dumps(transformers_config(model.config), indent=2))
    return folder
