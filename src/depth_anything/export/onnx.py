"""ONNX export: the network with its normalisation, exact at every input size, its input spec in the file.

The graph's input is an RGB image, float32 NCHW in [0, 1]; it normalises with the weights' mean/std,
runs the model and returns float32 [B, H, W] (see `depth_anything.inference.exported` for the contract
and the metadata keys).

**Exact at every size.** The encoder resizes its G×G position table (G the pre-training grid: 37 for the
published models, 8 for the built-in ones) with `F.interpolate(scale_factor=((h+0.1)/G, (w+0.1)/G),
mode="bicubic")`. Torch's exporters freeze that
scale factor to the example input's value, so a dynamic graph is wrong (or fails) at every other size.
While exporting, `exportable` swaps in `export_position_embedding`, which computes the same bicubic
resize as two small interpolation matrices built from the runtime grid size with tensor ops
(`table_h×w = W_h · table · W_wᵀ`), following PyTorch's `upsample_bicubic2d` rule for rule. Outside
the context the eager model is untouched (its numerics are the reference's, bit for bit).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import types
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ExportError, require_extra
from ..inference.exported import INPUT_NAME, OUTPUT_NAME, ExportedModelInfo
from ..models import DepthAnything
from ..models.dinov2 import DinoVisionTransformer
from . import DEFAULT_OPSET

log = logging.getLogger(__name__)

CUBIC_A = -0.75  # PyTorch's bicubic coefficient
DYNAMIC_EXAMPLE_BATCH = 2  # torch.export specialises a size-1 example, so a dynamic batch needs ≥ 2


# ------------------------------------------------------------------------------------------- exactness
def _cubic_coefficients(t: torch.Tensor) -> torch.Tensor:
    """[n] fractions in [0, 1] → [n, 4] weights of the taps at -1, 0, +1, +2 (PyTorch's A = -0.75 kernel)."""
    a = CUBIC_A
    t = t.double()

    def near(x: torch.Tensor) -> torch.Tensor:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: torch.Tensor) -> torch.Tensor:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    rest = 1.0 - t
    return torch.stack([far(t + 1.0), near(t), near(rest), far(rest + 1.0)], dim=-1).float()


def bicubic_resize_matrix(out_size: int, in_size: int, offset: float) -> torch.Tensor:
    """[out_size, in_size] float32 matrix M with M @ x = PyTorch's bicubic resize of x along one axis
    with scale factor (out_size + offset) / in_size (align_corners=False, no antialias).

    `out_size` may be a symbolic size during export: every step is a tensor op on `arange(out_size)`.
    PyTorch (upsample_bicubic2d): scale = float32(1 / scale_factor); source x = scale·(dst + 0.5) − 0.5,
    evaluated as one fused multiply-add (emulated here in float64, rounded once to float32); index =
    min(floor(x), in−1); t = clamp(x − index, 0, 1); taps index−1 … index+2 clamped to [0, in−1].
    """
    dst = torch.arange(out_size, dtype=torch.float64)
    scale_factor = (dst.shape[0] + offset) / in_size
    scale = torch.scalar_tensor(1.0 / scale_factor, dtype=torch.float64).float().double()
    source = ((dst + 0.5) * scale - 0.5).float()
    index = torch.clamp(torch.floor(source), max=in_size - 1)
    weights = _cubic_coefficients(torch.clamp(source - index, 0.0, 1.0))  # [out, 4]
    taps = (index.long()[:, None] + torch.arange(-1, 3)).clamp(0, in_size - 1)  # [out, 4]
    one_hot = (taps[..., None] == torch.arange(in_size)).to(weights.dtype)  # [out, 4, in]
    return (weights[..., None] * one_hot).sum(dim=1)


