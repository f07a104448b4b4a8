"""GPU latency and throughput of vits and vitl at 518×518 in fp32, fp16 and bf16, ours against
transformers' `DepthAnythingForDepthEstimation` holding the same weights, and against the paper's
60 ms for vits on a V100 (Depth Anything V2, table of inference times).

One run, interleaved rounds (medians), CUDA-synchronised wall time per call: batch 1 latency and
batch `--batch` throughput for each (encoder, dtype, implementation). Outputs of ours and theirs are
compared first: fp32 must agree within 1e-4 of the range (else the run stops); for fp16/bf16 the
difference is printed (random weights make the output's range small, so reduced precision shows
large relative differences there). Random weights: the speed is the trained model's. On a machine without a GPU, `--device cpu --side 70 --batch 2` checks the script.

    python benchmarks/gpu_speed.py [--encoders vits vitl] [--dtypes fp32 fp16 bf16] [--batch 16] [--rounds 7]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time

import torch
from machine import machine_header  # date, CPU, matmul peak and versions above every table
from model_speed import build_pair, forward  # the same model pair and call as the CPU benchmark

from depth_anything.runtime import resolve_dtype

PAPER_VITS_V100_MS = 60.0


def timed(model, x: torch.Tensor, device: torch.device) -> float:
    """Seconds of one forward pass, the device synchronised before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    forward(model, x)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--encoders", nargs="+", default=["vits", "vitl"])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "fp16", "bf16"])
    parser.add_argument("--side", type=int, default=518)
    parser.add_argument("--batch", type=int, default=16, help="batch of the throughput figure")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    print(machine_header(peak=False), flush=True)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here; TF32 would be a fourth precision
        torch.backends.cudnn.allow_tf32 = False
        print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    else:
        print(f"device {device} (a check of the script, not a GPU figure), torch {torch.__version__}")
    print(f"input {args.side}×{args.side}; batch 1 latency and batch {args.batch} throughput; medians of {args.rounds} "
          f"interleaved rounds; TF32 off\n")
    print("| model | dtype | ours, batch 1 (ms) | transformers, batch 1 (ms) | ours ÷ theirs | ours, batch "
          f"{args.batch} (images/s) | transformers, batch {args.batch} (images/s) | paper's vits on V100 ÷ ours | "
          "max difference ÷ range |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    generator = torch.Generator().manual_seed(0)
    for encoder in args.encoders:
        with tempfile.TemporaryDirectory() as folder:
            ours_cpu, theirs_cpu = build_pair(folder, encoder)
        for dtype_text in args.dtypes:
            dtype = resolve_dtype(dtype_text)
            ours = copy.deepcopy(ours_cpu).to(device=device, dtype=dtype)  # copies: each dtype from the fp32 weights
            theirs = copy.deepcopy(theirs_cpu).to(device=device, dtype=dtype)
            one = torch.rand(1, 3, args.side, args.side, generator=generator).to(device=device, dtype=dtype)
            many = one.expand(args.batch, -1, -1, -1).contiguous()
            with torch.inference_mode():
                a, b = forward(ours, one).float(), forward(theirs, one).float()
                span = float(b.max() - b.min()) or 1.0
                error = float((a - b).abs().max()) / span
                if dtype == torch.float32 and error > 1e-4:
                    raise SystemExit(f"{encoder} {dtype_text}: ours and transformers differ by {error:.2e} of the range")
                for _ in range(args.warmup):
                    for model in (ours, theirs):
                        timed(model, one, device)
                        timed(model, many, device)
                times: dict[str, list[float]] = {"ours1": [], "theirs1": [], "oursN": [], "theirsN": []}
                for _ in range(args.rounds):
                    times["ours1"].append(timed(ours, one, device))
                    times["theirs1"].append(timed(theirs, one, device))
                    times["oursN"].append(timed(ours, many, device))
                    times["theirsN"].append(timed(theirs, many, device))
            median = {key: statistics.median(values) for key, values in times.items()}
            paper = f"{PAPER_VITS_V100_MS / (median['ours1'] * 1000):.1f}×" if encoder == "vits" else "–"
            print(f"| {encoder} | {dtype_text} | {median['ours1'] * 1000:.2f} | {median['theirs1'] * 1000:.2f} | "
                  f"{median['ours1'] / median['theirs1']:.2f} | {args.batch / median['oursN']:.1f} | "
                  f"{args.batch / median['theirsN']:.1f} | {paper} | {error:.1e} |", flush=True)
            del ours, theirs
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
