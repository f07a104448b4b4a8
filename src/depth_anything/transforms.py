"""Pre- and post-processing shared by inference, training, evaluation and export (one definition each).

`InputSpec` is what a set of weights expects (as timm's pretrained configs and transformers' processor
configs): default input size, size multiple (the patch size), mean and std, and the output kind. It
travels with the weights (registry entries, checkpoints, exported files).

`preprocess` reproduces the reference `infer_image` pipeline bit for bit: float64 in [0, 1],
aspect-preserving bicubic resize (OpenCV INTER_CUBIC) so the shorter side reaches the input size and
both sides are multiples of the patch size, normalisation, then float32. `resize_depth` resizes a
prediction back (bilinear, align_corners=True) on torch tensors or numpy arrays, so the runtimes that do
not use torch never import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch

from .errors import ConfigError
from .io import to_unit_float
from .typed_config import build_dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PATCH_SIZE = 14  # the published models' patch size; other sizes carry theirs in their InputSpec
OUTPUT_KINDS = ("disparity", "metric")


@dataclass(frozen=True)
class InputSpec:
    """How images are prepared for a set of weights, and what its output means.

    `input_size` is the default shorter side of the network input; both sides are rounded to
    multiples of `size_multiple`. `output` is "disparity" (relative, affine-invariant, larger = nearer)
    or "metric" (metres, in (0, max_depth)).
    """

    input_size: int = 518
    size_multiple: int = PATCH_SIZE
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    output: Literal["disparity", "metric"] = "disparity"
    max_depth: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if self.output not in OUTPUT_KINDS:
            raise ConfigError(f"input spec: output must be one of {OUTPUT_KINDS}, got {self.output!r}")
        if (self.output == "metric") != (self.max_depth is not None):
            raise ConfigError(f"input spec: a metric output needs max_depth and a disparity one none, got {self.max_depth}")
        if self.size_multiple < 1 or self.input_size < self.size_multiple:
            raise ConfigError(
                f"input spec: input_size {self.input_size} must be at least size_multiple {self.size_multiple} (≥ 1)"
            )
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ConfigError("input spec: mean and std need three values (R, G, B)")

    @property
    def is_metric(self) -> bool:
        return self.output == "metric"

    def with_input_size(self, input_size: int | None) -> InputSpec:
        """The same spec at another default size (None keeps this one): an explicit --input-size."""
        return self if input_size is None else replace(self, input_size=int(input_size))

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["mean"], values["std"] = list(self.mean), list(self.std)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> InputSpec:
        """Read back what `to_dict` wrote (a checkpoint's or an exported file's metadata), naming unknown keys."""
        return build_dataclass(cls, dict(values), "input_spec")


def round_to_multiple(value: float, minimum: int, multiple: int = PATCH_SIZE) -> int:
    """Nearest multiple (half to even, like np.round), rounding up instead if that falls below `minimum`."""
    rounded = int(np.round(value / multiple) * multiple)
    if rounded < minimum:
        rounded = int(np.ceil(value / multiple) * multiple)
    return rounded


def network_input_size(height: int, width: int, input_size: int = 518, multiple: int = PATCH_SIZE) -> tuple[int, int]:
    """(h, w) of the network input for an image of height×width: shorter side ≥ input_size, multiples of `multiple` (the patch size).

    >>> network_input_size(97, 131, 140)
    (140, 196)
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}×{width}")
    if input_size < multiple:
        raise ValueError(f"input_size must be at least {multiple}, got {input_size}")
    scale = max(input_size / height, input_size / width)
    return round_to_multiple(scale * height, input_size, multiple), round_to_multiple(scale * width, input_size, multiple)


def normalize(image: np.ndarray, spec: InputSpec | None = None) -> np.ndarray:
    """Mean/std normalisation (ImageNet's unless `spec` says otherwise) of an H×W×3 float image in [0, 1]."""
    spec = spec or InputSpec()
    return (image - np.asarray(spec.mean)) / np.asarray(spec.std)


def as_spec(spec: InputSpec | int | None) -> InputSpec:
    """An InputSpec from a spec, a bare input size (published models' patch 14), or None (518)."""
    if isinstance(spec, InputSpec):
        return spec
    return InputSpec() if spec is None else InputSpec(input_size=int(spec))


def preprocess(rgb: np.ndarray, spec: InputSpec | int | None = None, normalize_input: bool = True) -> np.ndarray:
    """RGB image (uint8, uint16 or float in [0, 1]) → float32 [3, h, w] network input for `spec`.

    `normalize_input=False` stops before the mean/std step (RGB in [0, 1]): the input of exported
    graphs, which normalise inside.
    """
    spec = as_spec(spec)
    image = to_unit_float(rgb)
    height, width = network_input_size(image.shape[0], image.shape[1], spec.input_size, spec.size_multiple)
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
    if normalize_input:
        image = normalize(image, spec)
    return np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32)


Depth = TypeVar("Depth", "torch.Tensor", np.ndarray)


def resize_depth(depth: Depth, size: tuple[int, int]) -> Depth:
    """Resize [B, h, w] (or [h, w]) predictions to `size` bilinearly with align_corners=True.

    A torch tensor goes through `F.interpolate` (on its own device); a numpy array through the same
    rule in numpy (float32, equal to torch's within a few float32 ulps), without importing torch.
    """
    if isinstance(depth, np.ndarray):
        return _resize_corner_aligned(depth, (int(size[0]), int(size[1])))
    import torch.nn.functional as F

    squeeze = depth.ndim == 2
    batch = depth[None, None] if squeeze else depth[:, None]
    out = F.interpolate(batch, size=tuple(size), mode="bilinear", align_corners=True)[:, 0]
    return out[0] if squeeze else out


def _corner_aligned_taps(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of bilinear interpolation with align_corners=True along one axis,
    computed as torch's CPU kernel does (float32 scale (in-1)/(out-1), source = scale·index)."""
    scale = np.float32(in_size - 1) / np.float32(out_size - 1) if out_size > 1 else np.float32(0.0)
    source = scale * np.arange(out_size, dtype=np.float32)
    first = np.minimum(source.astype(np.int64), in_size - 1)
    second = np.minimum(first + 1, in_size - 1)
    weight = (source - first).astype(np.float32)
    return first, second, np.float32(1.0) - weight, weight


def _resize_corner_aligned(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """numpy bilinear resize with align_corners=True over the last two axes (rows, then columns)."""
    depth = np.asarray(depth, dtype=np.float32)
    top, bottom, w_top, w_bottom = _corner_aligned_taps(size[0], depth.shape[-2])
    left, right, w_left, w_right = _corner_aligned_taps(size[1], depth.shape[-1])
    rows = depth[..., top, :] * w_top[:, None] + depth[..., bottom, :] * w_bottom[:, None]
    return np.ascontiguousarray(rows[..., left] * w_left + rows[..., right] * w_right)
