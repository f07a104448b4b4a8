"""INT8 post-training quantization of the OpenVINO IR with NNCF, calibrated on real photos.

`export_openvino(..., int8=True)` reads the exact ONNX graph into OpenVINO as for f32 and, before
saving, hands it to `nncf.quantize` (transformer patterns, the mixed preset by default: symmetric
weights, asymmetric activations; activation ranges from the calibration's min/max). The result holds FakeQuantize nodes that OpenVINO's CPU plugin runs
as int8 kernels (VNNI/AMX where the CPU has them); what NNCF leaves unquantized (softmax, layer norm,
the resizes) runs in the runtime's f32 inference precision.

Calibration only measures activation ranges: nothing is trained. Its inputs are made exactly like the
runtime's: `transforms.preprocess(rgb, spec, normalize_input=False)` (the graph normalises inside) on
views cut to the file's aspect, so they come out at its static size (int8 files are static: OpenVINO's
CPU plugin runs dynamic-shape int8 graphs wrongly, see `export.openvino`). The photos are the user's
(`calibration=`: files, folders, list files or glob patterns) or, by default, the real photos that
installed packages ship (`data.sample_photos`); each gives its full frame, its mirror image, then
random crops (35-100 % of the frame, mirrored half the time) until `calibration_size` inputs are made.

NNCF reports usage through `openvino_telemetry` unless told otherwise; this module imports it with
that switched off and keeps its event sender stubbed while it quantizes, so no telemetry is sent
(this package's OpenVINO export promises that).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError, require_extra
from ..eval.protocols import depth_agreement  # re-exported: int8 exports are checked with it
from ..inference.exported import INPUT_NAME, ExportedModelInfo
from ..io import load_image
from ..outputs import collect_images
from ..transforms import preprocess

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION_SIZE = 32
PRESETS = ("mixed", "performance")
DEFAULT_PRESET = "mixed"
CROP_AREA = (0.35, 1.0)  # share of the frame a random calibration crop keeps
QUANTIZE_OPS = frozenset({"FakeQuantize", "FakeConvert"})

CalibrationSource = str | os.PathLike | Sequence[str | os.PathLike] | None


# ------------------------------------------------------------------------------------------- calibration
def calibration_photos(calibration: CalibrationSource = None) -> list[Path]:
    """The photos to calibrate on: the user's (files, folders, list files, glob patterns; a path that
    gives no image is an error naming it) or, with None, the real photos that installed packages ship."""
    if calibration is None:
        from ..data.sample_photos import shipped_photo_paths

        photos = shipped_photo_paths()
        if not photos:
            raise ExportError(
                "int8=True calibrates on the photos that scikit-image, scikit-learn or matplotlib ship, and none is "
                "installed here; give your own with calibration=PATH (images or folders)"
            )
        return photos
    items = [calibration] if isinstance(calibration, (str, os.PathLike)) else list(calibration)
    if not items:
        raise ExportError("calibration= gives no path; name image files or folders, or leave it out for the shipped "
                          "photos")
    found = collect_images(items)
    if found.problems:
        listed = "; ".join(f"{path}: {reason}" for path, reason in found.problems)
        raise ExportError(f"cannot read the calibration= photos: {listed}")
    if not found.images:
        raise ExportError(f"calibration= names no image: {', '.join(os.fspath(i) for i in items)}")
    return [image.path for image in found.images]


def _crop(rgb: np.ndarray, aspect: float, rng: np.random.Generator | None, mirror: bool) -> np.ndarray:
    """The largest centred crop of `aspect` (width / height) when `rng` is None, else a random crop of
    CROP_AREA of it at a random place; mirrored if asked."""
    height, width = rgb.shape[:2]
    if width / height > aspect:
        crop_h, crop_w = height, max(1, round(height * aspect))
    else:
        crop_h, crop_w = max(1, round(width / aspect)), width
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    if rng is not None:
        crop_h = max(1, round(crop_h * np.sqrt(rng.uniform(*CROP_AREA))))
        crop_w = min(width, max(1, round(crop_h * aspect)))
        top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
    crop = rgb[top : top + crop_h, left : left + crop_w]
    return np.ascontiguousarray(crop[:, ::-1] if mirror else crop)


def calibration_inputs(
    photos: Sequence[str | os.PathLike], info: ExportedModelInfo, count: int = DEFAULT_CALIBRATION_SIZE, seed: int = 0,
) -> list[np.ndarray]:
    """`count` inputs for the static file `info` describes, float32 [B, 3, H, W] RGB in [0, 1], made by
    the runtime's own preprocessing from views of `photos` at the file's aspect: each photo's full frame,
    its mirror image, then seeded random crops, the photos taking turns (one is in memory at a time)."""
    if count < 1:
        raise ExportError(f"calibration_size={count}: give at least 1")
    if not photos:
        raise ExportError("calibration needs at least one photo")
    if info.height is None or info.width is None or info.batch is None:
        raise ExportError(f"calibration inputs are made for static files; this one is {info.size_text}")
    height, width, batch = info.height, info.width, info.batch
    spec = info.input_spec.with_input_size(min(height, width))  # what the Predictor uses for this file
    wanted = count * batch  # a static batch takes `batch` views per input
    views_of = [wanted // len(photos) + (k < wanted % len(photos)) for k in range(len(photos))]
    views: list[np.ndarray] = []
    for k, (path, n) in enumerate(zip(photos, views_of, strict=True)):
        if n == 0:
            continue
        rgb = load_image(path)
        rng = np.random.default_rng([seed, k])
        for j in range(n):
            view = _crop(rgb, width / height, None if j < 2 else rng, mirror=j == 1 or (j >= 2 and bool(rng.integers(2))))
            tensor = preprocess(view, spec, normalize_input=False)
            if tensor.shape[1:] != (height, width):
                raise ExportError(f"{path}: its calibration view became {tensor.shape[1:]}, not {height}×{width}")
            views.append(tensor)
    if batch == 1:
        return [v[None] for v in views]
    order = np.random.default_rng(seed).permutation(len(views))  # mix the photos inside each batch
    return [np.stack([views[i] for i in order[s : s + batch]]) for s in range(0, len(views), batch)]


# ------------------------------------------------------------------------------------------- NNCF
@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def import_nncf() -> Any:
    """NNCF, imported (the first time) with its telemetry off: `NNCF_CI` makes NNCF stub its sender and
    `CI` makes `openvino_telemetry` decline before it writes a client id; both are restored after."""
    if "nncf" not in sys.modules:
        require_extra("nncf", "openvino")
        with _environment(NNCF_CI="1", CI="true"):
            importlib.import_module("nncf")
    return sys.modules["nncf"]


@contextlib.contextmanager
def _no_telemetry(nncf: Any) -> Iterator[None]:
    """Stub NNCF's event sender for the block, in case NNCF was imported elsewhere with telemetry on."""
    try:
        decorator = importlib.import_module("nncf.telemetry.decorator")
        stub = importlib.import_module("nncf.telemetry.wrapper").NNCFTelemetryStub()
    except (ImportError, AttributeError):  # another NNCF layout: the import-time switches still hold
        yield
        return
    sender = getattr(decorator, "telemetry", None)
    decorator.telemetry = stub
    try:
        yield
    finally:
        decorator.telemetry = sender


