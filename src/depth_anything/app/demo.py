"""The Gradio web demo, laid out like the official Depth Anything V2 demo: an image in, its depth beside
it on a before/after slider, the 16-bit and coloured depth PNGs to download; for metric models also a 3-D
view of the textured mesh (Gradio's `Model3D`), the camera it was made with, and the GLB to download.

Needs the `app` extra (`pip install depth-anything[app]`). Sends no analytics and binds to loopback
unless told otherwise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DepthAnythingError, MissingExtraError
from ..inference import Predictor
from ..pictures import DEFAULT_CMAP, colormap_names
from .processing import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    ModelChooser,
    OutputFolder,
    as_chooser,
    compute_depth_outputs,
)

try:
    import gradio as gr
except ImportError as exc:  # pragma: no cover - exercised by a test that hides gradio
    raise MissingExtraError(
        f"the web demo needs gradio ({exc}); install it with `pip install depth-anything[app]`"
    ) from exc

log = logging.getLogger(__name__)

QUEUE_SIZE = 16
FIRST_AVAILABLE = "first-available"  # build_demo's default: select the first model that opens
TITLE = "Depth Anything V2"
INTRO = """# Depth Anything V2
Upload an image or pick an example: its depth appears beside it (drag the slider to compare), and
both depth pictures can be downloaded: a 16-bit grayscale PNG (millimetres for metric models, min–max
scaled for relative ones) and the coloured PNG. Metric models (`default-metric`, `metric-hypersim-vitl`,
...) also show the scene in 3-D (drag to turn it) and offer the mesh as GLB, made with the photo's focal
length from EXIF, else a 60° field of view.

**The built-in models (`default`, `default-metric`) are small models trained by this project on
synthetic scenes, far from the quality of the paper.** For the official weights, start the demo with
`depth-anything app --model vitl` (or `vits`, `vitb`, `metric-hypersim-vitl`, ...; downloaded once
from Hugging Face into `~/.cache/depth_anything`), or `--model path/to/depth_anything_v2_vitl.pth`.
"""


def default_examples() -> list[Path]:
    """Example images that exist here: the repository's assets/example.png and scikit-image's photos."""
    candidates = [Path(__file__).resolve().parents[3] / "assets" / "example.png"]
    try:
        import skimage.data

        folder = Path(skimage.data.__file__).parent
        # not motorcycle_left.png: that one is evaluation data (it has ground truth)
        candidates += [folder / name for name in ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")]
    except ImportError:
        pass
    return [path for path in candidates if path.is_file()]


def _warn(message: str) -> None:
    """A warning toast on the page (logged as well)."""
    log.warning("%s", message)
    gr.Warning(message)


_EMPTY = (None, None, None, "", None, None, "")  # slider, 16-bit PNG, coloured PNG, status, 3-D view, GLB, camera


class DepthHandler:
    """The demo's event function: (uploaded file, model name, colour map) → slider, two files, status,
    and for metric models the 3-D view, its GLB and the line about its camera."""

    def __init__(
        self, chooser: ModelChooser, out: OutputFolder, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS
    ) -> None:
        self.chooser, self.out = chooser, out
        self.max_bytes, self.max_pixels = max_bytes, max_pixels

    def __call__(self, file: str | None, model: str | None, cmap: str | None) -> tuple[Any, ...]:
        """Slider pair, 16-bit PNG path, coloured PNG path, a status line, the GLB for the 3-D view and
        for download (None for relative models) and the camera line; a bad input gives a warning and an
        explanatory status instead of a traceback."""
        if not file:
            return _EMPTY
        if not model:
            message = "No model is available: see the message at the top of the page."
            _warn(message)
            return _failed(message)
        try:
            predictor = self.chooser.get(model)
            outputs = compute_depth_outputs(
                file, predictor, self.out.new(), cmap or DEFAULT_CMAP, model_name=model,
                max_bytes=self.max_bytes, max_pixels=self.max_pixels,
            )
        except (DepthAnythingError, ValueError) as exc:
            _warn(str(exc))
            return _failed(str(exc))
        except Exception as exc:  # e.g. out of memory on a large image: a message, and the demo goes on
            log.exception("computing depth for %s failed", Path(file).name)
            message = f"{Path(file).name}: computing depth failed ({type(exc).__name__}: {exc})"
            gr.Warning(message)
            return _failed(message)
        mesh = str(outputs.mesh_path) if outputs.mesh_path is not None else None
        return ((outputs.image, outputs.colored), str(outputs.depth16_path), str(outputs.colored_path), outputs.summary,
                mesh, mesh, outputs.mesh_note)


def _failed(message: str) -> tuple[Any, ...]:
    """The outputs of a request that failed: all empty but the status, which says why."""
    return (None, None, None, f"⚠️ {message}", None, None, "")


def startup_notice(initial_model: str | None, failures: Mapping[str, str]) -> str | None:
    """The page's note about models that could not be opened at start (None when all went well)."""
    if not failures:
        return None
    lines = [f"- {message}" for message in failures.values()]
    if initial_model is None:
        head = "**No model could be opened, so nothing can be computed yet.** Start the demo with `--model` " \
               "naming a model (`vits`, `vitl`, ...) or a checkpoint file."
    else:
        head = f"Started on model `{initial_model}`; these could not be opened:"
    return "\n".join([f"⚠️ {head}", *lines])


