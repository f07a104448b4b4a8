"""The synthetic engine: random indoor and outdoor scenes rendered on the CPU, with exact depth.

- `scene`: what a scene is made of (camera, primitives, materials, lights);
- `textures`: surface patterns, procedural and photographic;
- `render`: the vectorised ray caster (image, z-depth, validity);
- `generate`: random scenes and `generate_sample(seed, index, config)`, a pure function of its arguments;
- `dataset`: the on-disk format, its resumable writer (`write_dataset`) and the "synthetic" reader.

The names most callers need are importable from here.
"""

from __future__ import annotations

from .dataset import SyntheticReader, write_dataset
from .generate import SynthConfig, SyntheticSample, generate_sample, sample_rng, sample_scene
from .render import RenderResult, render
from .scene import Camera, Scene

__all__ = [
    "Camera", "RenderResult", "Scene", "SynthConfig", "SyntheticReader", "SyntheticSample", "generate_sample",
    "render", "sample_rng", "sample_scene", "write_dataset",
]
