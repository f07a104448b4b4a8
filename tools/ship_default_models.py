"""Write the trained default models into the package as safetensors (weight matrices int8 with a
per-row scale, the rest fp16; model config and input spec in the metadata), then their ONNX graphs,
which read their weights from those same files (`export.builtin`, which also records each file's
digest): src/depth_anything/_weights/.

  python tools/ship_default_models.py --relative runs/default/student/model.pt --metric runs/default/metric/model.pt
  python tools/ship_default_models.py --graphs-only      # rewrite the graphs from the shipped weights
  python tools/ship_default_models.py --video runs/default_video/model.pt   # default-video: motion modules only

`default-video` ships only its motion modules (int8): its encoder and image head are `default`'s, which
the temporal run keeps frozen (`model.motion_modules_only`); the tool refuses a model whose other weights
differ from the shipped `default`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from depth_anything.export.builtin import write_builtin_graph
from depth_anything.weights import DEFAULT_METRIC_MODEL, DEFAULT_MODEL, REGISTRY, load_model, save_safetensors
from depth_anything.weights.files import read_checkpoint
from depth_anything.weights.registry import DEFAULT_VIDEO_MODEL, builtin_dir

MOTION_MODULES = "head.motion_modules."


def ship_video(source: Path) -> None:
    """Write `default-video`'s file: the motion modules of `source`, whose encoder and image head must be
    the shipped `default`'s."""
    entry = REGISTRY[DEFAULT_VIDEO_MODEL]
    model = load_model(source, device="cpu")
    base, _ = read_checkpoint(builtin_dir() / REGISTRY[entry.base].filename)
    for key, value in model.state_dict().items():
        if key.startswith(MOTION_MODULES):
            continue
        shipped = base["depth_head." + key[5:] if key.startswith("head.") else key]
        if not torch.equal(value, shipped.to(value.dtype)):
            raise SystemExit(f"{source}: {key} differs from the shipped {entry.base!r}; train with "
                             "model.motion_modules_only: true from init: default")
    target = save_safetensors(model, builtin_dir() / entry.filename, dtype="int8", only=MOTION_MODULES)
    target.chmod(0o644)
    print(f"{DEFAULT_VIDEO_MODEL}: {source} → {target} ({target.stat().st_size / 1e6:.2f} MB, motion modules only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relative", type=Path, help="the student's model.pt")
    parser.add_argument("--metric", type=Path, help="the metric fine-tune's model.pt")
    parser.add_argument("--graphs-only", action="store_true", help="only rewrite the graphs from the shipped weights")
    parser.add_argument("--video", type=Path, help="the temporal run's model.pt: write default-video only")
    args = parser.parse_args()
    if args.video is not None:
        ship_video(args.video)
        return
    if not args.graphs_only and (args.relative is None or args.metric is None):
        parser.error("--relative and --metric are required unless --graphs-only")
    for name, source in ((DEFAULT_MODEL, args.relative), (DEFAULT_METRIC_MODEL, args.metric)):
        entry = REGISTRY[name]
        if not args.graphs_only:
            model = load_model(source, device="cpu")
            if model.config.encoder != entry.encoder or model.config.max_depth != entry.max_depth:
                raise SystemExit(f"{source}: a {model.config.encoder} model with max_depth {model.config.max_depth}, "
                                 f"but {name} is registered as {entry.encoder} with max_depth {entry.max_depth}")
            target = save_safetensors(model, builtin_dir() / entry.filename, dtype="int8")
            target.chmod(0o644)
            print(f"{name}: {source} → {target} ({target.stat().st_size / 1e6:.1f} MB), spec {model.input_spec}")
        graph = write_builtin_graph(name)  # the shipped graph, reading the file just written
        print(f"{name}: wrote {graph} ({graph.stat().st_size / 1e6:.2f} MB; its weights stay in {entry.filename})")


if __name__ == "__main__":
    main()
