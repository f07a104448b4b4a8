"""Angular error of normals from depth against the true surface normals of rendered scenes (not a test).

    python benchmarks/normals_quality.py [--count 12] [--size 256x192] [--seed 2300]

Scenes: `--count` indoor rooms from the synthetic engine with a fence (thin bars before the room) and
furniture (occlusion edges), no fog, noise, mirrors or glass, the same scenes as
benchmarks/mesh_quality.py; each has its own field of view (50-95°). The true normal of every pixel
comes from the renderer's geometry (`data.synthetic.render.surface_normals`), not from depth.

Rows (normals estimated from depth, compared with the true normals pixel by pixel, pooled over scenes):

- `camera-aware` (`normals.depth_to_normals`, this toolkit) with the scene's true camera;
- `camera-aware, 60° default camera`: the same with the field of view a photo without EXIF gets;
- `image-space gradients`: (∂z/∂u, ∂z/∂v, -1) normalised, what a script without the camera computes;

each on the true depth and on the built-in metric model's depth (`default-metric`, scaled by its median
ratio to the true depth, so the figures measure shape, not the small model's scale error).

Columns: mean and median angle in degrees, the share of pixels within 11.25° and 30°, and the mean
angle at occlusion edges (pixels that `mesh.depth_edges` marks on the true depth).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from machine import machine_header  # date, CPU and versions above every table

import depth_anything
from depth_anything.data.synthetic import SynthConfig, render, sample_rng, sample_scene
from depth_anything.data.synthetic.render import surface_normals
from depth_anything.geometry import Intrinsics
from depth_anything.mesh import depth_edges
from depth_anything.normals import angular_error_deg, depth_to_normals

SCENE_CONFIG = dict(indoor_fraction=1.0, fence_probability=1.0, mirror_probability=0.0, glass_probability=0.0,
                    fog_probability=0.0, noise_probability=0.0)  # as benchmarks/mesh_quality.py


def image_space_normals(depth: np.ndarray) -> np.ndarray:
    """Normals from the depth map's pixel gradients alone, as a script that ignores the camera makes them."""
    z = np.where(depth > 0, depth.astype(np.float64), np.nan)
    dz_dv, dz_du = np.gradient(z)
    normals = np.stack([dz_du, dz_dv, -np.ones_like(z)], axis=-1)
    return normals / np.linalg.norm(normals, axis=-1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12, help="scenes (default %(default)s)")
    parser.add_argument("--size", default="256x192", help="WIDTHxHEIGHT (default %(default)s)")
    parser.add_argument("--seed", type=int, default=2300, help="scene seed (default %(default)s)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    config = SynthConfig(width=width, height=height, **SCENE_CONFIG)
    predictor = depth_anything.open_predictor("default-metric")
    print(machine_header())
    print(f"{args.count} indoor scenes at {width}x{height} (seed {args.seed}); default-metric at input size "
          f"{predictor.input_size}, median-scaled\n")
    errors: dict[tuple[str, str], list[np.ndarray]] = {}
    edge_errors: dict[tuple[str, str], list[np.ndarray]] = {}
    fovs = []
    start = time.perf_counter()
    for index in range(args.count):
        scene = sample_scene(sample_rng(args.seed, index), config)
        rendered = render(scene)
        truth = surface_normals(scene)
        valid = rendered.valid
        true_depth = np.where(valid, rendered.depth, 0).astype(np.float32)
        raw = predictor.predict_one(rendered.image)
        scale = float(np.median(true_depth[valid] / raw[valid]))
        model_depth = np.where(valid, raw * scale, 0).astype(np.float32)
        camera = scene.camera.intrinsics
        fovs.append(np.degrees(2 * np.arctan(width / (2 * camera.fx))))
        default_camera = Intrinsics.from_fov(width, height, 60.0)
        edges = depth_edges(true_depth) & valid
        for source, depth in (("true depth", true_depth), ("model", model_depth)):
            for method, normals in (
                ("camera-aware", depth_to_normals(depth, camera)),
                ("camera-aware, 60° default camera", depth_to_normals(depth, default_camera)),
                ("image-space gradients", image_space_normals(depth)),
            ):
                error = angular_error_deg(normals, truth)
                errors.setdefault((source, method), []).append(error[valid])
                edge_errors.setdefault((source, method), []).append(error[edges])
    elapsed = time.perf_counter() - start
    print(f"true fields of view: {min(fovs):.0f}° to {max(fovs):.0f}° (median {np.median(fovs):.0f}°)\n")
    print("| depth | normals | mean ° | median ° | ≤ 11.25° | ≤ 30° | mean ° at occlusion edges | pixels with a normal |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (source, method), parts in errors.items():
        error = np.concatenate(parts)
        finite = error[np.isfinite(error)]
        edge = np.concatenate(edge_errors[(source, method)])
        print(f"| {source} | {method} | {finite.mean():.1f} | {np.median(finite):.1f} | "
              f"{100 * np.mean(finite <= 11.25):.0f} % | {100 * np.mean(finite <= 30):.0f} % | "
              f"{np.nanmean(edge):.1f} | {100 * finite.size / error.size:.1f} % |")
    print(f"\n{elapsed:.0f} s in all (rendering, the model and the normals; a shared machine)")


if __name__ == "__main__":
    main()
