"""Write the trained default models into the package as safetensors (weight matrices int8 with a
per-row scale, the rest fp16; model config and input spec in the metadata), then their ONNX graphs,
which read their weights from those same files (`export.builtin`, which also records each file's
digest): src/depth_anything/_weights/.

  python tools/ship_default_models.py --relative runs/default/student/model.pt --metric runs/default/metric/model.pt
  python tools/ship_default_models.py --graphs-only      # rewrite the graphs from the shipped weights
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depth_anything.export.builtin import write_builtin_graph
from depth_anything.weights import DEFAULT_METRIC_MODEL, DEFAULT_MODEL, REGISTRY, load_model, save_safetensors
from depth_anything.weights.registry import builtin_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relative", type=Path, help="the student's model.pt")
    parser.add_argument("--metric", type=Path, help="the metric fine-tune's model.pt")
    parser.add_argument("--graphs-only", action="store_true", help="only rewrite the graphs from the shipped weights")
    args = parser.parse_args()
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
