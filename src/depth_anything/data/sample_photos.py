"""Unlabeled real photos that installed packages ship, for the pseudo-label stage of the default model.

The paper's students learn from millions of unlabeled real images; offline, the real photos inside
scikit-image, scikit-learn and matplotlib are what a fresh machine has. Random crops (scale, aspect,
position) and mirror images of them make a few hundred distinct training views. None of these photos
comes with ground-truth depth: the Middlebury motorcycle that scikit-image also ships (left, right and
disparity) is the real-image evaluation and is deliberately absent here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..io import load_image, save_image

log = logging.getLogger(__name__)

# (package, path inside the package) of real photographs without ground-truth depth.
SHIPPED_PHOTOS: tuple[tuple[str, str], ...] = (
    ("skimage.data", "astronaut.png"),
    ("skimage.data", "coffee.png"),
    ("skimage.data", "chelsea.png"),
    ("skimage.data", "rocket.jpg"),
    ("skimage.data", "camera.png"),
    ("sklearn.datasets", "images/china.jpg"),
    ("sklearn.datasets", "images/flower.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
)
# Real images with ground truth: evaluation only, never in a training set.
EVALUATION_ONLY = ("motorcycle_left.png", "motorcycle_right.png", "motorcycle_disp.npz")


def shipped_photo_paths() -> list[Path]:
    """The shipped photos present on this machine (a package that is not installed is left out)."""
    import importlib.util

    paths = []
    for package, relative in SHIPPED_PHOTOS:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            log.info("package %s is not installed; its photo %s is left out", package, relative)
            continue
        path = Path(spec.origin).parent / relative
        if package == "matplotlib" and not path.is_file():
            import matplotlib

            path = Path(matplotlib.get_data_path()) / relative.removeprefix("mpl-data/")
        if path.is_file():
            paths.append(path)
    assert not any(p.name in EVALUATION_ONLY for p in paths)
    return paths


def random_view(rgb: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random crop (10-100 % of the area, aspect 3:4 to 4:3), mirrored half the time, resized so
    its shorter side is `size`."""
    import cv2

    h, w = rgb.shape[:2]
    area = rng.uniform(0.1, 1.0) * h * w
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch = int(min(h, round(np.sqrt(area / aspect))))
    cw = int(min(w, round(np.sqrt(area * aspect))))
    top = int(rng.integers(0, h - ch + 1))
    left = int(rng.integers(0, w - cw + 1))
    crop = rgb[top:top + ch, left:left + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    scale = size / min(ch, cw)
    out_w, out_h = max(size, round(cw * scale)), max(size, round(ch * scale))
    return cv2.resize(np.ascontiguousarray(crop), (out_w, out_h), interpolation=cv2.INTER_AREA)


def write_photo_views(out: Path, views_per_photo: int, size: int, seed: int = 0) -> list[Path]:
    """Write `views_per_photo` random views of each shipped photo to `out` as PNG_NNN.png files (what
    `depth-anything sample-photos` runs)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, path in enumerate(shipped_photo_paths()):
        rgb = load_image(path)  # H×W×3 uint8 whatever the file's mode
        rng = np.random.default_rng([seed, k])
        views = [random_view(rgb, rng, size) for _ in range(views_per_photo)]
        for i, view in enumerate(views):
            target = out / f"{path.stem}_{i:03d}.png"
            save_image(target, view)
            written.append(target)
    return written
