"""Names → files, cache, hub download, and key conversion (official ⇄ transformers; V1).

Resolution order of `load_model(name_or_path)`: an explicit file (or transformers folder), then the
local cache folder (`$DEPTH_ANYTHING_CACHE`, default `~/.cache/depth_anything`), then a download with
`huggingface_hub` into that cache. Every failure says which file is needed, where to put it, and where
it comes from.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointMismatchError, WeightsNotFoundError
from .models import MODEL_CONFIGS, DepthAnything, ModelConfig, build_model, model_config

CACHE_ENV = "DEPTH_ANYTHING_CACHE"
StateDict = dict[str, torch.Tensor]

_SIZE_WORDS = {"vits": "Small", "vitb": "Base", "vitl": "Large", "vitg": "Giant"}
_METRIC_MAX_DEPTH = {"hypersim": 20.0, "vkitti": 80.0}
_METRIC_HF_WORD = {"hypersim": "Indoor", "vkitti": "Outdoor"}


@dataclass(frozen=True)
class PublishedWeights:
    """Where a published checkpoint lives and what model it needs."""

    name: str
    repo_id: str
    filename: str
    encoder: str
    max_depth: float | None = None
    version: int = 2
    transformers_format: bool = False
    note: str = ""


def _published_weights() -> dict[str, PublishedWeights]:
    table: dict[str, PublishedWeights] = {}
    for enc, word in _SIZE_WORDS.items():
        note = "the authors had not published the Giant weights when this was written" if enc == "vitg" else ""
        table[enc] = PublishedWeights(enc, f"depth-anything/Depth-Anything-V2-{word}", f"depth_anything_v2_{enc}.pth", enc, note=note)
        if enc == "vitg":
            continue
        table[f"hf-{enc}"] = PublishedWeights(
            f"hf-{enc}", f"depth-anything/Depth-Anything-V2-{word}-hf", "model.safetensors", enc, transformers_format=True
        )
        table[f"v1-{enc}"] = PublishedWeights(f"v1-{enc}", f"LiheYoung/depth_anything_{enc}14", "pytorch_model.bin", enc, version=1)
        for dataset, max_depth in _METRIC_MAX_DEPTH.items():
            name = f"metric-{dataset}-{enc}"
            repo = f"depth-anything/Depth-Anything-V2-Metric-{'Hypersim' if dataset == 'hypersim' else 'VKITTI'}-{word}"
            table[name] = PublishedWeights(name, repo, f"depth_anything_v2_metric_{dataset}_{enc}.pth", enc, max_depth)
            hf_name = f"hf-metric-{dataset}-{enc}"
            table[hf_name] = PublishedWeights(
                hf_name, f"depth-anything/Depth-Anything-V2-Metric-{_METRIC_HF_WORD[dataset]}-{word}-hf",
                "model.safetensors", enc, max_depth, transformers_format=True,
            )
    return table


PUBLISHED_WEIGHTS: dict[str, PublishedWeights] = _published_weights()


def cache_dir() -> Path:
    """The local weights folder: `$DEPTH_ANYTHING_CACHE`, else `~/.cache/depth_anything`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "depth_anything")


_GENERIC_FILENAMES = ("model.safetensors", "pytorch_model.bin")


def _cached_path(spec: PublishedWeights, root: Path) -> Path:
    # files with generic names (transformers and V1 repositories) get a folder per repository
    return root / spec.repo_id.split("/")[-1] / spec.filename if spec.filename in _GENERIC_FILENAMES else root / spec.filename


def resolve_weights(name: str, cache: str | os.PathLike | None = None) -> Path:
    """Local path of a published checkpoint: from the cache, else downloaded into it."""
    if name not in PUBLISHED_WEIGHTS:
        raise WeightsNotFoundError(
            f"{name!r} is neither an existing file nor a known model name; known names: {', '.join(PUBLISHED_WEIGHTS)}"
        )
    spec = PUBLISHED_WEIGHTS[name]
    root = Path(cache) if cache is not None else cache_dir()
    target = _cached_path(spec, root)
    wanted = [spec.filename, "config.json"] if spec.transformers_format else [spec.filename]
    if all((target.parent / f).is_file() for f in wanted):
        return target
    try:
        from huggingface_hub import hf_hub_download

        for filename in wanted:
            hf_hub_download(repo_id=spec.repo_id, filename=filename, local_dir=target.parent)
    except Exception as exc:  # offline, missing repo, HTTP errors: all end in the same advice
        extra = f" ({spec.note})" if spec.note else ""
        raise WeightsNotFoundError(
            f"weights {name!r} need the file {spec.filename}{' and config.json' if spec.transformers_format else ''}"
            f" from https://huggingface.co/{spec.repo_id}{extra}. The download failed ({type(exc).__name__}: {exc}). "
            f"Download it yourself and put it at {target}, or set ${CACHE_ENV} to the folder that holds it, "
            f"or pass the file's path instead of the name."
        ) from None
    return target


