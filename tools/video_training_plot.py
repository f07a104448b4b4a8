"""The loss curves of a temporal training run, for the docs: training loss and its temporal term, and the
validation TAE and δ1 on held-out sequences, against the step.

  python tools/video_training_plot.py --run runs/default_video --out assets/video_training.png \
      --config configs/default_video.yaml

With `--config`, the run's network before training (step 0: the image model, motion modules at zero) is
scored by the same validation and drawn at step 0.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_columns(path: Path, columns: tuple[str, ...]) -> dict[str, list[float]]:
    """`columns` of a run's CSV log as floats (rows with an empty value left out of that column)."""
    out: dict[str, list[float]] = {name: [] for name in ("step", *columns)}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if all(row.get(name) for name in columns):
                for name in ("step", *columns):
                    out[name].append(float(row[name]))
    return out


def step_zero(config_path: Path) -> dict[str, float]:
    """Validation scores of the config's untrained temporal network (what the trainer's validation reports)."""
    from depth_anything.train.config import load_config
    from depth_anything.train.distributed import init_distributed
    from depth_anything.train.temporal import ClipValidator, build_temporal_model

    config = load_config(config_path)
    env, device = init_distributed("cpu")
    return ClipValidator(config, env, device, None)(build_temporal_model(config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the run's output folder (metrics.csv, val.csv)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", type=Path, help="the run's config: also score and draw step 0")
    args = parser.parse_args()
    train = read_columns(args.run / "metrics.csv", ("loss", "ssi", "gradient", "temporal"))
    val = read_columns(args.run / "val.csv", ("tae", "d1"))
    if args.config is not None:
        start = step_zero(args.config)
        print(f"step 0: TAE {start['tae']:.4f}, δ1 {start['d1']:.4f}")
        for name, value in (("step", 0.0), ("tae", start["tae"]), ("d1", start["d1"])):
            val[name].insert(0, value)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(train["step"], train["loss"], label="total loss", color="tab:blue")
    left.plot(train["step"], train["ssi"], label="SSI (per frame)", color="tab:green", alpha=0.8)
    left.plot(train["step"], [10 * t for t in train["temporal"]], label="10 × TGM (per clip)", color="tab:red")
    left.set_xlabel("step")
    left.set_title("training (means over each logged window)")
    left.legend()
    right.plot(val["step"], val["tae"], "o-", color="tab:red", label="TAE ↓")
    right.set_xlabel("step")
    right.set_ylabel("TAE (×100)")
    twin = right.twinx()
    twin.plot(val["step"], val["d1"], "s--", color="tab:green", label="δ1 ↑")
    twin.set_ylabel("δ1")
    right.set_title("validation: held-out rendered sequences")
    right.legend(handles=right.get_lines() + twin.get_lines(), loc="center right")
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
