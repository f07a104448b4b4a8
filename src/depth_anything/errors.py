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


class ImageTooLargeError(DepthAnythingError, ValueError):
    """An input image is larger (in bytes or pixels) than the tool accepts."""


class MissingExtraError(DepthAnythingError, ImportError):
    """An optional part needs a package that is not installed; the message names the extra to install."""


class VideoError(DepthAnythingError, OSError):
    """A video, image sequence or camera cannot be opened, decoded or encoded; the message names it."""


class ExportError(DepthAnythingError, ValueError):
    """An export cannot be made as asked, or an exported file does not fit what it is asked to run."""


class NoValidDepthError(DepthAnythingError, ValueError):
    """A depth map has no valid pixel (finite, positive) to make points or a mesh of; batch commands
    skip and report the image."""


def require_extra(module: str, extra: str):
    """Import an optional package, or raise `MissingExtraError` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"this needs the `{module.split('.')[0]}` package: pip install 'depth-anything[{extra}]'"
        ) from exc
