"""Tiled high-resolution mode against whole-image prediction: agreement and cost, in one run.

With the built-in default model on the real photos that installed packages ship: each photo is
predicted whole at a high input size (its shorter side, rounded to the patch multiple) and tiled
(tiles of 128 and 256 px, overlap 0.25, aligned to the global prediction or to each other); AbsRel and
δ1 between the tiled and the whole-image map, measured as `benchmarks/int8_speed.py` measures int8
against fp32 (`eval.protocols.depth_agreement`: the whole-image map's disparity range taken as depths
1-10, the other aligned to it by least-squares scale and shift in disparity, compared as depth).
The default low-resolution prediction (128 px input, resized up) is the baseline. Agreement with the
whole-image map is not accuracy (that map is a prediction too), so the same predictions are also scored
against ground truth on the one real photo that has it, the Middlebury motorcycle. Then the wall time
of tiled and whole-image prediction for square random images of growing size (median of `--rounds`):
tiles cost linearly in the pixels, whole-image attention grows faster.

  python benchmarks/tiled_agreement.py [--threads 1] [--sizes 518,714,1022,1526] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from machine import machine_header  # date, CPU, matmul peak and versions above every table

from depth_anything import Predictor, Tiling, load_model
from depth_anything.data.sample_photos import shipped_photo_paths
from depth_anything.eval.middlebury import load_motorcycle, score_disparity
from depth_anything.eval.protocols import depth_agreement
from depth_anything.inference.tiling import plan_tiles
from depth_anything.io import load_image
from depth_anything.transforms import round_to_multiple

TILINGS = {
    "tile 128, global": Tiling(128, 0.25, "global"),
    "tile 128, mosaic": Tiling(128, 0.25, "mosaic"),
    "tile 256, global": Tiling(256, 0.25, "global"),
    "tile 256, mosaic": Tiling(256, 0.25, "mosaic"),
}


def agreement(pred: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """AbsRel and δ1 of `pred` against `reference` (both relative disparity), in depth space as the
    int8 agreement is (`depth_agreement`)."""
    scores = depth_agreement(reference, pred)
    return scores["abs_rel"], scores["d1"]


def timed(predictor: Predictor, image: np.ndarray) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    depth = predictor.predict_one(image)
    return depth, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: steady timings on a shared machine)")
    parser.add_argument("--sizes", default="518,714,1022,1526", help="shorter sides of the timing images")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds per size (the median is printed)")
    args = parser.parse_args()
    print(machine_header(), flush=True)
    torch.set_num_threads(args.threads)
    model = load_model(device="cpu")
    multiple = model.input_spec.size_multiple
    low = Predictor(model, prefetch=False)
    tiled = {name: Predictor(model, prefetch=False, tiling=tiling) for name, tiling in TILINGS.items()}
    low.predict_one(np.zeros((64, 64, 3), np.uint8))  # warm-up

    columns = ["low-res 128", *TILINGS]
    print(f"## Agreement with whole-image prediction at the photo's shorter side (default model, {args.threads} torch thread(s))")
    print("\nAbsRel ↓ / δ1 ↑ in depth (the whole-image disparity range as depths 1-10, least-squares scale and "
          "shift in disparity: `eval.protocols.depth_agreement`); ms per photo; tiles\n")
    print("| photo | size | whole (ms) | " + " | ".join(columns) + " |")
    print("|---|---|---:|" + "---:|" * len(columns))
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in columns}
    for path in shipped_photo_paths():
        rgb = load_image(path)
        height, width = rgb.shape[:2]
        whole_size = round_to_multiple(min(height, width), multiple, multiple)
        reference, whole_time = timed(Predictor(model, input_size=whole_size, prefetch=False), rgb)
        cells = []
        for name in columns:
            predictor = low if name == "low-res 128" else tiled[name]
            depth, seconds = timed(predictor, rgb)
            abs_rel, d1 = agreement(depth, reference)
            scores[name].append((abs_rel, d1))
            tiles = "" if predictor.tiling is None else f", {len(plan_tiles(height, width, predictor.tiling))} tiles"
            cells.append(f"{abs_rel:.3f} / {d1:.3f} ({seconds * 1000:.0f} ms{tiles})")
        print(f"| {path.name} | {width}×{height} (whole at {whole_size}) | {whole_time * 1000:.0f} | "
              + " | ".join(cells) + " |")
    medians = [f"**{statistics.median(a for a, _ in scores[n]):.3f} / {statistics.median(d for _, d in scores[n]):.3f}**"
               for n in columns]
    print("| **median** | | | " + " | ".join(medians) + " |")

    rgb, gt, valid = load_motorcycle()
    whole_size = round_to_multiple(min(rgb.shape[:2]), multiple, multiple)
    print(f"\n## Against ground truth: Middlebury motorcycle ({rgb.shape[1]}×{rgb.shape[0]})\n")
    print("| prediction | pairwise ↑ | AbsRel ↓ | δ1 ↑ |\n|---|---:|---:|---:|")
    for name in [f"whole at {whole_size}", *columns]:
        predictor = (Predictor(model, input_size=whole_size, prefetch=False) if name.startswith("whole")
                     else low if name == "low-res 128" else tiled[name])
        score = score_disparity(predictor.predict_one(rgb), gt, valid)
        print(f"| {name} | {score.pairwise:.3f} | {score.abs_rel:.3f} | {score.d1:.3f} |")

    print(f"\n## Cost against image size (square random images, median of {args.rounds} interleaved rounds)\n")
    print("| shorter side | megapixels | whole (ms) | whole ms/MP | tile 128 (ms) | tile 128 ms/MP | tiles "
          "| tile 256 (ms) | tile 256 ms/MP | tiles |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        image = np.random.default_rng(size).integers(0, 256, (size, size, 3), dtype=np.uint8)
        megapixels = size * size / 1e6
        runs = {"whole": Predictor(model, input_size=round_to_multiple(size, multiple, multiple), prefetch=False),
                "tile 128": tiled["tile 128, global"], "tile 256": tiled["tile 256, global"]}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, predictor in runs.items():
                times[name].append(timed(predictor, image)[1] * 1000)
        cells = []
        for name, predictor in runs.items():
            ms = statistics.median(times[name])
            cells.append(f"{ms:.0f} | {ms / megapixels:.0f}")
            if predictor.tiling is not None:
                cells.append(str(len(plan_tiles(size, size, predictor.tiling))))
        print(f"| {size} | {megapixels:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
