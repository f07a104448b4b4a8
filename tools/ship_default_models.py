"""Write the trained default models into the package as safetensors (weight matrices int8 with a
per-row scale, the rest fp16; model config and input spec in the metadata), then their ONNX graphs
from those files (`export.builtin`, which records each file's digest): src/depth_anything/_weights/.

  python tools/ship_default_models.py --relative runs/default/student/model.pt --metric runs/default/metric/model.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depth_anything.builtin import BUILTIN_DIR, DEFAULT_METRIC_MODEL, DEFAULT_MODEL
from depth_anything.export.builtin import write_builtin_graph
from depth_anything.weights import PUBLISHED_WEIGHTS, load_model, save_safetensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relative", type=Path, required=True, help="the student's model.pt")
    parser.add_argument("--metric", type=Path, required=True, help="the metric fine-tune's model.pt")
    args = parser.parse_args()
    for name, source in ((DEFAULT_MODEL, args.relative), (DEFAULT_METRIC_MODEL, args.metric)):
        model = load_model(source, device="cpu")
        entry = PUBLISHED_WEIGHTS[name]
        if model.config.encoder != entry.encoder or model.config.max_depth != entry.max_depth:
            raise SystemExit(f"{source}: a {model.config.encoder} model with max_depth {model.config.max_depth}, "
                             f"but {name} is registered as {entry.encoder} with max_depth {entry.max_depth}")
        target = save_safetensors(model, BUILTIN_DIR / entry.filename, dtype="int8")
        target.chmod(0o644)
        print(f"{name}: {source} → {target} ({target.stat().st_size / 1e6:.1f} MB), spec {model.input_spec}")
        write_builtin_graph(name)  # the shipped graph, from the file just written


if __name__ == "__main__":
    main()
