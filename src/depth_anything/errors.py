"""Exceptions with messages a user can act on: each names the file, key or value at fault."""

from __future__ import annotations


class DepthAnythingError(Exception):
    """Base class for every error this package raises on purpose."""


class ImageReadError(DepthAnythingError, ValueError):
    """An input is not a readable image (missing, truncated, wrong type)."""


class WeightsNotFoundError(DepthAnythingError, FileNotFoundError):
    """A checkpoint is neither on disk, in the cache, nor downloadable."""


class CheckpointMismatchError(DepthAnythingError, ValueError):
    """A checkpoint does not fit the model it is being loaded into."""


class ConfigError(DepthAnythingError, ValueError):
    """A configuration value or key is invalid; the message names the key."""


class DatasetError(DepthAnythingError, ValueError):
    """A dataset folder or sample does not follow its documented layout."""
