"""3-D quality on rendered scenes with exact geometry: flying points and rubber sheets before and after the
depth-edge clean-up, Chamfer distance to the true surface, and how well flip-consistency confidence ranks
depth errors (not a test).

    python benchmarks/mesh_quality.py [--count 12] [--size 256x192] [--seed 2300] [--picture assets/mesh_cleanup.png]

Scenes: `--count` indoor rooms from the synthetic engine, each with a fence (thin bars with the room
behind them) and furniture (occlusion edges); no fog, noise, mirrors or glass, so the true surface is
what the renderer's depth says. The true surface is the same view rendered at 3× the resolution (its
points sample the surfaces nine times as densely as the pixels).

Depth sources: the ground truth itself (`true depth`: its point clouds sit exactly on the surface, so
only the mesh's rubber sheet can be wrong); the ground truth at the network's resolution (`true depth
resampled`: shrunk to the model's input size and resized back bilinearly, as every prediction is, so
its edges are blurred ramps exactly like a network's, and nothing else is wrong); and the built-in
metric model `default-metric` (`model`) scaled by its median ratio to the true depth, so that the table
measures shape and edges, not the small model's scale error (its unscaled AbsRel is printed too).

- flying: points per 100 valid pixels (for meshes: the share of the area, sampled uniformly) hanging
  between surfaces: the
  point's depth lies between the nearest and the farthest true depth within 2 pixels of where it
  projects, more than 5 % away from both, and it is farther than 5 % of its depth from the true surface
  (so a point can only be flying next to a true depth edge, and a model's error elsewhere does not
  count); before (every pixel, every triangle) and after the clean-up (`depth_edges` at the default
  threshold, at the network's pixel spacing for the model as the commands do; `depth_to_mesh`).
- Chamfer: (accuracy + completeness) / 2 in centimetres: mean distance from the output to the true
  surface, and from the true surface to the output.
- dropped: the share of pixels the clean-up removes (on the true depth every one of them was correct).
- EXIF: each scene's image saved as a JPEG with the camera's focal length in EXIF as a phone writes it
  (`FocalLengthIn35mmFilm`, whole millimetres) and as a camera does (`FocalLength` in hundredths of a
  millimetre with `FocalPlaneXResolution` of a 6.17 mm wide sensor, in pixels per inch), read back
  with `camera.choose_camera`: the horizontal field of view against the renderer's, and the error of
  the 60° default for comparison (`--only-exif` prints this table alone).
- confidence: flip consistency (`inference.confidence`) against the model's per-pixel relative error:
  AUROC of telling pixels within 10 % from the others, and the sparsification curve's area (mean
  error of the pixels kept as the least confident are removed in 5 % steps) against the oracle's
  (removing the truly worst first) and a random order's.
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from machine import machine_header  # date, CPU and versions above every table
from scipy.ndimage import maximum_filter, minimum_filter
from scipy.spatial import cKDTree

import depth_anything
from depth_anything.data.synthetic import SynthConfig, render, sample_rng, sample_scene
from depth_anything.data.synthetic.scene import Camera
from depth_anything.geometry import Intrinsics, depth_to_points
from depth_anything.inference.confidence import predict_with_confidence
from depth_anything.mesh import DEFAULT_EDGE_THRESHOLD, depth_edges, depth_to_mesh, edge_spacing

FLYING_TOLERANCE = 0.05  # relative to depth
GOOD_PIXEL = 0.10  # relative depth error of a "good" pixel for the AUROC
DENSE = 3  # the true surface is rendered at this many times the resolution
THRESHOLDS = (0.02, 0.04, 0.08, 0.16)


@dataclass
class Truth:
    image: np.ndarray
    depth: np.ndarray
    intrinsics: Intrinsics
    surface: np.ndarray  # dense true points
    tree: cKDTree
    nearest: np.ndarray  # the least true depth within WINDOW pixels of each pixel
    farthest: np.ndarray  # the greatest


WINDOW = 2  # pixels around a point's pixel where the surfaces it may hang between are looked for


@dataclass
class Tally:
    """Sums over scenes of one row of the table."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **values: float) -> None:
        for key, value in values.items():
            self.values.setdefault(key, []).append(float(value))

    def mean(self, key: str) -> float:
        # nanmean: a scene without flying pixels has no AUROC for them
        return float(np.nanmean(self.values[key])) if key in self.values else float("nan")