def export_position_embedding(self: DinoVisionTransformer, grid_h: int, grid_w: int, dtype: torch.dtype) -> torch.Tensor:
    """`DinoVisionTransformer.position_embedding` as traceable matrix products (same numbers, to float32
    rounding; unchanged table on the pre-training grid, selected with a tensor condition, not a branch)."""
    grid = self.pretrain_grid
    table = self.pos_embed.float()
    channels = table.shape[-1]
    cls_pos, patch_pos = table[:, :1], table[0, 1:]  # [1, 1, C], [grid·grid, C] in row-major (y, x) order
    resize_h = bicubic_resize_matrix(grid_h, grid, self.interpolate_offset)
    resize_w = bicubic_resize_matrix(grid_w, grid, self.interpolate_offset)
    on_grid = (torch.ones(grid_h).sum() == grid) & (torch.ones(grid_w).sum() == grid)
    resize_h = torch.where(on_grid, torch.eye(grid_h, grid), resize_h)  # identity: the table unchanged
    resize_w = torch.where(on_grid, torch.eye(grid_w, grid), resize_w)
    # Two plain 2-D products (OpenVINO's CPU plugin mis-handles a broadcast batched MatMul here):
    rows = resize_h @ patch_pos.reshape(grid, grid * channels)  # [grid_h, grid·C]: resized along y
    rows = rows.reshape(-1, grid, channels).transpose(1, 2).reshape(-1, grid)  # [grid_h·C, grid]
    cols = rows @ resize_w.T  # [grid_h·C, grid_w]: resized along x
    patch_pos = cols.reshape(-1, channels, cols.shape[-1]).transpose(1, 2).reshape(1, -1, channels)
    return torch.cat((cls_pos, patch_pos), dim=1).to(dtype)


@contextlib.contextmanager
def exportable(model: DepthAnything) -> Iterator[DepthAnything]:
    """Within the block the encoder resizes position embeddings with `export_position_embedding`."""
    encoder = model.pretrained
    encoder.position_embedding = types.MethodType(export_position_embedding, encoder)  # type: ignore[method-assign]
    try:
        yield model
    finally:
        del encoder.position_embedding  # back to the class's method


