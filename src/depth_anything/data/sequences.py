"""Readers for the video benchmarks as Video Depth Anything's `benchmark/dataset_extract` scripts lay them out.

Each extracted dataset folder (`.../datasets/sintel`, `kitti`, `bonn`, `scannet`, `nyuv2`) holds the frames
and a JSON index, `<dataset>_video.json` (or `<dataset>_video_<split>.json`: "500" for the ~500-frame
sets, "tae" for ScanNet's posed set)::

    {"<dataset>": [{"<sequence>": [{"image": "...", "gt_depth": "...", "factor": 256.0,
                                     "K": [[...]], "pose": [[...]]}, ...]}, ...]}

Paths are relative to the folder; depth is a 16-bit PNG (or .npy) divided by `factor` to get metres;
`K` (3×3 or 4×4) and `pose` (4×4 camera to world) exist in posed sets only. The ground truth is cut to
the crop VDA's evaluation applies (rows a:b, columns c:d), which matches the frames the extraction
script already cropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..io import load_depth_png16, load_image
from .datasets import DepthSequence, SequenceReader, register_sequence_reader
from .layouts import read_npy_depth

# VDA's evaluation crops of the ground truth: (row start, row end, column start, column end), ends
# exclusive, negative counted from the end, None = to the end.
VDA_CROPS: dict[str, tuple[int, int | None, int, int | None]] = {
    "sintel": (0, 436, 0, 1024),
    "kitti": (0, 374, 0, 1242),
    "bonn": (0, 480, 0, 640),
    "scannet": (8, -8, 11, -11),
    "nyuv2": (45, 471, 41, 601),
}


class VdaBenchmarkReader(SequenceReader):
    """One of VDA's extracted benchmarks; `split` picks the index file (None: `<dataset>_video.json`)."""

    dataset = ""

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        super().__init__(root, split)
        stem = f"{self.dataset}_video" if split in (None, "", "default") else f"{self.dataset}_video_{split}"
        self.index_path = self.root / f"{stem}.json"
        if not self.index_path.is_file():
            found = sorted(p.name for p in self.root.glob("*_video*.json"))
            raise DatasetError(f"{self.index_path} is missing: not a {self.dataset} folder as VDA's extraction "
                               f"script writes it (index files here: {', '.join(found) or 'none'})")
        try:
            index = json.loads(self.index_path.read_text(encoding="utf-8"))
            groups = index[self.dataset]
            self.items = [(str(name), list(frames)) for group in groups for name, frames in group.items()]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise DatasetError(f"{self.index_path}: unreadable sequence index ({exc!r}); expected "
                               f'{{"{self.dataset}": [{{"SEQUENCE": [{{"image": ..., "gt_depth": ..., '
                               '"factor": ...}]}]}') from None
        self.items = [item for item in self.items if item[1]]

    def _depth(self, entry: dict[str, Any]) -> np.ndarray:
        path = self.root / entry["gt_depth"]
        factor = float(entry["factor"])
        if factor <= 0:
            raise DatasetError(f"{self.index_path}: factor {factor} of {entry['gt_depth']} must be positive")
        depth = read_npy_depth(path) / factor if path.suffix == ".npy" else load_depth_png16(path, factor)
        a, b, c, d = VDA_CROPS[self.dataset]
        return depth[a:b, c:d].astype(np.float32)

    def load(self, item: tuple[str, list[dict[str, Any]]]) -> DepthSequence:
        """Read one sequence's frames, depth and (where listed) cameras."""
        name, frames = item
        images, depths = [], []
        intrinsics, poses = [], []
        for number, entry in enumerate(frames):
            try:
                image_path = self.root / entry["image"]
                images.append(load_image(image_path))
                depths.append(self._depth(entry))
                if "K" in entry and "pose" in entry:
                    intrinsics.append(np.asarray(entry["K"], np.float64)[:3, :3])
                    poses.append(np.asarray(entry["pose"], np.float64).reshape(4, 4))
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{self.index_path}: sequence {name!r}, frame {number}: bad entry ({exc!r})") from None
            for label, stack in (("image", images), ("depth", depths)):
                if stack[-1].shape[:2] != stack[0].shape[:2]:
                    raise DatasetError(f"{self.root / entry[label if label == 'image' else 'gt_depth']}: frame "
                                       f"{number} of {name!r} is {stack[-1].shape[:2]}, frame 0 is {stack[0].shape[:2]}")
        depth = np.stack(depths)
        posed = len(poses) == len(frames)
        return DepthSequence(
            name, np.stack(images), depth, np.isfinite(depth) & (depth > 0),
            np.stack(intrinsics) if posed else None, np.stack(poses) if posed else None,
            {"dataset": self.dataset, "frames": [e["image"] for e in frames]},
        )


def _reader(dataset: str) -> type[VdaBenchmarkReader]:
    cls = type(f"Vda{dataset.capitalize()}Reader", (VdaBenchmarkReader,),
               {"dataset": dataset, "__doc__": f"VDA's extracted {dataset} benchmark (see the module doc)."})
    return register_sequence_reader(f"vda-{dataset}")(cls)


for _name in VDA_CROPS:
    _reader(_name)