def build_demo(
    models: ModelChooser | Mapping[str, Predictor] | Predictor,
    *,
    initial_model: str | None = FIRST_AVAILABLE,
    notice: str | None = None,
    examples: Sequence[str | os.PathLike] | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    out_dir: str | os.PathLike | None = None,
) -> gr.Blocks:
    """The demo's page. `models` is a chooser (names opened lazily) or ready predictors by name.

    By default the first model that opens is selected and failures are noted on the page (None: no
    model works, say so in `notice`); `examples` defaults to `default_examples()` (pass [] for none).
    """
    chooser = as_chooser(models)
    if initial_model == FIRST_AVAILABLE:
        initial_model, failures = chooser.first_available()
        notice = notice or startup_notice(initial_model, failures)
    handler = DepthHandler(chooser, OutputFolder(out_dir), max_bytes, max_pixels)
    example_paths = [str(p) for p in (default_examples() if examples is None else examples)]
    limits = f"up to {max_bytes / 2**20:.0f} MB and {max_pixels / 1e6:.0f} megapixels"

    # analytics_enabled=False: no telemetry and no version check, whatever GRADIO_ANALYTICS_ENABLED says;
    # delete_cache: Gradio's copies of uploads and results older than an hour go, checked hourly
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        if notice:
            gr.Markdown(notice, elem_id="model-notice")
        with gr.Row():
            with gr.Column(scale=2):
                image_file = gr.File(label=f"Image (PNG, JPEG, WebP, TIFF, BMP; {limits})", file_types=["image"],
                                     type="filepath", elem_id="input-file")
                model = gr.Dropdown(choices=chooser.names, value=initial_model, label="Model", elem_id="model")
                cmap = gr.Dropdown(choices=colormap_names(), value=DEFAULT_CMAP, label="Colour map", elem_id="cmap")
                compute = gr.Button("Compute depth", variant="primary", elem_id="compute")
            with gr.Column(scale=3):
                slider = gr.ImageSlider(label="Image ⇄ depth (drag the handle)", type="numpy", format="png",
                                        interactive=False, elem_id="depth-slider")
                status = gr.Markdown(elem_id="status")
                with gr.Row():
                    depth16_file = gr.File(label="16-bit depth PNG", interactive=False, elem_id="depth16-file")
                    colored_file = gr.File(label="Coloured depth PNG", interactive=False, elem_id="colored-file")
                mesh_view = gr.Model3D(label="3-D mesh (metric models; drag to turn)", interactive=False,
                                       elem_id="mesh-view")
                mesh_note = gr.Markdown(elem_id="mesh-camera")
                mesh_file = gr.File(label="3-D mesh (GLB)", interactive=False, elem_id="mesh-file")
        if example_paths:
            gr.Examples(examples=[[p] for p in example_paths], inputs=[image_file], label="Examples")
        inputs = [image_file, model, cmap]
        outputs = [slider, depth16_file, colored_file, status, mesh_view, mesh_file, mesh_note]
        # change: a user's upload and an example's click alike (and clearing the input clears the outputs)
        image_file.change(handler, inputs=inputs, outputs=outputs)
        compute.click(handler, inputs=inputs, outputs=outputs)
    return demo


def launch_demo(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    block: bool = True,
    quiet: bool = False,
    concurrency: int = 1,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> str:
    """Serve `demo` on `host:port` (loopback by default, never a public share link) with a small
    queue; returns the local URL. `block=False` returns at once and serves from a thread."""
    demo.queue(default_concurrency_limit=concurrency, max_size=QUEUE_SIZE)
    demo.launch(
        server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=not block,
        quiet=quiet, max_file_size=max_bytes, show_error=False, ssr_mode=False,
    )
    return str(demo.local_url)


__all__ = ["FIRST_AVAILABLE", "DepthHandler", "INTRO", "build_demo", "default_examples", "launch_demo", "startup_notice"]
