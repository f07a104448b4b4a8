"""How close `vits` at 518×518 runs to this CPU's fp32 limit, and how it compares with transformers.

All in one run, so machine noise hits every figure alike:

1. the limit: the model's FLOPs (counted on PyTorch's math attention, which the fused kernel
   hides from the counter) divided by the best fp32 matmul rate measured on the model's own
   matrix shapes;
2. where the time goes: a profile of our forward pass, self time per kind of operation;
3. latency, in interleaved rounds (medians): ours and transformers' `DepthAnythingForDepthEstimation`
   holding identical random weights (outputs checked equal first) at batch 1 and batch 4, what
   `backend="auto"` runs for a checkpoint (compiled once for OpenVINO f32; the compile time printed), and with `--compile`, `torch.compile` (its compile
   time printed); `--bf16` adds bf16 autocast, which pays only on CPUs with native bf16;
4. the peak of live heap memory during one forward pass of each PyTorch model, in a fresh process
   (glibc's mallinfo2 sampled after every tensor operation; Linux only).

    python benchmarks/model_speed.py [--rounds 7] [--threads N] [--compile] [--bf16] [--no-openvino]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from machine import machine_header  # date, CPU, matmul peak and versions above every table
from torch.utils._python_dispatch import TorchDispatchMode

_LIBC = ctypes.CDLL("libc.so.6")
SIDE = 518


def build_pair(folder: str, encoder: str = "vits"):
    """Our model (`encoder`) and transformers' holding the same random weights (CPU, fp32)."""
    import transformers

    from depth_anything import build_model
    from depth_anything.weights import save_transformers

    torch.manual_seed(0)
    ours = build_model(encoder).eval()
    with torch.no_grad():  # a positive last bias: random weights otherwise end below the final ReLU (all zeros)
        ours.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    save_transformers(ours, folder)
    theirs = transformers.DepthAnythingForDepthEstimation.from_pretrained(folder).eval()
    return ours, theirs


def forward(model, x):
    out = model(x)
    return out if isinstance(out, torch.Tensor) else out.predicted_depth


# ------------------------------------------------------------------------------------------ limit
def matmul_peak(shapes: list[tuple[int, int, int]], repeats: int = 15) -> tuple[float, str]:
    """The best fp32 GFLOP/s over `shapes` of `a @ b` (PyTorch's BLAS) and of oneDNN's linear kernel
    (what our encoder runs on CPU), median of `repeats` calls each."""
    from depth_anything.models.layers import HAS_ONEDNN_LINEAR

    best = (0.0, "")
    for m, k, n in shapes:
        a, b, weight = torch.randn(m, k), torch.randn(k, n), torch.randn(n, k)
        kernels = {"BLAS matmul": lambda a=a, b=b: a @ b}
        if HAS_ONEDNN_LINEAR:
            kernels["oneDNN linear"] = lambda a=a, w=weight: torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")
        for kernel_name, run in kernels.items():
            run()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            rate = 2 * m * k * n / statistics.median(times) / 1e9
            best = max(best, (rate, f"{kernel_name} {m}×{k}×{n}"))
    return best


