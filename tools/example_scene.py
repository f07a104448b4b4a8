"""The hand-placed living room that renders `assets/example.png`, the quick start's input image: framed
photos, a mirror, glass, a wire fence and thin rods, so it also makes a stable visual check of the
synthetic renderer (tests/data/test_synthetic_render.py renders it small).

  python tools/example_scene.py --out assets/example.png     # 1280×960 rendered, halved for anti-aliasing
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from depth_anything.data.synthetic.render import render
from depth_anything.data.synthetic.scene import (
    Camera,
    Cutout,
    Light,
    Material,
    Primitive,
    Scene,
    box,
    cylinder,
    quad,
    room,
    sphere,
)
from depth_anything.data.synthetic.textures import load_photo
from depth_anything.io import save_image


def example_scene(width: int = 640, height: int = 480) -> Scene:
    """A fixed, hand-placed living room with framed photos, a mirror, glass and thin structure.

    Rendered at twice the size and halved, it is `assets/example.png` (see `main`).
    """
    rng = np.random.default_rng(2406)

    def noise(a: tuple[float, float, float], b: tuple[float, float, float], scale: float, detail: float = 0.2) -> Material:
        return Material("noise", np.power(a, 2.2), np.power(b, 2.2), scale=scale,
                        lattice=rng.random((32, 32)).astype(np.float32), detail=detail)

    def framed(name: str, center: list[float], normal: list[float], half_w: float) -> list[Primitive]:
        h, w = load_photo(name).shape[:2]
        half_h = half_w * h / w
        n = np.asarray(normal, np.float64)
        photo = Material("photo", scale=2 * half_w, photo=name, offset=(0.5, 0.5))
        frame = Material("solid", np.power((0.12, 0.1, 0.08), 2.2))
        return [quad(np.asarray(center) + 0.012 * n, n, half_w, half_h, photo, role="picture"),
                quad(np.asarray(center) + 0.006 * n, n, half_w + 0.04, half_h + 0.04, frame, role="frame")]

    hx, hy, h = 3.2, 4.0, 2.8
    wall = noise((0.86, 0.82, 0.74), (0.78, 0.74, 0.66), 0.8, 0.1)
    floor = Material("stripes", np.power((0.55, 0.36, 0.2), 2.2), np.power((0.47, 0.3, 0.16), 2.2), scale=0.18,
                     lattice=rng.random((32, 32)).astype(np.float32), detail=0.25)
    prims = [
        room([0, 0, h / 2], [hx, hy, h / 2 + 0.01], wall),
        quad([0, 0, 0], [0, 0, 1], hx, hy, floor, role="floor"),
        quad([0, 0, h], [0, 0, -1], hx, hy, Material("solid", np.full(3, 0.8, np.float32)), role="ceiling"),
        quad([0.3, 0.9, 0.004], [0, 0, 1], 1.3, 0.9, Material("checker", np.power((0.6, 0.15, 0.12), 2.2),
                                                                np.power((0.85, 0.75, 0.55), 2.2), scale=0.25),
             role="rug"),
    ]
    prims[1].casts_shadow = prims[2].casts_shadow = prims[3].casts_shadow = False
    prims += framed("astronaut", [-1.1, hy, 1.65], [0, -1, 0], 0.45)
    prims += framed("coffee", [0.3, hy, 1.6], [0, -1, 0], 0.38)
    prims += framed("chelsea", [-hx, 1.6, 1.55], [1, 0, 0], 0.42)
    prims.append(quad([1.75, hy - 0.02, 1.45], [0, -1, 0], 0.45, 0.75, Material("solid", np.full(3, 0.92, np.float32),
                                                                            surface="mirror"), role="mirror"))
    # table with thin legs, things on it
    wood = noise((0.42, 0.26, 0.14), (0.3, 0.18, 0.1), 0.15, 0.2)
    top = 0.74
    prims.append(box([0.2, 1.2, top], [0.75, 0.45, 0.025], wood))
    for sx in (-1, 1):
        for sy in (-1, 1):
            foot = np.array([0.2 + sx * 0.68, 1.2 + sy * 0.38, 0.0])
            prims.append(cylinder(foot, foot + [0, 0, top - 0.02], 0.022, wood, role="thin"))
    prims.append(sphere([-0.15, 1.1, top + 0.025 + 0.14], 0.14, Material("solid", np.power((0.1, 0.35, 0.75), 2.2))))
    prims.append(cylinder([0.45, 1.3, top + 0.025], [0.45, 1.3, top + 0.3], 0.07, noise((0.9, 0.88, 0.8), (0.7, 0.2, 0.15), 0.05)))
    prims.append(box([0.65, 1.05, top + 0.075], [0.12, 0.09, 0.05], Material("checker", np.power((0.9, 0.8, 0.2), 2.2),
                                                                            np.power((0.2, 0.5, 0.25), 2.2), scale=0.04), 0.4))
    # a floor lamp (thin pole), a shelf of boards on rods, a glass screen, a wire grid divider
    prims.append(cylinder([-2.3, 2.6, 0], [-2.3, 2.6, 1.6], 0.012, Material("solid", np.full(3, 0.05, np.float32)), role="thin"))
    prims.append(cylinder([-2.3, 2.6, 1.55], [-2.3, 2.6, 1.85], 0.2, noise((0.95, 0.9, 0.75), (0.85, 0.8, 0.6), 0.1)))
    shelf = noise((0.85, 0.85, 0.85), (0.7, 0.7, 0.72), 0.3, 0.05)
    for level in (0.05, 0.45, 0.85, 1.25):
        prims.append(box([2.6, 2.2, level], [0.35, 0.7, 0.012], shelf))
    for sx in (-1, 1):
        for sy in (-1, 1):
            foot = np.array([2.6 + sx * 0.34, 2.2 + sy * 0.69, 0.0])
            prims.append(cylinder(foot, foot + [0, 0, 1.27], 0.01, shelf, role="thin"))
    for k, color in enumerate(((0.7, 0.1, 0.1), (0.1, 0.3, 0.6), (0.8, 0.6, 0.1))):
        prims.append(box([2.6, 1.8 + 0.3 * k, 0.45 + 0.13], [0.1, 0.03 + 0.01 * k, 0.12 + 0.02 * k],
                         Material("solid", np.power(color, 2.2))))
    prims.append(sphere([2.6, 2.5, 0.85 + 0.012 + 0.12], 0.12, Material("photo", scale=0.8, photo="rocket")))
    prims.append(quad([-1.45, 0.2, 0.8], [0.35, -1, 0], 0.45, 0.8, Material("solid", np.power((0.8, 0.92, 0.95), 2.2),
                                                                        surface="glass"), role="glass"))
    prims.append(quad([1.6, -0.3, 0.9], [-0.6, -1, 0], 0.5, 0.9, Material("solid", np.full(3, 0.08, np.float32)),
                      Cutout((0.08, 0.08), (0.008, 0.008)), role="fence"))
    prims.append(sphere([-0.8, -0.6, 0.25], 0.25, Material("checker", np.power((0.95, 0.95, 0.95), 2.2),
                                                            np.power((0.1, 0.1, 0.1), 2.2), scale=0.1)))
    camera = Camera.look_at(width, height, 72, [-0.2, -3.3, 1.55], [0.25, 1.6, 0.85])
    lights = [Light(np.array([1.0, 0.93, 0.8], np.float32) * 1.5, position=[-0.8, 0.8, h - 0.3], falloff=4.0),
              Light(np.array([0.8, 0.85, 1.0], np.float32) * 0.8, position=[2.0, -2.5, h - 0.3], falloff=4.0)]
    return Scene(camera, prims, lights, np.array([0.16, 0.15, 0.14], np.float32), kind="indoor",
                 tags=["indoor", "mirror", "glass", "fence", "photo"])


def main() -> None:
    """Render the example scene at twice `--size` and halve it (anti-aliasing), as assets/example.png was made."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("WIDTH", "HEIGHT"))
    args = parser.parse_args()
    width, height = args.size
    image = render(example_scene(2 * width, 2 * height)).image
    save_image(args.out, cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    print(f"wrote {args.out} ({width}×{height})")


if __name__ == "__main__":
    main()
