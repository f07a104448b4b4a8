"""What the web demo does with one upload, without any web framework: check it, predict, write the PNGs
and, for metric models, the textured 3-D mesh (GLB) with the camera used (EXIF, else the 60° default).

Kept apart from the Gradio layout so it can be used and tested without Gradio installed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..camera import CameraChoice, choose_camera
from ..errors import DepthAnythingError, ImageReadError, ImageTooLargeError
from ..inference import Predictor
from ..io import load_image, to_uint8
from ..loading import AUTO, open_predictor
from ..outputs import DepthWriter
from ..pictures import DEFAULT_CMAP, fit_height
from ..weights.registry import builtin_names

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000
# the slider shows a scaled copy of large images (the downloads keep the full size)
DISPLAY_MAX_SIDE = 2048
BUILTIN_MODELS = tuple(builtin_names())  # the default first
# the 3-D view's mesh: at most this many vertices (larger photos are decimated), what WebGL turns smoothly
MESH_MAX_VERTICES = 300_000


class ModelUnavailableError(DepthAnythingError, RuntimeError):
    """A model of the demo's list could not be opened; the message names it and says why."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model of the demo's list comes from: a name or file, and the runtime that runs it."""

    model: str
    backend: str = AUTO


def model_sources(model: str | None = None, backend: str = AUTO) -> dict[str, ModelSource]:
    """The demo's model list: the built-in `default` and `default-metric`, plus `model` if given, all on
    `backend` (the built-in models run on every backend: torch loads their weights, onnxruntime and
    openvino their shipped graphs)."""
    sources = {name: ModelSource(name, backend) for name in BUILTIN_MODELS}
    if model is not None:
        sources[str(model)] = ModelSource(str(model), backend)
    return sources


class ModelChooser:
    """Models by name for the demo: each opened on first use with `open_predictor`, then kept.

    A failed load is not remembered, so a model file that appears later (a training run finishing)
    works on the next try.
    """

    def __init__(
        self,
        sources: Mapping[str, ModelSource | str],
        *,
        device: str | None = None,
        dtype: str | None = None,
        input_size: int | None = None,
        opener: Callable[..., Predictor] = open_predictor,
    ) -> None:
        if not sources:
            raise ValueError("the demo needs at least one model")
        self.sources = {name: s if isinstance(s, ModelSource) else ModelSource(str(s)) for name, s in sources.items()}
        self.device, self.dtype, self.input_size = device, dtype, input_size
        self._opener = opener
        self._loaded: dict[str, Predictor] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_predictors(cls, predictors: Mapping[str, Predictor]) -> ModelChooser:
        """A chooser over predictors that are already open (nothing is loaded by name)."""
        chooser = cls({name: ModelSource(name) for name in predictors})
        chooser._loaded.update(predictors)
        return chooser

    @property
    def names(self) -> list[str]:
        """The model names, in the order given."""
        return list(self.sources)

    def is_loaded(self, name: str) -> bool:
        """True when `name` has been opened already."""
        return name in self._loaded

    def get(self, name: str) -> Predictor:
        """The predictor of `name`, opened now if needed; `ModelUnavailableError` says why not."""
        if name not in self.sources:
            raise ModelUnavailableError(f"unknown model {name!r}; choose one of {', '.join(self.sources)}")
        with self._lock:  # one load at a time: two requests must not load the same weights twice
            if name not in self._loaded:
                source = self.sources[name]
                start = time.perf_counter()
                try:
                    predictor = self._opener(source.model, backend=source.backend, device=self.device, dtype=self.dtype,
                                             input_size=self.input_size, batch_size=1)
                except Exception as exc:  # any failure (missing file, bad file, missing runtime) becomes a message
                    log.debug("loading model %r failed", name, exc_info=True)
                    raise ModelUnavailableError(f"model {name!r} could not be opened: {exc}") from exc
                log.info("model %r (%s, %s) opened in %.1f s", name, source.model, source.backend, time.perf_counter() - start)
                self._loaded[name] = predictor
            return self._loaded[name]

    def first_available(self, order: Sequence[str] | None = None) -> tuple[str | None, dict[str, str]]:
        """Open the models in `order` (default: as listed) until one works: its name, and why the
        ones tried before it failed (name → message)."""
        failures: dict[str, str] = {}
        for name in order if order is not None else self.names:
            try:
                self.get(name)
                return name, failures
            except ModelUnavailableError as exc:
                log.warning("%s", exc)
                failures[name] = str(exc)
        return None, failures


def as_chooser(models: ModelChooser | Mapping[str, Predictor] | Predictor) -> ModelChooser:
    """A `ModelChooser` from a chooser, a mapping of names to predictors, or one predictor ("model")."""
    if isinstance(models, ModelChooser):
        return models
    if isinstance(models, Predictor):
        return ModelChooser.from_predictors({"model": models})
    return ModelChooser.from_predictors(dict(models))


def check_upload(path: str | os.PathLike, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse a file before decoding it: over `max_bytes`, not an image, or over `max_pixels`.

    Raises `ImageTooLargeError` or `ImageReadError` with a message naming the file.
    """
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageReadError(f"{name}: cannot read the uploaded file ({exc})") from None
    if size > max_bytes:
        raise ImageTooLargeError(
            f"{name} is {size / 2**20:.1f} MB; the demo takes files up to {max_bytes / 2**20:.0f} MB "
            "(use `depth-anything predict` for larger files)"
        )
    try:
        with Image.open(path) as header:  # reads the header only: the size before any pixel is decoded
            width, height = header.size
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"{name} has too many pixels to decode safely (Pillow's decompression-bomb limit)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).replace(f"'{path}'", "").replace(str(path), name).strip() or type(exc).__name__
        raise ImageReadError(f"{name}: not a readable image ({reason})") from None
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name} is {width}×{height} = {width * height / 1e6:.1f} megapixels; the demo takes images up to "
            f"{max_pixels / 1e6:.0f} megapixels (use `depth-anything predict` for larger images)"
        )


