"""Every model name the toolkit knows, as one torch-free table (as timm's pretrained configs are).

A row says where a model's weights live (a Hugging Face repository and file, or the package's own
`_weights` folder for the built-in models), what the file holds (family, encoder size, relative or
metric), how images are prepared for it (its `InputSpec`), and its licence. `weights.resolve` turns a
name or a path into weights through this table, and every part of the toolkit (Python API, command
line, web demo, training, evaluation) goes through it, so a new model family needs only new rows here
(and, for a new network, its builder in `weights.load`). Reading the table never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..models.config import VIDEO_METRIC_MAX_DEPTH, default_input_spec, model_config
from ..transforms import InputSpec

DEFAULT_MODEL = "default"
DEFAULT_METRIC_MODEL = "default-metric"
DEFAULT_VIDEO_MODEL = "default-video"
# the built-in models' files; read at call time (`builtin_dir()`), so tests can point it elsewhere
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "_weights"

# families: how a row's file is read and which network it builds
DA_V2 = "depth-anything-v2"
DA_V1 = "depth-anything-v1"
VIDEO = "video-depth-anything"
BUILT_IN = "built-in"
FAMILIES = (BUILT_IN, DA_V2, DA_V1, VIDEO)
# what a model predicts: "relative" (disparity-like, no scale) or "metric" (metres up to max_depth)
RELATIVE, METRIC = "relative", "metric"

APACHE = "Apache-2.0"
CC_BY_NC = "CC-BY-NC-4.0"
SIZE_WORDS = {"vits": "Small", "vitb": "Base", "vitl": "Large", "vitg": "Giant", "vitc": "Compact"}
# parameter counts of the networks (../shared/MODEL_SPEC.md for DA V2; counted from the built networks)
PARAMETERS = {
    (DA_V2, "vits"): 24_785_089, (DA_V2, "vitb"): 97_470_785, (DA_V2, "vitl"): 335_315_649,
    (DA_V2, "vitg"): 1_258_132_225, (BUILT_IN, "vitc"): 7_967_865,
    (VIDEO, "vits"): 29_035_137, (VIDEO, "vitb"): 114_441_409, (VIDEO, "vitl"): 384_390_337,
    (VIDEO, "vitc"): 10_333_465,
}
# metric training sets and their depth ranges (metres): indoor Hypersim, outdoor Virtual KITTI 2
METRIC_MAX_DEPTH = {"hypersim": 20.0, "vkitti": 80.0}

_METRIC_REPO_WORD = {"hypersim": "Hypersim", "vkitti": "VKITTI"}
_METRIC_HF_WORD = {"hypersim": "Indoor", "vkitti": "Outdoor"}
# file names shared by many repositories: they say nothing about the model, so the cache keeps one folder each
GENERIC_FILENAMES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class ModelEntry:
    """One published or built-in model: where its file lives, what it holds and how inputs are prepared.

    `repo_id` is a Hugging Face repository; built-in models have `repo_id` None and `filename` (and the
    ONNX `graph` that runs them without torch) inside the package's `_weights` folder.
    """

    name: str
    family: str
    encoder: str
    repo_id: str | None
    filename: str
    licence: str
    kind: str = RELATIVE
    max_depth: float | None = None
    transformers_format: bool = False
    graph: str | None = None
    note: str = ""
    # a built-in model whose file holds only what it adds to another built-in model (`default-video`: the
    # motion modules; encoder and image head are `default`'s, read from its file, so the wheel holds them once)
    base: str | None = None

    @property
    def builtin(self) -> bool:
        return self.repo_id is None

    @property
    def video(self) -> bool:
        """Whether the model predicts a depth sequence from a frame sequence (a temporal head)."""
        return self.family == VIDEO

    @property
    def version(self) -> int:
        """Depth Anything generation of the image models' head read-out (V1 reads the last four blocks)."""
        return 1 if self.family == DA_V1 else 2

    @property
    def size(self) -> str:
        return SIZE_WORDS.get(self.encoder, self.encoder)

    @property
    def parameters(self) -> int | None:
        family = DA_V2 if self.family in (DA_V1, DA_V2) else self.family
        return PARAMETERS.get((family, self.encoder))

    @property
    def url(self) -> str | None:
        return None if self.repo_id is None else f"https://huggingface.co/{self.repo_id}"

    @property
    def input_spec(self) -> InputSpec:
        """How images are prepared: the size the model was trained at (518 px for every published file)."""
        return default_input_spec(model_config(self.encoder, self.max_depth, self.version))


