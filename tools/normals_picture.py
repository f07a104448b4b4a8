"""The docs' picture of normal maps on a rendered scene: the image, the true normals the renderer knows,
and the normals this toolkit computes from the true depth and from the built-in metric model's depth
(with the scene's camera), plus image-space gradients for contrast.

  python tools/normals_picture.py --out assets/normals.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import depth_anything
from depth_anything.data.synthetic import SynthConfig, render, sample_rng, sample_scene
from depth_anything.data.synthetic.render import surface_normals
from depth_anything.io import save_image
from depth_anything.normals import depth_to_normals, normals_picture
from depth_anything.pictures import grid, label_picture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/normals.png"))
    parser.add_argument("--seed", type=int, default=2300, help="scene seed (as benchmarks/normals_quality.py)")
    parser.add_argument("--index", type=int, default=1, help="which scene of that seed")
    args = parser.parse_args()
    config = SynthConfig(width=320, height=240, indoor_fraction=1.0, fence_probability=1.0, mirror_probability=0.0,
                         glass_probability=0.0, fog_probability=0.0, noise_probability=0.0)
    scene = sample_scene(sample_rng(args.seed, args.index), config)
    rendered = render(scene)
    valid = rendered.valid
    true_depth = np.where(valid, rendered.depth, 0)
    raw = depth_anything.open_predictor("default-metric").predict_one(rendered.image)
    model_depth = np.where(valid, raw * np.median(true_depth[valid] / raw[valid]), 0)
    camera = scene.camera.intrinsics
    z = np.where(valid, true_depth, np.nan)
    dz_dv, dz_du = np.gradient(z)
    image_space = np.stack([dz_du, dz_dv, -np.ones_like(z)], axis=-1)
    image_space /= np.linalg.norm(image_space, axis=-1, keepdims=True)
    cells = [
        label_picture(rendered.image, "rendered image"),
        label_picture(normals_picture(surface_normals(scene)), "true normals"),
        label_picture(normals_picture(depth_to_normals(true_depth, camera)), "from true depth + camera"),
        label_picture(normals_picture(depth_to_normals(model_depth, camera)), "from default-metric + camera"),
        label_picture(normals_picture(image_space), "image-space gradients"),
        label_picture(normals_picture(depth_to_normals(true_depth, type(camera).from_fov(320, 240, 60.0))),
                      "true depth, 60 deg default camera"),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_image(args.out, grid(cells, columns=3))
    print(f"wrote {args.out} (scene {args.index} of seed {args.seed}, {np.degrees(2 * np.arctan(160 / camera.fx)):.0f}° FOV)")


if __name__ == "__main__":
    main()