def model_flops(model, x) -> float:
    """FLOPs of one forward pass, attention included (counted on the math kernel; with autograd on,
    so that linear layers take `F.linear`, which the counter knows, rather than oneDNN's kernel)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(x)
    return float(counter.get_total_flops())


# ------------------------------------------------------------------------------------------ profile
CATEGORIES = (  # (name, substrings of aten op names), first match wins
    ("attention (fused SDPA)", ("scaled_dot_product", "flash_attention")),
    ("linear layers (qkv, proj, MLP; oneDNN, GELU fused)", ("_linear_pointwise", "addmm", "aten::mm", "aten::bmm", "aten::matmul",
                                                            "aten::linear")),
    ("convolutions (DPT head, patch embed)", ("convolution", "conv2d", "conv_transpose")),
    ("layer norm", ("layer_norm",)),
    ("GELU", ("gelu",)),
    ("interpolation", ("upsample", "interpolate", "grid_sampler")),
    ("copies and layout", ("copy_", "clone", "contiguous", "aten::cat", "aten::to", "empty_strided")),
    ("elementwise (add, mul, relu)", ("aten::add", "aten::mul", "aten::relu", "aten::sigmoid", "aten::div", "aten::sub")),
)


def profile_table(model, x, calls: int = 3) -> list[tuple[str, float]]:
    """Self CPU time per category, ms per forward pass (the profiler's own overhead included)."""
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        model(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                model(x)
    totals: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        name = event.key
        category = next((label for label, keys in CATEGORIES if any(k in name for k in keys)), "other")
        totals[category] += event.self_cpu_time_total / 1000 / calls
    order = [label for label, _ in CATEGORIES] + ["other"]
    return [(label, totals[label]) for label in order if totals[label] > 0.05]


# ------------------------------------------------------------------------------------------ timing
def openvino_runner(model, folder: str):
    """What `backend="auto"` runs for a checkpoint on the CPU: the model compiled once for OpenVINO
    (`export.compiled`: dynamic size and batch, f32 inference), timed on first use; a callable on a
    normalised batch, and the seconds the compile took."""
    from depth_anything.export.compiled import compiled_file
    from depth_anything.inference import OpenVINORuntime
    from depth_anything.weights import save_checkpoint
    from depth_anything.weights.resolver import resolve

    checkpoint = save_checkpoint(model, Path(folder) / "vits.pth")
    start = time.perf_counter()
    file = compiled_file(resolve(checkpoint), "openvino", cache=Path(folder) / "compiled", report=lambda text: None)
    seconds = time.perf_counter() - start
    runtime = OpenVINORuntime(file, threads=torch.get_num_threads())
    spec = model.input_spec
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return (lambda x: torch.from_numpy(runtime.run((x * std + mean).numpy()))), seconds  # the IR normalises [0, 1]


def interleaved(runners: dict, inputs: dict, rounds: int) -> dict[str, float]:
    """Median seconds per call of each runner, timed alternately."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    with torch.inference_mode():
        for name, run in runners.items():  # warm-up
            run(inputs[name])
        for _ in range(rounds):
            for name, run in runners.items():
                start = time.perf_counter()
                run(inputs[name])
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


# ------------------------------------------------------------------------------------------ memory
class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


_LIBC.mallinfo2.restype = _MallInfo2


def _heap_in_use() -> int:
    """Bytes malloc has handed out and not taken back (heap + mmap'd blocks): torch's CPU tensors live there."""
    info = _LIBC.mallinfo2()
    return info.uordblks + info.hblkhd


class _PeakHeap(TorchDispatchMode):
    """Samples the heap after every tensor operation: the peak of live memory during a forward pass,
    independent of how the OS pages it in (resident-set figures were too noisy to compare)."""

    def __enter__(self):
        self.base = self.peak = _heap_in_use()
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, _heap_in_use())
        return out


def peak_memory_child(which: str, batch: int) -> None:
    """Run in a fresh process: build one model only (weights do not change activation memory), run it
    once and print the rise of the peak heap above the heap just before the call, in MiB."""
    import transformers

    from depth_anything import build_model
    from depth_anything.models.convert import transformers_config

    ours = build_model("vits").eval()
    if which == "theirs":
        config = transformers.DepthAnythingConfig.from_dict(transformers_config(ours.config))
        del ours
        model = transformers.DepthAnythingForDepthEstimation(config).eval()
    else:
        model = ours
    x = torch.randn(batch, 3, SIDE, SIDE)
    with torch.inference_mode():
        for _ in range(2):  # the first call also allocates one-time caches; report the steady state
            with _PeakHeap() as meter:
                forward(model, x)
    print(json.dumps({"peak_rise_mib": (meter.peak - meter.base) / 2**20}))


def _child_peak(which: str, batch: int, glibc_default: bool) -> float:
    flags = ["--glibc-default"] if glibc_default else []
    result = subprocess.run(
        [sys.executable, __file__, "--memory-child", which, str(batch), *flags], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rise_mib"]


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (and print its compile time)")
    parser.add_argument("--bf16", action="store_true", help="also time bf16 autocast (pays only with native bf16)")
    parser.add_argument("--no-openvino", action="store_true", help="leave out the OpenVINO f32 runtime")
    parser.add_argument("--no-memory", action="store_true", help="leave out the peak memory children")
    parser.add_argument("--glibc-default", action="store_true",
                        help="leave glibc's allocator as it is (default: the command line's keep_freed_memory policy)")
    parser.add_argument("--memory-child", nargs=2, metavar=("WHICH", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    from depth_anything.runtime import keep_freed_memory

    kept = False if args.glibc_default else keep_freed_memory()  # process-wide: every path below runs under it
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        peak_memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    print(machine_header(), flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, vits at {SIDE}×{SIDE}, fp32, "
          f"median of {args.rounds} interleaved rounds; freed memory kept (as the command line does): {kept}\n")
    x1, x4 = torch.randn(1, 3, SIDE, SIDE), torch.randn(4, 3, SIDE, SIDE)
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = build_pair(folder)
        with torch.inference_mode():
            reference = forward(theirs, x1)
            errors = {"ours, batch 1": float((forward(ours, x1) - reference).abs().max()),
                      "ours, batch 4": float((forward(ours, x4) - forward(theirs, x4)).abs().max())}
            torch.testing.assert_close(forward(ours, x1), reference, atol=1e-4, rtol=1e-4)

        tokens = (SIDE // 14) ** 2 + 1
        dim = ours.config.embed_dim
        shapes = [(tokens, dim, 3 * dim), (tokens, dim, 4 * dim), (tokens, 4 * dim, dim), (tokens, dim, dim), (2048, 2048, 2048)]
        peak, best_shape = matmul_peak(shapes)
        flops = model_flops(ours, x1)
        limit = flops / (peak * 1e9)
        print(f"FLOPs per image: {flops / 1e9:.1f} G; best fp32 matmul {peak:.0f} GFLOP/s ({best_shape}); "
              f"limit {limit * 1000:.0f} ms per image\n")

        print("where our batch-1 time goes (profiler self time, ms per forward pass):\n")
        rows = profile_table(ours, x1)
        total = sum(ms for _, ms in rows)
        print("| operation | ms | share |\n|---|---:|---:|")
        for label, ms in rows:
            print(f"| {label} | {ms:.0f} | {ms / total:.0%} |")
        print()

        runners = {"ours, batch 1": lambda x: ours(x), "transformers, batch 1": lambda x: forward(theirs, x),
                   "ours, batch 4": lambda x: ours(x), "transformers, batch 4": lambda x: forward(theirs, x)}
        inputs = {"ours, batch 1": x1, "transformers, batch 1": x1, "ours, batch 4": x4, "transformers, batch 4": x4}
        if not args.no_openvino:
            run_ov, compile_seconds = openvino_runner(ours, folder)
            print(f"backend auto: compiling the checkpoint for OpenVINO on first use took {compile_seconds:.1f} s "
                  "(later runs reuse the cached IR)\n")
            for batch, x in ((1, x1), (4, x4)):
                name = f"auto = OpenVINO f32 (compiled), batch {batch}"
                runners[name], inputs[name] = run_ov, x
                with torch.inference_mode():
                    errors[name] = float((run_ov(x) - forward(theirs, x)).abs().max())
        if args.compile:
            compiled = torch.compile(ours)
            start = time.perf_counter()
            with torch.inference_mode():
                out = compiled(x1)
            print(f"torch.compile: first call (compilation) {time.perf_counter() - start:.1f} s")
            runners["torch.compile, batch 1"] = compiled
            inputs["torch.compile, batch 1"] = x1
            errors["torch.compile, batch 1"] = float((out - reference).abs().max())
        if args.bf16:
            def bf16(x):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return ours(x).float()

            runners["ours bf16 autocast, batch 1"] = bf16
            inputs["ours bf16 autocast, batch 1"] = x1
            with torch.inference_mode():
                errors["ours bf16 autocast, batch 1"] = float((bf16(x1) - reference).abs().max())
        medians = interleaved(runners, inputs, args.rounds)

    scale = float(reference.abs().max())
    print("| path | ms per image | × FLOP limit | max error vs transformers (of max) |\n|---|---:|---:|---|")
    for name, seconds in medians.items():
        per_image = seconds / (4 if "batch 4" in name else 1)
        error = errors.get(name)
        error_text = "(reference)" if name.startswith("transformers") else f"{error:.1e} ({error / scale:.1e})"
        print(f"| {name} | {per_image * 1000:.0f} | {per_image / limit:.2f} | {error_text} |")
    fp32 = {name: s / (4 if "batch 4" in name else 1) for name, s in medians.items() if "bf16" not in name}
    fastest = min(fp32, key=fp32.get)
    print(f"\nfastest fp32 path: {fastest}, {fp32[fastest] / limit:.2f}× the FLOP limit (goal ≤ 1.3)")
    print(f"ours / transformers: batch 1 {medians['ours, batch 1'] / medians['transformers, batch 1']:.2f}, "
          f"batch 4 {medians['ours, batch 4'] / medians['transformers, batch 4']:.2f} (goal ≤ 0.8)")
    print(f"ours per image, batch 4 / batch 1: {medians['ours, batch 4'] / 4 / medians['ours, batch 1']:.2f} (goal ≤ 1.0)")

    if not args.no_memory:
        print("\n| batch | peak memory rise ours / transformers (MiB) |\n|---|---|")
        for batch in (1, 4):
            memory = [_child_peak(which, batch, args.glibc_default) for which in ("ours", "theirs")]
            print(f"| {batch} | {memory[0]:.0f} / {memory[1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