def _depth_anything_v2() -> list[ModelEntry]:
    rows = []
    for encoder, word in SIZE_WORDS.items():
        if encoder == "vitc":
            continue
        licence = APACHE if encoder == "vits" else CC_BY_NC
        note = "the authors had not published the Giant weights when this was written" if encoder == "vitg" else ""
        rows.append(ModelEntry(encoder, DA_V2, encoder, f"depth-anything/Depth-Anything-V2-{word}",
                               f"depth_anything_v2_{encoder}.pth", licence, note=note))
        if encoder == "vitg":
            continue
        rows.append(ModelEntry(f"hf-{encoder}", DA_V2, encoder, f"depth-anything/Depth-Anything-V2-{word}-hf",
                               "model.safetensors", licence, transformers_format=True))
        for dataset, max_depth in METRIC_MAX_DEPTH.items():
            rows.append(ModelEntry(
                f"metric-{dataset}-{encoder}", DA_V2, encoder,
                f"depth-anything/Depth-Anything-V2-Metric-{_METRIC_REPO_WORD[dataset]}-{word}",
                f"depth_anything_v2_metric_{dataset}_{encoder}.pth", licence, METRIC, max_depth,
            ))
            rows.append(ModelEntry(
                f"hf-metric-{dataset}-{encoder}", DA_V2, encoder,
                f"depth-anything/Depth-Anything-V2-Metric-{_METRIC_HF_WORD[dataset]}-{word}-hf",
                "model.safetensors", licence, METRIC, max_depth, transformers_format=True,
            ))
    return rows


def _depth_anything_v1() -> list[ModelEntry]:
    return [ModelEntry(f"v1-{encoder}", DA_V1, encoder, f"LiheYoung/depth_anything_{encoder}14", "pytorch_model.bin", APACHE)
            for encoder in ("vits", "vitb", "vitl")]


def _video_depth_anything() -> list[ModelEntry]:
    rows = []
    for encoder in ("vits", "vitb", "vitl"):
        word, licence = SIZE_WORDS[encoder], APACHE if encoder == "vits" else CC_BY_NC
        rows.append(ModelEntry(f"video-{encoder}", VIDEO, encoder, f"depth-anything/Video-Depth-Anything-{word}",
                               f"video_depth_anything_{encoder}.pth", licence))
        rows.append(ModelEntry(f"video-metric-{encoder}", VIDEO, encoder, f"depth-anything/Metric-Video-Depth-Anything-{word}",
                               f"metric_video_depth_anything_{encoder}.pth", licence, METRIC, VIDEO_METRIC_MAX_DEPTH))
    return rows


def _builtin() -> list[ModelEntry]:
    """The small models shipped inside the package (trained by this project's recipe on 2 CPU cores)."""
    note = "a small built-in model trained on 2 CPU cores; use vits/vitb/vitl for the published ones"
    return [
        ModelEntry(DEFAULT_MODEL, BUILT_IN, "vitc", None, "default_vitc.safetensors", APACHE,
                   graph="default_vitc.onnx", note=note),
        ModelEntry(DEFAULT_METRIC_MODEL, BUILT_IN, "vitc", None, "default_metric_indoor_vitc.safetensors", APACHE,
                   METRIC, max_depth=METRIC_MAX_DEPTH["hypersim"], graph="default_metric_indoor_vitc.onnx", note=note),
        # the built-in video model: `default` plus motion modules trained on rendered sequences (only they are
        # in its file; docs/video-training.md)
        ModelEntry(DEFAULT_VIDEO_MODEL, VIDEO, "vitc", None, "default_video_vitc.safetensors", APACHE,
                   note="the built-in model with a temporal head trained on 2 CPU cores", base=DEFAULT_MODEL),
    ]


REGISTRY: dict[str, ModelEntry] = {
    entry.name: entry for entry in (*_builtin(), *_depth_anything_v2(), *_depth_anything_v1(), *_video_depth_anything())
}


def builtin_dir() -> Path:
    return BUILTIN_DIR


def builtin_names() -> list[str]:
    """The image models shipped inside the package, the default first (`default-video` is a video model)."""
    return [name for name, entry in REGISTRY.items() if entry.builtin and not entry.video]


def model_names(kind: str | None = None, video: bool | None = None) -> list[str]:
    """Registered names, optionally only one kind ("relative"/"metric") or only (non-)video models."""
    return [name for name, entry in REGISTRY.items()
            if (kind is None or entry.kind == kind) and (video is None or entry.video == video)]


__all__ = [
    "APACHE", "BUILTIN_DIR", "BUILT_IN", "CC_BY_NC", "DA_V1", "DA_V2", "DEFAULT_METRIC_MODEL", "DEFAULT_MODEL",
    "DEFAULT_VIDEO_MODEL", "FAMILIES",
    "GENERIC_FILENAMES", "METRIC", "METRIC_MAX_DEPTH", "PARAMETERS", "REGISTRY", "RELATIVE", "VIDEO", "VIDEO_METRIC_MAX_DEPTH", "ModelEntry",
    "builtin_dir", "builtin_names", "model_names",
]
