"""The shipped ONNX graphs of the built-in models (see `depth_anything.builtin`), written from their weights.

Each graph is `export_onnx`'s dynamic file (any batch, any multiple of the patch size) with one change
that keeps the package small: every weight that the safetensors file stores as int8 with a per-row
scale is stored the same way in the graph, as an int8 initializer, a Cast to float32 and a Mul by the
float32 scale. That is exactly the arithmetic of `weights.files.dequantize_rows` (int8 → float32, times
the fp16 scale widened to float32), so the graph's weights equal PyTorch's bit for bit, and ONNX Runtime
folds the two nodes into constants when the session opens. The weights file's SHA-256 is recorded in
the graph's `source` metadata; tests/test_builtin_graphs.py fails when the two drift apart.

Run `python -m depth_anything.export.builtin` after retraining a built-in model (needs the onnx extra).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..builtin import BUILTIN_WEIGHTS, builtin_graph_path, builtin_weights_path
from ..errors import ExportError, require_extra

log = logging.getLogger(__name__)
# the largest difference from PyTorch a shipped graph may have, relative to the output's range
MAX_PARITY_ERROR = 1e-5
_DIGEST = re.compile(r"weights sha256 ([0-9a-f]{64})")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def graph_source(name: str, weights: Path) -> str:
    """The `source` metadata of a built-in graph: the model's name and its weights file's digest."""
    return f"built-in model {name}, weights sha256 {file_sha256(weights)}"


def recorded_weights_digest(source: str) -> str | None:
    """The weights digest that `graph_source` wrote, read back (None if the text has none)."""
    match = _DIGEST.search(source)
    return match.group(1) if match else None


Int8Tensor = tuple[np.ndarray, np.ndarray, np.ndarray]  # int8 values, float32 scale per row, float32 weight


def int8_rows(weights: Path) -> list[Int8Tensor]:
    """Each int8-stored tensor of a safetensors file: its int8 values, its per-row scale as float32, and
    the float32 weight that PyTorch's loader (`weights.files.dequantize_rows`) makes of them."""
    from safetensors.torch import load_file

    from ..weights.files import SCALE_SUFFIX, dequantize_rows

    stored = load_file(str(weights))
    loaded = dequantize_rows(stored)
    return [(values.numpy(), stored[key + SCALE_SUFFIX].float().numpy(), loaded[key].numpy())
            for key, values in stored.items() if key + SCALE_SUFFIX in stored]


def store_int8_weights(graph: Any, tensors: list[Int8Tensor]) -> tuple[int, int]:
    """Replace each float32 initializer of `graph` (an onnx GraphProto) that equals one of `tensors`'
    float32 weights, as stored or transposed (the exporter transposes linear weights), by its int8
    values, its float32 scale, a Cast and a Mul producing the same name (int8 × scale in float32: the
    loader's arithmetic). Returns (initializers replaced, of all float ones)."""
    require_extra("onnx", "onnx")
    from onnx import TensorProto, helper, numpy_helper

    known: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}  # float32 bytes → (int8 values, broadcastable scale)
    for values, scale, weight in tensors:
        weight = np.ascontiguousarray(weight, dtype=np.float32)
        known[weight.tobytes()] = (values, scale.reshape((-1,) + (1,) * (values.ndim - 1)))
        if values.ndim == 2:
            known[np.ascontiguousarray(weight.T).tobytes()] = (np.ascontiguousarray(values.T), scale.reshape(1, -1))
    kept, nodes, replaced, floats = [], [], 0, 0
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            kept.append(initializer)
            continue
        floats += 1
        array = numpy_helper.to_array(initializer)
        match = known.get(np.ascontiguousarray(array).tobytes()) if array.ndim >= 2 else None
        if match is None or match[0].shape != array.shape:
            kept.append(initializer)
            continue
        values, scale = match
        name = initializer.name
        kept += [numpy_helper.from_array(values, f"{name}.int8"), numpy_helper.from_array(scale, f"{name}.scale")]
        nodes += [
            helper.make_node("Cast", [f"{name}.int8"], [f"{name}.float"], to=TensorProto.FLOAT, name=f"{name}.cast"),
            helper.make_node("Mul", [f"{name}.float", f"{name}.scale"], [name], name=f"{name}.dequantize"),
        ]
        replaced += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)  # the new nodes read initializers only, so they may come first
    return replaced, floats


def write_builtin_graph(name: str, out: str | os.PathLike | None = None) -> Path:
    """Export built-in model `name` to its shipped graph (or `out`), int8 weights kept, parity checked."""
    onnx = require_extra("onnx", "onnx")
    from ..inference.runtimes import OnnxRuntime
    from ..weights import load_model
    from .onnx import check_onnx, export_onnx, publish, staging_dir
    from .verify import compare_with_torch, parity_sizes

    weights = builtin_weights_path(name)
    target = Path(out) if out is not None else builtin_graph_path(name)
    model = load_model(weights, device="cpu")  # the file itself: a local path named like the model cannot stand in
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "plain.onnx"
        export_onnx(model, plain, dynamic=True, batch="dynamic", source=graph_source(name, weights))
        proto = onnx.load(str(plain))
    replaced, floats = store_int8_weights(proto.graph, int8_rows(weights))
    with staging_dir(target) as stage:
        staged = stage / target.name
        onnx.save(proto, str(staged))
        check_onnx(staged)
        runtime = OnnxRuntime(staged)
        worst = max(compare_with_torch(model, runtime, parity_sizes(runtime.info)), key=lambda p: p.max_error)
        if worst.max_error > MAX_PARITY_ERROR:
            raise ExportError(f"the {name} graph differs from PyTorch by {worst}; not written")
        publish(stage, target, [target.name])
    log.info("wrote %s: %d of %d float initializers stored as int8, worst parity %s", target, replaced, floats, worst)
    print(f"wrote {target} ({target.stat().st_size / 2**20:.1f} MiB; {replaced} of {floats} weight tensors int8; "
          f"worst parity {worst})")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the shipped ONNX graphs of the built-in models from their weights.")
    parser.add_argument("names", nargs="*", default=sorted(BUILTIN_WEIGHTS), help="built-in models (default: all)")
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in BUILTIN_WEIGHTS:
            parser.error(f"{name!r} is not a built-in model; choose from {', '.join(sorted(BUILTIN_WEIGHTS))}")
        write_builtin_graph(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
