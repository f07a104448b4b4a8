"""Files of the image tools: inputs collected from paths, folders, list files and glob patterns, each
with an output name that no other input shares, and the writer of one prediction's output files.

Output names mirror the input tree: `photos/a.jpg` and `photos/sub/a.jpg` (given as `photos/`) are
named `a` and `sub/a`. Several folders, lists or patterns are named relative to their common parent;
files given one by one keep their stem. A name already taken (two inputs `a.jpg` and `a.png`, or the
same stem in two places) gets the input's extension and, if needed, a number: `a_png`, `a_png_2`.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import is_image_file, list_images, save_image, save_npy, save_prediction_png16
from ..pictures import DEFAULT_CMAP, colormap_lut, depth_picture, side_by_side

log = logging.getLogger(__name__)

LIST_SUFFIXES = (".txt", ".lst", ".list")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class ImageInput:
    """One input image and its output name (relative, POSIX separators, no extension: "sub/a")."""

    path: Path
    name: str


@dataclass
class CollectedInputs:
    """The images found and every input that gave none, as (input, reason) pairs."""

    images: list[ImageInput] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Found:
    path: Path
    root: Path | None  # the folder its name is relative to; None: a file given by itself


def _glob_root(pattern: str) -> Path:
    """The leading part of a glob pattern that holds no wildcard (the folder the matches mirror)."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if _GLOB_CHARS & set(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _expand(item: str, base: Path | None, problems: list[tuple[str, str]], in_list: bool = False) -> list[_Found]:
    """What one input stands for; anything unusable is added to `problems` with its reason."""
    path = Path(item) if base is None or Path(item).is_absolute() else base / item
    if path.is_dir():
        return [_Found(p, path) for p in list_images(path)]
    if path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            if in_list:
                problems.append((str(path), "a list file inside a list file is not read"))
                return []
            return _read_list(path, problems)
        if not is_image_file(path):
            problems.append((str(path), f"not an image file name ({path.suffix or 'no extension'}); "
                                        f"a list of paths needs the extension {' or '.join(LIST_SUFFIXES)}"))
            return []
        return [_Found(path, base)]
    if _GLOB_CHARS & set(item):
        pattern = str(path)
        matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
        root = _glob_root(pattern)
        found = [_Found(p, root) for m in matches for p in (list_images(m) if m.is_dir() else [m]) if is_image_file(p)]
        if not found:
            problems.append((item, "no image matches this pattern"))
        return found
    problems.append((str(path), "file not found"))
    return []


