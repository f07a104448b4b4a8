"""Compiled models: a checkpoint exported once for a faster runtime, cached, and reused.

On the CPU in float32, OpenVINO (and ONNX Runtime) run the same network faster than PyTorch's eager
mode. `compiled_file` exports a model's weights to a dynamic-size, dynamic-batch file for one of them
the first time it is asked for, and finds that file again afterwards: the cache folder is named by
the SHA-256 of the weights (whose input spec, and so the shape rule, is part of the checkpoint or of its
registry row), the runtime, and the versions of depth-anything and torch that made it, so a retrained
file or an upgrade exports again instead of reusing a stale graph. Hashing a
large checkpoint takes a second or two, so the digest of each weights file is remembered by path,
size and modification time (`digests.json`).

The export is the one `depth_anything.export` writes (exact at every input size: see
`export.onnx`), so outputs equal PyTorch's within float rounding.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..io import atomic_write_bytes, file_sha256
from ..weights.cache import cache_dir
from ..weights.resolver import ResolvedModel

log = logging.getLogger(__name__)

COMPILE_ENV = "DEPTH_ANYTHING_COMPILE"  # "off" keeps `backend="auto"` on PyTorch for checkpoints
# runtimes a checkpoint can be compiled for, fastest first (measured: benchmarks/model_speed.py)
COMPILED_BACKENDS = ("openvino", "onnxruntime")
_SUFFIXES = {"openvino": ".xml", "onnxruntime": ".onnx"}
_EXTRAS = {"openvino": ("openvino",), "onnxruntime": ("onnxruntime", "onnx", "onnxscript")}
MADE_BY = "made_by.json"  # what made a compiled file; written after it, so it marks a finished export


def compiling_allowed() -> bool:
    """False when the environment turns compilation off (`DEPTH_ANYTHING_COMPILE=off`)."""
    return os.environ.get(COMPILE_ENV, "").strip().lower() not in ("off", "0", "false", "no")


def fastest_compiled_backend() -> str | None:
    """The fastest installed runtime a checkpoint can be compiled for (None: neither is installed, or
    compiling is turned off). Export itself needs torch's ONNX exporter (the onnx extra)."""
    if not compiling_allowed():
        return None
    exporter = all(importlib.util.find_spec(name) is not None for name in ("torch", "onnx", "onnxscript"))
    for backend in COMPILED_BACKENDS:
        if exporter and all(importlib.util.find_spec(name) is not None for name in _EXTRAS[backend]):
            return backend
    return None


def compiled_root(cache: str | os.PathLike | None = None) -> Path:
    """Where compiled files live: `compiled/` in the weights cache (or in `cache`)."""
    return Path(cache) if cache is not None else cache_dir() / "compiled"


def _weights_files(path: Path) -> list[Path]:
    """The files whose bytes are the weights: the file itself, or a transformers folder's config and tensors."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".safetensors", ".bin"))
    return [path]


def weights_digest(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """SHA-256 of a weights file (or transformers folder), remembered in `root/digests.json` by path,
    size and modification time so that an unchanged file is hashed once."""
    path = Path(path).resolve()
    files = _weights_files(path)
    stamp = ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    memo_file = compiled_root(root) / "digests.json"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    known = memo.get(str(path))
    if isinstance(known, dict) and known.get("stamp") == stamp:
        return str(known["sha256"])
    if path.is_dir():  # a transformers folder: its files' names and digests, hashed together
        listing = "".join(f"{file.name}:{file_sha256(file)}\n" for file in files)
        sha256 = hashlib.sha256(listing.encode()).hexdigest()
    else:
        sha256 = file_sha256(path)
    memo[str(path)] = {"stamp": stamp, "sha256": sha256}
    memo_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(memo_file, json.dumps(memo, indent=1, sort_keys=True).encode())
    return sha256


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown"


def compiled_key(digest: str, backend: str) -> str:
    """The cache folder name: the weights (whose input spec is part of the checkpoint or of its registry
    row), the runtime, and the versions of the exporting code (torch's read without importing it)."""
    made_by = f"depth-anything {_version('depth-anything')}; torch {_version('torch')}"
    return f"{digest[:24]}-{backend}-{hashlib.sha256(made_by.encode()).hexdigest()[:10]}"


def compiled_file(
    resolved: ResolvedModel,
    backend: str,
    cache: str | os.PathLike | None = None,
    report: Callable[[str], None] | None = None,
) -> Path:
    """The compiled file of `resolved`'s weights for `backend` ("openvino": IR .xml; "onnxruntime":
    .onnx), exported now if the cache does not hold it (`report` hears that it happens and how long the
    export took). The file has dynamic height, width and batch and carries the weights' input spec; a
    cache hit reads no checkpoint and imports no torch."""
    if backend not in COMPILED_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(COMPILED_BACKENDS)} to compile, got {backend!r}")
    if resolved.exported_runtime is not None:
        raise ValueError(f"{resolved.path} is an exported file already; open it with backend={resolved.exported_runtime}")
    if not resolved.available:
        from ..weights.resolver import resolve

        resolved = resolve(resolved.request, download=True)
    root = compiled_root(cache)
    folder = root / compiled_key(weights_digest(resolved.path, root), backend)
    file = folder / f"model{_SUFFIXES[backend]}"
    if file.is_file() and (folder / MADE_BY).is_file():  # written last: its presence means the export finished
        return file
    from ..weights.load import load_model  # imports torch: only an export needs it

    model = load_model(resolved, device="cpu")
    say = report or log.info
    say(f"compiling {resolved.request} for {backend} once (cached in {folder}); later runs reuse it")
    start = time.perf_counter()
    _export(model, file, backend, model.input_spec.input_size, resolved.request)
    elapsed = time.perf_counter() - start
    record = {"weights": str(resolved.path), "backend": backend, "input_spec": repr(model.input_spec),
              "export_seconds": round(elapsed, 2)}
    atomic_write_bytes(folder / MADE_BY, json.dumps(record, indent=1).encode())
    say(f"compiled {resolved.request} for {backend} in {elapsed:.1f} s")
    return file


def _export(model, file: Path, backend: str, example_size: int | None, source: str) -> None:
    """A dynamic-size, dynamic-batch export of `model` to `file` (atomic: a killed export leaves no file)."""
    from .onnx import export_onnx
    from .openvino import export_openvino

    options = dict(dynamic=True, batch="dynamic", input_size=example_size, source=source)
    file.parent.mkdir(parents=True, exist_ok=True)
    if backend == "openvino":
        export_openvino(model, file, **options)
    else:
        export_onnx(model, file, **options)


__all__ = [
    "COMPILED_BACKENDS", "COMPILE_ENV", "compiled_file", "compiled_key", "compiled_root", "compiling_allowed",
    "fastest_compiled_backend", "weights_digest",
]
