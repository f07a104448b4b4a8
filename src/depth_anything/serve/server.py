"""Running the application: one process, or `workers` processes sharing one listening socket.

The socket is bound here (port 0 picks a free one, reported to `on_listening`), then handed to uvicorn:
one worker serves it in this process; several are started by uvicorn's process supervisor, each loading
its own models, and the kernel spreads connections over them. A worker's runtimes are limited to its
share of the cores ($OMP_NUM_THREADS, unless set already), so N workers do not fight over every core.
On SIGTERM or Ctrl+C uvicorn stops accepting, finishes the requests in flight (at most
`request_timeout_s` more), then the application stops its batching worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

from ..errors import ConfigError, require_extra
from .app import SERVE_EXTRA, create_app
from .config import CONFIG_ENV, ServeConfig

log = logging.getLogger(__name__)
APP_FACTORY = "depth_anything.serve.app:app_from_environment"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (IPv6 when `host` holds a colon); `ConfigError` naming the
    address when it is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another port or host") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The http:// address a socket listens on."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def threads_per_worker(workers: int) -> int:
    """Each worker's share of the cores."""
    return max(1, (os.cpu_count() or 1) // workers)


@contextlib.contextmanager
def _quiet_stop_signals() -> Iterator[None]:
    """uvicorn raises the stop signal again once its graceful shutdown is done (restoring the handler it
    found), so the process would end "killed by SIGTERM"; with a handler that does nothing while uvicorn
    runs, a stop that finished every request ends the process normally, with status 0. The caller's
    handlers are back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        signal.signal(sig, lambda number, frame: None)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(config: ServeConfig, on_listening: Callable[[str], None] | None = None, log_level: str = "info",
          access_log: bool = False) -> None:
    """Serve `config` until SIGTERM/SIGINT; `on_listening(url)` is called once the socket is bound."""
    uvicorn = require_extra("uvicorn", SERVE_EXTRA)
    require_extra("fastapi", SERVE_EXTRA)
    sock = bind_socket(config.host, config.port)
    if on_listening is not None:
        on_listening(url_of(sock))
    options = dict(log_level=log_level, access_log=access_log, lifespan="on",
                   timeout_graceful_shutdown=int(config.request_timeout_s) + 5)
    try:
        if config.workers == 1:
            server = uvicorn.Server(uvicorn.Config(create_app(config), **options))
            with _quiet_stop_signals():
                server.run(sockets=[sock])
            return
        from uvicorn.supervisors import Multiprocess

        metrics_dir = tempfile.mkdtemp(prefix="depth-anything-serve-metrics-")
        worker_env = {CONFIG_ENV: replace(config, metrics_dir=metrics_dir).to_env()}
        if "OMP_NUM_THREADS" not in os.environ:
            worker_env["OMP_NUM_THREADS"] = str(threads_per_worker(config.workers))
        os.environ.update(worker_env)  # the workers are spawned: they start from this environment
        try:
            uv_config = uvicorn.Config(APP_FACTORY, factory=True, workers=config.workers, **options)
            Multiprocess(uv_config, sockets=[sock]).run()
        finally:
            for key in worker_env:
                os.environ.pop(key, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
    finally:
        sock.close()


__all__ = ["APP_FACTORY", "bind_socket", "serve", "threads_per_worker", "url_of"]
