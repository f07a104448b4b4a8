"""CPU latency of one model on PyTorch, ONNX Runtime and OpenVINO, side by side in one run.

Each model is exported once (static ONNX at its size, batch 1; OpenVINO IR from that ONNX, f32
inference), the three runtimes are checked against each other, then timed in interleaved rounds
(torch, onnxruntime, openvino, torch, ...) so that load changes on the machine hit all three alike;
the table shows medians. Every runtime gets the same thread count.

    python benchmarks/runtime_speed.py                        # vits (random weights) at 518, and `default`
    python benchmarks/runtime_speed.py --model vitb --size 518 --rounds 10 --threads 4

`--model random:ENC` builds an untrained network of that size (speed does not depend on the weights);
any other name or path goes through `load_model`. A model that cannot be loaded is reported and skipped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_header  # date, CPU, matmul peak and versions above every table

from depth_anything.export.onnx import export_onnx
from depth_anything.export.openvino import onnx_to_openvino
from depth_anything.export.verify import compare_with_torch
from depth_anything.inference import OnnxRuntime, OpenVINORuntime, TorchRuntime
from depth_anything.models import build_model
from depth_anything.weights import load_model


def _load(name: str):
    if name.startswith("random:"):
        return build_model(name.split(":", 1)[1]).eval()
    return load_model(name, device="cpu")


def _time(runtime, batch: np.ndarray) -> float:
    start = time.perf_counter()
    runtime.run(batch)
    return time.perf_counter() - start


def bench(name: str, size: int | None, rounds: int, threads: int, folder: Path) -> dict | None:
    try:
        model = _load(name)
    except Exception as exc:  # a missing built-in or offline download: say so and go on
        print(f"skipping {name}: {exc}", file=sys.stderr)
        return None
    multiple = model.config.patch_size
    side = size or model.input_spec.input_size // multiple * multiple
    onnx_file = folder / f"{name.replace(':', '_').replace('/', '_')}_{side}.onnx"
    export_onnx(model, onnx_file, input_size=side, source=name)
    ir_file = onnx_file.with_suffix(".xml")
    onnx_to_openvino(onnx_file, ir_file)
    runtimes = {
        "torch": TorchRuntime(model),
        "onnxruntime": OnnxRuntime(onnx_file, threads=threads),
        "openvino": OpenVINORuntime(ir_file, threads=threads),
    }
    parity = {key: compare_with_torch(model, runtime, [(side, side)], batch=1)[0].max_error
              for key, runtime in runtimes.items() if key != "torch"}
    image = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
    spec = model.input_spec
    normalised = ((image - np.array(spec.mean, np.float32)[:, None, None]) / np.array(spec.std, np.float32)[:, None, None])
    inputs = {key: (normalised if runtime.normalized_input else image).astype(np.float32) for key, runtime in runtimes.items()}
    for key, runtime in runtimes.items():  # warm-up
        _time(runtime, inputs[key])
    times: dict[str, list[float]] = {key: [] for key in runtimes}
    for _ in range(rounds):
        for key, runtime in runtimes.items():
            times[key].append(_time(runtime, inputs[key]))
    return {"model": name, "size": side, "medians": {k: statistics.median(v) for k, v in times.items()}, "parity": parity}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="model name, path or random:ENC (repeatable; default random:vits and default)")
    parser.add_argument("--size", type=int, default=None, help="square input size (default: each model's own, 518 for vits)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    print(machine_header(), flush=True)
    torch.set_num_threads(args.threads)
    models = args.model or ["random:vits", "default"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in models:
            row = bench(name, args.size, args.rounds, args.threads, Path(folder))
            if row is not None:
                rows.append(row)
    print(f"CPU, {args.threads} threads, batch 1, median of {args.rounds} interleaved rounds; torch {torch.__version__}")
    print("| model | input | PyTorch (s) | ONNX Runtime (s) | OpenVINO f32 (s) | ORT / torch | OpenVINO / torch | max error ORT, OpenVINO (of range) |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        m = row["medians"]
        print(f"| {row['model']} | {row['size']}×{row['size']} | {m['torch']:.3f} | {m['onnxruntime']:.3f} | {m['openvino']:.3f} | "
              f"{m['onnxruntime'] / m['torch']:.2f} | {m['openvino'] / m['torch']:.2f} | "
              f"{row['parity']['onnxruntime']:.1e}, {row['parity']['openvino']:.1e} |")


if __name__ == "__main__":
    main()