def render_truth(seed: int, index: int, config: SynthConfig) -> Truth:
    """One scene at the test size, and its true surface from the same camera at `DENSE`× the resolution."""
    scene = sample_scene(sample_rng(seed, index), config)
    coarse = render(scene)
    camera, k = scene.camera, scene.camera.intrinsics
    dense_camera = Camera(
        camera.width * DENSE,
        camera.height * DENSE,
        Intrinsics(k.fx * DENSE, k.fy * DENSE, (k.cx + 0.5) * DENSE - 0.5, (k.cy + 0.5) * DENSE - 0.5),
        camera.position,
        camera.rotation,
    )
    dense_scene = copy.copy(scene)
    dense_scene.camera = dense_camera
    dense = render(dense_scene)
    surface, _ = depth_to_points(np.where(dense.valid, dense.depth, 0), dense_camera.intrinsics)
    depth = np.where(coarse.valid, coarse.depth, 0).astype(np.float32)
    size = 2 * WINDOW + 1
    nearest = minimum_filter(np.where(coarse.valid, depth, np.inf), size=size, mode="nearest")
    farthest = maximum_filter(np.where(coarse.valid, depth, -np.inf), size=size, mode="nearest")
    return Truth(coarse.image, depth, k, surface, cKDTree(surface), nearest, farthest)


def flying_share(points: np.ndarray, truth: Truth, distance: np.ndarray | None = None) -> np.ndarray:
    """Whether each point hangs between the true surfaces around the pixel it projects to, off the true
    surface (module doc); `distance`: each point's distance to the true surface, if known."""
    k = truth.intrinsics
    height, width = truth.depth.shape
    z = points[:, 2]
    u = np.clip(np.round(points[:, 0] / z * k.fx + k.cx).astype(int), 0, width - 1)
    v = np.clip(np.round(points[:, 1] / z * k.fy + k.cy).astype(int), 0, height - 1)
    if distance is None:
        distance, _ = truth.tree.query(points, workers=1)
    between = (z > truth.nearest[v, u] * (1 + FLYING_TOLERANCE)) & (
        z < truth.farthest[v, u] * (1 - FLYING_TOLERANCE)
    )
    return between & (distance > FLYING_TOLERANCE * z)


def flying_and_chamfer(
    points: np.ndarray, truth: Truth, completeness_points: int = 40000
) -> tuple[float, float, float]:
    """(share of flying points, accuracy cm, completeness cm) of `points`."""
    distance, _ = truth.tree.query(points, workers=1)
    flying = float(np.mean(flying_share(points, truth, distance)))
    rng = np.random.default_rng(0)
    sample = truth.surface[
        rng.choice(len(truth.surface), min(completeness_points, len(truth.surface)), replace=False)
    ]
    back, _ = cKDTree(points).query(sample, workers=1)
    return flying, 100 * float(distance.mean()), 100 * float(back.mean())


def network_resolution(depth: np.ndarray, network_side: int) -> np.ndarray:
    """`depth` as a network sees and returns it: shrunk (area) to `network_side` pixels on its shorter
    side and resized back bilinearly, as the Predictor resizes every output (`transforms.resize_depth`)."""
    import cv2

    from depth_anything.transforms import resize_depth

    height, width = depth.shape
    scale = network_side / min(height, width)
    small = cv2.resize(
        depth, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )
    return resize_depth(small.astype(np.float32), (height, width))


def mesh_samples(mesh, count: int = 60000) -> np.ndarray:
    """Points spread uniformly over the mesh's area (seeded)."""
    import trimesh

    points, _ = trimesh.sample.sample_surface(mesh, count, seed=0)
    return np.asarray(points)