class ImageToDepth(nn.Module):
    """The exported graph: RGB float32 [B, 3, H, W] in [0, 1] → normalise → model → float32 [B, H, W]."""

    def __init__(self, model: DepthAnything, compute_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        spec = model.input_spec
        self.model = model
        self.compute_dtype = compute_dtype
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = ((image - self.mean) / self.std).to(self.compute_dtype)
        return self.model(x).float()


# ------------------------------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class ExportShape:
    """The exported input's shape; None marks a dynamic axis. `example` is the traced input's shape."""

    batch: int | None
    height: int | None
    width: int | None
    example: tuple[int, int, int, int]


def resolve_shape(
    model: DepthAnything,
    input_size: int | None = None,
    height: int | None = None,
    width: int | None = None,
    dynamic: bool = False,
    batch: int | str | None = 1,
) -> ExportShape:
    """Check the asked size against the patch size and decide static/dynamic axes, with messages that
    say what to change."""
    multiple = model.config.patch_size
    if input_size is not None and (height is not None or width is not None):
        raise ExportError("give either input_size=N (square) or height=H and width=W, not both")
    if (height is None) != (width is None):
        raise ExportError("height=H and width=W go together: give both or neither")
    asked = (("input_size", input_size),) if input_size is not None else (("height", height), ("width", width))
    for name, value in asked:
        if value is not None and (value < multiple or value % multiple):
            lower = max(multiple, value // multiple * multiple)
            raise ExportError(
                f"{name}={value} is not a multiple of the patch size {multiple}; use {lower} or {lower + multiple}"
            )
    if input_size is not None:
        height = width = input_size
    if batch in (None, "dynamic"):
        batch_value = None
    else:
        try:
            batch_value = int(batch)  # type: ignore[arg-type]
        except ValueError:
            raise ExportError(f"batch={batch!r}: give a positive integer or 'dynamic'") from None
        if batch_value < 1:
            raise ExportError(f"batch={batch}: give a positive integer or 'dynamic'")
    default = model.input_spec.input_size // multiple * multiple
    example_h, example_w = height or default, width or default
    example_b = DYNAMIC_EXAMPLE_BATCH if batch_value is None else batch_value
    if dynamic:
        return ExportShape(batch_value, None, None, (example_b, 3, example_h, example_w))
    return ExportShape(batch_value, example_h, example_w, (example_b, 3, example_h, example_w))


def exported_spec(model: DepthAnything, shape: ExportShape):
    """The input spec stored in the file: a static file's default size is its shorter side."""
    if shape.height is None or shape.width is None:
        return model.input_spec
    return model.input_spec.with_input_size(min(shape.height, shape.width))


# ------------------------------------------------------------------------------------------- writing
@contextlib.contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out` whose files `publish` moves into place; removed on any failure, so a
    failed export leaves nothing at `out`. Refuses an output it cannot write, before any slow work."""
    out = Path(out)
    if out.is_dir():
        raise ExportError(f"out={out} is a folder; give a file name such as {out / 'model.onnx'}")
    stage = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage.mkdir()
    except OSError as exc:
        raise ExportError(f"cannot write {out} ({exc.strerror or exc}); choose another path (out=)") from exc
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish(stage: Path, out: Path, names: list[str]) -> None:
    """Move staged files into `out`'s folder (the main file `out` last, so it never precedes its parts)."""
    out = Path(out)
    for name in names:
        source = stage / name
        with open(source, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(source, out.parent / name)


def _export_module(model: DepthAnything, fp16: bool) -> DepthAnything:
    """The model to trace: the caller's own when it is already on the CPU in float32 (nothing is moved),
    else a CPU copy in the export precision."""
    dtype = torch.float16 if fp16 else torch.float32
    parameter = next(model.parameters())
    if parameter.device.type == "cpu" and parameter.dtype == dtype:
        return model.eval()
    clone = copy.deepcopy(model).to(device="cpu", dtype=dtype).eval()
    clone.input_spec = model.input_spec
    return clone


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporter's notes that concern other models (torchvision ops, pytree deprecations)."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        registration.setLevel(level)


def onnx_program(model: DepthAnything, shape: ExportShape, opset: int = DEFAULT_OPSET, fp16: bool = False):
    """Trace the model (with normalisation, exact position embeddings) into a `torch.onnx.ONNXProgram`."""
    network = _export_module(model, fp16)
    graph = ImageToDepth(network, torch.float16 if fp16 else torch.float32).eval()
    example = torch.rand(shape.example, generator=torch.Generator().manual_seed(0))
    axes: dict[int, Any] = {}
    if shape.batch is None:
        axes[0] = torch.export.Dim("batch", min=1, max=4096)
    if shape.height is None:
        patch = network.config.patch_size
        axes[2] = patch * torch.export.Dim("grid_h", min=1, max=1024)
        axes[3] = patch * torch.export.Dim("grid_w", min=1, max=1024)
    with exportable(network), torch.no_grad(), _quiet_exporter():
        try:
            program = torch.onnx.export(
                graph, (example,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes={"image": axes} if axes else None, opset_version=opset, dynamo=True,
                verbose=False,
            )
        except Exception as exc:  # torch's exporter raises many kinds; say what was being exported
            raise ExportError(f"torch.onnx.export failed for {shape.example} at opset {opset}: {exc}") from exc
    return program


def export_onnx(
    model: DepthAnything,
    out: str | os.PathLike,
    *,
    input_size: int | None = None,
    height: int | None = None,
    width: int | None = None,
    dynamic: bool = False,
    batch: int | str | None = 1,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    source: str = "",
) -> ExportedModelInfo:
    """Write `model` as ONNX to `out` (atomically; weights over 2 GB go to `out`.data beside it).

    Static by default at the model's input size (or `input_size` square, or `height`×`width`);
    `dynamic=True` makes height and width dynamic (multiples of the patch size), `batch="dynamic"` the
    batch. `fp16` stores and computes in float16 with float32 input and output. Returns the metadata
    written into the file.
    """
    require_extra("onnx", "onnx")
    require_extra("onnxscript", "onnx")
    out = Path(out)
    shape = resolve_shape(model, input_size, height, width, dynamic, batch)
    info = ExportedModelInfo(
        exported_spec(model, shape), model.config.to_dict(), shape.height, shape.width, shape.batch,
        "fp16" if fp16 else "fp32", str(source),
    )
    with staging_dir(out) as stage:
        program = onnx_program(model, shape, opset, fp16)
        for key, value in info.to_metadata().items():
            program.model.metadata_props[key] = value
        program.model.producer_name = "depth-anything"
        staged = stage / out.name
        program.save(staged)
        check_onnx(staged)
        parts = sorted(p.name for p in stage.iterdir() if p.name != out.name)  # external weights, if any
        publish(stage, out, [*parts, out.name])
    log.info("exported %s (%s, %s)", out, info.size_text, info.precision)
    return info


def check_onnx(path: Path) -> None:
    """onnx.checker on the written file (by path, so models with external weights are checked too)."""
    onnx = require_extra("onnx", "onnx")
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported graph fails onnx.checker: {exc}") from exc


def read_onnx_metadata(path: str | os.PathLike) -> ExportedModelInfo:
    """The export metadata of an ONNX file (its weights are not read)."""
    onnx = require_extra("onnx", "onnx")
    proto = onnx.load(str(path), load_external_data=False)
    return ExportedModelInfo.from_metadata({p.key: p.value for p in proto.metadata_props}, path)


__all__ = [
    "DEFAULT_OPSET", "ExportShape", "ImageToDepth", "bicubic_resize_matrix", "export_onnx", "export_position_embedding",
    "exportable", "onnx_program", "read_onnx_metadata", "resolve_shape",
]
