"""Pure conversions of weights and configurations: official ⇄ transformers keys, transformers config.json
⇄ ModelConfig, and the architecture read from tensor shapes.

Kept beside the model (as timm keeps `checkpoint_filter_fn` with its models) but free of files, hubs and
devices: everything here maps dicts of tensors and dicts of settings to others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..errors import CheckpointMismatchError
from .config import MODEL_CONFIGS, ModelConfig, model_config

StateDict = dict[str, torch.Tensor]


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
def architecture_from_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
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
            "patch_size": int(state["pretrained.patch_embed.proj.weight"].shape[-1]),
        }
    except KeyError as exc:
        raise CheckpointMismatchError(f"not a Depth Anything state dict: key {exc} is missing") from None


def _size_name(facts: Mapping[str, Any]) -> str:
    for name, config in MODEL_CONFIGS.items():
        if (config.embed_dim, config.depth, config.patch_size) == (facts["embed_dim"], facts["depth"], facts["patch_size"]):
            return name
    return f"custom (width {facts['embed_dim']}, {facts['depth']} blocks)"


def infer_config(state: Mapping[str, torch.Tensor], max_depth: float | None = None, version: int = 2) -> ModelConfig:
    """The published configuration that fits an official state dict (heads can't be read from weights)."""
    facts = architecture_from_state_dict(state)
    name = _size_name(facts)
    if name not in MODEL_CONFIGS:
        raise CheckpointMismatchError(
            f"the checkpoint holds a {name} encoder, not one of {', '.join(MODEL_CONFIGS)}; "
            "save it with its 'model_config' to load it"
        )
    config = model_config(name, max_depth, version)
    return replace(config, features=facts["features"], out_channels=facts["out_channels"], pretrain_grid=facts["pretrain_grid"])


def to_official_checked(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> StateDict:
    """`state` converted to the official layout (transformers keys renamed), after checking that it has
    the architecture of `expected` (a model's own state dict); a `CheckpointMismatchError` names both
    sizes otherwise. Partial state dicts pass unchecked."""
    if is_transformers_state_dict(state):
        state = transformers_to_official(state)
    if "pretrained.pos_embed" in state and "depth_head.scratch.layer1_rn.weight" in state:
        ours, theirs = architecture_from_state_dict(expected), architecture_from_state_dict(state)
        if ours != theirs:
            raise CheckpointMismatchError(
                f"{source} holds a {_size_name(theirs)} model ({_facts_text(theirs)}) but the model is "
                f"{_size_name(ours)} ({_facts_text(ours)}); build the model with the checkpoint's size"
            )
    return dict(state)


def _facts_text(facts: Mapping[str, Any]) -> str:
    return f"width {facts['embed_dim']}, {facts['depth']} blocks, {facts['ffn']} FFN, decoder {facts['features']}/{list(facts['out_channels'])}"


# --------------------------------------------------------------------------------------- Video Depth Anything
_VIDEO_PE_KEY = "head.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"


def is_video_state_dict(state: Mapping[str, Any]) -> bool:
    """True for Video Depth Anything's layout: a temporal head under `head.` with `head.motion_modules.`."""
    return any(k.startswith("head.motion_modules.") for k in state)


def infer_video_config(state: Mapping[str, torch.Tensor], metric: bool = False) -> ModelConfig:
    """The published VDA configuration that fits an official VDA state dict (encoder read from shapes).

    Metric and relative files have the same layout, so `metric` comes from elsewhere (the official file
    names start with `metric_`). Image checkpoints and unpublished sizes fail naming what they hold.
    """
    from .video_depth_anything import VIDEO_ENCODERS, video_config

    if not is_video_state_dict(state):
        if any(k.startswith("depth_head.") for k in state):
            raise CheckpointMismatchError(
                "a Depth Anything image checkpoint (head under 'depth_head.'), not Video Depth Anything "
                "(head under 'head.' with 'head.motion_modules.')"
            )
        raise CheckpointMismatchError("not a Video Depth Anything state dict: no 'head.motion_modules.' keys")
    modules = {int(m.group(1)) for k in state if (m := re.match(r"head\.motion_modules\.(\d+)\.", k))}
    if modules != {0, 1, 2, 3}:
        raise CheckpointMismatchError(f"a Video Depth Anything head has motion modules 0-3, this one {sorted(modules)}")
    # the image model's size rules read the head under its image-model name
    facts = architecture_from_state_dict({("depth_head." + k[5:] if k.startswith("head.") else k): v for k, v in state.items()})
    name = _size_name(facts)
    if name not in VIDEO_ENCODERS:
        raise CheckpointMismatchError(
            f"the checkpoint holds a {name} encoder; Video Depth Anything is published as {', '.join(VIDEO_ENCODERS)}"
        )
    window = int(state[_VIDEO_PE_KEY].shape[1]) if _VIDEO_PE_KEY in state else None
    if window != 32:
        raise CheckpointMismatchError(f"{_VIDEO_PE_KEY} covers {window} frames; the published models' window is 32")
    config = video_config(name, metric)
    return replace(config, features=facts["features"], out_channels=facts["out_channels"], pretrain_grid=facts["pretrain_grid"])