def sparsification(error: np.ndarray, confidence: np.ndarray, steps: int = 20) -> float:
    """Area under the curve of the mean error of the kept pixels as the least confident are removed."""
    order = np.argsort(confidence, kind="stable")  # least confident first
    sorted_error = error[order]
    kept = []
    for step in range(steps):
        start = int(len(error) * step / steps)
        kept.append(sorted_error[start:].mean())
    return float(np.mean(kept))


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive has a higher score than a random negative (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def measure_source(depth: np.ndarray, truth: Truth, rows: dict[str, Tally], label: str, spacing: int) -> None:
    """Points and meshes of one depth map, before and after the clean-up (edges at `spacing`), into `rows`."""
    valid = np.isfinite(depth) & (depth > 0)
    edges = depth_edges(depth, DEFAULT_EDGE_THRESHOLD, spacing)
    before, _ = depth_to_points(depth, truth.intrinsics)
    after, _ = depth_to_points(depth, truth.intrinsics, keep=~edges)
    for name, points in (("points, every pixel", before), ("points, edges removed", after)):
        flying, accuracy, completeness = flying_and_chamfer(points, truth)
        flying *= len(points) / max(int(valid.sum()), 1)  # per valid pixel: removing points can only lower it
        rows.setdefault(f"{label} | {name}", Tally()).add(
            flying=flying,
            accuracy=accuracy,
            completeness=completeness,
            dropped=1 - len(points) / max(int(valid.sum()), 1),
        )
    joined = depth_to_mesh(depth, None, truth.intrinsics, edge_threshold=None)
    cut = depth_to_mesh(depth, None, truth.intrinsics, edge_spacing=spacing)
    for name, mesh in (("mesh, every triangle", joined), ("mesh, edge triangles removed", cut)):
        flying, accuracy, completeness = flying_and_chamfer(mesh_samples(mesh), truth)
        rows.setdefault(f"{label} | {name}", Tally()).add(
            flying=flying,
            accuracy=accuracy,
            completeness=completeness,
            dropped=1 - len(mesh.faces) / max(len(joined.faces), 1),
        )


def exif_fov_errors(count: int, seed: int, config: SynthConfig, folder: Path) -> dict[str, list[float]]:
    """|field of view read from EXIF - the true one| in degrees, per way of writing the focal length."""
    import math

    from PIL import Image, TiffImagePlugin

    from depth_anything.camera import choose_camera, fov_from_focal

    errors: dict[str, list[float]] = {
        "FocalLengthIn35mmFilm (whole mm)": [],
        "FocalLength + FocalPlaneXResolution": [],
        "no EXIF: the 60° default": [],
    }
    for index in range(count):
        scene = sample_scene(sample_rng(seed, index), config)
        width, height, fx = scene.camera.width, scene.camera.height, scene.camera.intrinsics.fx
        true_fov = fov_from_focal(fx, width)
        image = Image.new("RGB", (width, height), (128, 128, 128))
        f35 = round(fx * math.hypot(36, 24) / math.hypot(width, height))
        pixels_per_mm = width / 6.17
        tags = {
            "FocalLengthIn35mmFilm (whole mm)": {0xA405: f35},
            "FocalLength + FocalPlaneXResolution": {
                0x920A: TiffImagePlugin.IFDRational(round(fx / pixels_per_mm * 100), 100),
                0xA20E: TiffImagePlugin.IFDRational(round(pixels_per_mm * 25.4 * 1000), 1000),
                0xA210: 2,
            },
            "no EXIF: the 60° default": {},
        }
        for name, values in tags.items():
            exif = Image.Exif()
            for tag, value in values.items():
                exif.get_ifd(0x8769)[tag] = value
            path = folder / f"{index}.jpg"
            image.save(path, "JPEG", exif=exif)
            camera = choose_camera(width, height, path)
            errors[name].append(abs(camera.fov_deg - true_fov))
    return errors


def print_exif_table(count: int, seed: int, config: SynthConfig) -> None:
    """The EXIF table (module doc)."""
    import logging
    import tempfile

    logging.getLogger("depth_anything.camera").setLevel(
        logging.ERROR
    )  # the default's warning, once per scene
    with tempfile.TemporaryDirectory() as folder:
        errors = exif_fov_errors(count, seed, config, Path(folder))
    print("\nHorizontal field of view read from EXIF against the renderer's (degrees)")
    print("| focal length in EXIF | mean error ° | max error ° |")
    print("|---|---:|---:|")
    for name, values in errors.items():
        print(f"| {name} | {np.mean(values):.2f} | {np.max(values):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=12, help="scenes (default %(default)s)")
    parser.add_argument("--size", default="256x192", help="WIDTHxHEIGHT (default %(default)s)")
    parser.add_argument("--seed", type=int, default=2300, help="scene seed (default %(default)s)")
    parser.add_argument(
        "--picture", type=Path, default=None, help="write the side view of one scene here (PNG)"
    )
    parser.add_argument(
        "--picture-scene", type=int, default=0, help="which scene the picture shows (default 0)"
    )
    parser.add_argument("--only-exif", action="store_true", help="print only the EXIF field-of-view table")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    config = SynthConfig(
        width=width,
        height=height,
        indoor_fraction=1.0,
        fence_probability=1.0,
        mirror_probability=0.0,
        glass_probability=0.0,
        fog_probability=0.0,
        noise_probability=0.0,
    )
    if args.only_exif:
        print(machine_header())
        print_exif_table(args.count, args.seed, config)
        return
    predictor = depth_anything.open_predictor("default-metric")
    print(machine_header())
    print(
        f"{args.count} indoor scenes at {width}x{height} (seed {args.seed}), true surface rendered at {DENSE}x; "
        f"default-metric at input size {predictor.input_size}; edge threshold {DEFAULT_EDGE_THRESHOLD}\n"
    )
    rows: dict[str, Tally] = {}
    sweep: dict[float, Tally] = {}
    confidence_rows = Tally()
    start = time.perf_counter()
    for index in range(args.count):
        truth = render_truth(args.seed, index, config)
        valid = truth.depth > 0
        consistency = predict_with_confidence(predictor, truth.image)
        raw = consistency.depth
        scale = float(np.median(truth.depth[valid] / raw[valid]))
        model = np.where(valid, raw * scale, 0).astype(np.float32)  # the sky of a room: none
        spacing = edge_spacing(model.shape, predictor.input_size)
        measure_source(truth.depth, truth, rows, "true depth", 1)
        resampled = network_resolution(truth.depth, predictor.input_size)
        measure_source(resampled, truth, rows, "true depth resampled", spacing)
        measure_source(model, truth, rows, "model", spacing)
        error = np.abs(model[valid] - truth.depth[valid]) / truth.depth[valid]
        confidence = consistency.confidence[valid]
        model_points, _ = depth_to_points(model, truth.intrinsics)  # the valid pixels, in the same order
        flying_pixels = flying_share(model_points, truth)
        rng = np.random.default_rng(index)
        confidence_rows.add(
            absrel_unscaled=float(np.mean(np.abs(raw[valid] - truth.depth[valid]) / truth.depth[valid])),
            absrel=float(error.mean()),
            scale=scale,
            auroc=auroc(confidence, error <= GOOD_PIXEL),
            auroc_flying=auroc(-confidence, flying_pixels),
            auroc_flying_edges=auroc(
                depth_edges(model, DEFAULT_EDGE_THRESHOLD, spacing)[valid].astype(float), flying_pixels
            ),
            curve=sparsification(error, confidence),
            oracle=sparsification(error, -error),
            random=sparsification(error, rng.random(error.size)),
            score=consistency.score,
        )
        confident, _ = depth_to_points(model, truth.intrinsics, keep=consistency.confidence >= 0.5)
        flying, accuracy, completeness = flying_and_chamfer(confident, truth)
        flying *= len(confident) / valid.sum()
        rows.setdefault("model | points, confidence ≥ 0.5", Tally()).add(
            flying=flying,
            accuracy=accuracy,
            completeness=completeness,
            dropped=1 - len(confident) / valid.sum(),
        )
        for threshold in THRESHOLDS:
            for label, depth, at in (
                ("true", truth.depth, 1),
                ("resampled", resampled, spacing),
                ("model", model, spacing),
            ):
                kept, _ = depth_to_points(depth, truth.intrinsics, keep=~depth_edges(depth, threshold, at))
                sweep.setdefault(threshold, Tally()).add(
                    **{
                        f"{label}_flying": float(np.sum(flying_share(kept, truth))) / valid.sum(),
                        f"{label}_dropped": 1 - len(kept) / valid.sum(),
                    }
                )
        if index == args.picture_scene and args.picture is not None:
            side_view_picture(truth, resampled, model, args.picture, spacing)
    print(
        "| depth | output | flying per 100 px (mesh: % of area) ↓ | Chamfer cm ↓ | accuracy cm ↓ | completeness cm ↓ | removed |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for key, tally in rows.items():
        source, output = key.split(" | ")
        chamfer = (tally.mean("accuracy") + tally.mean("completeness")) / 2
        print(
            f"| {source} | {output} | {100 * tally.mean('flying'):.2f} | {chamfer:.2f} | {tally.mean('accuracy'):.2f} | "
            f"{tally.mean('completeness'):.2f} | {100 * tally.mean('dropped'):.1f} % |"
        )
    print(
        "\nEdge threshold (points): flying points per 100 pixels after the clean-up, and the share of pixels removed"
    )
    print(
        "| threshold | true depth: removed | resampled: flying ↓ | resampled: removed | model: flying ↓ | model: removed |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    resampled_before = rows["true depth resampled | points, every pixel"].mean("flying")
    model_before = rows["model | points, every pixel"].mean("flying")
    print(f"| none | 0.0 % | {100 * resampled_before:.2f} | 0.0 % | {100 * model_before:.2f} | 0.0 % |")
    for threshold, tally in sweep.items():
        print(
            f"| {threshold:g} | {100 * tally.mean('true_dropped'):.1f} % | {100 * tally.mean('resampled_flying'):.2f} | "
            f"{100 * tally.mean('resampled_dropped'):.1f} % | {100 * tally.mean('model_flying'):.2f} | "
            f"{100 * tally.mean('model_dropped'):.1f} % |"
        )
    c = confidence_rows
    print("\nFlip-consistency confidence against the model's relative error (median-scaled)")
    print(
        "| AbsRel (unscaled) | AbsRel (scaled) | AUROC: error ≤ 10 % ↑ | AUROC: flying (confidence) ↑ "
        "| AUROC: flying (edge mask) | sparsification area: confidence ↓ | oracle | random | mean score |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {c.mean('absrel_unscaled'):.3f} | {c.mean('absrel'):.3f} | {c.mean('auroc'):.3f} | "
        f"{c.mean('auroc_flying'):.3f} | {c.mean('auroc_flying_edges'):.3f} | {c.mean('curve'):.4f} | "
        f"{c.mean('oracle'):.4f} | {c.mean('random'):.4f} | {c.mean('score'):.3f} |"
    )
    print_exif_table(args.count, args.seed, config)
    print(f"\n{time.perf_counter() - start:.0f} s")


def side_view_picture(
    truth: Truth, resampled: np.ndarray, model: np.ndarray, path: Path, spacing: int, turn_deg: float = 40.0
) -> None:
    """One scene's meshes seen from the side, every triangle vs edge triangles removed: from the true
    depth, from the true depth at the network's resolution, and from the model's (median-scaled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    rows = [
        ("true depth", truth.depth, 1),
        ("true depth resampled", resampled, spacing),
        ("model", model, spacing),
    ]
    figure, axes = plt.subplots(3, 3, figsize=(12.5, 9.3), gridspec_kw={"width_ratios": [0.8, 1, 1]})
    pivot = float(np.median(truth.depth[truth.depth > 0]))
    angle = np.radians(turn_deg)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    k = truth.intrinsics
    for row, (label, depth, at) in enumerate(rows):
        axes[row, 0].imshow(truth.image if row == 0 else depth, cmap=None if row == 0 else "turbo_r")
        axes[row, 0].set_title("rendered image" if row == 0 else f"{label} (depth)", fontsize=10)
        axes[row, 0].axis("off")
        for column, threshold in ((1, None), (2, DEFAULT_EDGE_THRESHOLD)):
            axis = axes[row, column]
            mesh = depth_to_mesh(depth, truth.image, k, edge_threshold=threshold, edge_spacing=at)
            vertices = (np.asarray(mesh.vertices) - [0, 0, pivot]) @ rotation.T + [0, 0, pivot * 1.6]
            faces = np.asarray(mesh.faces)
            corners = vertices[faces]
            front = np.all(corners[:, :, 2] > 0.05, axis=1)
            order = np.argsort(-corners[front][:, :, 2].mean(axis=1))  # far first: a painter's algorithm
            corners = corners[front][order]
            colors = mesh.vertex_attributes["color"][faces[front][order]].mean(axis=1) / 255
            projected = np.stack(
                [
                    corners[..., 0] / corners[..., 2] * k.fx + k.cx,
                    corners[..., 1] / corners[..., 2] * k.fy + k.cy,
                ],
                axis=-1,
            )
            axis.add_collection(
                PolyCollection(projected, facecolors=colors, edgecolors=colors, linewidths=0.2)
            )
            axis.set_xlim(-0.1 * depth.shape[1], 1.1 * depth.shape[1])
            axis.set_ylim(1.1 * depth.shape[0], -0.1 * depth.shape[0])
            axis.set_aspect("equal")
            axis.set_facecolor("#202020")
            axis.set_xticks([])
            axis.set_yticks([])
            what = "every triangle" if threshold is None else "edge triangles removed"
            axis.set_title(f"{label}: {what}", fontsize=10)
    figure.suptitle(f"meshes seen {turn_deg:g}° to the side of the camera", fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
