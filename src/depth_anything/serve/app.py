"""The HTTP API: a FastAPI application over resident `Predictor`s, a batching queue and the limits.

    POST /v1/depth    an image (raw body or multipart field `image`) → depth as png16 | npy | png | json
    GET  /v1/models   the loaded models (kind, input spec, runtime) and the others on this machine
    GET  /healthz     the process answers (for liveness probes)
    GET  /readyz      200 once every model is loaded, 503 before (for load balancers)
    GET  /metrics     Prometheus text: requests, errors by kind, batch sizes, latency, queue depth
    GET  /docs, /openapi.json   the schema FastAPI generates

A request is admitted (or refused with 503 and Retry-After when `max_queue` wait already), its body
read under the size limit, decoded and prepared for the network in a helper thread under the pixel
limit, queued for a batch of its network input shape, and its map brought back to the image's size and
encoded in a helper thread (`Predictor.prepare`, `run_prepared`, `full_size`: the steps of `predict`,
so the batching thread runs nothing but the network); all of it within `request_timeout_s` (504 after).
The server keeps nothing between requests, so replicas behind any load balancer need no coordination.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time, and
# they name classes imported inside `create_app` (the web framework is an optional extra)
import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from enum import Enum
from typing import Annotated, Any

import numpy as np

from ..errors import require_extra
from ..metadata import DepthMetadata
from ..pictures import DEFAULT_CMAP, colormap_lut
from ..runtime import yield_cores_to_network
from ..transforms import network_input_size
from .batching import BatchQueue, QueueFull, QueueStopped
from .config import ServeConfig
from .encoding import Answer, encode_answer
from .limits import RequestError, decode_upload, image_bytes, read_body, token_matches
from .metrics import SharedMetrics, server_metrics
from .models import ModelPool

log = logging.getLogger(__name__)
SERVE_EXTRA = "serve"
# a model is warmed up with one image this size before the server reports ready (first runs are slow)
WARM_UP_SIZE = (64, 64)


class Format(str, Enum):
    """Answer formats of POST /v1/depth."""

    png16 = "png16"
    npy = "npy"
    png = "png"
    json = "json"


IMAGE_BODY = {
    "required": True,
    "content": {
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "image": {"type": "string", "format": "binary"}}, "required": ["image"]}},
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token"},
    413: {"description": "body larger than --max-body-mb, image over --max-pixels, or a network input over "
                        "4 × --max-input-size² pixels"},
    415: {"description": "not an image (or a media type other than image/*, octet-stream, multipart)"},
    422: {"description": "truncated or corrupt image, or an invalid query value"},
    503: {"description": "queue full or models still loading; see Retry-After"},
    504: {"description": "not answered within --request-timeout"},
}


def _prepare(predictor: Any, body: bytes, content_type: str | None, max_pixels: int,
             max_network_pixels: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Helper-thread work before the model: find the image in the body, decode it and prepare its network
    input (so the batching thread only runs the network); the input and the image's (H, W). 413 when the
    network input would exceed `max_network_pixels` (a long thin image, scaled until its short side
    reaches the input size)."""
    rgb = decode_upload(image_bytes(body, content_type), max_pixels)
    spec = predictor.input_spec
    height, width = network_input_size(rgb.shape[0], rgb.shape[1], spec.input_size, spec.size_multiple)
    if height * width > max_network_pixels:
        raise RequestError(413, "network_input_too_large",
                           f"a {rgb.shape[1]}×{rgb.shape[0]} image at input_size {spec.input_size} needs a {width}×"
                           f"{height} network input ({height * width / 1e6:.1f} megapixels); this server runs up to "
                           f"{max_network_pixels / 1e6:.2f} megapixels (4 × max_input_size²): crop the image or ask "
                           "for a smaller input_size")
    return predictor.prepare(rgb)


def _finish(predictor: Any, raw: Any, size: tuple[int, int], fmt: str, cmap: str, grid: int, extra: dict[str, str],
            record: DepthMetadata) -> Answer:
    """Helper-thread work after the model: the map at the image's size, encoded as the answer."""
    return encode_answer(predictor.full_size(raw, size), fmt, predictor.is_metric, cmap, grid, extra, record)


