"""The one resolver: a model name or path → the weights behind it, without importing torch.

Order: an existing path always wins (even one named like a model); then a registry name: a built-in
model's file inside the package, or a published file in the local cache (`$DEPTH_ANYTHING_CACHE`,
default `~/.cache/depth_anything`), downloaded with `huggingface_hub` when asked to. `load_model`,
`open_predictor`, `weights_identity`, training and the web demo all resolve through `resolve`.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsNotFoundError
from .cache import cache_dir, cached_path, download_weights
from .registry import DEFAULT_MODEL, GENERIC_FILENAMES, METRIC_MAX_DEPTH, REGISTRY, ModelEntry, builtin_dir

# exported files and the runtime that runs each (`depth-anything export` writes them)
EXPORTED_RUNTIMES = {".onnx": "onnxruntime", ".xml": "openvino"}
# a request ending so, or holding a folder separator, is a path even where no file is there (yet)
FILE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", *EXPORTED_RUNTIMES)


@dataclass(frozen=True)
class ResolvedModel:
    """What a name or path stands for.

    `path` is the weights file (or transformers folder, or exported file); for a published name that is
    not downloaded yet it is where the cache will hold it (`available` is then False). `entry` is the
    registry row of a name, or of a published file recognised by its file name (which tells what the
    tensors cannot: metric range, V1 read-out, video); `named` says which.
    """

    request: str
    path: Path
    entry: ModelEntry | None
    named: bool

    @property
    def available(self) -> bool:
        return self.path.exists()

    @property
    def builtin(self) -> bool:
        return self.named and self.entry is not None and self.entry.builtin

    @property
    def exported_runtime(self) -> str | None:
        """"onnxruntime"/"openvino" for an exported file given by path, else None."""
        return None if self.named else EXPORTED_RUNTIMES.get(self.path.suffix.lower())

    @property
    def graph(self) -> Path | None:
        """A built-in model's shipped ONNX graph, when this install has it (it runs without torch)."""
        if not self.builtin or self.entry is None or self.entry.graph is None:
            return None
        graph = self.path.parent / self.entry.graph
        return graph if graph.is_file() else None


def recognise(path: str | os.PathLike) -> ModelEntry | None:
    """The published model whose file `path` is, by name: its file name (`depth_anything_v2_metric_hypersim_vitl.pth`),
    or its repository's name in the path (`depth_anything_vitl14/pytorch_model.bin`); the longest match wins.
    A file name holding only a metric data set's word (`my_metric_hypersim.pth`) gets that data set's row."""
    text, name = os.fspath(path).lower(), Path(path).name.lower()
    best: tuple[int, ModelEntry] | None = None
    for entry in REGISTRY.values():
        if entry.builtin:
            continue
        keys = [entry.repo_id.split("/")[-1].lower()] if entry.repo_id else []
        if entry.filename not in GENERIC_FILENAMES:
            keys.append(Path(entry.filename).stem.lower())
        for key in keys:
            if key in text and (best is None or len(key) > best[0]):
                best = (len(key), entry)
    if best is not None:
        return best[1]
    for dataset in METRIC_MAX_DEPTH:
        if f"metric_{dataset}" in name:
            return next(e for e in REGISTRY.values() if e.kind == "metric" and f"metric_{dataset}" in e.filename)
    return None


def unknown_name_error(name: str) -> WeightsNotFoundError:
    close = difflib.get_close_matches(name, list(REGISTRY), n=3)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return WeightsNotFoundError(
        f"{name!r} is neither an existing file nor a known model name{hint}; known names: {', '.join(REGISTRY)}"
    )


def resolve(
    name_or_path: str | os.PathLike | None = None, *, download: bool = False, cache: str | os.PathLike | None = None
) -> ResolvedModel:
    """Resolve `name_or_path` (None: the built-in default model, even where a file named `default` exists).

    With `download=False` nothing is fetched and a missing file is only reported by `available`; with
    `download=True` the file is guaranteed to exist afterwards (a published file is downloaded into the
    cache), or `WeightsNotFoundError` says which file is needed and where to put it.
    """
    request = DEFAULT_MODEL if name_or_path is None else os.fspath(name_or_path)
    path = Path(request)
    if name_or_path is not None and path.exists():
        return ResolvedModel(request, path, recognise(path), named=False)
    entry = REGISTRY.get(request)
    if entry is None and (os.sep in request or path.suffix.lower() in FILE_SUFFIXES):
        if download:
            raise WeightsNotFoundError(f"model file {path} does not exist")
        return ResolvedModel(request, path, recognise(path), named=False)
    if entry is None:
        raise unknown_name_error(request)
    if entry.builtin:
        file = builtin_dir() / entry.filename
        if download and not file.is_file():
            raise WeightsNotFoundError(f"built-in model {entry.name!r}: {file} is missing from the installed package")
        return ResolvedModel(request, file, entry, named=True)
    root = Path(cache) if cache is not None else cache_dir()
    file = download_weights(entry, root) if download else cached_path(entry, root)
    return ResolvedModel(request, file, entry, named=True)


__all__ = ["EXPORTED_RUNTIMES", "FILE_SUFFIXES", "ResolvedModel", "recognise", "resolve", "unknown_name_error"]
