"""The README figure of the default model: real photos beside the teacher's and the student's depth.

  python tools/default_model_figure.py --teacher runs/default/teacher/model.pt --student default \
      --out assets/default_model_photos.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from depth_anything.data.sample_photos import shipped_photo_paths
from depth_anything.eval.middlebury import load_motorcycle
from depth_anything.io import load_image, save_image
from depth_anything.loading import open_predictor
from depth_anything.pictures import colorize_depth, fit_height, grid, label_picture

PHOTOS = ("coffee", "chelsea", "rocket", "china", "grace_hopper")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--student", default="default")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--height", type=int, default=160)
    args = parser.parse_args()
    by_stem = {p.stem: p for p in shipped_photo_paths()}
    images = [load_image(by_stem[name]) for name in PHOTOS if name in by_stem]
    images.append(load_motorcycle()[0])  # the evaluation photo: shown, never trained on
    names = [name for name in PHOTOS if name in by_stem] + ["motorcycle (eval only)"]
    columns = []
    for label, model in (("teacher", args.teacher), ("student", args.student)):
        predictor = open_predictor(model, device="cpu")
        columns.append((label, predictor.predict(images)))
    cells = []
    for i, image in enumerate(images):
        cells.append(label_picture(fit_height(image, args.height), names[i]))
        for label, maps in columns:
            cells.append(label_picture(fit_height(colorize_depth(np.asarray(maps[i])), args.height), label))
    save_image(args.out, grid(cells, columns=1 + len(columns)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