def helper_threads(workers: int = 1) -> int:
    """Threads that decode and encode beside the model: this worker's share of the cores, at least 2."""
    return max(2, (os.cpu_count() or 1) // workers)


def create_app(config: ServeConfig, pool: ModelPool | None = None) -> Any:
    """The FastAPI application for `config` (`pool`: models to serve, default: opened from `config`).

    Models load in a background thread when the application starts, so /healthz answers at once and
    /readyz turns 200 when they are loaded; the batching worker stops after the last request in flight
    (uvicorn finishes those on SIGTERM before the application's shutdown runs)."""
    fastapi = require_extra("fastapi", SERVE_EXTRA)
    from fastapi import Depends, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    pool = pool if pool is not None else ModelPool(config)
    metrics = server_metrics()
    shared = SharedMetrics(metrics, config.metrics_dir) if config.metrics_dir else None

    def run_batch(key: tuple, inputs: list[np.ndarray]) -> list[Any]:
        name, input_size, _shape = key
        return pool.get(name).predictor_for(input_size).run_prepared(inputs)

    queue = BatchQueue(run_batch, config.max_batch, config.max_wait_ms / 1000.0, config.max_queue, metrics)
    # Decoding and encoding get a few threads of their own at lowered priority, as `predict`'s reader and
    # writer do (runtime.yield_cores_to_network): the network's threads meet at a barrier after each
    # operation, and many helpers of equal priority stall them. Measured on the 2-core machine against
    # FastAPI's pool of 40 threads at normal priority (medians of 3 alternating rounds): 20.0 against 13.7
    # requests/s at concurrency 16, 18.7 against 17.9 at 64. The few threads also bound how many uploads
    # are decoded at once.
    helpers = ThreadPoolExecutor(helper_threads(config.workers), thread_name_prefix="depth-anything-helper",
                                 initializer=yield_cores_to_network)

    async def in_helper(function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(helpers, function, *args)

    def warm_up(served: Any) -> None:  # the first run of a runtime allocates; paid before ready
        try:
            served.predictor.predict([np.zeros((*WARM_UP_SIZE, 3), np.uint8)])
        except Exception:  # noqa: BLE001 - a real request will report the problem with its own image
            log.warning("warm-up of model %r failed", served.name, exc_info=True)

    def load_models() -> None:
        pool.load(warm_up)
        metrics.set("models_loaded", len(pool.loaded))

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        queue.start()
        if shared is not None:
            shared.start()
        threading.Thread(target=load_models, name="depth-anything-load", daemon=True).start()
        yield
        queue.stop(timeout=config.request_timeout_s)
        helpers.shutdown(wait=True)
        if shared is not None:
            shared.stop()

    app = fastapi.FastAPI(
        title="depth-anything serve", version="1", lifespan=lifespan,
        description="Depth maps over HTTP from resident Depth Anything models, batched across requests.",
    )
    app.state.config, app.state.pool, app.state.queue, app.state.metrics = config, pool, queue, metrics

    def error_response(error: RequestError) -> JSONResponse:
        metrics.inc("errors_total", {"kind": error.kind})
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(RequestError)
    async def on_request_error(request: Request, error: RequestError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
                             for e in error.errors())
        return error_response(RequestError(422, "invalid_query", problems or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(RequestError(error.status_code, kind, str(error.detail), dict(error.headers or {})))

    async def require_token(request: Request) -> None:  # async: a plain function would cost a thread hop per request
        if config.token is not None and not token_matches(request.headers.get("authorization"), config.token):
            raise RequestError(401, "unauthorized", "this server needs `Authorization: Bearer <token>` "
                                                    "(the server's token, or $DEPTH_ANYTHING_TOKEN)",
                               {"WWW-Authenticate": 'Bearer realm="depth-anything"'})

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Every model is loaded", responses={503: {"description": "still loading, or failed"}})
    async def readyz() -> JSONResponse:
        body = {"ready": pool.ready, "models": list(pool.loaded), "error": pool.error}
        return JSONResponse(body, status_code=200 if pool.ready else 503,
                            headers=None if pool.ready else {"Retry-After": "5"})

    @app.get("/metrics", summary="Prometheus text format", dependencies=[Depends(require_token)],
             response_class=PlainTextResponse)
    async def metrics_text() -> PlainTextResponse:
        text = await run_in_threadpool(shared.text) if shared is not None else metrics.text()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models", summary="Loaded and available models", dependencies=[Depends(require_token)])
    async def models() -> dict[str, Any]:
        return await run_in_threadpool(pool.describe)

    @app.post(
        "/v1/depth", summary="Depth of one image", dependencies=[Depends(require_token)],
        openapi_extra={"requestBody": IMAGE_BODY}, responses=ERROR_RESPONSES, response_class=Response,
    )
    async def depth(
        request: Request,
        model: Annotated[str | None, Query(description="a loaded model's name (default: the first --model)")] = None,
        format: Annotated[Format, Query(description="png16: 16-bit PNG as `predict --formats png16`; npy: float32 "
                                        "map; png: colour picture; json: a grid of the map")] = Format.png16,
        input_size: Annotated[int | None, Query(ge=1, le=config.max_input_size,
                                                description="network input size (default: the model's)")] = None,
        cmap: Annotated[str, Query(description="colour map of format=png")] = DEFAULT_CMAP,
        grid: Annotated[int, Query(ge=1, le=1024, description="cells on the longer side of format=json")] = config.json_grid,
    ) -> Response:
        start = time.perf_counter()
        fmt = format.value
        status = 500
        metrics.add("in_flight", 1)
        try:
            answer = await _answer(request, model, fmt, input_size, cmap, grid)
            status = 200
            return Response(answer.body, media_type=answer.media_type, headers=answer.headers)
        except RequestError as error:
            status = error.status
            raise
        except Exception as exc:
            log.exception("depth request failed")
            status = 500
            raise RequestError(500, "internal_error", f"the server could not answer ({type(exc).__name__}: {exc})") from exc
        finally:
            metrics.add("in_flight", -1)
            # a name no model has is counted as "unknown": labels from the query would grow the series without end
            label = model or config.default_model
            metrics.inc("requests_total", {"model": label if pool.has(label) else "unknown", "format": fmt,
                                           "code": str(status)})
            metrics.observe("request_seconds", time.perf_counter() - start)

    async def _answer(request: Request, model: str | None, fmt: str, input_size: int | None, cmap: str,
                      grid: int) -> Answer:
        if not pool.ready:
            reason = pool.error or "the models are still loading"
            raise RequestError(503, "not_ready", reason, {"Retry-After": "5"})
        served = pool.get(model)
        predictor = served.predictor_for(input_size)
        if fmt == "png":
            try:
                colormap_lut(cmap)
            except ValueError as exc:
                raise RequestError(422, "invalid_query", f"cmap: {exc}") from None
        try:
            ticket = queue.admit()
        except QueueFull as exc:
            raise RequestError(503, "queue_full", str(exc), {"Retry-After": str(exc.retry_after_s)}) from None
        except QueueStopped:
            raise RequestError(503, "shutting_down", "the server is shutting down", {"Retry-After": "1"}) from None
        try:
            return await asyncio.wait_for(_run(request, ticket, served.name, predictor, fmt, cmap, grid),
                                          timeout=config.request_timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(504, "timeout", f"no answer within {config.request_timeout_s:g} s (request_timeout_s); "
                                               f"{queue.waiting} requests are waiting") from None
        finally:
            queue.release(ticket)

    async def _run(request: Request, ticket: Any, name: str, predictor: Any, fmt: str, cmap: str, grid: int) -> Answer:
        body = await read_body(request.stream(), request.headers.get("content-length"), config.max_body_bytes)
        prepared, size = await in_helper(_prepare, predictor, body, request.headers.get("content-type"),
                                         config.max_pixels, config.max_network_pixels)
        del body
        future = queue.submit(ticket, (name, predictor.input_size, prepared.shape), prepared)
        del prepared
        try:
            raw = await asyncio.wrap_future(future)
        except Exception as exc:
            raise RequestError(500, "inference_failed", f"the model failed on this batch ({type(exc).__name__}: "
                                                        f"{exc})") from exc
        extra = {"X-Model": name, "X-Input-Size": str(predictor.input_size)}
        record = DepthMetadata.for_model(predictor.is_metric, model=name, input_size=predictor.input_size)
        return await in_helper(_finish, predictor, raw, size, fmt, cmap, grid, extra, record)

    return app


def app_from_environment() -> Any:
    """The application of one `--workers N` worker, from the settings its parent left in the environment
    (its messages go to stderr as the parent's do, marked with the worker's process id)."""
    logger = logging.getLogger("depth_anything")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("depth-anything serve [%(process)d]: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return create_app(ServeConfig.from_env())


__all__ = ["SERVE_EXTRA", "Format", "app_from_environment", "create_app"]
