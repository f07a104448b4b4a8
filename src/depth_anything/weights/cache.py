"""The local weights cache and downloads from the Hugging Face hub into it.

Offline machines fail fast: with `HF_HUB_OFFLINE=1`, or when the hub's host does not answer a TCP
connection within a couple of seconds, no download (and none of its retries) is attempted.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from ..errors import WeightsNotFoundError
from .registry import GENERIC_FILENAMES, ModelEntry

CACHE_ENV = "DEPTH_ANYTHING_CACHE"
CONNECT_TIMEOUT_S = 2.0


def cache_dir() -> Path:
    """The local weights folder: `$DEPTH_ANYTHING_CACHE`, else `~/.cache/depth_anything`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "depth_anything")


def cached_path(spec: ModelEntry, root: Path) -> Path:
    """Where `spec`'s file sits in the cache folder `root`."""
    # files with generic names (transformers and V1 repositories) get a folder per repository
    assert spec.repo_id is not None
    return root / spec.repo_id.split("/")[-1] / spec.filename if spec.filename in GENERIC_FILENAMES else root / spec.filename


def required_files(spec: ModelEntry) -> list[str]:
    """Files that make a cache entry complete (a transformers entry needs its config.json too)."""
    return [spec.filename, "config.json"] if spec.transformers_format else [spec.filename]


def is_cached(spec: ModelEntry, root: Path) -> bool:
    target = cached_path(spec, root)
    return all((target.parent / f).is_file() for f in required_files(spec))


def hub_unreachable_reason() -> str | None:
    """Why no download should be tried (offline mode, or the hub's host refuses/ignores connections)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"{host}:{port} is unreachable ({type(exc).__name__}: {exc})"


def download_weights(entry: ModelEntry, root: Path) -> Path:
    """Local path of a published model's file in the cache folder `root`: there already, else downloaded into it."""
    target = cached_path(entry, root)
    if is_cached(entry, root):
        return target
    reason = hub_unreachable_reason()
    try:
        if reason is not None:
            raise ConnectionError(reason)
        from huggingface_hub import hf_hub_download

        for filename in required_files(entry):
            hf_hub_download(repo_id=entry.repo_id, filename=filename, local_dir=target.parent)
    except Exception as exc:  # offline, missing repo, HTTP errors: all end in the same advice
        extra = f" ({entry.note})" if entry.note else ""
        raise WeightsNotFoundError(
            f"weights {entry.name!r} need the file {entry.filename}{' and config.json' if entry.transformers_format else ''}"
            f" from {entry.url}{extra}. The download failed ({type(exc).__name__}: {exc}). "
            f"Download it yourself and put it at {target}, or set ${CACHE_ENV} to the folder that holds it, "
            f"or pass the file's path instead of the name."
        ) from None
    return target