def display_copy(picture: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """`picture` scaled down so its longer side is at most `max_side` (unchanged when smaller)."""
    height, width = picture.shape[:2]
    if max(height, width) <= max_side:
        return picture
    return fit_height(picture, max(1, round(height * max_side / max(height, width))))


@dataclass
class DepthOutputs:
    """One upload's results: pictures for the slider (display size), the two PNG files (full size) and,
    for metric models, the mesh (GLB) and a line about its camera (`mesh_note`: why there is no mesh
    otherwise)."""

    image: np.ndarray
    colored: np.ndarray
    depth: np.ndarray
    depth16_path: Path
    colored_path: Path
    metric: bool
    summary: str
    mesh_path: Path | None = None
    mesh_note: str = ""


class OutputFolder:
    """A private folder for the demo's download files: one subfolder per request, the oldest removed
    once `keep` are there (Gradio copies returned files into its own cache, so they need not stay)."""

    def __init__(self, root: str | os.PathLike | None = None, keep: int = 32) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="depth-anything-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._made: deque[Path] = deque()
        self._lock = threading.Lock()

    def new(self) -> Path:
        """A fresh, empty subfolder for one request."""
        folder = self.root / uuid.uuid4().hex[:16]
        folder.mkdir()
        with self._lock:
            self._made.append(folder)
            while len(self._made) > self.keep:
                shutil.rmtree(self._made.popleft(), ignore_errors=True)
        return folder


def compute_depth_outputs(
    path: str | os.PathLike,
    predictor: Predictor,
    out_dir: str | os.PathLike,
    cmap: str = DEFAULT_CMAP,
    *,
    model_name: str = "model",
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    mesh: bool = True,
) -> DepthOutputs:
    """Check `path`, predict its depth, write `NAME_depth16.png` and `NAME_depth.png` into `out_dir`
    (through `outputs.DepthWriter`, as `depth-anything predict --formats png16,color` writes them) and,
    for a metric model with `mesh`, `NAME.glb`: the mesh `depth-anything mesh` makes, seen by the
    photo's camera (EXIF, else a 60° field of view), decimated to `MESH_MAX_VERTICES`.

    Bad uploads raise `ImageReadError` or `ImageTooLargeError`; an unknown `cmap` raises `ValueError`.
    """
    check_upload(path, max_bytes, max_pixels)
    name = Path(path).name
    rgb = load_image(path, name)
    start = time.perf_counter()
    depth = predictor.predict_one(rgb)
    elapsed = time.perf_counter() - start
    metric = predictor.is_metric
    writer = DepthWriter(out_dir, ["png16", "color"], metric, cmap, model=model_name, input_size=predictor.input_size)
    colored = writer.picture(depth)
    height, width = depth.shape
    camera = choose_camera(width, height, path, name=name) if metric else None
    stem = Path(path).stem or "image"
    files = writer.write(stem, None, depth, picture=colored, intrinsics=camera and camera.intrinsics,
                         focal_source=camera and camera.source)
    depth16_path, colored_path = files["png16"], files["color"]
    mesh_path, mesh_note = None, "3-D view: metric models only (choose `default-metric` or another metric model)"
    if camera is not None and mesh:
        mesh_path, mesh_note = _write_mesh(Path(out_dir) / f"{stem}.glb", depth, rgb, camera, writer,
                                           predictor.input_size)
    finite = depth[np.isfinite(depth)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    kind = (f"metric depth {low:.2f}–{high:.2f} m (16-bit PNG in millimetres)" if metric
            else "relative depth, larger = nearer (16-bit PNG min–max scaled to 0–65535)")
    summary = f"{name}: {width}×{height}, model `{model_name}`, {kind}, {elapsed:.2f} s"
    log.info("%s", summary)
    return DepthOutputs(display_copy(to_uint8(rgb)), display_copy(colored), depth, depth16_path, colored_path, metric,
                        summary, mesh_path, mesh_note)


def _write_mesh(path: Path, depth: np.ndarray, rgb: np.ndarray, camera: CameraChoice,
                writer: DepthWriter, network_side: int | None) -> tuple[Path | None, str]:
    """The GLB of one metric prediction and the line saying which camera made it (or why there is none);
    depth edges are looked for at the network's pixel spacing, as `depth-anything mesh` does."""
    try:
        from ..mesh import depth_to_mesh, edge_spacing, write_mesh

        mesh = depth_to_mesh(depth, rgb, camera.intrinsics, max_vertices=MESH_MAX_VERTICES,
                             edge_spacing=edge_spacing(depth.shape[:2], network_side))
    except DepthAnythingError as exc:  # trimesh not installed, or no valid depth at all
        return None, f"3-D view unavailable: {exc}"
    if len(mesh.faces) == 0:
        return None, "3-D view unavailable: every triangle crosses a depth edge (no surface to show)"
    record = writer.metadata(depth, camera.intrinsics, camera.source).with_values(content="mesh")
    write_mesh(path, mesh, record, durable=False)
    return path, f"3-D mesh ({len(mesh.faces):,} triangles): {camera.describe()}"


__all__ = [
    "BUILTIN_MODELS", "DISPLAY_MAX_SIDE", "MAX_PIXELS", "MESH_MAX_VERTICES", "MAX_UPLOAD_BYTES", "DepthOutputs", "ModelChooser", "ModelSource",
    "ModelUnavailableError", "OutputFolder", "as_chooser", "check_upload", "compute_depth_outputs", "display_copy",
    "model_sources",
]
