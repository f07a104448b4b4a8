"""INT8 OpenVINO (NNCF post-training quantization) against fp32 PyTorch and OpenVINO f32, in one run.

    python benchmarks/int8_speed.py                     # about 2 minutes on 2 cores
    python benchmarks/int8_speed.py --vits-rounds 3 --default-rounds 20 --scenes 100

(a) Latency, `vits` at 518×518 with random weights (speed does not depend on the weights), and (b) the
built-in `default` model at its 128×128, batch 1, each: PyTorch fp32 (inference mode), the OpenVINO f32
IR and the OpenVINO int8 IR (calibrated on views of the shipped photos), all with the same thread
count, timed in interleaved rounds (torch, f32, int8, torch, ...), medians. (c) Agreement on real
photos: each shipped photo's centred square through `Predictor` with fp32 PyTorch and with the int8
IR, AbsRel and δ1 after least-squares scale and shift (`export.quantize.depth_agreement`, the eval
protocol's own alignment and metrics); those photos are also the calibration photos. (d) The held-out
synthetic score of README "The default model" (400 scenes of seed 777 at 160×160, half indoor, split
all, `eval.benchmarks.evaluate_benchmark`) with fp32 PyTorch and with the int8 IR.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_header  # date, CPU, matmul peak and versions above every table

from depth_anything.data.sample_photos import shipped_photo_paths
from depth_anything.data.synthetic import SynthConfig, write_dataset
from depth_anything.eval.benchmarks import evaluate_benchmark
from depth_anything.export.onnx import export_onnx
from depth_anything.export.openvino import Int8Options, onnx_to_openvino
from depth_anything.export.quantize import depth_agreement
from depth_anything.inference import OpenVINORuntime, Predictor, TorchRuntime
from depth_anything.io import load_image
from depth_anything.models import build_model
from depth_anything.weights import load_model

HELD_OUT_SEED, HELD_OUT_SIZE = 777, 160  # README "The default model": the test scenes


def _export(model, name: str, side: int, folder: Path, calibration_size: int) -> tuple[Path, Path, float]:
    """Static f32 and int8 IRs of `model` from one ONNX export; also the seconds quantization took."""
    onnx_file = folder / f"{name}.onnx"
    export_onnx(model, onnx_file, input_size=side, source=name)
    f32, int8 = folder / f"{name}_f32.xml", folder / f"{name}_int8.xml"
    onnx_to_openvino(onnx_file, f32)
    start = time.perf_counter()
    onnx_to_openvino(onnx_file, int8, int8=Int8Options(calibration_size=calibration_size))
    return f32, int8, time.perf_counter() - start


def _latency(model, f32: Path, int8: Path, side: int, rounds: int, threads: int) -> dict[str, float]:
    """Median seconds per batch-1 run of each runtime, in interleaved rounds after one warm-up each."""
    runtimes = {"torch": TorchRuntime(model), "f32": OpenVINORuntime(f32, threads=threads),
                "int8": OpenVINORuntime(int8, threads=threads)}
    image = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
    spec = model.input_spec
    normalised = ((image - np.array(spec.mean, np.float32)[:, None, None]) / np.array(spec.std, np.float32)[:, None, None])
    inputs = {key: (normalised if r.normalized_input else image).astype(np.float32) for key, r in runtimes.items()}
    for key, runtime in runtimes.items():
        runtime.run(inputs[key])
    times: dict[str, list[float]] = {key: [] for key in runtimes}
    for _ in range(rounds):
        for key, runtime in runtimes.items():
            start = time.perf_counter()
            runtime.run(inputs[key])
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


def _number(value: float) -> str:
    return f"{value:.1e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"


def _square(rgb: np.ndarray) -> np.ndarray:
    side = min(rgb.shape[:2])
    top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    return np.ascontiguousarray(rgb[top : top + side, left : left + side])


def _print_latency(rows: list[tuple[str, str, dict[str, float], float]]) -> None:
    print("| model | input | PyTorch fp32 (ms) | OpenVINO f32 (ms) | OpenVINO int8 (ms) | int8 speed-up vs PyTorch "
          "| int8 vs OpenVINO f32 | quantization time (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, size, m, seconds in rows:
        print(f"| {name} | {size} | {m['torch'] * 1e3:.1f} | {m['f32'] * 1e3:.1f} | {m['int8'] * 1e3:.1f} | "
              f"**{m['torch'] / m['int8']:.2f}×** | {m['f32'] / m['int8']:.2f}× | {seconds:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vits-rounds", type=int, default=9)
    parser.add_argument("--default-rounds", type=int, default=30)
    parser.add_argument("--vits-calibration", type=int, default=8, help="calibration inputs for vits (default 8)")
    parser.add_argument("--default-calibration", type=int, default=32, help="calibration inputs for default (32)")
    parser.add_argument("--scenes", type=int, default=400, help="held-out synthetic scenes (default 400, as the README)")
    parser.add_argument("--skip-vits", action="store_true")
    args = parser.parse_args()
    print(machine_header(), flush=True)
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    print(f"CPU: {os.cpu_count()} cores visible, {args.threads} threads each; torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = []
        if not args.skip_vits:
            vits = build_model("vits").eval()
            f32, int8, seconds = _export(vits, "vits", 518, folder, args.vits_calibration)
            rows.append(("vits (random weights)", "518×518", _latency(vits, f32, int8, 518, args.vits_rounds, args.threads), seconds))
            del vits
            print(f"(a) vits done at {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
        model = load_model("default", device="cpu")
        side = model.input_spec.input_size
        f32, int8, seconds = _export(model, "default", side, folder, args.default_calibration)
        rows.append(("default (built-in, trained)", f"{side}×{side}", _latency(model, f32, int8, side, args.default_rounds, args.threads), seconds))
        print(f"\n(a, b) latency, batch 1, median of {args.vits_rounds} (vits) / {args.default_rounds} (default) interleaved rounds; "
              f"int8 calibrated on {args.vits_calibration} / {args.default_calibration} views of the shipped photos")
        _print_latency(rows)

        reference = Predictor(model)
        runtimes = {"OpenVINO f32": Predictor(OpenVINORuntime(f32, threads=args.threads)),
                    "OpenVINO int8": Predictor(OpenVINORuntime(int8, threads=args.threads))}
        print("\n(c) agreement with fp32 PyTorch on the shipped photos (centred square, 128×128 network input; "
              "AbsRel / δ1 after least-squares scale and shift; these photos are also the calibration photos)")
        print("| photo | " + " | ".join(f"{k} AbsRel ↓ | {k} δ1 ↑" for k in runtimes) + " |")
        print("|---|" + "---:|---:|" * len(runtimes))
        scores: dict[str, list[dict[str, float]]] = {k: [] for k in runtimes}
        for path in shipped_photo_paths():
            rgb = _square(load_image(path))
            expected = reference.predict_one(rgb)
            cells = []
            for key, predictor in runtimes.items():
                agreement = depth_agreement(expected, predictor.predict_one(rgb))
                scores[key].append(agreement)
                cells.append(f"{_number(agreement['abs_rel'])} | {agreement['d1']:.4f}")
            print(f"| {path.name} | " + " | ".join(cells) + " |")
        medians = [f"**{_number(statistics.median(s['abs_rel'] for s in v))}** | **{statistics.median(s['d1'] for s in v):.4f}**"
                   for v in scores.values()]
        print("| median | " + " | ".join(medians) + " |")

        scenes = folder / "held_out"
        start = time.perf_counter()
        write_dataset(scenes, args.scenes, seed=HELD_OUT_SEED,
                      config=SynthConfig(width=HELD_OUT_SIZE, height=HELD_OUT_SIZE, indoor_fraction=0.5))
        print(f"\n(d) held-out synthetic scenes ({args.scenes}, seed {HELD_OUT_SEED}, {HELD_OUT_SIZE}×{HELD_OUT_SIZE}, "
              f"rendered in {time.perf_counter() - start:.0f} s), `evaluate_benchmark('synthetic', split='all')`")
        print("| runtime | synthetic AbsRel ↓ | synthetic δ1 ↑ | scored |")
        print("|---|---:|---:|---:|")
        results = {}
        for key, predictor in (("PyTorch fp32", reference), ("OpenVINO int8", runtimes["OpenVINO int8"])):
            report = evaluate_benchmark("synthetic", scenes, predictor.predict, reader_options={"split": "all"}, model_name=key)
            results[key] = report.metrics
            print(f"| {key} | {report.metrics['abs_rel']:.4f} | {report.metrics['d1']:.4f} | {report.num_evaluated} |")
        change = results["OpenVINO int8"]["abs_rel"] - results["PyTorch fp32"]["abs_rel"]
        print(f"| change (int8 − fp32) | {change:+.4f} | "
              f"{results['OpenVINO int8']['d1'] - results['PyTorch fp32']['d1']:+.4f} | |")
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
