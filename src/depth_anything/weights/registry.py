"""Published and built-in weights by name: where each file lives, what model it needs, and the input
spec its predictions depend on (the preprocessing travels with the weights)."""

from __future__ import annotations

from dataclasses import dataclass

from ..builtin import BUILTIN_WEIGHTS, DEFAULT_METRIC_MODEL, DEFAULT_MODEL
from ..models import default_input_spec, model_config
from ..transforms import InputSpec

_SIZE_WORDS = {"vits": "Small", "vitb": "Base", "vitl": "Large", "vitg": "Giant"}
METRIC_MAX_DEPTH = {"hypersim": 20.0, "vkitti": 80.0}
_METRIC_HF_WORD = {"hypersim": "Indoor", "vkitti": "Outdoor"}
# Built-in models ship inside the package (depth_anything/_weights, see `builtin`); README "The default model".


@dataclass(frozen=True)
class PublishedWeights:
    """Where a checkpoint lives, what model it needs and how its inputs are prepared.

    `repo_id` is a Hugging Face repository; built-in weights have `repo_id` None and `filename` inside
    the package's `_weights` folder.
    """

    name: str
    repo_id: str | None
    filename: str
    encoder: str
    max_depth: float | None = None
    version: int = 2
    transformers_format: bool = False
    note: str = ""

    @property
    def builtin(self) -> bool:
        return self.repo_id is None

    @property
    def input_spec(self) -> InputSpec:
        """The spec of the published model: its training size and kind (518 px for every published file)."""
        return default_input_spec(model_config(self.encoder, self.max_depth, self.version))


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
        for dataset, max_depth in METRIC_MAX_DEPTH.items():
            name = f"metric-{dataset}-{enc}"
            repo = f"depth-anything/Depth-Anything-V2-Metric-{'Hypersim' if dataset == 'hypersim' else 'VKITTI'}-{word}"
            table[name] = PublishedWeights(name, repo, f"depth_anything_v2_metric_{dataset}_{enc}.pth", enc, max_depth)
            hf_name = f"hf-metric-{dataset}-{enc}"
            table[hf_name] = PublishedWeights(
                hf_name, f"depth-anything/Depth-Anything-V2-Metric-{_METRIC_HF_WORD[dataset]}-{word}-hf",
                "model.safetensors", enc, max_depth, transformers_format=True,
            )
    return table


def _builtin_weights() -> dict[str, PublishedWeights]:
    """The small models shipped inside the package (trained by this project's recipe on 2 CPU cores)."""
    note = "a small built-in model trained on 2 CPU cores; use --model vits/vitb/vitl for the published ones"
    return {
        DEFAULT_MODEL: PublishedWeights(DEFAULT_MODEL, None, BUILTIN_WEIGHTS[DEFAULT_MODEL], "vitc", note=note),
        DEFAULT_METRIC_MODEL: PublishedWeights(
            DEFAULT_METRIC_MODEL, None, BUILTIN_WEIGHTS[DEFAULT_METRIC_MODEL], "vitc", max_depth=20.0, note=note
        ),
    }


PUBLISHED_WEIGHTS: dict[str, PublishedWeights] = {**_builtin_weights(), **_published_weights()}