def _read_list(path: Path, problems: list[tuple[str, str]]) -> list[_Found]:
    """The entries of a list file: one path per line, relative to the file's folder; # starts a comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append((str(path), f"cannot read the list file ({exc})"))
        return []
    found: list[_Found] = []
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            found.extend(_expand(entry, path.parent, problems, in_list=True))
    return found


def _unique(name: str, suffix: str, taken: set[str]) -> str:
    """`name`, or `name_<ext>`, `name_<ext>_2`, ... the first one not in `taken` (compared case-blind,
    since macOS and Windows file systems are)."""
    longer = f"{name}_{suffix.lstrip('.').lower() or 'file'}"
    candidate, number = name, 1
    while candidate.casefold() in taken:
        candidate = longer if number == 1 else f"{longer}_{number}"
        number += 1
    taken.add(candidate.casefold())
    return candidate


def collect_images(inputs: Sequence[str | os.PathLike], exclude: str | os.PathLike | None = None) -> CollectedInputs:
    """Images behind `inputs` (files, folders searched recursively, list files, glob patterns), each once,
    with unique output names; images below `exclude` (an output folder inside an input) are left out."""
    collected = CollectedInputs()
    found = [f for item in inputs for f in _expand(os.fspath(item), None, collected.problems)]
    excluded = Path(exclude).resolve() if exclude is not None else None
    roots = {f.root.resolve() for f in found if f.root is not None}
    common = Path(os.path.commonpath(list(roots))) if len(roots) > 1 else next(iter(roots), None)
    seen: set[Path] = set()
    taken: set[str] = set()
    for item in found:
        resolved = item.path.resolve()
        if resolved in seen or (excluded is not None and resolved.is_relative_to(excluded)):
            continue
        seen.add(resolved)
        if item.root is not None and common is not None and resolved.is_relative_to(common):
            name = resolved.relative_to(common).with_suffix("").as_posix()
        else:
            name = item.path.stem
        collected.images.append(ImageInput(item.path, _unique(name, item.path.suffix, taken)))
    return collected


def unique_names(paths: Iterable[Path]) -> list[str]:
    """Stems of `paths`, made unique as `collect_images` does (for tools whose inputs are not images)."""
    taken: set[str] = set()
    return [_unique(path.stem, path.suffix, taken) for path in paths]


# --------------------------------------------------------------------------------------- outputs
# format → the suffix added to an input's output name
OUTPUT_SUFFIXES: dict[str, str] = {
    "color": "_depth.png", "gray": "_gray.png", "side": "_side.png", "png16": "_depth16.png", "npy": ".npy",
}


def _check_formats(formats: Sequence[str]) -> list[str]:
    unknown = [f for f in formats if f not in OUTPUT_SUFFIXES]
    if unknown or not formats:
        raise ConfigError(f"--formats: unknown {unknown or 'empty list'}; choose from {', '.join(OUTPUT_SUFFIXES)}")
    return list(formats)


def parse_formats(text: str) -> list[str]:
    """A comma-separated list of output formats, checked against `OUTPUT_SUFFIXES`."""
    return _check_formats(list(dict.fromkeys(f.strip() for f in text.split(",") if f.strip())))


class DepthWriter:
    """Writes one prediction's files below `outdir`, each atomically, one format at a time.

    color: the depth picture (colour map `cmap`, or grey with `grayscale`); gray: the grey picture;
    side: input | gap | depth picture; png16: 16-bit PNG (metric: millimetres; relative: min–max to
    0..65535); npy: float32 depth as predicted. Metric depth is coloured inverted, so near is warm.
    """

    def __init__(
        self, outdir: str | os.PathLike, formats: Sequence[str], metric: bool, cmap: str = DEFAULT_CMAP,
        grayscale: bool = False,
    ) -> None:
        self.formats = _check_formats(formats)
        try:
            colormap_lut(cmap)
        except ValueError as exc:
            raise ConfigError(f"--cmap: {exc}") from None
        self.outdir = Path(outdir)
        self.metric = metric
        self.cmap = cmap
        self.grayscale = grayscale

    def paths(self, name: str) -> dict[str, Path]:
        """The file of each format for the output name `name`."""
        return {fmt: self.outdir / f"{name}{OUTPUT_SUFFIXES[fmt]}" for fmt in self.formats}

    def exists(self, name: str) -> bool:
        """Whether every file of `name` is there already (what --skip-existing skips)."""
        return all(path.is_file() for path in self.paths(name).values())

    def picture(self, depth: np.ndarray, grayscale: bool | None = None) -> np.ndarray:
        """The depth picture as this writer draws it."""
        grey = self.grayscale if grayscale is None else grayscale
        return depth_picture(depth, self.cmap, grayscale=grey, invert=self.metric)

    def write(self, name: str, image: np.ndarray | None, depth: np.ndarray) -> list[Path]:
        """Write every format of one prediction; its pictures live only during this call."""
        written: list[Path] = []
        picture = None  # the colour (or --grayscale) picture, drawn once for "color" and "side"
        for fmt, path in self.paths(name).items():
            if fmt == "npy":
                save_npy(path, np.asarray(depth, dtype=np.float32))
            elif fmt == "png16":
                save_prediction_png16(path, depth, self.metric)
            elif fmt == "side":
                if image is None:
                    raise ValueError("the side-by-side picture needs the input image")
                picture = self.picture(depth) if picture is None else picture
                save_image(path, side_by_side(image, picture))
            elif fmt == "gray":
                save_image(path, self.picture(depth, grayscale=True))
            else:
                picture = self.picture(depth) if picture is None else picture
                save_image(path, picture)
            written.append(path)
        log.debug("wrote %s", ", ".join(map(str, written)))
        return written


__all__ = [
    "LIST_SUFFIXES", "OUTPUT_SUFFIXES", "CollectedInputs", "DepthWriter", "ImageInput", "collect_images", "parse_formats",
    "unique_names",
]
