"""The video page's pictures, made by today's code on a rendered camera sequence (exact depth known):

- `video_strip.png`: frames of the sequence beside the built-in model's per-frame depth, the same after
  the flow stabiliser, and (when a temporal model is installed, e.g. `--temporal default-video`) its
  depth; each column coloured with one range for the whole sequence, so flicker shows as colour change;
- `video_pixel.png`: one pixel's disparity over time: ground truth, per-frame, stabilised (and temporal),
  each prediction mapped to the ground truth by one scale and shift for the whole sequence (VDA's
  protocol), so what remains is the prediction's own wobble.

    python tools/video_pictures.py --out assets/ [--seed 2027] [--index 0] [--frames 32] [--temporal NAME]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from depth_anything.alignment import fit_scale_shift
from depth_anything.data.synthetic.generate import SynthConfig
from depth_anything.data.synthetic.sequence import generate_sequence
from depth_anything.inference.stabilize import FlowStabilizer
from depth_anything.io import save_image
from depth_anything.loading import open_predictor
from depth_anything.pictures import colorize_depth, grid, label_picture

SHOWN_FRAMES = 5


def aligned(disparity: np.ndarray, gt_disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """`disparity` (T×H×W) mapped to the ground truth by one scale and shift for the whole sequence."""
    scale, shift = fit_scale_shift(disparity, gt_disparity, valid)
    return (scale * disparity + shift).astype(np.float32)


def temporal_disparity(name: str, images: np.ndarray) -> np.ndarray | None:
    """A temporal model's disparity for the sequence, or None when `name` is not installed."""
    from depth_anything.errors import WeightsNotFoundError
    from depth_anything.inference.video_windows import iter_video_depth
    from depth_anything.weights import load_model

    try:
        model = load_model(name)
    except WeightsNotFoundError as exc:
        print(f"no temporal column: {exc}")
        return None
    return np.stack(list(iter_video_depth(model, iter(images), model.input_spec.input_size)))


def pixel_plot(path: Path, series: dict[str, np.ndarray], pixel: tuple[int, int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    styles = {"ground truth": dict(color="black", linewidth=2.2), "per-frame": dict(color="tab:red"),
              "stabilised": dict(color="tab:blue"), "temporal": dict(color="tab:green")}
    for name, values in series.items():
        axes.plot(np.arange(len(values)), values, label=name, marker="." if name != "ground truth" else None,
                  **styles.get(name, {}))
    axes.set_xlabel("frame")
    axes.set_ylabel("disparity (1/m), aligned per sequence")
    axes.set_title(f"one pixel (row {pixel[0]}, column {pixel[1]}) over time")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("assets"))
    parser.add_argument("--seed", type=int, default=2027, help="sequence set (not the training seed)")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=256, help="rendered frame side")
    parser.add_argument("--model", default="default", help="the per-frame model")
    parser.add_argument("--temporal", default="default-video", help="a temporal model, shown when installed")
    args = parser.parse_args()

    sequence = generate_sequence(args.seed, args.index, args.frames, SynthConfig(width=args.size, height=args.size))
    valid = sequence.valid & (sequence.depth > 0)
    gt = np.where(valid, 1.0 / np.maximum(sequence.depth, 1e-6), 0.0).astype(np.float32)
    predictor = open_predictor(args.model)
    per_frame = np.stack(predictor.predict(list(sequence.images)))
    stabiliser = FlowStabilizer()
    stabilised = np.stack([stabiliser(image, depth) for image, depth in zip(sequence.images, per_frame, strict=True)])
    columns = {"per-frame": aligned(per_frame, gt, valid), "stabilised": aligned(stabilised, gt, valid)}
    temporal = temporal_disparity(args.temporal, sequence.images) if args.temporal else None
    if temporal is not None:
        columns["temporal"] = aligned(temporal, gt, valid)

    low, high = np.percentile(gt[valid], [1, 99])  # one range for every column and frame
    shown = np.linspace(0, args.frames - 1, SHOWN_FRAMES).round().astype(int)
    cells = []
    for t in shown:
        cells.append(label_picture(sequence.images[t], f"frame {t}"))
        for name, values in columns.items():
            cells.append(label_picture(colorize_depth(values[t], value_range=(low, high)), name))
    args.out.mkdir(parents=True, exist_ok=True)
    save_image(args.out / "video_strip.png", grid(cells, columns=1 + len(columns)))
    print(f"wrote {args.out / 'video_strip.png'}")

    rows, cols = np.nonzero(valid.all(axis=0))  # pixels that see the scene in every frame
    centre = (args.size / 2, args.size / 2)
    pick = int(np.argmin((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2))  # the one nearest the centre
    pixel = (int(rows[pick]), int(cols[pick]))
    series = {"ground truth": gt[:, pixel[0], pixel[1]]}
    series.update({name: values[:, pixel[0], pixel[1]] for name, values in columns.items()})
    pixel_plot(args.out / "video_pixel.png", series, pixel)
    for name, values in columns.items():
        wobble = np.abs(np.diff(values[:, pixel[0], pixel[1]])).mean()
        print(f"{name}: mean change between frames at the pixel {wobble:.4f} (ground truth "
              f"{np.abs(np.diff(series['ground truth'])).mean():.4f})")


if __name__ == "__main__":
    main()
