"""Dense metric depth from sparse or stereo metric data, on rendered scenes with exact depth (not a test).

    python benchmarks/metric_alignment.py [--count 10] [--frames 10] [--size 256x192] [--seed 3000]
                                          [--plot assets/metric_alignment.png]

Renders `--count` indoor camera sequences with the synthetic engine (exact z-depth; a seed no training run
uses) and compares, against that depth on every valid pixel (AbsRel and δ1 < 1.25):

- **raw stereo**: an OAK-D-like stereo pair simulated from the exact depth: 7.5 cm baseline, the focal length
  of a 640-pixel-wide image, disparity noise 0.15 px (so depth noise grows with depth squared), 1 % of
  pixels mismatched (uniform random disparity), holes where the right camera cannot see the point
  (occlusion, out of the image), on textureless surfaces (local contrast below a threshold) and beyond
  10 m. Scored on the pixels it measures (its coverage is printed);
- **built-in model aligned to the stereo** (`alignment.align_to_metric`, robust scale and shift in
  disparity), per frame and with `TemporalAlignment` (momentum 0.8) over each sequence; scored on all
  pixels and on the stereo's holes alone; frame-to-frame scale jitter = mean |Δ log median(pred/gt)|;
- **built-in model aligned to N sparse points** (exact depth with 1 % noise, e.g. projected LiDAR), for
  N = 10 ... 3000;
- **the built-in metric model** (`default-metric`, indoor) as it comes, and aligned the same ways;
- **the ceiling**: the built-in model aligned to the exact depth of every pixel (least squares in
  disparity), the best any scale and shift can make of its prediction.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from machine import machine_header  # date, CPU and versions above every table

from depth_anything.alignment import TemporalAlignment, align_to_metric, fill_holes
from depth_anything.data.synthetic import SynthConfig
from depth_anything.data.synthetic.sequence import generate_sequence
from depth_anything.loading import open_predictor

BASELINE_M = 0.075  # OAK-D
STEREO_WIDTH = 640  # the stereo pair's width in pixels: its focal length is the render's scaled to this
DISPARITY_NOISE_PX = 0.15
MISMATCH_FRACTION = 0.01
TEXTURE_THRESHOLD = 4.0  # grey-level standard deviation in a 7×7 window below which stereo finds no match
STEREO_RANGE_M = 10.0
SPARSE_COUNTS = (10, 30, 100, 300, 1000, 3000)
SPARSE_NOISE = 0.01


def simulate_stereo(
    image: np.ndarray, depth: np.ndarray, valid: np.ndarray, fx: float, rng: np.random.Generator
) -> np.ndarray:
    """Stereo depth in metres (0 = hole) as an OAK-D would measure the rendered view (see the docstring)."""
    height, width = depth.shape
    focal = fx * STEREO_WIDTH / width
    disparity = np.where(valid, focal * BASELINE_M / np.maximum(depth, 1e-6), 0.0)  # in stereo-width pixels
    shift = disparity * width / STEREO_WIDTH  # the same disparity in this image's pixels
    columns = np.arange(width)[None, :] - shift
    target = np.round(columns).astype(int)
    holes = ~valid | (target < 0) | (depth > STEREO_RANGE_M)
    for row in range(height):  # z-buffer into the right view: the nearest surface (largest disparity) wins
        seen = np.full(width, -np.inf)
        inside = (target[row] >= 0) & valid[row]
        np.maximum.at(seen, target[row][inside], disparity[row][inside])
        hidden = np.zeros(width, bool)
        hidden[inside] = disparity[row][inside] < seen[target[row][inside]] - 0.5
        holes[row] |= hidden
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (7, 7))
    contrast = np.sqrt(np.maximum(cv2.blur(grey * grey, (7, 7)) - mean * mean, 0.0))
    holes |= contrast < TEXTURE_THRESHOLD
    measured = disparity + rng.normal(0.0, DISPARITY_NOISE_PX, disparity.shape)
    wrong = rng.random(disparity.shape) < MISMATCH_FRACTION
    measured[wrong] = rng.uniform(
        focal * BASELINE_M / STEREO_RANGE_M, disparity.max() + 1.0, int(wrong.sum())
    )
    holes |= measured <= focal * BASELINE_M / STEREO_RANGE_M
    return np.where(holes, 0.0, focal * BASELINE_M / np.maximum(measured, 1e-6)).astype(np.float32)


def sparse_points(depth: np.ndarray, valid: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` pixels of exact depth with 1 % noise, the rest 0."""
    sparse = np.zeros_like(depth)
    picks = rng.choice(np.flatnonzero(valid), size=min(count, int(valid.sum())), replace=False)
    sparse.flat[picks] = depth.flat[picks] * (1.0 + rng.normal(0.0, SPARSE_NOISE, picks.size))
    return sparse


