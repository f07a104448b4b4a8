"""Does the per-label quality score find bad labels, and does filtering on it help a student?

    python benchmarks/label_quality.py [--images 64] [--steps 80] [--input-size 56] [--seeds 7 8 9 10]

Rendered scenes (the synthetic engine, with their true depth) are put into shards; in a known, seeded
half of them a rectangle (a third of the width, half the height) is corrupted, so the teacher's label
there cannot describe the rendered scene: the label is corrupted in a known place. Two corruptions, each
its own set: "paste" (the same rectangle of another rendered scene: a plausible but wrong picture) and
"noise" (uniform colour noise: no depth cue at all). The built-in `default` model labels the shards with its quality
score (flip consistency). Printed:

- the AUC of the score (lower quality = more suspect) at telling corrupted images from clean ones, and
  at finding the quarter of all images whose labels are really the worst (AbsRel of the label against
  the rendered depth after affine alignment in disparity);
  one row per scene seed, and their mean;
- a tiny student (the training tests' 4-block ViT) trained on the first seed's "noise" label shards for
  the same number of steps with and without `min_quality` (the threshold keeps the better half), scored
  on clean held-out renders (AbsRel, delta1 after affine alignment); `--steps 0` skips it. Timings are
  not measured.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
from machine import machine_header

from depth_anything import Predictor, load_model
from depth_anything.data.datasets import open_dataset
from depth_anything.data.shards import read_index, write_shard
from depth_anything.data.synthetic import SynthConfig, generate_sample
from depth_anything.eval.metrics import compute_metrics
from depth_anything.eval.protocols import align_disparity_affine
from depth_anything.train.config import config_from_dict
from depth_anything.train.label_shards import label_shards
from depth_anything.train.trainer import train

TINY_STUDENT = {"encoder": "tiny", "embed_dim": 32, "depth": 4, "num_heads": 2, "layer_indices": [0, 1, 2, 3],
                "features": 16, "out_channels": [8, 16, 32, 32], "pretrain_grid": 2}
SIZE = SynthConfig(width=64, height=48, photo_fraction=0.0)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count one half): the ROC AUC."""
    pos, neg = scores[positive], scores[~positive]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def label_error(label: np.ndarray, depth: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """AbsRel and delta1 of a disparity map against true depth after affine alignment in disparity."""
    mask = valid & (depth > 0)
    scale, shift = align_disparity_affine(label.astype(np.float64), depth, mask)
    disparity = np.clip(scale * label + shift, 1.0 / 1000.0, None)
    metrics = compute_metrics(1.0 / disparity, depth, mask)
    return {"abs_rel": metrics["abs_rel"], "delta1": metrics["d1"]}


def make_shards(
    root: Path, count: int, seed: int, corruption: str
) -> tuple[list[bool], list[tuple[np.ndarray, np.ndarray]]]:
    """`count` renders in shards of 8; the seeded half with a corrupted rectangle ("paste" or "noise").
    Returns which are corrupted and each image's (depth, valid)."""
    rng = np.random.default_rng(seed)
    corrupted = list(rng.permutation(count) < count // 2)
    truth, samples = [], []
    for i in range(count):
        scene = generate_sample(seed, i, SIZE)
        image = scene.image.copy()
        if corrupted[i]:
            h, w = image.shape[0] // 2, image.shape[1] // 3
            if corruption == "paste":
                other = generate_sample(seed + 1, i, SIZE).image
            else:
                other = rng.integers(0, 256, image.shape, dtype=np.uint8)
            top, left = int(rng.integers(0, image.shape[0] - h)), int(rng.integers(0, image.shape[1] - w))
            image[top : top + h, left : left + w] = other[top : top + h, left : left + w]
        truth.append((scene.depth, scene.valid))
        ok, png = cv2.imencode(".png", image[..., ::-1])
        samples.append((f"{i:05d}", {"png": png.tobytes()}))
    for start in range(0, count, 8):
        write_shard(root / f"in-{start // 8:04d}.tar", samples[start : start + 8])
    return corrupted, truth


def train_student(labels: Path, out: Path, steps: int, min_quality: float | None) -> Path:
    """Train the tiny student on the label shards for `steps` steps; the final model file."""
    source = {"layout": "pseudo", "root": str(labels), "min_quality": min_quality, "options": {"shuffle_buffer": 16}}
    config = config_from_dict({
        "stage": "student", "model": {"config": dict(TINY_STUDENT), "feature_reference": "none"},
        "data": {"train": [source], "size": 28, "num_workers": 0},
        "optim": {"batch_size": 4, "steps": steps, "lr": 2e-4, "warmup_steps": 10},
        "loss": {"feature_weight": 0.0},
        "run": {"output_dir": str(out), "log_every": steps, "val_every": 10 * steps, "checkpoint_every": 10 * steps,
                "progress": False},
    })
    result = train(config)
    assert result.final_model is not None
    return result.final_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="rendered images labelled per set (half corrupted)")
    parser.add_argument("--steps", type=int, default=80, help="student training steps, with and without the filter")
    parser.add_argument("--input-size", type=int, default=56, help="the teacher's input size")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9, 10], help="scene seeds, one set each")
    args = parser.parse_args()
    print(machine_header())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"\nteacher: built-in default at input size {args.input_size}; {args.images} rendered images per set, "
              "half corrupted\n")
        print("| seed | corruption | AUC: corrupted images | AUC: worst quarter of labels | label AbsRel clean | "
              "label AbsRel corrupted |")
        print("|---|---|---|---|---|---|")
        table: dict[str, list[list[float]]] = {"paste": [], "noise": []}
        for seed in args.seeds:
            for corruption in ("paste", "noise"):
                corrupted, truth = make_shards(root / f"{corruption}-{seed}", args.images, seed, corruption)
                labels = root / f"labels-{corruption}-{seed}"
                label_shards("default", root / f"{corruption}-{seed}", labels, input_size=args.input_size,
                             batch_size=8, device="cpu")
                reader = open_dataset("pseudo", labels)
                quality = np.concatenate([e.quality for _, e in sorted(read_index(labels).items())])
                samples = [reader[i] for i in range(len(reader))]
                errors = np.array([label_error(s.depth, *truth[int(s.name)])["abs_rel"] for s in samples])
                is_corrupted = np.array([corrupted[int(s.name)] for s in samples])
                worst = errors >= np.quantile(errors, 0.75)
                row = [roc_auc(-quality, is_corrupted), roc_auc(-quality, worst), errors[~is_corrupted].mean(),
                       errors[is_corrupted].mean()]
                table[corruption].append(row)
                print(f"| {seed} | {corruption} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
        for corruption, rows in table.items():
            print(f"| mean | {corruption} | " + " | ".join(f"{v:.3f}" for v in np.mean(rows, axis=0)) + " |")
        if args.steps <= 0:
            return

        labels = root / f"labels-noise-{args.seeds[0]}"  # the student learns from the cue-free corruption
        quality = np.concatenate([e.quality for _, e in sorted(read_index(labels).items())])
        threshold = float(np.median(quality))
        held_out = [generate_sample(args.seeds[0] + 100, i, SIZE) for i in range(16)]
        print(f"\n| student on the noise set ({args.steps} steps, batch 4) | labels used | AbsRel | delta1 |")
        print("|---|---|---|---|")
        for name, minimum in (("no filter", None), (f"min_quality {threshold:.3f}", threshold)):
            model = train_student(labels, root / f"student-{minimum}", args.steps, minimum)
            predictor = Predictor(load_model(model, device="cpu"), "cpu", input_size=28)
            scores = [label_error(predictor.predict_one(s.image), s.depth, s.valid) for s in held_out]
            kept = len(quality) if minimum is None else int((quality >= minimum).sum())
            print(f"| {name} | {kept} | {np.mean([s['abs_rel'] for s in scores]):.3f} | "
                  f"{np.mean([s['delta1'] for s in scores]):.3f} |")


if __name__ == "__main__":
    main()
