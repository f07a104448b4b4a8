"""The shipped ONNX graphs of the built-in models (registry rows with a `graph`), written from their weights.

The built-in weights ship once: each graph is `export_onnx`'s dynamic file (any batch, any multiple of
the patch size) whose weights are not stored in the graph but read, as ONNX external data, straight
from the safetensors file beside it (the file PyTorch loads). An int8 tensor with its per-row fp16 scale
becomes Cast(int8) × Cast(scale) in float32, an fp16 tensor Cast(fp16), transposed where the exporter
stored the transpose: exactly the arithmetic of `weights.files.dequantize_rows`, so the graph's weights
equal PyTorch's bit for bit, and ONNX Runtime folds these nodes into constants when the session opens.
The weights file's SHA-256 is recorded in the graph's `source` metadata; tests/test_builtin_graphs.py
fails when the two drift apart. `tools/ship_default_models.py --graphs-only` rewrites them after retraining.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError, require_extra
from ..io import file_sha256
from ..weights.registry import REGISTRY, builtin_dir

log = logging.getLogger(__name__)
# the largest difference from PyTorch a shipped graph may have, relative to the output's range
MAX_PARITY_ERROR = 1e-5
_DIGEST = re.compile(r"weights sha256 ([0-9a-f]{64})")
_SAFETENSORS_DTYPES = {"I8": np.int8, "F16": np.float16, "F32": np.float32}


def graph_source(name: str, weights: Path) -> str:
    """The `source` metadata of a built-in graph: the model's name and its weights file's digest."""
    return f"built-in model {name}, weights sha256 {file_sha256(weights)}"


def recorded_weights_digest(source: str) -> str | None:
    """The weights digest that `graph_source` wrote, read back (None if the text has none)."""
    match = _DIGEST.search(source)
    return match.group(1) if match else None


def builtin_names_with_graph() -> list[str]:
    return [name for name, entry in REGISTRY.items() if entry.builtin and entry.graph]


@dataclass(frozen=True)
class StoredTensor:
    """One tensor of a safetensors file: where its bytes lie in the file, and its values as stored."""

    key: str
    values: np.ndarray
    offset: int
    length: int


def read_safetensors(path: Path) -> dict[str, StoredTensor]:
    """Every tensor of a safetensors file with its byte range in the file (read with NumPy, no torch)."""
    data = Path(path).read_bytes()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_size])
    start = 8 + header_size
    tensors = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if info["dtype"] not in _SAFETENSORS_DTYPES:
            raise ExportError(f"{path}: tensor {key!r} has dtype {info['dtype']}, which the shipped graph cannot read")
        begin, end = info["data_offsets"]
        values = np.frombuffer(data, _SAFETENSORS_DTYPES[info["dtype"]], (end - begin) // np.dtype(
            _SAFETENSORS_DTYPES[info["dtype"]]).itemsize, start + begin).reshape(info["shape"])
        tensors[key] = StoredTensor(key, values, start + begin, end - begin)
    return tensors


def _loaded_float32(tensors: dict[str, StoredTensor], key: str, scale_suffix: str) -> np.ndarray:
    """The float32 tensor PyTorch's loader makes of `key` (`weights.files.dequantize_rows`'s arithmetic)."""
    values = tensors[key].values
    scale = tensors.get(key + scale_suffix)
    if scale is None:
        return values.astype(np.float32)
    rows = values.astype(np.float32).reshape(values.shape[0], -1)
    return (rows * scale.values.astype(np.float32)[:, None]).reshape(values.shape)


def link_weights(graph: Any, weights: Path, location: str) -> tuple[int, int]:
    """Replace each float32 initializer of `graph` (an onnx GraphProto) that equals a tensor of the
    safetensors file `weights` as PyTorch loads it (as stored or transposed) by nodes that compute it
    from the file's own bytes, referenced as external data at `location` (relative to the graph's folder).
    Returns (initializers replaced, of all float ones)."""
    require_extra("onnx", "onnx")
    from onnx import TensorProto, helper, numpy_helper

    from ..weights.files import SCALE_SUFFIX

    tensors = read_safetensors(weights)
    onnx_types = {np.dtype(np.int8): TensorProto.INT8, np.dtype(np.float16): TensorProto.FLOAT16,
                  np.dtype(np.float32): TensorProto.FLOAT}
    known: dict[bytes, tuple[str, bool]] = {}  # float32 bytes → (key, stored transposed in the graph)
    for key in tensors:
        if key.endswith(SCALE_SUFFIX):
            continue
        weight = np.ascontiguousarray(_loaded_float32(tensors, key, SCALE_SUFFIX))
        known.setdefault(weight.tobytes(), (key, False))
        if weight.ndim == 2:
            known.setdefault(np.ascontiguousarray(weight.T).tobytes(), (key, True))

    def external(name: str, stored: StoredTensor, dims: tuple[int, ...]) -> Any:
        tensor = TensorProto(name=name, data_type=onnx_types[stored.values.dtype], dims=list(dims))
        tensor.data_location = TensorProto.EXTERNAL
        for field, value in (("location", location), ("offset", str(stored.offset)), ("length", str(stored.length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = field, value
        return tensor

    kept, nodes, replaced, floats = [], [], 0, 0
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            kept.append(initializer)
            continue
        floats += 1
        array = numpy_helper.to_array(initializer)
        match = known.get(np.ascontiguousarray(array).tobytes())
        if match is None:
            kept.append(initializer)
            continue
        key, transposed = match
        stored = tensors[key]
        if (stored.values.shape[::-1] if transposed else stored.values.shape) != array.shape:
            kept.append(initializer)
            continue
        name = initializer.name
        widened = f"{name}.widened" if transposed else name
        kept.append(external(f"{name}.stored", stored, stored.values.shape))
        scale = tensors.get(key + SCALE_SUFFIX)
        if scale is None:
            nodes.append(helper.make_node("Cast", [f"{name}.stored"], [widened], to=TensorProto.FLOAT, name=f"{name}.cast"))
        else:
            kept.append(external(f"{name}.scale", scale, (stored.values.shape[0],) + (1,) * (stored.values.ndim - 1)))
            nodes += [
                helper.make_node("Cast", [f"{name}.stored"], [f"{name}.float"], to=TensorProto.FLOAT, name=f"{name}.cast"),
                helper.make_node("Cast", [f"{name}.scale"], [f"{name}.scale32"], to=TensorProto.FLOAT,
                                 name=f"{name}.cast_scale"),
                helper.make_node("Mul", [f"{name}.float", f"{name}.scale32"], [widened], name=f"{name}.dequantize"),
            ]
        if transposed:
            nodes.append(helper.make_node("Transpose", [widened], [name], perm=[1, 0], name=f"{name}.transpose"))
        replaced += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)  # the new nodes read initializers only, so they may come first
    return replaced, floats


def write_builtin_graph(name: str, weights: str | os.PathLike | None = None) -> Path:
    """Export built-in model `name` to its graph beside its weights file (default: the package's), every
    weight read from that file, parity with PyTorch checked before the graph is moved into place."""
    onnx = require_extra("onnx", "onnx")
    from ..inference.runtimes import OnnxRuntime
    from ..weights.load import load_model
    from .onnx import check_onnx, export_onnx, publish, staging_dir
    from .verify import compare_with_torch, parity_sizes

    entry = REGISTRY.get(name)
    if entry is None or not entry.builtin or entry.graph is None:
        raise ExportError(f"{name!r} is not a built-in model with a graph; choose from {', '.join(builtin_names_with_graph())}")
    weights = Path(weights) if weights is not None else builtin_dir() / entry.filename
    target = weights.parent / entry.graph
    model = load_model(weights, device="cpu")  # the file itself: a local path named like the model cannot stand in
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "plain.onnx"
        export_onnx(model, plain, dynamic=True, batch="dynamic", source=graph_source(name, weights))
        proto = onnx.load(str(plain))
    replaced, floats = link_weights(proto.graph, weights, weights.name)
    for node in proto.graph.node:  # the exporter's per-node source notes are most of a weightless graph's bytes
        del node.metadata_props[:]
        node.doc_string = ""
    with staging_dir(target) as stage:
        staged = stage / target.name
        shutil.copy(weights, stage / weights.name)  # the staged graph reads its weights beside it
        onnx.save(proto, str(staged))
        check_onnx(staged)
        runtime = OnnxRuntime(staged)
        worst = max(compare_with_torch(model, runtime, parity_sizes(runtime.info)), key=lambda p: p.max_error)
        if worst.max_error > MAX_PARITY_ERROR:
            raise ExportError(f"the {name} graph differs from PyTorch by {worst}; not written")
        publish(stage, target, [target.name])
    log.info("wrote %s: %d of %d float initializers read from %s, worst parity %s", target, replaced, floats,
             weights.name, worst)
    return target


__all__ = [
    "MAX_PARITY_ERROR", "StoredTensor", "builtin_names_with_graph", "graph_source", "link_weights",
    "read_safetensors", "recorded_weights_digest", "write_builtin_graph",
]