def scores(prediction: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(AbsRel, δ1) of metric `prediction` on `mask`."""
    p, t = prediction[mask].astype(np.float64), truth[mask].astype(np.float64)
    ratio = np.maximum(p / t, t / np.maximum(p, 1e-9))
    return float(np.mean(np.abs(p - t) / t)), float(np.mean(ratio < 1.25))


class Tally:
    """Per-method sums of AbsRel and δ1 over frames (each frame weighs the same)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[float, float]]] = {}

    def add(self, name: str, value: tuple[float, float]) -> None:
        self.rows.setdefault(name, []).append(value)

    def mean(self, name: str) -> tuple[float, float]:
        values = np.asarray(self.rows[name])
        return float(values[:, 0].mean()), float(values[:, 1].mean())

    def median_absrel(self, name: str) -> float:
        """The median frame's AbsRel: a few scenes where a method fails weigh less than in the mean."""
        return float(np.median(np.asarray(self.rows[name])[:, 0]))


def scale_jitter(predictions: list[np.ndarray], truths: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Mean |Δ log median(prediction / truth)| between consecutive frames: how much the scale flickers."""
    logs = [np.log(np.median(p[m] / t[m])) for p, t, m in zip(predictions, truths, masks, strict=True)]
    return float(np.mean(np.abs(np.diff(logs)))) if len(logs) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", default="256x192")
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--plot", default=None, help="write the error-against-N plot here (PNG)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    config = SynthConfig(width=width, height=height, indoor_fraction=1.0)
    relative, metric = open_predictor("default"), open_predictor("default-metric")
    rng = np.random.default_rng(args.seed)
    tally, coverage = Tally(), []
    jitter: dict[str, list[float]] = {"per frame": [], "smoothed (0.8)": []}
    for index in range(args.count):
        sequence = generate_sequence(args.seed, index, args.frames, config)
        frames = list(sequence.images)
        relative_maps, metric_maps = relative.predict(frames), metric.predict(frames)
        smoothing = TemporalAlignment(momentum=0.8)
        kept: dict[str, list[np.ndarray]] = {"per frame": [], "smoothed (0.8)": [], "truth": [], "mask": []}
        for t in range(args.frames):
            truth, valid = sequence.depth[t], sequence.valid[t] & (sequence.depth[t] > 0)
            stereo = simulate_stereo(frames[t], truth, valid, float(sequence.intrinsics[t][0, 0]), rng)
            measured = stereo > 0
            coverage.append(float(measured[valid].mean()))
            holes = valid & ~measured
            tally.add("raw stereo (its pixels)", scores(stereo, truth, valid & measured))
            per_frame = align_to_metric(relative_maps[t], stereo).depth
            smoothed = smoothing(relative_maps[t], stereo).depth
            tally.add("default aligned to stereo, per frame", scores(per_frame, truth, valid))
            tally.add("default aligned to stereo, smoothed", scores(smoothed, truth, valid))
            if holes.any():
                tally.add("default aligned to stereo: stereo holes only", scores(per_frame, truth, holes))
            filled = fill_holes(stereo, per_frame)
            tally.add("stereo, holes filled by the aligned map", scores(filled, truth, valid))
            oracle = align_to_metric(relative_maps[t], np.where(valid, truth, 0.0), robust=False).depth
            tally.add("default aligned to exact depth at every pixel (ceiling)", scores(oracle, truth, valid))
            tally.add("default-metric as it comes", scores(metric_maps[t], truth, valid))
            tally.add(
                "default-metric aligned to stereo",
                scores(align_to_metric(metric_maps[t], stereo, kind="depth").depth, truth, valid),
            )
            for count in SPARSE_COUNTS:
                sparse = sparse_points(truth, valid, count, rng)
                tally.add(
                    f"default + {count} points",
                    scores(align_to_metric(relative_maps[t], sparse).depth, truth, valid),
                )
                tally.add(
                    f"default-metric + {count} points",
                    scores(align_to_metric(metric_maps[t], sparse, kind="depth").depth, truth, valid),
                )
            kept["per frame"].append(per_frame)
            kept["smoothed (0.8)"].append(smoothed)
            kept["truth"].append(truth)
            kept["mask"].append(valid)
        for name in jitter:
            jitter[name].append(scale_jitter(kept[name], kept["truth"], kept["mask"]))
    print(machine_header())
    print(
        f"{args.count} rendered indoor sequences × {args.frames} frames at {width}×{height} (seed {args.seed}); "
        f"stereo coverage {100 * np.mean(coverage):.0f} % of valid pixels\n"
    )
    print("| method | AbsRel (mean) | AbsRel (median frame) | δ1 |\n|---|---|---|---|")
    for name in tally.rows:
        if " points" in name:
            continue
        absrel, delta = tally.mean(name)
        print(f"| {name} | {absrel:.4f} | {tally.median_absrel(name):.4f} | {delta:.3f} |")
    print(
        "\n| sparse points N | default aligned: AbsRel | δ1 | default-metric aligned: AbsRel | δ1 |\n|---|---|---|---|---|"
    )
    for count in SPARSE_COUNTS:
        a, b = tally.mean(f"default + {count} points"), tally.mean(f"default-metric + {count} points")
        print(f"| {count} | {a[0]:.4f} | {a[1]:.3f} | {b[0]:.4f} | {b[1]:.3f} |")
    print(
        "\n| stereo alignment over a sequence | scale jitter (mean abs. change of log median ratio per frame) |\n|---|---|"
    )
    for name, values in jitter.items():
        print(f"| {name} | {np.mean(values):.4f} |")
    if args.plot:
        write_plot(Path(args.plot), tally)


def write_plot(path: Path, tally: Tally) -> None:
    """AbsRel against the number of sparse points, with the stereo and metric-model levels as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.0, 4.2), dpi=120)
    counts = list(SPARSE_COUNTS)
    axis.plot(
        counts, [tally.mean(f"default + {n} points")[0] for n in counts], "o-", label="default + N points"
    )
    axis.plot(
        counts,
        [tally.mean(f"default-metric + {n} points")[0] for n in counts],
        "s-",
        label="default-metric + N points",
    )
    levels = [
        ("raw stereo (its pixels)", "k", ":"),
        ("default aligned to stereo, per frame", "tab:green", "--"),
        ("default aligned to exact depth at every pixel (ceiling)", "tab:blue", ":"),
        ("stereo, holes filled by the aligned map", "tab:olive", "-."),
        ("default-metric as it comes", "tab:red", "--"),
    ]
    for name, colour, style in levels:
        axis.axhline(tally.mean(name)[0], color=colour, linestyle=style, label=name)
    axis.set_xscale("log")
    axis.set_xlabel("sparse metric points per frame (N)")
    axis.set_ylabel("AbsRel against exact depth")
    axis.set_title("Dense metric depth from sparse / stereo data (rendered indoor scenes)")
    axis.grid(True, which="both", alpha=0.3)
    axis.set_ylim(0.0, None)
    axis.legend(fontsize=7, loc="center right", framealpha=0.9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    print(f"\nplot written to {path}")


if __name__ == "__main__":
    main()