def quantize_openvino(ov_model: Any, inputs: Sequence[np.ndarray], preset: str = DEFAULT_PRESET) -> Any:
    """The OpenVINO model with INT8 FakeQuantize nodes from NNCF post-training quantization on `inputs`
    (network inputs as `calibration_inputs` makes them): activation ranges are measured, nothing is trained."""
    if preset not in PRESETS:
        raise ExportError(f"int8 preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if not inputs:
        raise ExportError("int8 quantization needs at least one calibration input")
    nncf = import_nncf()
    range_estimators = importlib.import_module("nncf.quantization.range_estimator")
    dataset = nncf.Dataset(list(inputs), lambda x: {INPUT_NAME: x})
    presets = {"mixed": nncf.QuantizationPreset.MIXED, "performance": nncf.QuantizationPreset.PERFORMANCE}
    # Activation ranges from the calibration's min and max, not NNCF's default quantiles: clipping the
    # rare large activations raised the default model's held-out synthetic AbsRel from 0.286 to 0.337
    # (100 scenes), min/max kept it at 0.286, at the same speed. Weights as 7-bit values (the overflow
    # fix) in every layer: CPUs without VNNI (AVX2 only) add int8 products in saturating 16-bit pairs;
    # with NNCF's default (first layer only) the default model's int8 IR agreed with fp32 at AbsRel 0.077
    # on such an AMD EPYC, 0.04 with the fix. An IR runs wherever it is copied, so the fix is always on.
    advanced = nncf.AdvancedQuantizationParameters(
        activations_range_estimator_params=range_estimators.RangeEstimatorParametersSet.MINMAX,
        overflow_fix=nncf.OverflowFix.ENABLE,
    )
    log.info("quantizing to int8 on %d calibration inputs (%s preset)", len(inputs), preset)
    with _no_telemetry(nncf):
        try:
            quantized = nncf.quantize(
                ov_model, dataset, model_type=nncf.ModelType.TRANSFORMER, preset=presets[preset],
                subset_size=len(inputs), advanced_parameters=advanced,
            )
        except Exception as exc:  # NNCF raises many kinds; say what was being done
            raise ExportError(f"NNCF int8 quantization failed: {exc}") from exc
    if not quantize_op_count(quantized):
        raise ExportError("NNCF returned a model without quantization nodes; the int8 export is not written")
    return quantized


def quantize_op_count(ov_model: Any) -> int:
    """How many quantization nodes (FakeQuantize / FakeConvert) an OpenVINO model holds."""
    return sum(op.get_type_name() in QUANTIZE_OPS for op in ov_model.get_ops())


__all__ = [
    "DEFAULT_CALIBRATION_SIZE", "DEFAULT_PRESET", "PRESETS", "calibration_inputs", "calibration_photos",
    "depth_agreement", "import_nncf", "quantize_op_count", "quantize_openvino",
]
