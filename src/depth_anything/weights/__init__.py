"""Weights by name or path: the torch-free registry of every model name (`registry`), the one resolver
(`resolve`), the cache and hub download (`cache`), checkpoint files (`files`) and `load_model` (`load`).

Resolution order: an existing file (or transformers folder), then a built-in model shipped in the
package, then the local cache folder (`$DEPTH_ANYTHING_CACHE`, default `~/.cache/depth_anything`), then
a download with `huggingface_hub` into that cache. Every failure says which file is needed, where to
put it, and where it comes from. The registry and the resolver import no torch; the names that need
torch (`load_model`, checkpoint files) are imported on first use.
"""

from __future__ import annotations

from ..lazy import lazy_attributes
from .cache import CACHE_ENV, cache_dir, cached_path, download_weights, is_cached
from .registry import DEFAULT_METRIC_MODEL, DEFAULT_MODEL, METRIC_MAX_DEPTH, REGISTRY, ModelEntry
from .resolver import ResolvedModel, resolve

_LAZY = {
    "load_model": ".load", "load_state_dict_checked": ".load", "weights_identity": ".load",
    "read_checkpoint": ".files", "save_checkpoint": ".files", "save_safetensors": ".files", "save_transformers": ".files",
}
# the names this package had before the registry became `REGISTRY` of `ModelEntry` rows
PUBLISHED_WEIGHTS = REGISTRY
PublishedWeights = ModelEntry

__all__ = [
    "CACHE_ENV", "DEFAULT_METRIC_MODEL", "DEFAULT_MODEL", "METRIC_MAX_DEPTH", "PUBLISHED_WEIGHTS", "REGISTRY", "ModelEntry",
    "PublishedWeights", "ResolvedModel", "cache_dir", "cached_path", "download_weights", "is_cached", "resolve", *_LAZY,
]

__getattr__ = lazy_attributes(__name__, _LAZY)
