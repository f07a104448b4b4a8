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

**Targets.** `target="generic"` (default) and `"rvc4"` use torch's dynamo exporter, opset 18 or later
(its lowest: `LayerNormalization` has no earlier version). `target="rvc2"` writes what OpenVINO
2022.3.0 (the last release with the Myriad X compiler, pinned by Luxonis' modelconverter for RVC2)
reads: a static graph through torch's TorchScript exporter at opset 14–17 (default 16), with every
LayerNorm written as primitive ops (ReduceMean, Sub, Mul, Sqrt, Div), the DPT head's bilinear resizes
as products with constant matrices (no Resize: OpenVINO's newer IRs write it as Interpolate-11, which
2022.3.0 refuses) and the position table folded into a float32 constant computed by the eager model
itself, so the file holds no float64 and no `LayerNormalization` node (OpenVINO 2022.3.0 crashes
reading one).
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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ExportError, require_extra
from ..inference.exported import INPUT_NAME, OUTPUT_NAME, ExportedModelInfo
from ..models import DepthAnything
from ..models.dinov2 import DinoVisionTransformer
from . import DEFAULT_OPSET, RVC2_OPSET, RVC2_OPSETS, TARGETS

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


class ClipToDepth(nn.Module):
    """The exported temporal graph: RGB float32 [B, T, 3, H, W] in [0, 1] → normalise → the video model →
    float32 [B, T, H, W] (one window of frames)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        spec = model.input_spec
        self.model = model
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 1, 3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model((frames - self.mean) / self.std).float()


def is_temporal(model: nn.Module) -> bool:
    """Whether `model` is a temporal (Video Depth Anything) network, exported as windows of frames."""
    return hasattr(model, "head") and hasattr(model.head, "motion_modules")


class PrimitiveLayerNorm(nn.Module):
    """`nn.LayerNorm` over the last axis as ReduceMean/Sub/Mul/Sqrt/Div, for runtimes without the
    `LayerNormalization` op (OpenVINO 2022.3.0); same numbers to float32 rounding."""

    def __init__(self, norm: nn.LayerNorm) -> None:
        super().__init__()
        if len(norm.normalized_shape) != 1:
            raise ExportError(f"LayerNorm over {tuple(norm.normalized_shape)}: only last-axis norms are rewritten")
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=-1, keepdim=True)
        variance = (centred * centred).mean(dim=-1, keepdim=True)
        out = centred / torch.sqrt(variance + self.eps)
        if self.weight is not None:
            out = out * self.weight
        return out + self.bias if self.bias is not None else out


def linear_resize_matrix(out_size: int, in_size: int) -> torch.Tensor:
    """[out_size, in_size] float32 matrix M with M @ x = linear interpolation of x along one axis with
    align_corners=True (PyTorch's rule: source = dst·(in−1)/(out−1), taps floor and floor+1). Built in
    NumPy, so a tracing exporter records it as one constant, not as the ops that made it."""
    if out_size == 1:
        source = np.zeros(1)
    else:
        source = np.arange(out_size) * ((in_size - 1) / (out_size - 1))
    low = np.minimum(np.floor(source), in_size - 1).astype(np.int64)
    high = np.minimum(low + 1, in_size - 1)
    weight = source - low
    matrix = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), 1.0 - weight)
    np.add.at(matrix, (rows, high), weight)
    return torch.from_numpy(matrix.astype(np.float32))


def matrix_interpolate(
    x: torch.Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
    align_corners: bool | None = None, **kwargs: Any,
) -> torch.Tensor:
    """`F.interpolate` for a static bilinear align_corners=True resize of [B, C, H, W] as two products
    with constant matrices (no Resize node, so no Interpolate-11 in an OpenVINO IR); anything else is
    `F.interpolate` itself."""
    if mode != "bilinear" or not align_corners or x.dim() != 4 or kwargs.get("antialias"):
        return F.interpolate(x, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners, **kwargs)
    in_h, in_w = int(x.shape[2]), int(x.shape[3])
    if size is not None:
        out_h, out_w = (int(v) for v in (size if isinstance(size, (tuple, list, torch.Size)) else (size, size)))
    else:
        factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
        out_h, out_w = int(in_h * factors[0]), int(in_w * factors[1])
    resize_h = linear_resize_matrix(out_h, in_h).to(x.dtype)
    resize_w = linear_resize_matrix(out_w, in_w).to(x.dtype)
    batch, channels = x.shape[0], x.shape[1]
    rows = torch.matmul(resize_h, x.reshape(-1, in_h, in_w))  # [B·C, out_h, W]
    out = torch.matmul(rows, resize_w.T)  # [B·C, out_h, out_w]
    return out.reshape(batch, channels, out_h, out_w)


class _FunctionalWithMatrixResize(types.ModuleType):
    """torch.nn.functional with `interpolate` replaced by `matrix_interpolate` (see `primitive_ops`)."""

    def __init__(self) -> None:
        super().__init__("torch.nn.functional")
        self.interpolate = matrix_interpolate

    def __getattr__(self, name: str) -> Any:
        return getattr(F, name)


@contextlib.contextmanager
def primitive_ops(model: nn.Module, grid: tuple[int, int]) -> Iterator[nn.Module]:
    """Within the block every LayerNorm of `model` is a `PrimitiveLayerNorm`, the DPT head's bilinear
    resizes are constant matrix products, and the encoder's position table is the eager model's own
    table for the static patch `grid` (height, width), a constant."""
    from ..models import dpt

    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.LayerNorm):
                swapped.append((parent, name, child))
                setattr(parent, name, PrimitiveLayerNorm(child))
    encoder = model.pretrained
    with torch.no_grad():
        table = encoder.position_embedding(*grid, torch.float32).detach().clone()

    def constant_table(self: DinoVisionTransformer, grid_h: int, grid_w: int, dtype: torch.dtype) -> torch.Tensor:
        if (grid_h, grid_w) != grid:
            raise ExportError(f"static export at a {grid[0]}×{grid[1]} patch grid met {grid_h}×{grid_w}")
        return table.to(dtype)

    encoder.position_embedding = types.MethodType(constant_table, encoder)  # type: ignore[method-assign]
    functional, dpt.F = dpt.F, _FunctionalWithMatrixResize()  # type: ignore[assignment]
    try:
        yield model
    finally:
        dpt.F = functional  # type: ignore[assignment]
        del encoder.position_embedding
        for parent, name, child in swapped:
            setattr(parent, name, child)


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


def resolve_opset(target: str, opset: int | None, shape: ExportShape | None = None, fp16: bool = False) -> int:
    """The opset to write for `target` (None: its default), or an error saying why the asked one cannot be
    written; with `shape`, also refuses what the target's runtime cannot take (dynamic axes, batch > 1)."""
    if target not in TARGETS:
        raise ExportError(f"target={target!r}: choose one of {', '.join(TARGETS)}")
    if target == "rvc2":
        if opset is None:
            opset = RVC2_OPSET
        if opset not in RVC2_OPSETS:
            raise ExportError(
                f"opset={opset} for target='rvc2': give {RVC2_OPSETS[0]}–{RVC2_OPSETS[-1]} (default {RVC2_OPSET}, "
                "the one checked with OpenVINO 2022.3.0): the graph OpenVINO 2022.3.0 reads is written by torch's "
                "TorchScript exporter, which needs opset 14 for attention and keeps ReduceMean's axes an attribute "
                "(the form 2022.3.0 reads) up to 17"
            )
        if fp16:
            raise ExportError("target='rvc2' with fp16=True: the RVC2 compiler makes the model float16 itself; "
                              "export float32 (OpenVINO 2022.3.0 reads float16 ONNX graphs poorly)")
    else:
        if opset is None:
            opset = DEFAULT_OPSET
        if opset < DEFAULT_OPSET:
            raise ExportError(
                f"opset={opset}: torch's exporter writes opset {DEFAULT_OPSET} or later for target={target!r} "
                f"(LayerNormalization has no earlier version and its down-conversion fails); target='rvc2' "
                f"writes opsets {RVC2_OPSETS[0]}–{RVC2_OPSETS[-1]} with LayerNorm as primitive ops"
            )
    if shape is not None and target != "generic":
        if shape.height is None or shape.batch != 1:
            raise ExportError(f"target={target!r} runs on the camera at one static size with batch 1: "
                              "export with dynamic=False and batch=1")
    return opset


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


def onnx_program(
    model: DepthAnything, shape: ExportShape, opset: int = DEFAULT_OPSET, fp16: bool = False, frames: int | None = None
):
    """Trace the model (with normalisation, exact position embeddings) into a `torch.onnx.ONNXProgram`;
    a temporal model as a window of `frames` frames (static sizes)."""
    if opset < DEFAULT_OPSET:
        raise ExportError(f"opset={opset}: torch's dynamo exporter writes opset {DEFAULT_OPSET} or later")
    network = _export_module(model, fp16)
    if frames is not None:
        graph: nn.Module = ClipToDepth(network).eval()
        batch, _, height, width = shape.example
        example = torch.rand((batch, frames, 3, height, width), generator=torch.Generator().manual_seed(0))
    else:
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


def write_primitive_onnx(model: DepthAnything, shape: ExportShape, opset: int, path: Path) -> None:
    """Write the static float32 graph with LayerNorm as primitive ops and a constant position table at
    `opset` (14–17) through torch's TorchScript exporter: the file OpenVINO 2022.3.0 reads."""
    if shape.height is None or shape.width is None or shape.batch is None:
        raise ExportError("the primitive-op graph is static: give a fixed size and batch")
    network = _export_module(model, False)
    patch = network.config.patch_size
    grid = (shape.height // patch, shape.width // patch)
    example = torch.rand(shape.example, generator=torch.Generator().manual_seed(0))
    with primitive_ops(network, grid), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        graph = ImageToDepth(network).eval()
        try:
            torch.onnx.export(graph, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              opset_version=opset, dynamo=False, do_constant_folding=True)
        except Exception as exc:  # the TorchScript exporter raises many kinds; say what was being exported
            raise ExportError(f"torch.onnx.export (TorchScript) failed for {shape.example} at opset {opset}: {exc}") from exc


def export_onnx(
    model: DepthAnything,
    out: str | os.PathLike,
    *,
    input_size: int | None = None,
    height: int | None = None,
    width: int | None = None,
    dynamic: bool = False,
    batch: int | str | None = 1,
    opset: int | None = None,
    fp16: bool = False,
    source: str = "",
    target: str = "generic",
    frames: int | None = None,
) -> ExportedModelInfo:
    """Write `model` as ONNX to `out` (atomically; weights over 2 GB go to `out`.data beside it).

    Static by default at the model's input size (or `input_size` square, or `height`×`width`);
    `dynamic=True` makes height and width dynamic (multiples of the patch size), `batch="dynamic"` the
    batch. `fp16` stores and computes in float16 with float32 input and output. `target` is "generic",
    "rvc2" (the graph OpenVINO 2022.3.0 reads: see the module notes) or "rvc4" (static, batch 1); `opset`
    None means the target's default. A temporal (Video Depth Anything) model is written as one window of
    `frames` frames (default: its temporal window, 32), static in every axis, float32, generic target: the
    graph the offline windows run (`inference.video_windows`). Returns the metadata written into the file.
    """
    require_extra("onnx", "onnx")
    require_extra("onnxscript", "onnx")
    out = Path(out)
    temporal = is_temporal(model)
    if temporal:
        frames = model.window if frames is None else int(frames)
        if not 1 <= frames <= model.window:
            raise ExportError(f"frames={frames}: a window of 1 to {model.window} frames (the position table's span)")
        if dynamic or batch in (None, "dynamic") or fp16 or target != "generic":
            raise ExportError("a temporal model exports as a static float32 window for the generic target: drop "
                              "dynamic=True, batch='dynamic', fp16=True and target=")
    elif frames is not None:
        raise ExportError("frames= is for temporal (Video Depth Anything) models; this is an image model")
    shape = resolve_shape(model, input_size, height, width, dynamic, batch)
    opset = resolve_opset(target, opset, shape, fp16)
    info = ExportedModelInfo(
        exported_spec(model, shape), model.config.to_dict(), shape.height, shape.width, shape.batch,
        "fp16" if fp16 else "fp32", str(source), frames,
    )
    with staging_dir(out) as stage:
        staged = stage / out.name
        if target == "rvc2":
            write_primitive_onnx(model, shape, opset, staged)
            _add_metadata(staged, info.to_metadata())
        else:
            program = onnx_program(model, shape, opset, fp16, frames)
            for key, value in info.to_metadata().items():
                program.model.metadata_props[key] = value
            program.model.producer_name = "depth-anything"
            program.save(staged)
        check_onnx(staged)
        parts = sorted(p.name for p in stage.iterdir() if p.name != out.name)  # external weights, if any
        publish(stage, out, [*parts, out.name])
    log.info("exported %s (%s, %s)", out, info.size_text, info.precision)
    return info


def _add_metadata(path: Path, metadata: dict[str, str]) -> None:
    """Write the export metadata into a saved ONNX file (one that fits in one file)."""
    onnx = require_extra("onnx", "onnx")
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "depth-anything"
    onnx.save(proto, str(path))


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
    "DEFAULT_OPSET", "ClipToDepth", "ExportShape", "ImageToDepth", "PrimitiveLayerNorm", "bicubic_resize_matrix", "export_onnx",
    "export_position_embedding", "exportable", "onnx_program", "primitive_ops", "read_onnx_metadata", "resolve_opset",
    "resolve_shape", "write_primitive_onnx",
]