def describe_weights(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """What identifies a model's weights without reading them: the name or path as given, and the
    resolved file with its size and modification time (so a retrained file at the same path differs).
    Used to refuse mixing outputs of two models (saved predictions, pseudo-labels)."""
    file: Path | None = Path(name_or_path)
    if file.is_dir():  # a transformers folder
        file = file / "model.safetensors"
    elif not file.is_file():  # a published name: its file in the cache, if there
        spec = PUBLISHED_WEIGHTS.get(str(name_or_path))
        file = _cached_path(spec, cache_dir()) if spec is not None else None
    stat = file.stat() if file is not None and file.is_file() else None
    return {
        "model": str(name_or_path),
        "model_file": str(file.resolve()) if stat is not None and file is not None else None,
        "model_bytes": stat.st_size if stat is not None else None,
        "model_mtime_ns": stat.st_mtime_ns if stat is not None else None,
    }


# --------------------------------------------------------------------------------------- reading files
def read_checkpoint(path: str | os.PathLike) -> tuple[StateDict, dict[str, Any]]:
    """Tensors and metadata of a checkpoint file (.pth/.pt/.bin or .safetensors) or transformers folder.

    Metadata holds `model_config` (this project's checkpoints) or `transformers_config` (config.json).
    Wrappers such as {"model": ...} / {"state_dict": ...} and DDP's `module.` prefix are removed.
    """
    path = Path(path)
    if path.is_dir():
        files = [path / "model.safetensors", path / "pytorch_model.bin"]
        found = next((f for f in files if f.is_file()), None)
        if found is None:
            raise WeightsNotFoundError(f"folder {path} holds neither model.safetensors nor pytorch_model.bin")
        path = found
    if not path.is_file():
        raise WeightsNotFoundError(f"checkpoint file {path} does not exist")
    meta: dict[str, Any] = {}
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointMismatchError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(raw, Mapping) and isinstance(raw.get("model_config"), Mapping):
        meta["model_config"] = dict(raw["model_config"])
    for wrapper in ("model", "state_dict"):
        if isinstance(raw, Mapping) and isinstance(raw.get(wrapper), Mapping):
            raw = raw[wrapper]
            break
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointMismatchError(f"{path}: expected a state dict of tensors, found {type(raw).__name__}")
    state = {k.removeprefix("module."): v for k, v in raw.items()}
    config_file = path.parent / "config.json"
    if is_transformers_state_dict(state) and config_file.is_file():
        meta["transformers_config"] = json.loads(config_file.read_text())
    return state, meta


# --------------------------------------------------------------------------------------- key conversion
def is_transformers_state_dict(state: Mapping[str, Any]) -> bool:
    """True for the Hugging Face transformers layout (`backbone.`, `neck.`, `head.`)."""
    return any(k.startswith("backbone.embeddings.") for k in state)


@dataclass(frozen=True)
class _KeyRule:
    """One module's name in both layouts; `{n}` is an index, renumbered by `shift` (hf = sign·n + shift)."""

    official: str
    hf: str
    sign: int = 1
    shift: int = 0

    def pattern(self, template: str) -> re.Pattern[str]:
        return re.compile("^" + re.escape(template).replace(r"\{n\}", r"(\d+)") + r"(\..+)?$")

    def convert(self, key: str, to_hf: bool) -> str | None:
        source, target = (self.official, self.hf) if to_hf else (self.hf, self.official)
        match = self.pattern(source).match(key)
        if match is None:
            return None
        groups = list(match.groups())
        suffix = groups.pop() or ""
        if not groups:
            return target + suffix
        n = int(groups[0])
        mapped = self.sign * n + self.shift if to_hf else self.sign * (n - self.shift)
        return target.replace("{n}", str(mapped)) + suffix


def _key_rules() -> list[_KeyRule]:
    rules = [
        _KeyRule("pretrained.cls_token", "backbone.embeddings.cls_token"),
        _KeyRule("pretrained.mask_token", "backbone.embeddings.mask_token"),
        _KeyRule("pretrained.pos_embed", "backbone.embeddings.position_embeddings"),
        _KeyRule("pretrained.patch_embed.proj", "backbone.embeddings.patch_embeddings.projection"),
        _KeyRule("pretrained.norm", "backbone.layernorm"),
        _KeyRule("depth_head.projects.{n}", "neck.reassemble_stage.layers.{n}.projection"),
        _KeyRule("depth_head.resize_layers.{n}", "neck.reassemble_stage.layers.{n}.resize"),
        _KeyRule("depth_head.scratch.layer{n}_rn", "neck.convs.{n}", shift=-1),
        _KeyRule("depth_head.scratch.output_conv1", "head.conv1"),
        _KeyRule("depth_head.scratch.output_conv2.0", "head.conv2"),
        _KeyRule("depth_head.scratch.output_conv2.2", "head.conv3"),
    ]
    block = [("norm1", "norm1"), ("norm2", "norm2"), ("ls1.gamma", "layer_scale1.lambda1"),
             ("ls2.gamma", "layer_scale2.lambda1"), ("attn.proj", "attention.output.dense"), ("mlp.fc1", "mlp.fc1"),
             ("mlp.fc2", "mlp.fc2"), ("mlp.w12", "mlp.weights_in"), ("mlp.w3", "mlp.weights_out")]
    rules += [_KeyRule(f"pretrained.blocks.{{n}}.{ours}", f"backbone.encoder.layer.{{n}}.{theirs}") for ours, theirs in block]
    # refinenet4 … refinenet1 are fusion layers 0 … 3
    fusion = [("resConfUnit1.conv1", "residual_layer1.convolution1"), ("resConfUnit1.conv2", "residual_layer1.convolution2"),
              ("resConfUnit2.conv1", "residual_layer2.convolution1"), ("resConfUnit2.conv2", "residual_layer2.convolution2"),
              ("out_conv", "projection")]
    rules += [_KeyRule(f"depth_head.scratch.refinenet{{n}}.{ours}", f"neck.fusion_stage.layers.{{n}}.{theirs}", sign=-1, shift=4)
              for ours, theirs in fusion]
    return rules


_KEY_RULES = _key_rules()


def _rename(key: str, to_hf: bool) -> str:
    for rule in _KEY_RULES:
        renamed = rule.convert(key, to_hf)
        if renamed is not None:
            return renamed
    layout = "official" if to_hf else "transformers"
    raise CheckpointMismatchError(f"unexpected key {key!r} in a checkpoint of the {layout} layout")


# transformers ≥ 5 renames some modules in memory; files on the hub keep the names above.
_HF_V5_NAMES = [
    ("attention.q_proj", "attention.attention.query"), ("attention.k_proj", "attention.attention.key"),
    ("attention.v_proj", "attention.attention.value"), ("attention.o_proj", "attention.output.dense"),
    ("mlp.down_proj", "mlp.weights_out"),
]


def official_to_transformers(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Official state dict → transformers file layout (qkv split into query/key/value)."""
    out: StateDict = {}
    for key, value in state.items():
        m = re.match(r"pretrained\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)$", key)
        if m:
            base = f"backbone.encoder.layer.{m.group(1)}.attention.attention"
            for name, chunk in zip(("query", "key", "value"), value.chunk(3, dim=0), strict=False):
                out[f"{base}.{name}.{m.group(2)}"] = chunk.clone()
            continue
        out[_rename(key, to_hf=True)] = value
    return out


def transformers_to_official(state: Mapping[str, torch.Tensor]) -> StateDict:
    """transformers layout (files on the hub, or transformers ≥ 5 module names) → official state dict."""
    out: StateDict = {}
    pending: dict[str, dict[str, torch.Tensor]] = {}  # pieces that official checkpoints keep fused
    for key, value in state.items():
        for new, old in _HF_V5_NAMES:
            key = key.replace(new, old)
        m = re.match(r"backbone\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$", key)
        if m:
            pending.setdefault(f"pretrained.blocks.{m.group(1)}.attn.qkv.{m.group(3)}", {})[m.group(2)] = value
            continue
        m = re.match(r"backbone\.encoder\.layer\.(\d+)\.mlp\.(gate_proj|up_proj)\.(weight|bias)$", key)
        if m:  # transformers 5 splits the SwiGLU input projection in two
            pending.setdefault(f"pretrained.blocks.{m.group(1)}.mlp.w12.{m.group(3)}", {})[m.group(2)] = value
            continue
        out[_rename(key, to_hf=False)] = value
    for key, parts in pending.items():
        order = ("query", "key", "value") if key.split(".")[-2] == "qkv" else ("gate_proj", "up_proj")
        if set(parts) != set(order):
            raise CheckpointMismatchError(f"transformers checkpoint has only {sorted(parts)} of {list(order)} for {key}")
        out[key] = torch.cat([parts[name] for name in order], dim=0)
    return out


def _plain_number(value: float) -> int | float:
    """Integral floats as ints: transformers' strict configs type these fields as int."""
    return int(value) if float(value).is_integer() else float(value)


def transformers_config(config: ModelConfig) -> dict[str, Any]:
    """A transformers `DepthAnythingConfig` dict (config.json) describing `config`."""
    return {
        "model_type": "depth_anything",
        "architectures": ["DepthAnythingForDepthEstimation"],
        "backbone_config": {
            "model_type": "dinov2",
            "hidden_size": config.embed_dim,
            "num_hidden_layers": config.depth,
            "num_attention_heads": config.num_heads,
            "mlp_ratio": _plain_number(config.mlp_ratio),
            "use_swiglu_ffn": config.ffn == "swiglu",
            "image_size": config.pretrain_grid * config.patch_size,
            "patch_size": config.patch_size,
            "layerscale_value": 1.0,
            "layer_norm_eps": 1e-6,
            "out_indices": [i + 1 for i in config.layer_indices],
            "apply_layernorm": True,
            "reshape_hidden_states": False,
        },
        "patch_size": config.patch_size,
        "reassemble_hidden_size": config.embed_dim,
        "reassemble_factors": [4, 2, 1, 0.5],
        "neck_hidden_sizes": list(config.out_channels),
        "fusion_hidden_size": config.features,
        "head_in_index": -1,
        "head_hidden_size": 32,
        "depth_estimation_type": "metric" if config.is_metric else "relative",
        "max_depth": _plain_number(config.max_depth) if config.is_metric else 1,
    }


def config_from_transformers(hf: Mapping[str, Any]) -> ModelConfig:
    """ModelConfig from a transformers config.json dict."""
    backbone = hf.get("backbone_config") or {}
    try:
        dim = int(backbone["hidden_size"])
        indices = backbone.get("out_indices") or [int(s.removeprefix("stage")) for s in backbone["out_features"]]
        encoder = next((n for n, c in MODEL_CONFIGS.items() if c.embed_dim == dim), f"vit{dim}")
        metric = hf.get("depth_estimation_type", "relative") == "metric"
        return ModelConfig(
            encoder=encoder, embed_dim=dim, depth=int(backbone["num_hidden_layers"]),
            num_heads=int(backbone["num_attention_heads"]),
            ffn="swiglu" if backbone.get("use_swiglu_ffn") else "mlp", mlp_ratio=float(backbone.get("mlp_ratio", 4.0)),
            layer_indices=tuple(int(i) - 1 for i in indices), features=int(hf["fusion_hidden_size"]),
            out_channels=tuple(hf["neck_hidden_sizes"]), max_depth=float(hf["max_depth"]) if metric else None,
            patch_size=int(hf.get("patch_size", 14)),
            pretrain_grid=int(backbone.get("image_size", 518)) // int(hf.get("patch_size", 14)),
        )
    except KeyError as exc:
        raise CheckpointMismatchError(f"transformers config.json lacks the key {exc}") from None


# --------------------------------------------------------------------------------------- size inference
def describe_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Architecture facts readable from official keys: width, depth, FFN kind, head widths."""
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"pretrained\.blocks\.(\d+)\.", k))}
    try:
        return {
            "embed_dim": int(state["pretrained.pos_embed"].shape[-1]),
            "depth": max(blocks) + 1 if blocks else 0,
            "ffn": "swiglu" if "pretrained.blocks.0.mlp.w12.weight" in state else "mlp",
            "features": int(state["depth_head.scratch.layer1_rn.weight"].shape[0]),
            "out_channels": tuple(int(state[f"depth_head.projects.{i}.weight"].shape[0]) for i in range(4)),
            "pretrain_grid": int(round((state["pretrained.pos_embed"].shape[1] - 1) ** 0.5)),
        }
    except KeyError as exc:
        raise CheckpointMismatchError(f"not a Depth Anything state dict: key {exc} is missing") from None


def _size_name(facts: Mapping[str, Any]) -> str:
    for name, config in MODEL_CONFIGS.items():
        if (config.embed_dim, config.depth) == (facts["embed_dim"], facts["depth"]):
            return name
    return f"custom (width {facts['embed_dim']}, {facts['depth']} blocks)"


def infer_config(state: Mapping[str, torch.Tensor], max_depth: float | None = None, version: int = 2) -> ModelConfig:
    """The published configuration that fits an official state dict (heads can't be read from weights)."""
    facts = describe_state_dict(state)
    name = _size_name(facts)
    if name not in MODEL_CONFIGS:
        raise CheckpointMismatchError(
            f"the checkpoint holds a {name} encoder, not one of {', '.join(MODEL_CONFIGS)}; "
            "save it with its 'model_config' to load it"
        )
    config = model_config(name, max_depth, version)
    return replace(config, features=facts["features"], out_channels=facts["out_channels"])


def check_state_dict(model: DepthAnything, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> StateDict:
    """The state dict in the official layout (transformers keys converted), or a `CheckpointMismatchError`
    naming both sizes when it belongs to another architecture. Partial state dicts pass unchecked."""
    if is_transformers_state_dict(state):
        state = transformers_to_official(state)
    if "pretrained.pos_embed" in state and "depth_head.scratch.layer1_rn.weight" in state:
        ours, theirs = describe_state_dict(model.state_dict()), describe_state_dict(state)
        if ours != theirs:
            raise CheckpointMismatchError(
                f"{source} holds a {_size_name(theirs)} model ({_facts_text(theirs)}) but the model is "
                f"{_size_name(ours)} ({_facts_text(ours)}); build the model with the checkpoint's size"
            )
    return dict(state)


def load_state_dict_checked(model: DepthAnything, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load that explains size mismatches and missing or extra keys in words, naming `source`."""
    missing, unexpected = model.load_state_dict(check_state_dict(model, state, source), strict=False)
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{source} does not fit: missing keys {missing[:5]}{'…' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}"
        )


def _facts_text(facts: Mapping[str, Any]) -> str:
    return f"width {facts['embed_dim']}, {facts['depth']} blocks, {facts['ffn']} FFN, decoder {facts['features']}/{list(facts['out_channels'])}"


def _guess_from_filename(path: Path) -> tuple[float | None, int]:
    """Kind hints that the weights cannot tell: metric range and V1 layout, from official file names."""
    name = path.name.lower()
    for dataset, depth in _METRIC_MAX_DEPTH.items():
        if f"metric_{dataset}" in name:
            return depth, 2
    if re.search(r"depth_anything_vit[sblg]14", str(path).lower()):
        return None, 1
    return None, 2


def load_model(
    name_or_path: str | os.PathLike,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    max_depth: float | None = None,
    version: int | None = None,
    cache: str | os.PathLike | None = None,
) -> DepthAnything:
    """A model with weights, in eval mode, on `device` (default: cuda → mps → cpu).

    `name_or_path` is a file (official .pth, this project's checkpoint, .safetensors), a transformers
    folder (config.json + model.safetensors), or a name from `PUBLISHED_WEIGHTS` ("vits",
    "metric-hypersim-vitl", "hf-vitb", "v1-vitl", ...). `max_depth`/`version` override what the name or
    file name implies (a metric or V1 file under another name needs them).
    """
    from .inference import resolve_device, resolve_dtype

    path = Path(name_or_path)
    spec = None
    if not path.exists():
        spec = PUBLISHED_WEIGHTS.get(str(name_or_path))
        path = resolve_weights(str(name_or_path), cache)
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
    model = build_model(config)
    load_state_dict_checked(model, state, str(path))
    return model.to(device=resolve_device(device), dtype=resolve_dtype(dtype)).eval()


def save_checkpoint(model: DepthAnything, path: str | os.PathLike) -> Path:
    """Save weights with their configuration, so `load_model(path)` rebuilds any size (atomic write)."""
    from .io import atomic_write

    payload = {"model": model.state_dict(), "model_config": model.config.to_dict()}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def save_transformers(model: DepthAnything, folder: str | os.PathLike) -> Path:
    """Write a transformers-format folder (config.json + model.safetensors) for `model`."""
    from safetensors.torch import save_file

    from .io import atomic_write, atomic_write_text

    folder = Path(folder)
    state = {k: v.contiguous() for k, v in official_to_transformers(model.state_dict()).items()}
    atomic_write(folder / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    atomic_write_text(folder / "config.json", json.dumps(transformers_config(model.config), indent=2))
    return folder
